/** The simulators' public surface: load generator, device models, fleet, provisioning, scenarios. */
export { runLoad, formatProgress, formatSummary, type LoadOptions, type LoadProgress, type LoadSummary, type LoadDevice, type DeviceLoadSummary } from './load.js';
export * from './models/index.js';
export { SimDevice, type SimDeviceSpec, type SimDeviceOptions, type SentEvent, type MalformedKind } from './device.js';
export { Fleet, type FleetOptions, type FleetStats } from './fleet.js';
export { GatewayApi } from './api.js';
export { planFleet, provision, readSecrets, writeSecrets, parsePerKind, type FleetPlan, type FleetPlanOptions, type PerKind, type ProvisionResult, type SecretsFile } from './provision.js';
export * from './scenarios/index.js';
export { SimError, SIM_ERRORS, type SimErrorCode } from './errors.js';
export { sampleTelemetry, sampleEvent } from './samples.js';
