/**
 * Checks the compiled fast path of the kinds' schemas (ingest/schemas/compiled.ts) against zod on
 * random and mutated payloads: whenever the fast path returns a value, zod must accept the same
 * input and return the same keys in the same order with the same values. (When the fast path
 * returns undefined, zod decides, so no check is needed; the share of valid inputs it covers is
 * printed.) Exits with 1 on the first difference.
 *
 *   node dist/bench/validator-equivalence.js [--rounds 200000] [--seed 1]
 */
import { parseArgs } from 'node:util';
import { DEVICE_KINDS, KIND_CONTRACTS } from '../ingest/schemas/kinds.js';
import { sampleEvent, sampleTelemetry } from '../simulators/samples.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200000' }, seed: { type: 'string', default: '1' } } });
let seed = Number(values.seed) >>> 0 || 1;
/** xorshift32: a reproducible run for a given seed. */
function rnd(): number {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const ODD_VALUES: unknown[] = [
  0, -0, 1, -1, 0.5, -0.5, 1.5, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 1e21, -1e21, 1e308, Infinity, -Infinity, NaN,
  4_294_967_295, 4_294_967_296, -2_147_483_648, -2_147_483_649, 8_640_000_000_000_000, 8_640_000_000_000_001, Number.MAX_SAFE_INTEGER,
  '', 'x', 'normal', 'up', 'closed', 'open', 'E23', 'a'.repeat(64), 'a'.repeat(65), '2026-11-30T10:00:00Z', '2026-11-30T10:00:00+08:00', 'not a date',
  true, false, null, [], [1], {}, { a: 1 }, undefined,
];
/** Values near each bound the schemas use. */
const BOUNDS = [0, 1, 10, 14, 20, 64, 100, 200, 300, 4000, 1_000_000, 1_000_000_000, -20, -50];

function mutate(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const key = rnd() < 0.1 ? pick(['extra', 'ts', 'seq', 'type', 'test', '__proto__x']) : pick(keys);
    const r = rnd();
    if (r < 0.15) delete out[key];
    else if (r < 0.45) out[key] = pick(ODD_VALUES);
    else if (r < 0.75) { const b = pick(BOUNDS); out[key] = pick([b, b + 1, b - 1, b + 0.5, b - 0.5, -b, b + 1e-9]); }
    else if (r < 0.85) out[key] = typeof out[key] === 'number' ? (out[key] as number) * pick([2, 10, -1, 0.5]) : pick(ODD_VALUES);
    else out[key] = Date.now() - Math.floor(rnd() * 1e6);
  }
  if (rnd() < 0.2) {
    // the same keys in another order
    const entries = Object.entries(out).sort(() => rnd() - 0.5);
    return Object.fromEntries(entries);
  }
  return out;
}

function same(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || !Object.is(a[ka[i]!], b[kb[i]!])) return false;
  return true;
}

const rounds = Number(values.rounds);
let fast = 0, zodValid = 0, checked = 0;
const allKeys = (o: Record<string, unknown>, schemaKeys: string[]) => [...new Set([...Object.keys(o), ...schemaKeys])];
for (let r = 0; r < rounds; r++) {
  const kind = pick(DEVICE_KINDS);
  const contract = KIND_CONTRACTS[kind];
  const isEvent = rnd() < 0.3;
  const base = isEvent ? sampleEvent(kind) : { ...sampleTelemetry(kind, Math.floor(rnd() * 1000)), ts: Date.now() };
  const schemaKeys = Object.keys(isEvent ? contract.eventFields : contract.telemetryFields);
  const input = rnd() < 0.2 ? base : mutate(base, allKeys(base, schemaKeys));
  const got = (isEvent ? contract.checkEvent : contract.checkTelemetry)(input);
  const want = (isEvent ? contract.event : contract.telemetry).safeParse(input);
  checked++;
  if (want.success) zodValid++;
  if (got === undefined) continue;
  fast++;
  if (!want.success || !same(got, want.data as Record<string, unknown>)) {
    process.stderr.write(`DIFFERENT for ${kind} ${isEvent ? 'event' : 'telemetry'}: ${JSON.stringify(input)}\n  fast: ${JSON.stringify(got)}\n  zod: ${JSON.stringify(want)}\n`);
    process.exit(1);
  }
}
process.stdout.write(`${checked} inputs: zod accepted ${zodValid}, the fast path proved ${fast} of them (${((100 * fast) / Math.max(1, zodValid)).toFixed(1)} %) and never disagreed\n`);
