/** GB/T 26875.3 transmission devices over TCP: the server, its settings, and the codec the simulator builds frames with. */
export { Gb26875Server, type Gb26875Deps } from './server.js';
export { gb26875SettingsSchema, gb26875ModelSchema, type Gb26875Settings, type Gb26875Model } from './config.js';
export {
  CMD, FrameSplitter, checkFrame, decodeAdu, isAduError, decodeTime, encodeTime, encodeFrame, encodeReply,
  encodeComponentStates, encodeSystemStates, encodeOperations, encodeUitdState, checksum,
  type Frame, type FrameHeader, type FrameSpec, type SplitItem, type Adu,
} from './codec.js';
