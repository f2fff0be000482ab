/**
 * The `protocols.modbus` settings: register maps per device model (型号), the controllers to poll,
 * reconnect backoff and how many polls may run at once. Every field has a default, so `.parse({})`
 * gives a working (empty) poller with the built-in map `pump-plc-std`.
 *
 * Addresses are the protocol's 0-based addresses (the PDU's), not the "40001" register numbers of
 * vendor manuals: holding register 40001 is `{ area: 'holding', address: 0 }`, input register 30010
 * is `{ area: 'input', address: 9 }`. Durations are milliseconds or text ("10s", core/duration.ts).
 */
import { z } from 'zod';
import { durationSchema as duration } from '../../core/duration.js';
import { DEVICE_KINDS, KIND_SCHEMAS, type DeviceKind } from '../../ingest/index.js';

export const REGISTER_AREAS = ['holding', 'input', 'coil', 'discrete'] as const;
export type RegisterArea = (typeof REGISTER_AREAS)[number];
export const REGISTER_TYPES = ['uint16', 'int16', 'uint32', 'int32', 'float32', 'bool'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** Field names the poller sets itself (`ts`) or that the pipeline reads as something else (`type`, `seq`). */
const RESERVED_FIELDS = new Set(['ts', 'seq', 'type']);

const registerSchema = z.object({
  /** The telemetry field this register fills (SPEC 2 field names, e.g. `outletPressure`). */
  field: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a field name: letters, digits, _').max(64)
    .refine((f) => !RESERVED_FIELDS.has(f), 'ts, seq and type are set by the gateway, not read from registers'),
  area: z.enum(REGISTER_AREAS).default('holding'),
  address: z.number().int().min(0).max(65535),
  /** Coils and discrete inputs are always `bool` (the default there); registers default to `uint16`. */
  type: z.enum(REGISTER_TYPES).optional(),
  /** 32-bit values: `big` = high word at `address` (AB CD, Modicon order), `little` = low word first (CD AB). */
  wordOrder: z.enum(['big', 'little']).default('big'),
  /** value = raw × scale + offset (e.g. kPa counts × 0.001 → MPa). Not for booleans. */
  scale: z.number().refine(Number.isFinite, 'finite').optional(),
  offset: z.number().refine(Number.isFinite, 'finite').optional(),
  /** One bit (0 = least significant) of a 16-bit register, read as a boolean: a status word's flags. */
  bit: z.number().int().min(0).max(15).optional(),
  /**
   * Raw value → field value, for vendor codes (`{ "1": "normal", "2": "inspection" }`) or inverted
   * contacts (`{ "true": false, "false": true }`). Keys are the raw value as text. A raw value the
   * map does not name leaves the field out of the reading (reported as undecodable).
   */
  map: z.record(z.string(), z.union([z.string().max(64), z.number(), z.boolean()])).optional(),
}).superRefine((r, ctx) => {
  const bitArea = r.area === 'coil' || r.area === 'discrete';
  if (bitArea && r.type !== undefined && r.type !== 'bool') ctx.addIssue({ code: 'custom', path: ['type'], message: `a ${r.area} is one bit: type must be bool` });
  if (r.bit !== undefined) {
    if (bitArea) ctx.addIssue({ code: 'custom', path: ['bit'], message: `bit is for a bit of a 16-bit register, not a ${r.area}` });
    if (r.type !== undefined && r.type !== 'bool' && r.type !== 'uint16' && r.type !== 'int16') ctx.addIssue({ code: 'custom', path: ['bit'], message: 'bit is for a 16-bit register' });
  }
  const type = r.type ?? (bitArea || r.bit !== undefined ? 'bool' : 'uint16');
  if (type === 'bool' && (r.scale !== undefined || r.offset !== undefined)) ctx.addIssue({ code: 'custom', path: ['scale'], message: 'scale and offset are for numbers, not booleans' });
  if ((type === 'uint32' || type === 'int32' || type === 'float32') && r.address > 65534) ctx.addIssue({ code: 'custom', path: ['address'], message: 'a 32-bit value needs two registers: address at most 65534' });
}).transform((r) => {
  const bitArea = r.area === 'coil' || r.area === 'discrete';
  // a bit of a register always reads as a boolean, whatever 16-bit type was written
  const type: RegisterType = bitArea || r.bit !== undefined ? 'bool' : (r.type ?? 'uint16');
  return { ...r, type };
});
export type RegisterSpec = z.output<typeof registerSchema>;
export type RegisterSpecInput = z.input<typeof registerSchema>;

const modelFields = {
  /** The kind this map is written for: its required telemetry fields must all be mapped. */
  kind: z.enum(DEVICE_KINDS).optional(),
  /** Time between two polls of one controller. */
  intervalMs: duration.optional(),
  /** Longest wait for one answer (and for the TCP connection); then `poll_timeout`. */
  timeoutMs: duration.optional(),
  /**
   * Unused addresses a read may span to save a request. 0 (the default) reads only adjacent
   * registers together: many PLCs answer "illegal data address" to a read that touches an address
   * they do not define, which would fail the whole poll.
   */
  maxGap: z.number().int().min(0).max(100).optional(),
  registers: z.array(registerSchema).min(1).max(500).optional(),
};
const modelInputSchema = z.object(modelFields);

const DEFAULT_INTERVAL_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 3_000;

export interface ModbusModel {
  kind: DeviceKind | undefined;
  intervalMs: number;
  timeoutMs: number;
  maxGap: number;
  registers: RegisterSpec[];
}

/**
 * The built-in map `pump-plc-std` (二次供水泵房控制器, water_pump), holding registers, one read of 10:
 *
 * | address (4xxxx) | field          | type   | unit / scale                       |
 * |-----------------|----------------|--------|------------------------------------|
 * | 0 (40001)       | inletPressure  | uint16 | kPa → MPa (× 0.001)                |
 * | 1 (40002)       | outletPressure | uint16 | kPa → MPa (× 0.001)                |
 * | 2 (40003)       | tankLevel      | uint16 | cm → m (× 0.01)                    |
 * | 3 (40004)       | pumpsRunning   | uint16 | count                              |
 * | 4 (40005)       | status word    | bits   | 0 pumpFault, 1 flooded, 2 doorOpen, 3 smoke |
 * | 5 (40006)       | turbidity      | uint16 | × 0.01 NTU                         |
 * | 6 (40007)       | chlorine       | uint16 | × 0.01 mg/L                        |
 * | 7 (40008)       | ph             | uint16 | × 0.01                             |
 * | 8 (40009)       | temperature    | int16  | × 0.1 °C (signed: a cold room)     |
 * | 9 (40010)       | humidity       | uint16 | × 0.1 %                            |
 *
 * Controllers of other vendors get their own model in the settings; a setting under this name
 * overrides its interval, timeout or whole register list.
 */
export const BUILTIN_MODELS: Readonly<Record<string, z.input<typeof modelInputSchema>>> = Object.freeze({
  'pump-plc-std': {
    kind: 'water_pump',
    registers: [
      { field: 'inletPressure', address: 0, scale: 0.001 },
      { field: 'outletPressure', address: 1, scale: 0.001 },
      { field: 'tankLevel', address: 2, scale: 0.01 },
      { field: 'pumpsRunning', address: 3 },
      { field: 'pumpFault', address: 4, bit: 0 },
      { field: 'flooded', address: 4, bit: 1 },
      { field: 'doorOpen', address: 4, bit: 2 },
      { field: 'smoke', address: 4, bit: 3 },
      { field: 'turbidity', address: 5, scale: 0.01 },
      { field: 'chlorine', address: 6, scale: 0.01 },
      { field: 'ph', address: 7, scale: 0.01 },
      { field: 'temperature', address: 8, type: 'int16', scale: 0.1 },
      { field: 'humidity', address: 9, scale: 0.1 },
    ],
  },
});

const required = new Map<DeviceKind, readonly string[]>();

/** The required telemetry fields of a kind (those its schema refuses to miss), worked out once per kind. */
export function requiredFields(kind: DeviceKind): readonly string[] {
  let fields = required.get(kind);
  if (!fields) {
    const shape = (KIND_SCHEMAS[kind].telemetry as z.ZodObject).shape as Record<string, z.ZodType>;
    fields = Object.freeze(Object.keys(shape).filter((f) => !shape[f]!.safeParse(undefined).success));
    required.set(kind, fields);
  }
  return fields;
}

/** The required fields of `kind` that `registers` do not fill. */
export function missingFields(kind: DeviceKind, registers: readonly RegisterSpec[]): string[] {
  const have = new Set(registers.map((r) => r.field));
  return requiredFields(kind).filter((f) => !have.has(f));
}

const modelsSchema = z.record(z.string().min(1).max(64), modelInputSchema).default({}).transform((given, ctx) => {
  // the built-in maps stay unless a setting of the same name replaces parts of them
  const out: Record<string, ModbusModel> = {};
  const names = new Set([...Object.keys(BUILTIN_MODELS), ...Object.keys(given)]);
  for (const name of names) {
    const builtin = BUILTIN_MODELS[name];
    const mine = given[name];
    const registers = mine?.registers ?? (builtin ? modelInputSchema.parse(builtin).registers : undefined);
    if (!registers) {
      ctx.addIssue({ code: 'custom', path: [name, 'registers'], message: `model ${name} needs its registers (no built-in map has this name)` });
      continue;
    }
    const kind = mine?.kind ?? builtin?.kind;
    const seen = new Set<string>();
    registers.forEach((r, i) => {
      if (seen.has(r.field)) ctx.addIssue({ code: 'custom', path: [name, 'registers', i, 'field'], message: `field ${r.field} is mapped twice` });
      seen.add(r.field);
    });
    if (kind) {
      const missing = missingFields(kind, registers);
      if (missing.length > 0) ctx.addIssue({ code: 'custom', path: [name, 'registers'], message: `a ${kind} map must fill ${missing.join(', ')}` });
    }
    out[name] = {
      kind,
      intervalMs: mine?.intervalMs ?? DEFAULT_INTERVAL_MS,
      timeoutMs: mine?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxGap: mine?.maxGap ?? 0,
      registers,
    };
    if (out[name].intervalMs < 100) ctx.addIssue({ code: 'custom', path: [name, 'intervalMs'], message: 'at least 100 ms: a PLC is not a busy loop' });
    if (out[name].timeoutMs < 50) ctx.addIssue({ code: 'custom', path: [name, 'timeoutMs'], message: 'at least 50 ms' });
  }
  return out;
});

const targetSchema = z.object({
  /** The registry's device id; its model (型号) selects the register map. */
  device: z.string().min(1).max(128),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).default(502),
  /** The Modbus unit identifier (slave id); 1 for most PLCs, the serial address behind a gateway. */
  unitId: z.number().int().min(0).max(255).default(1),
});
export type ModbusTarget = z.output<typeof targetSchema>;

export const modbusSettingsSchema = z.object({
  models: modelsSchema,
  targets: z.array(targetSchema).max(10_000).default([]),
  reconnect: z.object({
    /** Ceiling of the first retry's delay after a failure (never sooner than the model's interval). */
    minDelayMs: duration.prefault('1s'),
    /** Ceiling of any retry delay: an unreachable controller is still tried this often. */
    maxDelayMs: duration.prefault('60s'),
  }).prefault({}),
  /** Polls in flight at once over all targets: a site of a thousand PLCs does not open a thousand reads together. */
  maxConcurrentPolls: z.number().int().min(1).max(1000).default(16),
  /** A target that keeps failing is logged at its first failure, then at most once per this, then at its recovery. */
  logEveryMs: duration.prefault('5m'),
}).superRefine((s, ctx) => {
  if (s.reconnect.maxDelayMs < s.reconnect.minDelayMs) ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxDelayMs'], message: 'must be at least minDelayMs' });
  const devices = new Set<string>();
  const links = new Set<string>();
  s.targets.forEach((t, i) => {
    if (devices.has(t.device)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'device'], message: `device ${t.device} is polled twice` });
    devices.add(t.device);
    const link = `${t.host}:${t.port}:${t.unitId}`;
    if (links.has(link)) ctx.addIssue({ code: 'custom', path: ['targets', i], message: `${link} is polled for two devices` });
    links.add(link);
  });
});

export type ModbusSettings = z.output<typeof modbusSettingsSchema>;
export type ModbusSettingsInput = z.input<typeof modbusSettingsSchema>;
