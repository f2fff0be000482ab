/**
 * Cluster mode with real processes (`node dist/gateway/main.js`, what `npm start` runs) on a real
 * PostgreSQL, Redis and InfluxDB: a node SIGKILLed under QoS 1 load loses nothing acknowledged and
 * raises nothing twice; the timer leader SIGKILLed while an offline alert falls due: another node
 * takes the lead and raises it, once.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { InfluxDB } from 'influx';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { startRedis, type RedisHandle } from './harness/redis.js';
import { gatewayProcess, type GatewayProcess } from './harness/process.js';
import { ADMIN_TOKEN, waitFor } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

let pgServer: PostgresHandle;
let redis: RedisHandle;
let influxd: InfluxdHandle;
let configDir: string;
const nodes: GatewayProcess[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  [pgServer, redis, influxd] = await Promise.all([startPostgres(), startRedis(), startInfluxd()]);
  configDir = mkdtempSync(join(tmpdir(), 'cluster-config-'));
  // short timers, so that the proofs take seconds: presence saved every 200 ms, smoke detectors offline after 1 s
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({
    presence: { persistIntervalMs: 200 },
    timeseries: { flushIntervalMs: 100 },
    alerts: { tickMs: 50, rules: { smoke_detector: { offlineAfter: '1s' } } },
  }));
  for (const nodeId of ['node-1', 'node-2']) {
    const p = await gatewayProcess({
      DATABASE_URL: pgServer.url, REDIS_URL: redis.url, NODE_ID: nodeId, CONFIG_FILE: join(configDir, 'config.json'),
      INFLUX_URL: influxd.url, INFLUX_VERSION: '1', INFLUX_DATABASE: 'cluster',
    });
    await p.start();
    nodes.push(p);
  }
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  for (const n of nodes) await n.dispose();
  await influxd?.dispose();
  await redis?.stop();
  await pgServer?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

async function api(node: GatewayProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(node.httpUrl + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() };
}

const port = (url: string) => Number(new URL(url).port);

/** A device client that fails over: it connects to the first node, and on a lost connection tries the next. */
function failoverClient(id: string, secret: string, order: GatewayProcess[]): MqttClient {
  const client = mqtt.connect({
    servers: order.map((n) => ({ host: '127.0.0.1', port: port(n.mqttUrl) })),
    clientId: id, username: id, password: secret, reconnectPeriod: 200, clean: true,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

const WINDOW = 20;

/** Publishes readings as fast as its window allows and records exactly which seqs were acknowledged. */
class Publisher {
  seq = 0;
  inflight = 0;
  readonly acked = new Set<number>();
  running = true;
  constructor(readonly id: string, readonly client: MqttClient) {
    client.on('connect', () => this.pump());
  }
  pump(): void {
    while (this.running && this.client.connected && this.inflight < WINDOW) {
      const seq = this.seq++;
      this.inflight++;
      const body = JSON.stringify({ ...sampleTelemetry('fire_water', seq), seq, ts: Date.now() });
      this.client.publish(`devices/${this.id}/telemetry`, body, { qos: 1 }, (err) => {
        this.inflight--;
        if (!err) this.acked.add(seq);
        setImmediate(() => this.pump());
      });
    }
  }
}

describe('a node SIGKILLed under QoS 1 load', () => {
  it('its devices reconnect to the other node; every acknowledged reading is stored once, every alert raised once, every queue gap-free and in order', async () => {
    const [first, second] = nodes as [GatewayProcess, GatewayProcess];
    expect((await api(first, 'POST', '/api/v1/sites', { id: 'site-k', name: '小区 K', companyId: 'co-k' })).status).toBe(201);
    const pubs: Publisher[] = [];
    for (let i = 0; i < 4; i++) {
      const id = `water-k${i}`;
      const { body } = await api(first, 'POST', '/api/v1/devices', { id, kind: 'fire_water', siteId: 'site-k' });
      pubs.push(new Publisher(id, failoverClient(id, body.secret as string, [first, second])));
    }
    const lift = await api(first, 'POST', '/api/v1/devices', { id: 'lift-k', kind: 'elevator', siteId: 'site-k', maintenanceUnitId: 'mu-k' });
    const liftClient = failoverClient('lift-k', lift.body.secret as string, [first, second]);
    await waitFor(() => liftClient.connected, 10_000, 20);
    const presses: Array<Promise<boolean>> = [];
    const press = () => presses.push(new Promise((resolve) => liftClient.publish('devices/lift-k/events', JSON.stringify({ type: 'alarm_button' }), { qos: 1 }, (err) => resolve(!err))));
    for (let i = 0; i < 3; i++) press();

    await waitFor(() => pubs.every((p) => p.acked.size >= 200), 30_000, 20);
    await first.kill();
    // the devices fail over to the second node and go on being acknowledged there
    const ackedAtKill = pubs.map((p) => p.acked.size);
    await waitFor(() => pubs.every((p, i) => p.acked.size >= ackedAtKill[i]! + 200), 30_000, 20);
    for (let i = 0; i < 3; i++) press();
    for (const p of pubs) p.running = false;
    await waitFor(() => pubs.every((p) => p.inflight === 0), 30_000, 20);
    const pressed = (await Promise.all(presses)).filter(Boolean).length;

    // the killed node's outage buffer holds what it acknowledged and had not yet written: it comes back and sends it
    await first.start();
    await waitFor(async () => {
      const ready = await fetch(`${first.httpUrl}/readyz`).then((r) => r.json() as Promise<{ checks: Array<{ name: string; detail?: string }> }>);
      return ready.checks.find((c) => c.name.startsWith('timeseries'))?.detail === '0 points pending';
    }, 30_000, 100);

    const influx = new InfluxDB({ host: '127.0.0.1', port: influxd.port, database: 'cluster' });
    for (const p of pubs) {
      const rows = await influx.query<{ seq: number }>(`SELECT seq FROM "fire_water" WHERE device = '${p.id}'`);
      const stored = rows.map((r) => r.seq);
      expect(new Set(stored).size, `${p.id}: each reading once`).toBe(stored.length);
      const missing = [...p.acked].filter((s) => !stored.includes(s));
      expect(missing, `${p.id}: acknowledged but not stored`).toEqual([]);
    }

    // one alert for the alarm button, whichever node took each press, with every acknowledged press counted
    const alerts = (await api(second, 'GET', '/api/v1/alerts?deviceId=lift-k&type=elevator.alarm_button')).body.items as Array<{ id: number; count: number }>;
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.count).toBeGreaterThanOrEqual(pressed);
    // every queue that heard of it: cursors 1, 2, 3 ... with no gap, in the order the changes were made
    const queues = (await api(second, 'GET', '/api/v1/queues')).body as Array<{ queue: string; head: number }>;
    expect(queues.length).toBeGreaterThan(0);
    for (const q of queues) {
      const items = (await api(second, 'GET', `/api/v1/queues/${q.queue}/messages?after=0&limit=1000`)).body.items as Array<{ cursor: number; at: number }>;
      expect(items.map((m) => m.cursor), q.queue).toEqual(Array.from({ length: q.head }, (_, i) => i + 1));
      expect([...items].sort((x, y) => x.at - y.at).map((m) => m.cursor), q.queue).toEqual(items.map((m) => m.cursor));
    }
  });
});

describe('the timer leader SIGKILLed while an offline alert falls due', () => {
  it('the other node takes the lead within seconds and raises it, once', async () => {
    const view = await waitFor(async () => {
      const v = (await api(nodes[1]!, 'GET', '/api/v1/cluster')).body as { leader: string | null };
      return v.leader ? v : undefined;
    }, 20_000, 100);
    const leader = nodes.find((_, i) => `node-${i + 1}` === view.leader)!;
    const follower = nodes.find((n) => n !== leader)!;
    expect(leader).toBeDefined();
    expect((await api(follower, 'POST', '/api/v1/sites', { id: 'site-o', name: '小区 O', companyId: 'co-o' })).status).toBe(201);
    const { body } = await api(follower, 'POST', '/api/v1/devices', { id: 'smoke-o', kind: 'smoke_detector', siteId: 'site-o' });
    const device = failoverClient('smoke-o', body.secret as string, [follower]);
    await waitFor(() => device.connected, 10_000, 20);
    await new Promise<void>((resolve, reject) => device.publish('devices/smoke-o/telemetry', JSON.stringify({ smoke: 0.01, temperature: 22, battery: 90 }), { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    await device.endAsync();
    // silent from now: due in 1 s; the leader dies first, and the lock passes only when its connection is gone
    const killedAt = Date.now();
    await leader.kill();

    const raised = await waitFor(async () => {
      const items = (await api(follower, 'GET', '/api/v1/alerts?deviceId=smoke-o&type=device.offline')).body.items as Array<{ id: number; openedAt: number; count: number }>;
      return items.length > 0 ? items : undefined;
    }, 20_000, 100);
    const took = Date.now() - killedAt;
    expect(raised).toHaveLength(1);
    expect(raised[0]!.openedAt).toBeGreaterThanOrEqual(killedAt);
    const nowLeading = (await api(follower, 'GET', '/api/v1/cluster')).body as { leader: string; self: string };
    expect(nowLeading.leader).toBe(nowLeading.self);
    // once: the old leader comes back as a follower, and the alert still has its one raise
    await leader.start();
    await waitFor(async () => ((await api(leader, 'GET', '/api/v1/cluster')).body.nodes as Array<{ state: string }>).filter((n) => n.state === 'up').length === 2, 20_000, 100);
    const detail = (await api(follower, 'GET', `/api/v1/alerts/${raised[0]!.id}`)).body as { count: number; history: Array<{ action: string }> };
    expect(detail.count).toBe(1);
    expect(detail.history.filter((h) => h.action === 'raised')).toHaveLength(1);
    expect(took).toBeLessThan(20_000);
  });
});
