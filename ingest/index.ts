/**
 * Ingest: device payload schemas, the pipeline from a publish to a durable group commit, dead
 * letters, device presence, and the time-series writers with their outage spool. What other
 * capabilities may use of it is exported here, and only here.
 */
export {
  DEVICE_KINDS, deviceKindSchema, type DeviceKind, ELEVATOR_MODES, ELEVATOR_FAULTS, KIND_SCHEMAS, KIND_CONTRACTS, type KindContract,
  type ElevatorTelemetry, type ElevatorEvent, type FirePanelEvent, type SmokeDetectorTelemetry, type FireWaterTelemetry, type WaterPumpTelemetry, type DrainageTelemetry,
  type FieldType, type FieldTypes,
} from './schemas/kinds.js';
export { IngestPipeline, DeviceContext, Verdict, type Accepted, type Rejection, type Submitted, type Channel, type IngestDevice, type IngestLimits, type IngestCounters } from './pipeline.js';
export { DeadLetterStore, REJECT_REASONS, type RejectReason, type DeadLetter, type Issue } from './dead-letters.js';
export { Presence, type DeviceState } from './presence.js';
export { createWriter, type TimeSeriesWriter } from './writers/index.js';
export type { TelemetryQuery, TelemetryRow, WriterHealth } from './writers/writer.js';
export {
  influxSettingsSchema, timeseriesSettingsSchema, ingestLimitsSchema, presenceSettingsSchema,
  type InfluxSettings, type TimeseriesSettings, type IngestLimitsSettings, type PresenceSettings,
} from './config.js';
