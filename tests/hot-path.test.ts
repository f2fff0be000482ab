/**
 * The hot-path changes of issue 18 keep their contracts:
 * - the schemas' compiled fast path returns exactly zod's output whenever it returns anything, covers
 *   the payloads devices send, and leaves the rest (ISO dates, anything invalid) to zod;
 * - the relay audience skips a live copy only when nobody could receive it;
 * - the embedded store's checkpoints run in the worker, off the commits the devices wait for.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEVICE_KINDS, KIND_CONTRACTS } from '../ingest/schemas/kinds.js';
import { sampleEvent, sampleTelemetry } from '../simulators/samples.js';
import { RelayAudience, filterMatches } from '../gateway/broker/forwarder.js';
import { EmbeddedWriter } from '../ingest/writers/embedded.js';
import { encodeTags, type Point } from '../ingest/points.js';
import { waitFor } from './harness/gateway.js';

describe('the compiled fast path of the kinds\' schemas', () => {
  it.each(DEVICE_KINDS.map((k) => [k]))('%s: the samples pass the fast path with zod\'s exact output', (kind) => {
    const c = KIND_CONTRACTS[kind];
    for (const [value, schema, check] of [[sampleTelemetry(kind, 3), c.telemetry, c.checkTelemetry], [{ ...sampleEvent(kind), ts: 1_700_000_000_000 }, c.event, c.checkEvent]] as const) {
      const fast = check(value);
      expect(fast, `${kind}: the fast path must cover ${JSON.stringify(value)}`).toBeDefined();
      const slow = schema.safeParse(value);
      expect(slow.success).toBe(true);
      // same keys, same order, same values
      expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
    }
  });

  it('leaves to zod what it cannot prove: an ISO date ts, an unknown event type, a value out of bounds', () => {
    const c = KIND_CONTRACTS.water_pump;
    expect(c.checkTelemetry({ ...sampleTelemetry('water_pump'), ts: '2026-11-30T10:00:00Z' })).toBeUndefined();
    expect(c.telemetry.safeParse({ ...sampleTelemetry('water_pump'), ts: '2026-11-30T10:00:00Z' }).success).toBe(true);
    expect(c.checkTelemetry({ ...sampleTelemetry('water_pump'), ph: 15 })).toBeUndefined();
    expect(c.checkEvent({ type: 'no_such_event' })).toBeUndefined();
    // unknown keys are stripped, as zod does
    expect(c.checkTelemetry({ ...sampleTelemetry('water_pump'), vendorExtra: 1 })).not.toHaveProperty('vendorExtra');
  });

  it('agrees with zod on 20,000 random and mutated payloads (bench/validator-equivalence.ts)', () => {
    const script = join(import.meta.dirname, '..', 'dist', 'bench', 'validator-equivalence.js');
    // npm test builds first; a bare vitest run without dist/ has nothing to run
    if (!existsSync(script)) throw new Error('run npm run build first: dist/bench/validator-equivalence.js is missing');
    const out = execFileSync(process.execPath, [script, '--rounds', '20000', '--seed', '7'], { encoding: 'utf8' });
    expect(out).toMatch(/the fast path proved \d+ of them \((9\d|100)\.\d %\) and never disagreed/);
  });
});

describe('the relay audience', () => {
  const store = (subs: Record<string, number>) => ({ subscriptionsByTopic: async (topic: string) => new Array(subs[topic] ?? 0).fill({}) });
  const settle = () => new Promise((r) => setImmediate(r));

  it('forwards until the session store has answered, then only what someone subscribed to', async () => {
    const a = new RelayAudience(store({ 'devices/d2/telemetry': 1 }), false);
    expect(a.wanted('devices/d1/telemetry')).toBe(true); // not known yet: forwarded
    expect(a.wanted('devices/d2/telemetry')).toBe(true);
    await settle();
    expect(a.wanted('devices/d1/telemetry')).toBe(false);
    // a session stored by an earlier run still receives it
    expect(a.wanted('devices/d2/telemetry')).toBe(true);
    a.granted('devices/d1/#');
    expect(a.wanted('devices/d1/telemetry')).toBe(true);
    expect(a.wanted('devices/d1/events')).toBe(true);
  });

  it('counts wildcard and shared subscriptions, ignores those that cannot match a device topic, and forwards everything in a cluster', async () => {
    const a = new RelayAudience(store({}), false);
    a.wanted('devices/d3/events');
    await settle();
    expect(a.wanted('devices/d3/events')).toBe(false);
    a.granted('alerts/property/co-1');
    expect(a.wanted('devices/d3/events')).toBe(false);
    a.granted('devices/+/telemetry');
    expect(a.wanted('devices/d3/events')).toBe(false);
    expect(a.wanted('devices/d3/telemetry')).toBe(true);
    a.granted('$share/ops/devices/d3/events');
    expect(a.wanted('devices/d3/events')).toBe(true);
    expect(new RelayAudience(store({}), true).wanted('devices/x/telemetry')).toBe(true);
    expect(filterMatches(['#'], ['devices', 'a', 'b'])).toBe(true);
    expect(filterMatches(['devices', '+', 'events'], ['devices', 'a', 'telemetry'])).toBe(false);
  });
});

describe('the embedded store\'s checkpoints', () => {
  it('copy committed rows into the database file from the worker, without the writer checkpointing itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-ckpt-'));
    const writer = new EmbeddedWriter({ dataDir: dir, retentionDays: 30 });
    try {
      await writer.start();
      const file = join(dir, 'timeseries.sqlite');
      const before = statSync(file).size;
      const tags = { device: 'd1', site: 's1', company: 'c1' };
      const points: Point[] = [];
      for (let i = 0; i < 2000; i++) {
        points.push({ measurement: 'water_pump', tags, tagText: encodeTags(tags), fields: { outletPressure: 0.4, note: 'x'.repeat(100) }, types: {}, ts: 1_700_000_000_000 + i, sub: 0 });
      }
      writer.append(points);
      // far below the writer's own backstop (16,384 pages): only the worker merges the rows (about
      // 250 KB with their index) and copies the log into the file
      await waitFor(() => statSync(file).size > before + 200_000, 5000);
      expect((await writer.query({ deviceId: 'd1', measurement: 'water_pump', from: 0, to: Date.now(), limit: 5000 })).length).toBe(2000);
    } finally {
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
