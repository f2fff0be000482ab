/**
 * InfluxDB down with a deliberately tiny outage buffer: the oldest readings are dropped, counted in
 * the metrics and logged, exactly as documented; the newest are kept, in order, and reach InfluxDB.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { gatewayProcess, type GatewayProcess } from './harness/process.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { ADMIN_TOKEN, waitFor } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

const READINGS = 20_000;
const CAP = 512 * 1024;

let influxd: InfluxdHandle;
let gw: GatewayProcess;
beforeAll(async () => {
  influxd = await startInfluxd();
  await influxd.stop();
  gw = await gatewayProcess({ INFLUX_URL: influxd.url, INFLUX_DATABASE: 'tinycap', TS_BUFFER_MAX_BYTES: String(CAP) });
  await gw.start();
});
afterAll(async () => {
  await gw?.dispose();
  await influxd?.dispose();
});

async function api(path: string, body?: unknown) {
  const res = await fetch(gw.httpUrl + path, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return res.json();
}

it('drops the oldest readings past the cap, counts and logs them, keeps the newest in order', async () => {
  await api('/api/v1/sites', { id: 's', name: 'S', companyId: 'c' });
  const { secret } = await api('/api/v1/devices', { id: 'cap-1', kind: 'water_pump', siteId: 's' });
  const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'cap-1', username: 'cap-1', password: secret, reconnectPeriod: 0 });
  const t0 = Date.now() - READINGS;
  for (let seq = 0; seq < READINGS; seq += 100) {
    // batches of 100 readings, all acknowledged
    const batch = Array.from({ length: 100 }, (_, i) => ({ ...sampleTelemetry('water_pump', seq + i), ts: t0 + seq + i }));
    await client.publishAsync('devices/cap-1/telemetry', JSON.stringify(batch), { qos: 1 });
  }
  await client.endAsync();
  const metrics = await fetch(gw.httpUrl + '/metrics').then((r) => r.text());
  const dropped = Number(/gateway_points_dropped_total\{reason="buffer_cap"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  expect(dropped).toBeGreaterThan(0);
  expect(gw.output()).toMatch(/dropped|droppedLines/);

  await influxd.start();
  // the spool replays into InfluxDB: poll until everything not dropped is there
  let rows: Array<{ seq: number }> = [];
  await waitFor(async () => {
    rows = (await api(`/api/v1/devices/cap-1/telemetry?from=0&fields=seq&limit=100000`)).rows ?? [];
    return rows.length >= READINGS - dropped;
  }, 30_000, 200).catch(() => undefined);
  // what was not dropped arrived; what is missing is exactly the oldest `dropped` readings
  expect(rows.length).toBe(READINGS - dropped);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: READINGS - dropped }, (_, i) => dropped + i));
}, 90_000);
