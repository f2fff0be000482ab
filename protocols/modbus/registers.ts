/**
 * Register maps, pure: which reads a poll makes, and how their raw words and bits become one
 * telemetry object. No sockets and no clock here, so every type, word order, scale, bit and map is
 * tested on plain arrays (tests/modbus-registers.test.ts); `encodeFields` is the inverse, for the
 * simulator and for round-trip tests.
 */
import type { RegisterArea, RegisterSpec } from './config.js';

/** Modbus application protocol v1.1b3, 6.1–6.4: at most 2000 coils / inputs and 125 registers per read. */
export const MAX_READ_BITS = 2000;
export const MAX_READ_REGISTERS = 125;

/** One read request of a poll. */
export interface ReadRequest {
  area: RegisterArea;
  address: number;
  /** Registers (holding, input) or bits (coil, discrete). */
  length: number;
  /** Indices into the model's register list that this read serves. */
  registers: number[];
}

/** What a read answered: words for registers, booleans for coils and discrete inputs. */
export type ReadResult = readonly number[] | readonly boolean[];

export interface DecodedPoll {
  /** The telemetry object (without `ts`: the poller stamps it). */
  object: Record<string, unknown>;
  /** Fields left out, each with why (a raw value the map does not name, a value that is not finite). */
  issues: Array<{ field: string; message: string }>;
}

const AREAS: readonly RegisterArea[] = ['coil', 'discrete', 'holding', 'input'];

export function isBitArea(area: RegisterArea): boolean {
  return area === 'coil' || area === 'discrete';
}

/** How many addresses a register occupies: 2 for 32-bit values, else 1. */
export function widthOf(r: RegisterSpec): number {
  return r.type === 'uint32' || r.type === 'int32' || r.type === 'float32' ? 2 : 1;
}

/**
 * The fewest reads that cover every register: per area, registers sorted by address are joined
 * while the next starts at most `maxGap` addresses after the current read ends and the read stays
 * within the protocol's limit. Registers may overlap (several bits of one status word) and share
 * a read. Areas in a fixed order, so a model always polls the same way.
 */
export function planReads(registers: readonly RegisterSpec[], maxGap = 0): ReadRequest[] {
  const plan: ReadRequest[] = [];
  for (const area of AREAS) {
    const limit = isBitArea(area) ? MAX_READ_BITS : MAX_READ_REGISTERS;
    const indices = registers.map((_, i) => i).filter((i) => registers[i]!.area === area)
      .sort((a, b) => registers[a]!.address - registers[b]!.address || a - b);
    let current: ReadRequest | undefined;
    for (const i of indices) {
      const r = registers[i]!;
      const end = r.address + widthOf(r); // exclusive
      if (current && r.address <= current.address + current.length + maxGap && end - current.address <= limit) {
        current.length = Math.max(current.length, end - current.address);
        current.registers.push(i);
      } else {
        current = { area, address: r.address, length: end - r.address, registers: [i] };
        plan.push(current);
      }
    }
  }
  return plan;
}

// one scratch buffer for the float conversions: decoding is synchronous, so it is never shared
const scratch = new DataView(new ArrayBuffer(4));

/** The raw value of one register from its read's answer, before map and scale; undefined when the answer is short. */
export function rawValue(r: RegisterSpec, read: ReadRequest, result: ReadResult): number | boolean | undefined {
  const at = r.address - read.address;
  if (isBitArea(r.area)) {
    const v = result[at];
    return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : undefined;
  }
  const w0 = word(result[at]);
  if (w0 === undefined) return undefined;
  switch (r.type) {
    case 'uint16': return w0;
    case 'int16': return (w0 << 16) >> 16;
    case 'bool': return r.bit === undefined ? w0 !== 0 : ((w0 >> r.bit) & 1) === 1;
    default: {
      const w1 = word(result[at + 1]);
      if (w1 === undefined) return undefined;
      const [hi, lo] = r.wordOrder === 'little' ? [w1, w0] : [w0, w1];
      if (r.type === 'uint32') return hi * 0x10000 + lo;
      if (r.type === 'int32') return ((hi << 16) | lo) | 0;
      scratch.setUint16(0, hi);
      scratch.setUint16(2, lo);
      // a float32 holds about 7 significant digits; printing more shows the binary rounding (0.44999998807907104)
      const f = scratch.getFloat32(0);
      return Number.isFinite(f) ? Number(f.toPrecision(7)) : f;
    }
  }
}

function word(v: number | boolean | undefined): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff ? v : undefined;
}

/** A raw value through the register's map, or its scale and offset. */
export function fieldValue(r: RegisterSpec, raw: number | boolean): { value: unknown } | { error: string } {
  if (r.map) {
    const key = String(raw);
    if (Object.prototype.hasOwnProperty.call(r.map, key)) return { value: r.map[key] };
    return { error: `raw value ${key} is not in the map (${Object.keys(r.map).join(', ')})` };
  }
  if (typeof raw === 'boolean') return { value: raw };
  if (!Number.isFinite(raw)) return { error: `raw value ${raw} is not a finite number` };
  if (r.scale === undefined && r.offset === undefined) return { value: raw };
  const v = raw * (r.scale ?? 1) + (r.offset ?? 0);
  // 7 × 0.1 = 0.7000000000000001: twelve significant digits are beyond any sensor and hide the binary noise
  return { value: Number(v.toPrecision(12)) };
}

/**
 * One telemetry object from a poll's answers (`results[i]` answers `plan[i]`). A field whose value
 * cannot be decoded is left out and named in `issues`; the rest of the reading stays.
 */
export function decodePoll(registers: readonly RegisterSpec[], plan: readonly ReadRequest[], results: readonly ReadResult[]): DecodedPoll {
  const object: Record<string, unknown> = {};
  const issues: DecodedPoll['issues'] = [];
  plan.forEach((read, n) => {
    const result = results[n] ?? [];
    for (const i of read.registers) {
      const r = registers[i]!;
      const raw = rawValue(r, read, result);
      if (raw === undefined) {
        issues.push({ field: r.field, message: `no value at ${r.area} ${r.address} in an answer of ${result.length}` });
        continue;
      }
      const v = fieldValue(r, raw);
      if ('error' in v) issues.push({ field: r.field, message: v.error });
      else object[r.field] = v.value;
    }
  });
  return { object, issues };
}

/** Register images per area: word or bit values by address. */
export interface RegisterImage {
  holding: Map<number, number>;
  input: Map<number, number>;
  coil: Map<number, boolean>;
  discrete: Map<number, boolean>;
}

export function emptyImage(): RegisterImage {
  return { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map() };
}

/**
 * The inverse of `decodePoll`: writes field values into a register image (a simulated PLC's
 * memory). Bits of a status word are set within the word the other bits left; a value not in a
 * register's map, or a field the values lack, leaves its registers as they were (0 for a new image).
 */
export function encodeFields(registers: readonly RegisterSpec[], values: Readonly<Record<string, unknown>>, image: RegisterImage = emptyImage()): RegisterImage {
  for (const r of registers) {
    if (!(r.field in values)) continue;
    let v: unknown = values[r.field];
    if (r.map) {
      const key = Object.keys(r.map).find((k) => r.map![k] === v);
      if (key === undefined) continue;
      v = key === 'true' ? true : key === 'false' ? false : Number(key);
    } else if (typeof v === 'number' && (r.scale !== undefined || r.offset !== undefined)) {
      v = (v - (r.offset ?? 0)) / (r.scale ?? 1);
    }
    if (isBitArea(r.area)) {
      image[r.area as 'coil' | 'discrete'].set(r.address, Boolean(v));
      continue;
    }
    const words = image[r.area as 'holding' | 'input'];
    if (r.type === 'bool') {
      if (r.bit === undefined) { words.set(r.address, v ? 1 : 0); continue; }
      const old = words.get(r.address) ?? 0;
      words.set(r.address, v ? old | (1 << r.bit) : old & ~(1 << r.bit) & 0xffff);
      continue;
    }
    const n = typeof v === 'boolean' ? Number(v) : typeof v === 'number' ? v : NaN;
    if (!Number.isFinite(n)) continue;
    let hi: number, lo: number;
    switch (r.type) {
      case 'uint16': case 'int16':
        words.set(r.address, Math.round(n) & 0xffff);
        continue;
      case 'float32':
        scratch.setFloat32(0, n);
        hi = scratch.getUint16(0); lo = scratch.getUint16(2);
        break;
      default: {
        const u = Math.round(n) >>> 0; // two's complement for int32, modulo 2^32 for uint32
        hi = u >>> 16; lo = u & 0xffff;
      }
    }
    const [first, second] = r.wordOrder === 'little' ? [lo, hi] : [hi, lo];
    words.set(r.address, first);
    words.set(r.address + 1, second);
  }
  return image;
}
