/**
 * The gateway stopped and started again on the same data directory: the registry, the dead letters
 * and the readings not yet written to InfluxDB (the on-disk buffer) all survive.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { sampleTelemetry } from '../simulators/samples.js';

let influxd: InfluxdHandle;
let t: TestGateway;
beforeAll(async () => {
  influxd = await startInfluxd();
  t = await startTestGateway({ influx: { url: influxd.url, database: 'restart' }, timeseries: { flushIntervalMs: 50, retry: { initialDelayMs: 50, maxDelayMs: 500 } } });
});
afterAll(async () => {
  await t?.dispose();
  await influxd?.dispose();
});

it('keeps registry, accounts, dead letters and the unflushed buffer across a restart', async () => {
  const secret = await registerDevice(t, { id: 'fw-1', kind: 'fire_water', building: 'B2' });
  const account = await t.api('POST', '/api/v1/accounts', { id: 'fire-119', role: 'fire-service' });
  expect(account.status).toBe(201);
  let device = await connectDevice(t, 'fw-1', secret);

  // InfluxDB goes down: readings are acknowledged into the on-disk buffer
  await influxd.stop();
  const t0 = Date.now() - 60_000;
  for (let seq = 0; seq < 50; seq++) await publish(device, 'devices/fw-1/telemetry', { ...sampleTelemetry('fire_water', seq), ts: t0 + seq * 100 });
  await publish(device, 'devices/fw-1/telemetry', 'not json');
  await waitFor(async () => (await t.api('GET', '/api/v1/dead-letters?deviceId=fw-1')).body.items.length === 1);
  expect(t.gw.writer.health().pendingPoints).toBe(50);
  await device.endAsync();

  await t.stop();
  await t.restart();

  // the registry and dead letters are back; the old secret and token still work
  expect((await t.api('GET', '/api/v1/devices/fw-1')).body).toMatchObject({ id: 'fw-1', kind: 'fire_water', building: 'B2' });
  expect((await t.api('GET', '/api/v1/devices/fw-1', undefined, account.body.token)).status).toBe(200);
  const letters = (await t.api('GET', '/api/v1/dead-letters?deviceId=fw-1')).body.items;
  expect(letters).toHaveLength(1);
  expect(letters[0].reason).toBe('not_json');
  device = await connectDevice(t, 'fw-1', secret);
  await device.endAsync();

  // the buffer left by the first run is replayed once InfluxDB is back
  expect(t.gw.writer.health().pendingPoints).toBe(50);
  await influxd.start();
  expect(await t.gw.writer.flush(20_000)).toBe(true);
  const rows = (await t.api('GET', `/api/v1/devices/fw-1/telemetry?from=${t0}&fields=seq&limit=1000`)).body.rows;
  expect(rows.map((r: { seq: number }) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
});
