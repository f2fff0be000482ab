/** Seeded generators of mutated device payloads, shared by the fuzz test. */
import { sampleTelemetry, sampleEvent } from '../../simulators/samples.js';
import type { DeviceKind } from '../../ingest/schemas/kinds.js';

const MAX_BATCH = 50;
/** The gateway's default ingest.maxDepth: the outcomes of the nesting cases assume it. */
export const FUZZ_MAX_DEPTH = 16;

/** mulberry32: a small seeded PRNG so a failing case can be replayed with FUZZ_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Nesting depth of a parsed JSON value (an object or array is one level); the oracle for generated values. */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  let inner = 0;
  for (const x of Object.values(v)) inner = Math.max(inner, depthOf(x));
  return 1 + inner;
}

/** One fuzz case: the payload, how many outcomes (stored or dead letter) it must produce, and whether it is the one too_deep dead letter. */
export interface FuzzCase { channel: 'telemetry' | 'events'; payload: string | Buffer; outcomes: number; tooDeep?: boolean }

export function fuzzer(seed: number) {
const rand = prng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const WEIRD: unknown[] = [null, true, false, 0, -1, 1e308, -1e308, 3.5, 2 ** 53 + 1, '', 'x', '0', 'NaN', '🔥', 'a'.repeat(300), [], {}, [1, 2], { nested: { deep: [1] } }, '2026-01-01T00:00:00Z'];

function mutateObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  const keys = Object.keys(out);
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.3 && keys.length) delete out[pick(keys)];
    else if (r < 0.7 && keys.length) out[pick(keys)] = pick(WEIRD);
    else if (r < 0.8) out[`extra${Math.floor(rand() * 5)}`] = pick(WEIRD);
    else if (r < 0.9) out.ts = pick([Date.now() + 86_400_000, -5, 'yesterday', Date.now() - 30 * 86_400_000, Date.now()]);
    else out.__proto__ = pick(WEIRD) as object;
  }
  return out;
}

/** Text nesting `inner` in `levels` arrays or `{"d":...}` objects, mixed at random. */
function wrap(inner: string, levels: number): string {
  let open = '', close = '';
  for (let i = 0; i < levels; i++) {
    if (rand() < 0.5) { open += '['; close = ']' + close; } else { open += '{"d":'; close = '}' + close; }
  }
  return open + inner + close;
}

/** A string full of brackets, quotes and backslashes: JSON-escaped, none of it is structure. */
function bracketNoise(): string {
  let out = '';
  const n = 1 + Math.floor(rand() * 200);
  for (let i = 0; i < n; i++) out += pick(['[', ']', '{', '}', '"', '\\', '\\"', 'x', '\\[']);
  return out;
}

/**
 * Nested and wide structures: too deep (the whole message is one too_deep dead letter, even a
 * batch), just within the limit, brackets inside strings, wide objects, batches of nested arrays.
 */
function structureCase(kind: DeviceKind): FuzzCase {
  const channel = rand() < 0.8 ? 'telemetry' as const : 'events' as const;
  const base = () => (channel === 'telemetry' ? sampleTelemetry(kind, Math.floor(rand() * 1e6)) : sampleEvent(kind));
  const r = rand();
  if (r < 0.3) {
    // past the limit somewhere: around a reading, inside one of its fields, or in one object of a batch
    const levels = FUZZ_MAX_DEPTH + Math.floor(rand() * (rand() < 0.9 ? 50 : 3000));
    const where = rand();
    let payload: string;
    if (where < 0.4) payload = wrap(JSON.stringify(base()), levels);
    else if (where < 0.7) payload = JSON.stringify(base()).slice(0, -1) + ',"diag":' + wrap('1', levels) + '}';
    else {
      const objs = Array.from({ length: 1 + Math.floor(rand() * 10) }, () => JSON.stringify(base()));
      objs[Math.floor(rand() * objs.length)] = wrap('0', levels);
      payload = `[${objs.join(',')}]`;
    }
    return { channel, payload, outcomes: 1, tooDeep: true };
  }
  if (r < 0.5) {
    // within the limit: a reading whose extra field nests up to the limit (alone or in a batch)
    const inBatch = rand() < 0.5;
    // the object is one level and a batch another: up to exactly the limit
    const levels = Math.floor(rand() * (FUZZ_MAX_DEPTH - (inBatch ? 2 : 1) + 1));
    const obj = () => JSON.stringify(base()).slice(0, -1) + ',"diag":' + wrap(JSON.stringify(bracketNoise()), levels) + '}';
    if (!inBatch) return { channel, payload: obj(), outcomes: 1 };
    const k = 1 + Math.floor(rand() * 10);
    return { channel, payload: `[${Array.from({ length: k }, obj).join(',')}]`, outcomes: k };
  }
  if (r < 0.7) {
    // brackets, quotes and backslashes inside strings, values and keys
    const obj: Record<string, unknown> = { ...base(), note: bracketNoise() };
    obj[bracketNoise()] = bracketNoise();
    if (rand() < 0.3) obj[pick(Object.keys(obj))] = bracketNoise();
    return { channel, payload: JSON.stringify(obj), outcomes: 1 };
  }
  if (r < 0.85) {
    // wide: hundreds of extra keys, alone or in a batch (the 100,000-key case has its own test)
    const width = 50 + Math.floor(rand() * 500);
    const obj: Record<string, unknown> = rand() < 0.7 ? base() : mutateObject(base());
    for (let i = 0; i < width; i++) obj[`w${i}`] = rand() < 0.9 ? i : [i];
    if (depthOf(obj) + 1 > FUZZ_MAX_DEPTH) throw new Error('fuzz: a wide case must stay within the depth limit');
    if (rand() < 0.5) return { channel, payload: JSON.stringify(obj), outcomes: 1 };
    const k = 1 + Math.floor(rand() * 3);
    return { channel, payload: JSON.stringify(Array.from({ length: k }, () => obj)), outcomes: k };
  }
  // a batch of nested arrays within the limit: each one a not_object dead letter
  const k = 1 + Math.floor(rand() * MAX_BATCH);
  const items = Array.from({ length: k }, () => '[' + wrap(String(Math.floor(rand() * 100)), Math.floor(rand() * (FUZZ_MAX_DEPTH - 1))) + ']');
  return { channel, payload: `[${items.join(',')}]`, outcomes: k };
}

/** One fuzz case: the payload and how many outcomes (stored or dead letter) it must produce. */
function jsonCase(kind: DeviceKind): FuzzCase {
  const channel = rand() < 0.8 ? 'telemetry' as const : 'events' as const;
  const base = () => (channel === 'telemetry' ? sampleTelemetry(kind, Math.floor(rand() * 1e6)) : sampleEvent(kind));
  const r = rand();
  if (r < 0.15) {
    // valid as it is
    return { channel, payload: JSON.stringify(base()), outcomes: 1 };
  }
  if (r < 0.6) return { channel, payload: JSON.stringify(mutateObject(base())), outcomes: 1 };
  if (r < 0.75) {
    const k = Math.floor(rand() * MAX_BATCH);
    const arr = Array.from({ length: k }, () => (rand() < 0.5 ? base() : rand() < 0.8 ? mutateObject(base()) : pick(WEIRD)));
    return { channel, payload: JSON.stringify(arr), outcomes: Math.max(1, k) };
  }
  if (r < 0.85) {
    // JSON text cut or corrupted
    const text = JSON.stringify(base());
    const cut = Math.floor(rand() * text.length);
    const broken = rand() < 0.5 ? text.slice(0, cut) : text.slice(0, cut) + String.fromCharCode(Math.floor(rand() * 128)) + text.slice(cut + 1);
    let outcomes = 1;
    try {
      const parsed = JSON.parse(broken);
      if (Array.isArray(parsed)) outcomes = Math.max(1, parsed.length);
    } catch { /* not JSON: one dead letter */ }
    return { channel, payload: broken, outcomes };
  }
  if (r < 0.91) {
    const bytes = Buffer.alloc(1 + Math.floor(rand() * 200));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    let outcomes = 1;
    try {
      const parsed = JSON.parse(bytes.toString('utf8'));
      if (Array.isArray(parsed)) outcomes = Math.max(1, parsed.length);
    } catch { /* not JSON */ }
    return { channel, payload: bytes, outcomes };
  }
  if (r < 0.97) return structureCase(kind);
  const weird = pick(WEIRD);
  return { channel, payload: JSON.stringify(weird), outcomes: Array.isArray(weird) ? Math.max(1, weird.length) : 1 };
}
return { rand, pick, jsonCase, mutateObject };
}
