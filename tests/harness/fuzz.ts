/** Seeded generators of mutated device payloads, shared by the fuzz test. */
import { sampleTelemetry, sampleEvent } from '../../simulators/samples.js';
import type { DeviceKind } from '../../ingest/schemas/kinds.js';

const MAX_BATCH = 50;

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

/** One fuzz case: the payload and how many outcomes (stored or dead letter) it must produce. */
function jsonCase(kind: DeviceKind): { channel: 'telemetry' | 'events'; payload: string | Buffer; outcomes: number } {
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
  if (r < 0.95) {
    const bytes = Buffer.alloc(1 + Math.floor(rand() * 200));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    let outcomes = 1;
    try {
      const parsed = JSON.parse(bytes.toString('utf8'));
      if (Array.isArray(parsed)) outcomes = Math.max(1, parsed.length);
    } catch { /* not JSON */ }
    return { channel, payload: bytes, outcomes };
  }
  const weird = pick(WEIRD);
  return { channel, payload: JSON.stringify(weird), outcomes: Array.isArray(weird) ? Math.max(1, weird.length) : 1 };
}
return { rand, pick, jsonCase, mutateObject };
}
