/**
 * Device-model decoders: a vendor report (JSON fields, a binary frame, or both) → our device
 * payload objects (SPEC 2: the kind's telemetry fields, events with `type`, `ts`). Pure and
 * data-driven (config.ts explains the two steps); the kind's schema still validates every object
 * on submit, so a decoder only has to name and scale the fields.
 *
 * Built-in models (a configured model of the same name replaces one):
 * - `lian-nb-smoke`: LiAn NB smoke alarm on a CTWing LwM2M profile (`payload.serviceData`), real
 *   capture and `Alarm_Status` dictionary in the research notes (§3.2, vendor-specific, single
 *   source). Its reports carry no smoke reading, so it yields events only, never telemetry.
 * - `gw-smoke-v1`: OUR frame for NB smoke alarms (defined here, not a vendor's), carried as hex in
 *   LwM2M `3200_0_5750` (OneNET legacy `value`, Studio param), or as CTWing `APPdata`:
 *     byte 0     0xA5 marker
 *     byte 1     0x01 version
 *     byte 2     status: 0 reading, 1 alarm, 2 alarm cleared, 3 low battery, 4 tamper, 5 test alarm
 *     bytes 3-4  smoke, u16 big-endian, 0.1 dB/m
 *     bytes 5-6  temperature, i16 big-endian, 0.1 °C
 *     byte 7     battery, %
 * - `gw-water-pressure`: OUR thing model for NB fire-water pressure/level sensors (OneNET Studio
 *   params or a CTWing profile): `Pressure` (kPa) and `WaterLevel` (cm) → `pressure` (MPa), `tankLevel` (m).
 */
import type { DeviceKind } from '../../ingest/index.js';
import { modelDecoderSchema, type FieldMap, type ModelDecoder, type ModelDecoderInput, type NbiotSettings } from './config.js';

/** What a platform adapter hands a decoder: the vendor's own fields and/or bytes, and the reading's time. */
export interface VendorReport {
  fields?: Readonly<Record<string, unknown>> | undefined;
  bytes?: Buffer | undefined;
  /** The platform's time of the reading (epoch ms); absent: the gateway's receive time. */
  ts?: number | undefined;
}

export type Decoded =
  | { ok: true; telemetry: Record<string, unknown>[]; events: Record<string, unknown>[] }
  | { ok: false; message: string };

const BUILTIN_INPUT: Record<string, ModelDecoderInput> = {
  'lian-nb-smoke': {
    kind: 'smoke_detector',
    description: 'LiAn NB 独立式烟感 (CTWing LwM2M profile, serviceData.Alarm_Status)',
    events: [{
      field: 'Alarm_Status',
      values: {
        1: { type: 'alarm' }, // 报警
        2: null, // 静音
        3: null, // 保留
        4: { type: 'low_battery', with: { battery: { from: 'Battery_Level', optional: true } } }, // 低压
        5: null, // 故障: the smoke_detector kind has no fault event yet
        6: null, // 数据异常
        7: { type: 'alarm_cleared' }, // 正常
        8: null, 9: null, // 静音指令
        10: { type: 'tamper' }, // 拆卸报警
        11: null, // 拆卸恢复
        12: null, // 在线
        13: null, // 异常
        14: { type: 'alarm', test: true }, // 模拟报警
      },
    }],
  },
  'gw-smoke-v1': {
    kind: 'smoke_detector',
    description: '本网关定义的 NB 烟感帧 / our NB smoke-alarm frame (hex in 3200_0_5750 or CTWing APPdata)',
    frame: {
      resource: '3200_0_5750', header: 'a501', minLength: 8,
      fields: { status: { at: 2, type: 'u8' }, smoke: { at: 3, type: 'u16' }, temperature: { at: 5, type: 'i16' }, battery: { at: 7, type: 'u8' } },
    },
    telemetry: { smoke: { from: 'smoke', scale: 0.1 }, temperature: { from: 'temperature', scale: 0.1 }, battery: 'battery' },
    events: [{
      field: 'status',
      values: {
        0: null, 1: { type: 'alarm' }, 2: { type: 'alarm_cleared' },
        3: { type: 'low_battery', with: { battery: 'battery' } }, 4: { type: 'tamper' }, 5: { type: 'alarm', test: true },
      },
    }],
  },
  'gw-water-pressure': {
    kind: 'fire_water',
    description: '本网关定义的 NB 消防水压/液位物模型 / our NB fire-water thing model: Pressure (kPa), WaterLevel (cm)',
    telemetry: { pressure: { from: 'Pressure', scale: 0.001 }, tankLevel: { from: 'WaterLevel', scale: 0.01 } },
  },
};

export const BUILTIN_MODELS: Readonly<Record<string, ModelDecoder>> = Object.freeze(
  Object.fromEntries(Object.entries(BUILTIN_INPUT).map(([name, m]) => [name, modelDecoderSchema.parse(m)])),
);

/** The decoders by model name: the built-ins, then the configured ones over them. */
export function resolveModels(settings: Pick<NbiotSettings, 'models'>): ReadonlyMap<string, ModelDecoder> {
  return new Map(Object.entries({ ...BUILTIN_MODELS, ...settings.models }));
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** Hex text → bytes, or undefined if it is not whole hex bytes. */
export function hexBytes(text: unknown): Buffer | undefined {
  return typeof text === 'string' && text.length <= 8192 && HEX.test(text) ? Buffer.from(text, 'hex') : undefined;
}

const SIZES = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4 } as const;

function readInt(b: Buffer, at: number, type: keyof typeof SIZES, le: boolean): number {
  switch (type) {
    case 'u8': return b.readUInt8(at);
    case 'i8': return b.readInt8(at);
    case 'u16': return le ? b.readUInt16LE(at) : b.readUInt16BE(at);
    case 'i16': return le ? b.readInt16LE(at) : b.readInt16BE(at);
    case 'u32': return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
    case 'i32': return le ? b.readInt32LE(at) : b.readInt32BE(at);
  }
}

/** A frame → its named fields, or the reason it is not one of this model's. */
export function parseFrame(frame: NonNullable<ModelDecoder['frame']>, bytes: Buffer): Record<string, number> | string {
  const header = frame.header.toLowerCase();
  if (header && bytes.subarray(0, header.length / 2).toString('hex') !== header) return `帧头不是 ${header} / the frame does not start with ${header}`;
  if (bytes.length < frame.minLength) return `帧长 ${bytes.length} 字节，少于 ${frame.minLength} / the frame is ${bytes.length} bytes, shorter than ${frame.minLength}`;
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(frame.fields)) {
    if (f.at + SIZES[f.type] > bytes.length) return `帧太短，缺字段 ${name} / the frame is too short for field ${name}`;
    out[name] = readInt(bytes, f.at, f.type, f.littleEndian);
  }
  return out;
}

function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '' && v.length <= 32) {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** One of our fields from the vendor's, or undefined if absent or not a number. */
function mapField(m: FieldMap, fields: Readonly<Record<string, unknown>>): number | boolean | undefined {
  const n = numeric(fields[m.from]);
  if (n === undefined) return undefined;
  if (m.as === 'boolean') return n !== 0;
  // 0.1-steps in binary floating point: 23.400000000000002 is stored as 23.4
  return Math.round((n * m.scale + m.offset) * 1e6) / 1e6;
}

/**
 * Decodes one report. `ok` with nothing in it: the report was the model's (a known status such as
 * 在线 or 静音) but says nothing to store: a sign of life only.
 */
export function decodeReport(model: ModelDecoder, kind: DeviceKind, report: VendorReport): Decoded {
  if (model.kind !== kind) return { ok: false, message: `型号解码器用于 ${model.kind}，设备类型是 ${kind} / the model's decoder is for ${model.kind}, the device is a ${kind}` };
  let fields: Readonly<Record<string, unknown>> = report.fields ?? {};
  let bytes = report.bytes;
  if (model.frame) {
    bytes ??= hexBytes(fields[model.frame.resource]);
    if (bytes) {
      const parsed = parseFrame(model.frame, bytes);
      if (typeof parsed === 'string') return { ok: false, message: parsed };
      fields = { ...fields, ...parsed };
    }
  } else if (bytes && Object.keys(fields).length === 0) {
    return { ok: false, message: '此型号没有帧格式，无法解码二进制数据 / this model has no frame layout: cannot decode bytes' };
  }

  const stamp = report.ts === undefined ? {} : { ts: report.ts };
  let recognised = false;
  const telemetry: Record<string, unknown>[] = [];
  const mapped = Object.entries(model.telemetry);
  if (mapped.length > 0) {
    const reading: Record<string, unknown> = { ...stamp };
    let complete = true;
    for (const [ours, m] of mapped) {
      const v = mapField(m, fields);
      if (v !== undefined) reading[ours] = v;
      else if (!m.optional) { complete = false; break; }
    }
    if (complete) { telemetry.push(reading); recognised = true; }
  }

  const events: Record<string, unknown>[] = [];
  for (const rule of model.events) {
    const raw = fields[rule.field];
    if (raw === undefined || raw === null || typeof raw === 'object') continue;
    const key = String(raw);
    if (!Object.hasOwn(rule.values, key)) continue;
    recognised = true;
    const ev = rule.values[key];
    if (!ev) continue;
    const event: Record<string, unknown> = { ...stamp, type: ev.type };
    if (ev.test !== undefined) event.test = ev.test;
    for (const [ours, m] of Object.entries(ev.with ?? {})) {
      const v = mapField(m, fields);
      if (v !== undefined) event[ours] = v;
    }
    events.push(event);
  }

  if (!recognised) {
    const keys = Object.keys(fields).slice(0, 20).join(', ');
    return { ok: false, message: `载荷中没有此型号可解码的字段 / nothing in the payload this model decodes (fields: ${keys || 'none'}${bytes ? `, ${bytes.length} bytes` : ''})` };
  }
  return { ok: true, telemetry, events };
}
