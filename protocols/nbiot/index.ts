/**
 * NB-IoT carrier platform pushes (OneNET legacy and Studio, CTWing/AEP): the routes the gateway
 * registers, their settings, and the codecs the simulator pushes with.
 */
export { nbiotRoutes, type NbiotDeps } from './routes.js';
export {
  nbiotSettingsSchema, modelDecoderSchema, ONENET_DIALECTS,
  type NbiotSettings, type NbiotSettingsInput, type OneNetDialect, type OneNetInstance, type CtwingInstance, type ModelDecoder, type ModelDecoderInput,
} from './config.js';
export { BUILTIN_MODELS, decodeReport, type VendorReport, type Decoded } from './decoders.js';
export { onenetSignature, studioEncrypt, legacyEncrypt } from './onenet.js';
