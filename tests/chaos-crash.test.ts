/**
 * The gateway killed with SIGKILL under QoS 1 load and started again: every message the broker
 * acknowledged to a device is stored, exactly once, and the devices carry on.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { gatewayProcess, type GatewayProcess } from './harness/process.js';
import { ADMIN_TOKEN, waitFor } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

const DEVICES = 10;
const WINDOW = 50; // messages in flight per device
const ACKED_BEFORE_KILL = 500; // the kill comes once this many are acknowledged, with a full window in flight

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await gatewayProcess();
  await gw.start();
});
afterAll(async () => { await gw?.dispose(); });

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(gw.httpUrl + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() };
}

/** A device that publishes as fast as its window allows and records exactly which seqs were acknowledged. */
class Publisher {
  seq = 0;
  inflight = 0;
  readonly acked = new Set<number>();
  errors = 0;
  running = true;
  constructor(readonly id: string, readonly client: MqttClient) {
    client.on('connect', () => this.pump());
    client.on('error', () => undefined);
  }
  pump(): void {
    while (this.running && this.client.connected && this.inflight < WINDOW) {
      const seq = this.seq++;
      this.inflight++;
      const body = JSON.stringify({ ...sampleTelemetry('fire_water', seq), ts: Date.now() });
      this.client.publish(`devices/${this.id}/telemetry`, body, { qos: 1 }, (err) => {
        this.inflight--;
        if (err) this.errors++;
        else this.acked.add(seq);
        setImmediate(() => this.pump());
      });
    }
  }
}

it('keeps every acknowledged message across a SIGKILL', async () => {
  await api('POST', '/api/v1/sites', { id: 's1', name: 'S1', companyId: 'c1' });
  const pubs: Publisher[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const id = `crash-${i}`;
    const { body } = await api('POST', '/api/v1/devices', { id, kind: 'fire_water', siteId: 's1' });
    const client = mqtt.connect(gw.mqttUrl, { clientId: id, username: id, password: body.secret, reconnectPeriod: 200, clean: true });
    pubs.push(new Publisher(id, client));
  }
  const acked = () => pubs.reduce((a, p) => a + p.acked.size, 0);
  await waitFor(() => acked() >= ACKED_BEFORE_KILL, 30_000);

  await gw.kill(); // mid-stream: some messages are in a group commit, some PUBACKs are on the wire
  const ackedAtKill = pubs.map((p) => p.acked.size);
  // every device saw its connection drop before the gateway comes back
  await waitFor(() => pubs.every((p) => !p.client.connected), 10_000);
  await gw.start();
  // devices reconnect by themselves and resend what was not acknowledged; each carries on past a
  // full window of new acknowledgements, so what was in flight at the kill has been settled
  await waitFor(() => pubs.every((p, i) => p.client.connected && p.acked.size >= ackedAtKill[i]! + 2 * WINDOW), 30_000);
  for (const p of pubs) p.running = false;
  await waitFor(() => pubs.every((p) => p.inflight === 0), 15_000);
  expect(acked()).toBeGreaterThan(ackedAtKill.reduce((a, n) => a + n, 0));

  for (const p of pubs) {
    const res = await api('GET', `/api/v1/devices/${p.id}/telemetry?from=0&fields=seq&limit=100000`);
    const stored: number[] = res.body.rows.map((r: { seq: number }) => r.seq);
    const storedSet = new Set(stored);
    const missing = [...p.acked].filter((s) => !storedSet.has(s));
    expect(missing, `${p.id}: acknowledged but not stored`).toEqual([]);
    expect(stored.length, `${p.id}: stored twice`).toBe(storedSet.size);
    p.client.end(true);
  }
}, 60_000);

it('keeps alerts and queue cursors across a SIGKILL: none lost, none doubled', async () => {
  await api('POST', '/api/v1/sites', { id: 's2', name: 'S2', companyId: 'c2' });
  const lifts: Array<{ id: string; client: MqttClient }> = [];
  for (let i = 0; i < 10; i++) {
    const id = `crash-lift-${i}`;
    const { body } = await api('POST', '/api/v1/devices', { id, kind: 'elevator', siteId: 's2', maintenanceUnitId: 'mu-c' });
    const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: id, username: id, password: body.secret, reconnectPeriod: 200, clean: true });
    client.on('error', () => undefined);
    lifts.push({ id, client });
  }
  const fault = (l: { id: string; client: MqttClient }) => l.client.publishAsync(`devices/${l.id}/events`, JSON.stringify({ type: 'fault', fault: 'overspeed' }), { qos: 1 });
  // the first five raise their alert before the crash, all ten fault after it
  for (const l of lifts.slice(0, 5)) await fault(l);
  const before = (await api('GET', '/api/v1/queues/market-supervision/messages?after=0&limit=1000')).body.items as Array<{ cursor: number; event: string }>;
  expect(before.filter((m) => m.event === 'raised')).toHaveLength(5);

  await gw.kill();
  await waitFor(() => lifts.every((l) => !l.client.connected), 10_000);
  await gw.start();
  await waitFor(() => lifts.every((l) => l.client.connected), 30_000); // devices reconnect by themselves
  for (const l of lifts) await fault(l);

  const alerts = (await api('GET', '/api/v1/alerts?type=elevator.overspeed&limit=100')).body;
  const items: Array<{ deviceId: string; count: number }> = alerts.items ?? alerts;
  const byDevice = new Map<string, number[]>();
  for (const a of items) byDevice.set(a.deviceId, [...(byDevice.get(a.deviceId) ?? []), a.count]);
  for (const [i, l] of lifts.entries()) {
    // one alert per lift; the first five were repeated once after the restart
    expect(byDevice.get(l.id), l.id).toEqual([i < 5 ? 2 : 1]);
  }
  const after = (await api('GET', '/api/v1/queues/market-supervision/messages?after=0&limit=1000')).body.items as Array<{ cursor: number; event: string }>;
  const cursors = after.map((m) => m.cursor);
  // the queue continues where it was: contiguous cursors, the old messages unchanged
  expect(cursors).toEqual(Array.from({ length: cursors.length }, (_, i) => cursors[0]! + i));
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after.filter((m) => m.event === 'raised')).toHaveLength(10);
  for (const l of lifts) l.client.end(true);
}, 60_000);
