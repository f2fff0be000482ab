/**
 * InfluxDB stopped for 60 s while the load generator sends 1,500 messages per second, then started
 * again: afterwards InfluxDB holds every acknowledged reading, per device, in order. (How fast the
 * gateway ingests is the benchmark's to prove, not this test's.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InfluxDB } from 'influx';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { runLoad, type LoadDevice } from '../simulators/load.js';
import type { DeviceKind } from '../ingest/schemas/kinds.js';

const KINDS: DeviceKind[] = ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
const DEVICES = 20;
const RATE = 1500; // messages per second, all devices together
const OUTAGE_MS = 60_000; // a minute: longer than any batch interval or retry backoff, so the buffer and replay are really exercised

let influxd: InfluxdHandle;
let t: TestGateway;
beforeAll(async () => {
  influxd = await startInfluxd();
  t = await startTestGateway({ influx: { url: influxd.url, database: 'outage' }, timeseries: { flushIntervalMs: 200, retry: { initialDelayMs: 100, maxDelayMs: 2000 } } });
});
afterAll(async () => {
  await t?.dispose();
  await influxd?.dispose();
});

it('loses nothing while InfluxDB is down for 60 s under 1,500 msg/s', async () => {
  const devices: LoadDevice[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const id = `out-${kind}-${i}`;
    devices.push({ id, kind, secret: await registerDevice(t, { id, kind, siteId: `site-${i % 3}` }) });
  }
  const accepted = async () => (await t.gw.metrics.objectsValid.get()).values.reduce((a, v) => a + v.value, 0);
  // The fixed waits are the scenario: 3 s of load with InfluxDB up, then 60 s with it down.
  const outage = (async () => {
    await new Promise((r) => setTimeout(r, 3000));
    await influxd.stop();
    const acceptedAtStop = await accepted();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const buffered = t.gw.writer.health().pendingPoints;
    const acceptedDuringOutage = (await accepted()) - acceptedAtStop;
    await influxd.start();
    return { buffered, acceptedDuringOutage };
  })();
  const summary = await runLoad({ mqttUrl: t.mqttUrl, devices, ratePerSecond: RATE, durationMs: OUTAGE_MS + 6000, qos: 1 });
  const { buffered, acceptedDuringOutage } = await outage;

  expect(summary.errors).toBe(0);
  expect(summary.unacknowledged).toBe(0);
  // the outage really held readings back: every reading accepted while InfluxDB was down was still
  // in the outage buffer at its end (none can have reached InfluxDB)
  expect(acceptedDuringOutage).toBeGreaterThan(0);
  expect(buffered).toBeGreaterThanOrEqual(acceptedDuringOutage);
  expect(await t.gw.writer.flush(60_000)).toBe(true);

  const influx = new InfluxDB({ host: '127.0.0.1', port: influxd.port, database: 'outage' });
  let total = 0;
  for (const d of devices) {
    const rows = await influx.query<{ seq: number }>(`SELECT seq FROM "${d.kind}" WHERE device = '${d.id}' ORDER BY time ASC`);
    const seqs = rows.map((r) => r.seq);
    const expected = summary.perDevice[d.id]!;
    expect(expected.errors, d.id).toBe(0);
    // every acknowledged reading, once each, in the order it was sent
    expect(seqs.length, d.id).toBe(expected.lastSeq + 1);
    expect(seqs, d.id).toEqual(Array.from({ length: expected.lastSeq + 1 }, (_, i) => i));
    total += seqs.length;
  }
  expect(total).toBe(summary.acknowledged);
  const metrics = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  expect(metrics).not.toMatch(/gateway_points_dropped_total\{[^}]*\} [1-9]/);
}, 180_000);
