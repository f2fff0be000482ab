/**
 * The device payload contract, one zod schema per kind for telemetry and one
 * discriminated union per kind for events. These schemas are the single source of truth: the
 * TypeScript types, the stored field types (integer vs float) and the validation errors all come
 * from here. Unknown extra fields are ignored (stripped), so firmware may send diagnostics.
 * Units are in the field comments; ranges are physical limits, not alarm thresholds.
 *
 * Every number has both bounds: a value no device can measure is a faulty or hostile device, and an
 * unbounded one reaches places that break on extremes (a date past year 275760 cannot be printed,
 * a float past 1e21 prints in exponent form). z.number() already refuses NaN and ±Infinity and
 * .int() refuses integers beyond 2^53, so within these bounds every value is finite and exact.
 */
import { z } from 'zod';
import { DEVICE_KINDS, deviceKindSchema, type DeviceKind } from '../../registry/index.js';
import { compileSchema, type FastCheck } from './compiled.js';

export { DEVICE_KINDS, deviceKindSchema, type DeviceKind };

/** `ts`: epoch milliseconds or an RFC 3339 date-time with offset; absent means receive time. */
const MAX_DATE_MS = 8_640_000_000_000_000; // the latest epoch ms a JS Date holds
const ts = z.union([z.number().int().nonnegative().max(MAX_DATE_MS), z.iso.datetime({ offset: true })]).optional();
/** `seq`: the device's own message counter, kept as a field so ordering can be checked. */
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional();
const base = { ts, seq };

const mpa = z.number().min(0).max(10); // MPa
const metres = z.number().min(0).max(200); // m
const percent = z.number().min(0).max(100); // %
const celsius = z.number().min(-50).max(200); // °C
/** Numeric vendor codes are register values: anything a 32-bit register holds, signed or not. */
const vendorCode = z.union([z.string().max(64), z.number().int().min(-2_147_483_648).max(4_294_967_295)]).optional();

export const ELEVATOR_MODES = ['normal', 'inspection', 'maintenance', 'fire_return', 'firefighter', 'emergency_power', 'earthquake', 'out_of_service', 'unknown'] as const;
export const ELEVATOR_FAULTS = [
  'safety_circuit_open', 'door_open_fault', 'door_close_fault', 'stopped_outside_door_zone', 'unintended_movement',
  'motor_runtime_limiter', 'position_lost', 'restart_blocked', 'door_open_while_running', 'moving_with_door_open',
  'top_overrun', 'bottom_overrun', 'overspeed', 'repeated_door_cycling', 'trapped',
] as const;

const elevatorTelemetry = z.object({
  ...base,
  mode: z.enum(ELEVATOR_MODES),
  running: z.boolean(),
  direction: z.enum(['up', 'down', 'none']),
  floor: z.number().int().min(-20).max(300),
  doorZone: z.boolean(), // car in the unlocking zone (levelled)
  door: z.enum(['open', 'closed', 'opening', 'closing']),
  occupied: z.boolean(), // passenger present in the car
  speed: z.number().min(0).max(20).optional(), // m/s
  safetyCircuit: z.enum(['closed', 'open']).optional(),
  powerOk: z.boolean().optional(),
  runCount: z.number().int().nonnegative().max(1_000_000_000).optional(), // starts: a busy car makes ~1 M a year
  runHours: z.number().nonnegative().max(1_000_000).optional(), // h: over a century of running
  load: percent.optional(), // % of rated load
});

const elevatorEvent = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('alarm_button') }),
  z.object({ ...base, type: z.literal('ebike_detected'), confidence: z.number().min(0).max(1).optional() }),
  z.object({ ...base, type: z.literal('power_lost') }),
  z.object({ ...base, type: z.literal('power_restored') }),
  z.object({ ...base, type: z.literal('fault'), fault: z.enum(ELEVATOR_FAULTS), code: vendorCode, levelled: z.boolean().optional() }),
]);

/**
 * Fire panels and smoke alarms may flag what they send as a test (`test: true`: the panel's test
 * state, a detector's test button): recorded, not sent to the fire service. Optional, so firmware
 * without it stays valid.
 */
const fireBase = { ...base, test: z.boolean().optional() };

const firePanelTelemetry = z.object({
  ...fireBase,
  mainPowerOk: z.boolean(),
  backupPowerOk: z.boolean(),
});

const zoneFields = { zone: z.string().min(1).max(64), point: z.string().max(64).optional(), component: z.string().max(64).optional() };
const firePanelEvent = z.discriminatedUnion('type', [
  z.object({ ...fireBase, type: z.literal('fire_alarm'), ...zoneFields }),
  z.object({ ...fireBase, type: z.literal('fault'), ...zoneFields, code: vendorCode }),
  z.object({ ...fireBase, type: z.literal('supervisory'), ...zoneFields }),
  z.object({ ...fireBase, type: z.literal('disabled'), ...zoneFields }),
  z.object({ ...fireBase, type: z.literal('restored'), ...zoneFields }),
  // A panel reset may be for the whole panel, so its zone is optional.
  z.object({ ...fireBase, type: z.literal('reset'), ...zoneFields, zone: zoneFields.zone.optional() }),
]);

const smokeDetectorTelemetry = z.object({
  ...fireBase,
  smoke: z.number().min(0).max(100), // dB/m obscuration
  temperature: celsius,
  battery: percent,
});

const smokeDetectorEvent = z.discriminatedUnion('type', [
  z.object({ ...fireBase, type: z.literal('alarm') }),
  z.object({ ...fireBase, type: z.literal('alarm_cleared') }),
  z.object({ ...fireBase, type: z.literal('low_battery'), battery: percent.optional() }),
  z.object({ ...fireBase, type: z.literal('tamper') }),
]);

const fireWaterTelemetry = z.object({
  ...base,
  pressure: mpa, // pipe network pressure
  tankLevel: metres, // fire tank / pool level
  pumpRunning: z.boolean().optional(), // any pump, the jockey pump (稳压泵) included: it cycles in standby
  pumpFault: z.boolean().optional(),
  pumpPowerOk: z.boolean().optional(),
  flowSwitch: z.boolean().optional(), // water flowing in a sprinkler branch
  firePumpRunning: z.boolean().optional(), // the main fire pump (消防主泵), not the jockey pump
  pumpAuto: z.boolean().optional(), // pump control cabinet in automatic (false: 手动状态)
  signalValveOpen: z.boolean().optional(), // signal valve (信号阀) on the supply main
  tankHigh: z.boolean().optional(), // the tank's own high-level switch
});

const pumpEvents = ['pump_started', 'pump_stopped', 'pump_fault', 'pump_fault_cleared', 'power_lost', 'power_restored'] as const;
const fireWaterEvent = z.discriminatedUnion('type', [
  // firePump: the event is about the main fire pump (unmarked: a jockey pump or unknown, which raises nothing)
  ...pumpEvents.map((t) => z.object({ ...base, type: z.literal(t), pump: z.string().max(64).optional(), code: vendorCode, firePump: z.boolean().optional() })),
  z.object({ ...base, type: z.literal('flow_detected'), branch: z.string().max(64).optional() }),
] as unknown as [z.ZodObject, ...z.ZodObject[]]);

const waterPumpTelemetry = z.object({
  ...base,
  inletPressure: mpa, // municipal inlet
  outletPressure: mpa,
  outletPressureLow: mpa.optional(), // per supply zone
  outletPressureMid: mpa.optional(),
  outletPressureHigh: mpa.optional(),
  tankLevel: metres, // domestic tank
  pumpsRunning: z.number().int().min(0).max(64),
  pumpFault: z.boolean(),
  flooded: z.boolean(),
  doorOpen: z.boolean(),
  turbidity: z.number().min(0).max(4000).optional(), // NTU
  chlorine: z.number().min(0).max(100).optional(), // mg/L free chlorine
  ph: z.number().min(0).max(14).optional(),
  temperature: celsius.optional(),
  humidity: percent.optional(),
  smoke: z.boolean().optional(), // pump-room smoke detector
});

const waterPumpEvent = z.discriminatedUnion('type', [
  ...pumpEvents.map((t) => z.object({ ...base, type: z.literal(t), pump: z.string().max(64).optional(), code: vendorCode })),
  ...(['flooded', 'flood_cleared', 'door_opened', 'door_closed'] as const).map((t) => z.object({ ...base, type: z.literal(t) })),
] as unknown as [z.ZodObject, ...z.ZodObject[]]);

/** Drainage (排水): a sump pit or sewage-lift station in a basement or garage, its pumps, and the floor's water sensor. */
const drainageTelemetry = z.object({
  ...base,
  level: metres, // water level in the pit, above its floor
  highLevel: z.boolean().optional(), // high-level float switch (the backup of the level transmitter)
  pumpsRunning: z.number().int().min(0).max(64),
  pumpFault: z.boolean(),
  powerOk: z.boolean().optional(), // pump control cabinet supply
  flooded: z.boolean(), // water sensor on the basement floor
});

const drainageEvent = z.discriminatedUnion('type', [
  ...pumpEvents.map((t) => z.object({ ...base, type: z.literal(t), pump: z.string().max(64).optional(), code: vendorCode })),
  ...(['high_level', 'high_level_cleared', 'flooded', 'flood_cleared'] as const).map((t) => z.object({ ...base, type: z.literal(t) })),
] as unknown as [z.ZodObject, ...z.ZodObject[]]);

export const KIND_SCHEMAS = {
  elevator: { telemetry: elevatorTelemetry, event: elevatorEvent },
  fire_panel: { telemetry: firePanelTelemetry, event: firePanelEvent },
  smoke_detector: { telemetry: smokeDetectorTelemetry, event: smokeDetectorEvent },
  fire_water: { telemetry: fireWaterTelemetry, event: fireWaterEvent },
  water_pump: { telemetry: waterPumpTelemetry, event: waterPumpEvent },
  drainage: { telemetry: drainageTelemetry, event: drainageEvent },
} as const satisfies Record<DeviceKind, { telemetry: z.ZodObject; event: z.ZodType }>;

export type ElevatorTelemetry = z.infer<typeof elevatorTelemetry>;
export type ElevatorEvent = z.infer<typeof elevatorEvent>;
export type FirePanelEvent = z.infer<typeof firePanelEvent>;
export type SmokeDetectorTelemetry = z.infer<typeof smokeDetectorTelemetry>;
export type FireWaterTelemetry = z.infer<typeof fireWaterTelemetry>;
export type WaterPumpTelemetry = z.infer<typeof waterPumpTelemetry>;
export type DrainageTelemetry = z.infer<typeof drainageTelemetry>;

/** How a field is stored: InfluxDB fixes a field's type on first write, so an integer must never become a float. */
export type FieldType = 'int' | 'float' | 'bool' | 'string';
export type FieldTypes = Readonly<Record<string, FieldType>>;

function fieldTypeOf(schema: z.ZodType): FieldType {
  let s = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType }; isInt?: boolean };
  while (s.def.type === 'optional' || s.def.type === 'default' || s.def.type === 'nullable') s = s.def.innerType as typeof s;
  switch (s.def.type) {
    case 'number': return s.isInt ? 'int' : 'float';
    case 'boolean': return 'bool';
    default: return 'string'; // enums, literals, strings and string|number vendor codes
  }
}

function shapesOf(schema: z.ZodType): Array<Record<string, z.ZodType>> {
  const def = (schema as unknown as { def: { type: string; options?: z.ZodObject[] } }).def;
  if (def.type === 'union') return def.options!.map((o) => o.shape as Record<string, z.ZodType>);
  return [(schema as z.ZodObject).shape as Record<string, z.ZodType>];
}

/** Field types of a schema (all variants of a union merged), without `ts` and `type`, which are not fields. */
export function deriveFieldTypes(schema: z.ZodType): FieldTypes {
  const types: Record<string, FieldType> = {};
  for (const shape of shapesOf(schema)) {
    for (const [name, fieldSchema] of Object.entries(shape)) {
      if (name === 'ts' || name === 'type') continue;
      const t = fieldTypeOf(fieldSchema);
      if (types[name] && types[name] !== t) throw new Error(`field ${name} has two types: ${types[name]} and ${t}`);
      types[name] = t;
    }
  }
  return Object.freeze(types);
}

export interface KindContract {
  telemetry: z.ZodType;
  event: z.ZodType;
  /** The schemas' fast paths (compiled.ts): zod's output when they prove a value valid, else undefined (ask zod). */
  checkTelemetry: FastCheck;
  checkEvent: FastCheck;
  telemetryFields: FieldTypes;
  eventFields: FieldTypes;
  /** Measurement names in the time-series store. */
  telemetryMeasurement: string;
  eventMeasurement: string;
}

/** Per-kind contracts, computed once at module load (the hot path only looks them up). */
export const KIND_CONTRACTS: Readonly<Record<DeviceKind, KindContract>> = Object.freeze(
  Object.fromEntries(DEVICE_KINDS.map((kind) => {
    const { telemetry, event } = KIND_SCHEMAS[kind];
    return [kind, Object.freeze({
      telemetry, event,
      checkTelemetry: compileSchema(telemetry), checkEvent: compileSchema(event),
      telemetryFields: deriveFieldTypes(telemetry),
      eventFields: { ...deriveFieldTypes(event), n: 'int' as const },
      telemetryMeasurement: kind,
      eventMeasurement: `${kind}_event`,
    })];
  })) as unknown as Record<DeviceKind, KindContract>,
);
