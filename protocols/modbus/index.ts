/**
 * Modbus TCP polling of pump-room controllers (SPEC 12): the settings with their register maps, the
 * poller the composition root starts on the cluster's timer leader, and the pure register codec the
 * simulator shares.
 */
export {
  modbusSettingsSchema, BUILTIN_MODELS, REGISTER_AREAS, REGISTER_TYPES, requiredFields, missingFields,
  type ModbusSettings, type ModbusSettingsInput, type ModbusModel, type ModbusTarget, type RegisterSpec, type RegisterSpecInput, type RegisterArea, type RegisterType,
} from './config.js';
export { ModbusPoller, type ModbusPollerDeps, type ModbusTargetStatus } from './poller.js';
export {
  planReads, decodePoll, encodeFields, emptyImage, MAX_READ_BITS, MAX_READ_REGISTERS,
  type ReadRequest, type ReadResult, type DecodedPoll, type RegisterImage,
} from './registers.js';
