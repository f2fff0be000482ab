/**
 * The gateway on PostgreSQL (cluster mode's store) when PostgreSQL goes away: devices are not
 * acknowledged while it is unreachable (their messages wait, or are refused past the bound and
 * resent), `/readyz` and the metrics say so, changes over HTTP are refused with 503 once too much
 * waits, and when it is back everything acknowledged is stored, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { connectDevice, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';

let pgServer: PostgresHandle;
let t: TestGateway;

beforeAll(async () => {
  pgServer = await startPostgres();
  t = await startTestGateway({ cluster: { databaseUrl: pgServer.url, maxPendingWrites: 200 } });
});
afterAll(async () => {
  await t?.dispose();
  await pgServer?.stop();
});

const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
};
const commitFailures = () => metric('gateway_store_commit_failures_total{kind="transient"}');

/** Publishes at QoS 1; resolves with the time of the PUBACK (rejects if the session ends first). */
const publishAcked = (c: MqttClient, topic: string, body: object) => new Promise<number>((resolve, reject) => {
  c.publish(topic, JSON.stringify(body), { qos: 1 }, (err) => (err ? reject(err) : resolve(Date.now())));
});

describe('PostgreSQL restarted under QoS 1 load', () => {
  it('nothing is acknowledged while it is down, /readyz says so, and every acknowledged reading and event is stored once', async () => {
    const secret = await registerDevice(t, { id: 'lift-pg-1', kind: 'elevator', siteId: 'site-pg', companyId: 'co-pg', maintenanceUnitId: 'mu-pg' });
    const device = await connectDevice(t, 'lift-pg-1', secret, { reconnectPeriod: 200 });
    const acked: Array<{ seq: number; at: number }> = [];
    const events: Array<Promise<number>> = [];
    const readings: Array<Promise<void>> = [];
    let seq = 0;
    let running = true;
    const base = Date.now();
    // a steady stream of readings, each acknowledged or resent by mqtt.js after a reconnect
    const load = (async () => {
      while (running) {
        const n = ++seq;
        const body = { ts: base + n, seq: n, mode: 'normal', running: false, direction: 'none', floor: n % 20, doorZone: true, door: 'closed', occupied: false, speed: 0, safetyCircuit: 'closed', powerOk: true };
        const p = publishAcked(device, 'devices/lift-pg-1/telemetry', body).then((at) => { acked.push({ seq: n, at }); });
        readings.push(p);
        if (n % 10 === 0) events.push(publishAcked(device, 'devices/lift-pg-1/events', { type: 'alarm_button', ts: base + n }));
        await Promise.race([p, new Promise((r) => setTimeout(r, 5))]);
      }
    })();
    await waitFor(() => acked.length >= 50, 10_000, 10);

    const failuresBefore = await commitFailures();
    await pgServer.stopServer();
    // the gateway notices (a commit or its probe failed) and says so
    const notReady = await waitFor(async () => {
      const r = await fetch(`${t.httpUrl}/readyz`);
      return r.status === 503 ? (await r.json()) as { checks: Array<{ name: string; ok: boolean }> } : undefined;
    }, 15_000, 50);
    expect(notReady.checks.find((c) => c.name === 'store:postgres')?.ok).toBe(false);
    expect(await metric('gateway_store_up')).toBe(0);
    // an event now writes to PostgreSQL: once its commit has been tried and failed, it is still not acknowledged
    let lateAck = 0;
    const late = publishAcked(device, 'devices/lift-pg-1/events', { type: 'alarm_button', ts: Date.now() }).then((at) => { lateAck = at; });
    events.push(late.then(() => lateAck));
    await waitFor(async () => (await commitFailures()) > failuresBefore, 15_000, 50);
    const failingSince = Date.now();
    // and 20 more readings are sent while it is down: none of them is acknowledged either
    const seqAtFailure = seq;
    await waitFor(() => seq >= seqAtFailure + 20, 10_000, 5);
    expect(lateAck).toBe(0);
    expect(acked.filter((a) => a.at >= failingSince)).toEqual([]);

    const restartedAt = Date.now();
    await pgServer.startServer();
    await late;
    expect(lateAck).toBeGreaterThanOrEqual(restartedAt);
    running = false;
    await load;
    await Promise.all([...events, ...readings]);
    expect(acked.length).toBe(seq);
    await waitFor(async () => (await fetch(`${t.httpUrl}/readyz`)).status === 200, 15_000, 50);

    // every acknowledged reading is stored, once
    const rows = (await t.api('GET', `/api/v1/devices/lift-pg-1/telemetry?from=${base}&to=${base + seq + 1}&limit=100000`)).body.rows as Array<{ ts: number }>;
    const stored = rows.map((r) => r.ts - base);
    expect(new Set(stored).size).toBe(stored.length);
    const missing = acked.filter((a) => !stored.includes(a.seq));
    expect(missing).toEqual([]);
    // and every acknowledged alarm press is in the alert (raised once, repeated for the others)
    const alerts = (await t.api('GET', '/api/v1/alerts?deviceId=lift-pg-1&type=elevator.alarm_button')).body.items as Array<{ count: number }>;
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.count).toBeGreaterThanOrEqual(events.length);
    await device.endAsync();
  });
});

describe('too much waiting for an unreachable PostgreSQL', () => {
  it('changes over HTTP are refused with 503 GW_STORE_UNAVAILABLE, device messages are not taken, and what waited is committed when it is back', async () => {
    const secret = await registerDevice(t, { id: 'smoke-pg-1', kind: 'smoke_detector', siteId: 'site-pg2', companyId: 'co-pg2' });
    const device = await connectDevice(t, 'smoke-pg-1', secret, { reconnectPeriod: 200 });
    await pgServer.stopServer();
    // sites created while it is down wait for it (each a write), until the bound is reached
    const waiting = Array.from({ length: 220 }, (_, i) => t.api('POST', '/api/v1/sites', { id: `site-wait-${i}`, name: `等待 ${i}`, companyId: 'co-wait' }));
    await waitFor(async () => (await metric('gateway_store_pending_writes')) >= 200, 15_000, 20);
    await waitFor(async () => {
      const r = await t.api('POST', '/api/v1/sites', { id: 'site-refused', name: '拒绝', companyId: 'co-wait' });
      return r.status === 503 && r.body.error.code === 'GW_STORE_UNAVAILABLE';
    }, 15_000, 50);
    const deferredBefore = await metric('gateway_ingest_deferred_total');
    // a device message is not taken: not acknowledged, and the broker ends the session
    let outcome = 'pending';
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    publishAcked(device, 'devices/smoke-pg-1/telemetry', { smoke: 0.01, temperature: 22, battery: 90 })
      .then(() => { outcome = 'acknowledged'; }, () => { outcome = 'failed'; });
    await waitFor(async () => (await metric('gateway_ingest_deferred_total')) > deferredBefore, 15_000, 50);
    await closed;
    expect(outcome).not.toBe('acknowledged');

    await pgServer.startServer();
    // once it is back, the device's next message is taken
    await waitFor(() => device.connected, 15_000, 50);
    await publishAcked(device, 'devices/smoke-pg-1/telemetry', { smoke: 0.01, temperature: 22, battery: 90 });
    const answers = await Promise.all(waiting);
    const created = answers.filter((a) => a.status === 201).length;
    expect(created + answers.filter((a) => a.status === 503).length).toBe(answers.length);
    expect(created).toBeGreaterThan(0);
    // what was answered 201 is stored; what was refused is not
    const sites = (await pgServer.pool.query<{ id: string }>("SELECT id FROM sites WHERE id LIKE 'site-wait-%'")).rows.map((r) => r.id);
    expect(sites.length).toBe(created);
    expect((await pgServer.pool.query("SELECT 1 FROM sites WHERE id = 'site-refused'")).rowCount).toBe(0);
    await device.endAsync();
  });
});
