/**
 * Two gateway nodes on one PostgreSQL and one Redis (cluster mode), in this process: a device on
 * node A and agencies on node B (MQTT and SSE) get the alert; a change made on one node reaches the
 * other's memory (an acknowledgement on B is not undone by a repeat on A; a secret rotated on B ends
 * the device's session on A); one node leads; GET /api/v1/cluster shows both.
 * The kill and failover proofs, with real processes, are in cluster-failover.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { startRedis, type RedisHandle } from './harness/redis.js';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { sseEvents } from './harness/sse.js';
import { ManualClock } from '../core/clock.js';

let pgServer: PostgresHandle;
let redis: RedisHandle;
let a: TestGateway;
let b: TestGateway;
const clients: MqttClient[] = [];

const node = (nodeId: string) => startTestGateway({
  cluster: { databaseUrl: pgServer.url, redisUrl: redis.url, nodeId },
  presence: { persistIntervalMs: 200 },
});

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
  a = await node('node-a');
  b = await node('node-b');
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await a?.dispose();
  await b?.dispose();
  await redis?.stop();
  await pgServer?.stop();
});

/** An account created on A, once B has heard of it (registry notices arrive within milliseconds). */
async function accountOnBoth(id: string, role: string, scope?: string): Promise<string> {
  const res = await a.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  expect(res.status).toBe(201);
  await waitFor(() => b.gw.registry.getAccount(id) !== undefined, 5000, 10);
  return res.body.token as string;
}

describe('two nodes', () => {
  it('one of them leads, and GET /api/v1/cluster on either shows both with their connections', async () => {
    const leaders = [a, b].filter((t) => t.gw.leader?.isLeader);
    expect(leaders).toHaveLength(1);
    const view = await waitFor(async () => {
      const r = await b.api('GET', '/api/v1/cluster');
      return r.body.nodes?.length === 2 ? r.body : undefined;
    }, 10_000, 100);
    expect(view.self).toBe('node-b');
    expect(view.nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['node-a', 'node-b']);
    expect(view.leader).toBe(leaders[0]!.gw.nodeId);
    for (const n of view.nodes) expect(n).toMatchObject({ state: 'up', connections: { devices: expect.any(Number) } });
  });

  it('a device on node A, agencies on node B: the alert reaches B\'s MQTT subscriber and SSE stream, with the same cursor', async () => {
    const secret = await registerDevice(a, { id: 'lift-c1', kind: 'elevator', siteId: 'site-c1', companyId: 'co-c1', maintenanceUnitId: 'mu-c1' });
    const token = await accountOnBoth('mu-c1-duty', 'maintenance', 'mu-c1');
    const agency = await connect(b.mqttUrl, { clientId: 'mu-c1-duty', username: 'mu-c1-duty', password: token });
    clients.push(agency);
    const received: Array<{ cursor: number; event: string; alert: { type: string } }> = [];
    agency.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString())));
    await agency.subscribeAsync('alerts/maintenance/mu-c1', { qos: 1 });
    const ctl = new AbortController();
    const res = await fetch(`${b.httpUrl}/api/v1/queues/maintenance/mu-c1/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const stream = sseEvents(res);

    const device = await connectDevice(a, 'lift-c1', secret);
    clients.push(device);
    await publish(device, 'devices/lift-c1/events', { type: 'alarm_button' });

    await waitFor(() => received.length >= 1, 5000, 10);
    expect(received[0]).toMatchObject({ cursor: 1, event: 'raised', alert: { type: 'elevator.alarm_button' } });
    const frame = (await stream.next()).value!;
    expect(frame.id).toBe('1');
    expect(JSON.parse(frame.data)).toMatchObject({ cursor: 1, event: 'raised', alert: { type: 'elevator.alarm_button' } });
    ctl.abort();
  });

  it('an acknowledgement on node B is not undone by the device repeating on node A', async () => {
    const list = await b.api('GET', '/api/v1/alerts?deviceId=lift-c1&type=elevator.alarm_button');
    const id = list.body.items[0].id as number;
    const acked = await b.api('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '已收到' });
    expect(acked.status).toBe(200);
    // node A has heard of it before the repeat is judged
    await waitFor(() => a.gw.alerts.ledger.getActive(id)?.state === 'acknowledged', 5000, 10);
    const device = clients.find((c) => c.options.clientId === 'lift-c1')!;
    await publish(device, 'devices/lift-c1/events', { type: 'alarm_button' });
    const after = await a.api('GET', `/api/v1/alerts/${id}`);
    expect(after.body).toMatchObject({ state: 'acknowledged', count: 2 });
    expect(after.body.history.map((h: { action: string }) => h.action)).toEqual(['raised', 'acknowledged', 'repeated']);
  });

  it('a secret rotated on node B ends the device\'s session on node A at once', async () => {
    const device = clients.find((c) => c.options.clientId === 'lift-c1')!;
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    const rotated = await b.api('POST', '/api/v1/devices/lift-c1/secret');
    expect(rotated.status).toBe(201);
    await closed;
    await expect(connectDevice(a, 'lift-c1', 'the-old-secret-is-gone')).rejects.toThrow(/Bad username or password|not authorized/i);
    const again = await connectDevice(a, 'lift-c1', rotated.body.secret as string);
    clients.push(again);
  });
});

describe('a change another node made that this node has not heard of', () => {
  it('is not overwritten: the commit is refused, the node reads the alert again, and the device\'s resent message applies over it', async () => {
    const secret = await registerDevice(a, { id: 'lift-c2', kind: 'elevator', siteId: 'site-c2', companyId: 'co-c2', maintenanceUnitId: 'mu-c2' });
    const device = await connectDevice(a, 'lift-c2', secret, { reconnectPeriod: 100 });
    clients.push(device);
    await publish(device, 'devices/lift-c2/events', { type: 'alarm_button' });
    const id = (await a.api('GET', '/api/v1/alerts?deviceId=lift-c2')).body.items[0].id as number;
    const before = a.gw.alerts.ledger.getActive(id)!;
    // another node's acknowledgement, written without a notice: node A's copy is now stale
    const theirs = { ...before, state: 'acknowledged', acknowledgedAt: before.updatedAt + 1, updatedAt: before.updatedAt + 1 };
    await pgServer.pool.query('UPDATE alerts SET state = $1, updated_at = $2, doc = $3 WHERE id = $4', ['acknowledged', theirs.updatedAt, JSON.stringify(theirs), id]);
    expect(a.gw.alerts.ledger.getActive(id)!.state).toBe('open');
    const refusedBefore = await metric(a, 'gateway_store_commit_failures_total{kind="refused"}');

    // the repeat on A is made over A's stale copy: refused, the device is not acknowledged, and resends
    const reconnected = new Promise<void>((resolve) => device.once('connect', () => resolve()));
    await publish(device, 'devices/lift-c2/events', { type: 'alarm_button' });
    await reconnected;
    expect(await metric(a, 'gateway_store_commit_failures_total{kind="refused"}')).toBe(refusedBefore + 1);
    const stored = (await pgServer.pool.query<{ doc: string }>('SELECT doc FROM alerts WHERE id = $1', [id])).rows[0]!;
    expect(JSON.parse(stored.doc)).toMatchObject({ state: 'acknowledged', count: 2 });
    expect(a.gw.alerts.ledger.getActive(id)).toMatchObject({ state: 'acknowledged', count: 2 });
  });
});

async function metric(t: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('rule state follows the device', () => {
  it('a condition that started holding on node A raises on node B once the device moved there, when its hold is over', async () => {
    // two more nodes on one manual clock: the hold is judged on the same time on both
    const clock = new ManualClock(Date.parse('2025-06-02T08:00:00Z'));
    const settings = (nodeId: string) => ({ cluster: { databaseUrl: pgServer.url, redisUrl: redis.url, nodeId }, alerts: { schedules: { runAtStart: false } } });
    const c = await startTestGateway(settings('node-c'), {}, { clock });
    const d = await startTestGateway(settings('node-d'), {}, { clock });
    try {
      const secret = await registerDevice(c, { id: 'pump-m1', kind: 'water_pump', siteId: 'site-m1', companyId: 'co-m1' });
      await waitFor(() => d.gw.registry.getDevice('pump-m1') !== undefined, 5000, 10);
      const normal = { inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false, turbidity: 0.3, chlorine: 0.4, ph: 7.2 };
      const onC = await connectDevice(c, 'pump-m1', secret);
      await publish(onC, 'devices/pump-m1/telemetry', normal);
      // the outlet pressure drops: the condition holds from now, and raises after 60 s
      await publish(onC, 'devices/pump-m1/telemetry', { ...normal, outletPressure: 0.05 });
      clock.advance(40_000);
      await onC.endAsync();
      const onD = await connectDevice(d, 'pump-m1', secret);
      clients.push(onD);
      await publish(onD, 'devices/pump-m1/telemetry', { ...normal, outletPressure: 0.05 });
      const open = async () => (await d.api('GET', '/api/v1/alerts?deviceId=pump-m1&type=water.outlet_pressure_low')).body.items as unknown[];
      // 40 s in: not yet, on either node
      expect(await open()).toEqual([]);
      clock.advance(21_000);
      // 61 s after it started on node C, node D raises it (a fresh start on D would wait until 100 s)
      const raised = await waitFor(async () => ((await open()).length > 0 ? await open() : undefined), 15_000, 20).catch((err: unknown) => {
        // what each node holds of the device, to tell a missed state from a late commit
        const state = (t: TestGateway) => { const s = t.gw.alerts.engine.get('pump-m1'); return s && { since: Array.from(s.since), queued: Array.from(s.queued), active: Array.from(s.active) }; };
        throw new Error(`${String(err)}; on C ${JSON.stringify(state(c))}, on D ${JSON.stringify(state(d))}, D has it ${d.gw.presence.isLocal('pump-m1')}, leaders ${[a, b, c, d].map((n) => n.gw.leader?.isLeader)}`);
      });
      expect(raised).toHaveLength(1);
      expect(raised[0]).toMatchObject({ count: 1, state: 'open' });
    } finally {
      await c.dispose();
      await d.dispose();
    }
  });
});

describe('a node stopped while Redis does not answer', () => {
  it('stops within its bounds, and no Redis command left in flight ends the process as an unhandled rejection', async () => {
    const e = await startTestGateway({ cluster: { databaseUrl: pgServer.url, redisUrl: redis.url, nodeId: 'node-e' } });
    let frozen = false;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const secret = await registerDevice(e, { id: 'elev-frozen', kind: 'elevator', siteId: 'site-frozen', companyId: 'co-frozen' });
      // a session with a will and a subscription: its close has Redis work to do
      const device = await connectDevice(e, 'elev-frozen', secret, { clean: false, clientId: 'elev-frozen' });
      clients.push(device);
      redis.freeze();
      frozen = true;
      const started = Date.now();
      await e.stop();
      // the broker's sessions, the PING, the persistence and the emitter's QUIT: 2 s each at most
      expect(Date.now() - started).toBeLessThan(15_000);
      // the dropped connections failed their queued commands synchronously; an unhandled one is
      // reported once the microtasks after it have run, which is before this next turn
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      if (frozen) redis.thaw();
      await e.dispose().catch(() => undefined);
    }
  }, 40_000);
});
