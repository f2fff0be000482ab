/**
 * Slow consumers.
 *
 * The live-relay contract (gateway/broker/forwarder.ts), tested by bytes, not by the machine's speed:
 * an MQTT subscriber that reads gets every live message unless more than `mqtt.limits.relayBufferBytes`
 * wait in the gateway for it; one further behind misses live copies, counted by reason, until it has
 * caught up (and is disconnected if it does not within the drain timeout). Stored data and alert
 * queues are never affected, and a subscriber that stops reading holds no slot of the in-flight bound.
 * The operating system's socket buffers (megabytes on loopback) come on top of the budget, so the
 * tests publish until the gateway's own side of the subscriber's socket holds what they need.
 *
 * Then the chaos scenario: an MQTT subscriber and an SSE client that never read, under load, do not
 * hold up ingest, alert delivery, or a healthy live subscriber.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import http from 'node:http';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { runLoad, type LoadDevice } from '../simulators/load.js';
import { sampleTelemetry } from '../simulators/samples.js';
import type { DeviceKind } from '../ingest/schemas/kinds.js';
import { RelayBudget, type RelayStream } from '../gateway/broker/forwarder.js';

async function account(t: TestGateway, id: string, role: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role });
  if (res.status !== 201) throw new Error(`account create failed: ${res.status}`);
  return res.body.token;
}

/** The gateway's end of a client's connection: what waits there for it is its `writableLength`. */
function serverSide(t: TestGateway, clientId: string): net.Socket {
  const client = (t.gw.broker.aedes as unknown as { clients: Record<string, { conn: net.Socket } | undefined> }).clients[clientId];
  if (!client) throw new Error(`${clientId} is not connected`);
  return client.conn;
}

/** `gateway_relay_skipped_total{reason}`. */
async function skipped(t: TestGateway, reason: 'subscriber_behind' | 'in_flight'): Promise<number> {
  return (await t.gw.metrics.relaySkipped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** Whether the relay counts the subscriber as behind (see RelayBudget). */
const isBehind = (conn: net.Socket) => (conn as net.Socket & RelayStream).gwRelayBehind !== undefined;

/**
 * An MQTT client built by hand that subscribes and, once the SUBACK is in, never reads its socket
 * again (keepalive 0: nothing else ends it).
 */
async function frozenSubscriber(t: TestGateway, id: string, token: string, topic: string): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(t.mqttUrl).port), '127.0.0.1');
  socket.setNoDelay(true);
  const parser = mqttPacket.parser();
  const subscribed = new Promise<void>((resolve, reject) => {
    parser.on('packet', (p) => {
      if (p.cmd === 'connack' && p.returnCode !== 0) reject(new Error(`CONNACK ${p.returnCode}`));
      if (p.cmd === 'suback') resolve();
    });
  });
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 0, username: id, password: Buffer.from(token) }));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as never));
  await subscribed;
  socket.removeAllListeners('data');
  socket.pause();
  return socket;
}

describe('the live-relay contract, by bytes', () => {
  /** Small, so that a few hundred kilobytes past the kernel's buffers cross it. */
  const BUDGET = 512 * 1024;
  const READINGS = 200; // per message: about 40 KB, so the budget is a dozen messages
  const T0 = Date.now() - 3_600_000;
  let t: TestGateway;
  let seq = 0;
  /** Message n of a device: READINGS water-pump readings; the first seq tells which message it is. */
  const batch = (n: number) => Array.from({ length: READINGS }, (_, i) => ({ ...sampleTelemetry('water_pump', n * READINGS + i), ts: T0 + n * READINGS + i }));
  const messageNo = (payload: Buffer) => (JSON.parse(payload.toString()) as Array<{ seq: number }>)[0]!.seq / READINGS;

  /** A subscriber (admin account, mqtt.js) that records which messages of the device it got. */
  async function subscriber(device: string, extra: string[] = []): Promise<{ id: string; client: MqttClient; got: number[]; alerts: string[] }> {
    const id = `relay-sub-${++seq}`;
    const client = await connect(t.mqttUrl, { clientId: id, username: id, password: await account(t, id, 'admin'), clean: true });
    const got: number[] = [];
    const alerts: string[] = [];
    client.on('message', (topic, payload) => {
      if (topic.startsWith('alerts/')) alerts.push(JSON.parse(payload.toString()).alert.deviceId);
      else got.push(messageNo(payload));
    });
    await client.subscribeAsync([`devices/${device}/telemetry`, ...extra], { qos: 1 });
    return { id, client, got, alerts };
  }

  async function device(kind: DeviceKind = 'water_pump'): Promise<{ id: string; client: MqttClient }> {
    const id = `relay-dev-${++seq}`;
    return { id, client: await connectDevice(t, id, await registerDevice(t, { id, kind, siteId: 'relay-site', ...(kind === 'elevator' ? { maintenanceUnitId: 'mu-relay' } : {}) })) };
  }

  async function storedMessages(id: string): Promise<number[]> {
    const res = await t.api('GET', `/api/v1/devices/${id}/telemetry?from=0&fields=seq&limit=100000`);
    const seqs = (res.body.rows as Array<{ seq: number }>).map((r) => r.seq);
    return [...new Set(seqs.map((s) => Math.floor(s / READINGS)))].sort((a, b) => a - b);
  }

  beforeAll(async () => {
    // relayInFlight 2: two subscribers that stop reading would take both slots if they held any.
    // The drain timeout is long here: the cut-off has its own test below.
    t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', drainTimeoutMs: 60_000, limits: { relayBufferBytes: BUDGET, relayInFlight: 2 } } });
  });
  afterAll(async () => { await t.dispose(); });

  it('copies admitted in one turn count against the budget before Aedes has written them', async () => {
    // Aedes writes an admitted copy in an immediate queued after authorizeForward: until then the
    // stream's writableLength does not show it, so the budget reserves it
    const budget = new RelayBudget(10_000, 0, () => undefined);
    const stream: RelayStream = { writableLength: 0, destroyed: false, destroy: () => undefined };
    let admitted = 0;
    while (admitted < 100 && budget.admit(stream, 1000)) admitted++;
    expect(admitted).toBe(9); // strictly below the budget: 9,000 bytes, the tenth copy would reach it
    expect(stream.gwRelayBehind).toBeDefined();
    // the reservations end with the turn in which Aedes writes them; this stream took them at once
    await new Promise((r) => setImmediate(r));
    expect(stream.gwRelayReserved).toBe(0);
    expect(budget.admit(stream, 1000)).toBe(true);
    expect(stream.gwRelayBehind).toBeUndefined();
  });

  it('subscriber streams get the budget as their write buffer', async () => {
    const sub = await subscriber('nobody');
    expect(serverSide(t, sub.id).writableHighWaterMark).toBe(BUDGET);
    await sub.client.endAsync();
  });

  it('a subscriber that stops reading while less than its budget waits for it gets every message once it reads again', async () => {
    const d = await device();
    const sub = await subscriber(d.id);
    const conn = serverSide(t, sub.id);
    sub.client.stream.pause();
    // publish until the gateway holds half the budget for it (past the kernel's buffers): far more
    // than Node's default 16 KiB, and less than the budget, since each message is < 1/10 of it
    let sent = 0;
    while (conn.writableLength < BUDGET / 2 && await skipped(t, 'subscriber_behind') === 0 && sent < 500) await publish(d.client, `devices/${d.id}/telemetry`, batch(sent++));
    expect(conn.writableLength).toBeGreaterThanOrEqual(BUDGET / 2);
    expect(conn.writableLength).toBeLessThan(BUDGET);
    sub.client.stream.resume();
    // a last message after it has caught up is the marker: everything before it arrives first
    await waitFor(() => conn.writableLength === 0);
    await publish(d.client, `devices/${d.id}/telemetry`, batch(sent++));
    await waitFor(() => sub.got.includes(sent - 1));
    expect(sub.got).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(await skipped(t, 'subscriber_behind')).toBe(0);
    expect(await skipped(t, 'in_flight')).toBe(0);
    await sub.client.endAsync();
    await d.client.endAsync();
  });

  it('subscribers more than their budget behind miss live copies (counted) until they catch up; others, stored data and alerts are unaffected', async () => {
    const d = await device();
    const lift = await device('elevator');
    const healthy = await subscriber(d.id);
    const behind = [await subscriber(d.id, ['alerts/market-supervision']), await subscriber(d.id, ['alerts/market-supervision'])];
    const conns = behind.map((s) => serverSide(t, s.id));
    for (const s of behind) s.client.stream.pause();
    const skippedBefore = await skipped(t, 'subscriber_behind');

    // until the gateway counts both of them as behind, then a few more
    let sent = 0;
    while (!conns.every(isBehind) && sent < 500) await publish(d.client, `devices/${d.id}/telemetry`, batch(sent++));
    // neither of them holds a slot of the in-flight bound (2): nothing was skipped for everyone
    expect(await skipped(t, 'in_flight')).toBe(0);
    expect(conns.every(isBehind)).toBe(true);
    for (let i = 0; i < 5; i++) await publish(d.client, `devices/${d.id}/telemetry`, batch(sent++));
    // while they are behind: an alert for market supervision, which they subscribe to as well
    await publish(lift.client, `devices/${lift.id}/events`, { type: 'fault', fault: 'overspeed' });
    // what waits for each stays at the budget: what was skipped was never buffered
    for (const conn of conns) expect(conn.writableLength).toBeLessThan(BUDGET + 16 * 1024);

    for (const s of behind) s.client.stream.resume();
    await waitFor(() => conns.every((c) => c.writableLength === 0));
    // caught up: live data flows again; this message is also the marker that everything before it is in
    await publish(d.client, `devices/${d.id}/telemetry`, batch(sent++));
    const last = sent - 1;
    await waitFor(() => [healthy, ...behind].every((s) => s.got.includes(last)));

    const all = Array.from({ length: sent }, (_, i) => i);
    expect(healthy.got, 'the healthy subscriber').toEqual(all);
    let missed = 0;
    for (const s of behind) {
      // a run from the start, then nothing until it had caught up, then the marker
      const kept = s.got.length - 1;
      expect(s.got, s.id).toEqual([...all.slice(0, kept), last]);
      expect(kept, s.id).toBeLessThan(sent - 1 - 5);
      missed += sent - 1 - kept;
      // the alert queue is never skipped
      expect(s.alerts, s.id).toEqual([lift.id]);
    }
    expect(await skipped(t, 'subscriber_behind') - skippedBefore, 'every copy not sent is counted').toBe(missed);
    expect(await skipped(t, 'in_flight')).toBe(0);
    expect(await storedMessages(d.id)).toEqual(all);
    for (const s of [healthy, ...behind]) await s.client.endAsync();
    await d.client.endAsync();
    await lift.client.endAsync();
  });

  it('a subscriber that stays behind longer than the drain timeout is disconnected', async () => {
    const quick = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', drainTimeoutMs: 500, limits: { relayBufferBytes: BUDGET } } });
    try {
      const id = 'relay-dev-cut';
      const dev = await connectDevice(quick, id, await registerDevice(quick, { id, kind: 'water_pump' }));
      const frozen = await frozenSubscriber(quick, 'relay-frozen', await account(quick, 'relay-frozen', 'admin'), `devices/${id}/telemetry`);
      const conn = serverSide(quick, 'relay-frozen');
      let sent = 0;
      while (!isBehind(conn) && sent < 500) await publish(dev, `devices/${id}/telemetry`, batch(sent++));
      expect(isBehind(conn)).toBe(true);
      // the gateway's timer ends it; polled, since it runs on the real clock
      await waitFor(() => conn.destroyed, 10_000);
      expect(await skipped(quick, 'subscriber_behind')).toBeGreaterThan(0);
      frozen.destroy();
      await dev.endAsync();
    } finally {
      await quick.dispose();
    }
  });
});

/** An SSE client that opens the stream and never reads it. */
function frozenSse(t: TestGateway, queue: string, token: string): http.ClientRequest {
  const req = http.get(`${t.httpUrl}/api/v1/queues/${encodeURIComponent(queue)}/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => res.pause());
  req.on('error', () => undefined);
  return req;
}

describe('chaos: consumers that never read, under load', () => {
  let t: TestGateway;
  beforeAll(async () => { t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', drainTimeoutMs: 60_000 } }); });
  afterAll(async () => { await t.dispose(); });

  it('keeps ingest, live subscribers and alert delivery going while an MQTT subscriber and an SSE client never read', async () => {
    const kinds: DeviceKind[] = ['fire_water', 'water_pump', 'smoke_detector', 'fire_panel'];
    const devices: LoadDevice[] = [];
    for (let i = 0; i < 16; i++) {
      const kind = kinds[i % kinds.length]!;
      devices.push({ id: `slow-${i}`, kind, secret: await registerDevice(t, { id: `slow-${i}`, kind, siteId: 'slow-site' }) });
    }
    // the frozen MQTT subscriber takes `#` (device data and every alert queue), so its socket fills
    // within a second and then every message it should get finds it full
    const frozen = await frozenSubscriber(t, 'frozen-admin', await account(t, 'frozen-admin', 'admin'), '#');
    const sse = frozenSse(t, 'market-supervision', await account(t, 'frozen-msb', 'market-supervision'));

    const live = await connect(t.mqttUrl, { clientId: 'live-admin', username: 'live-admin', password: await account(t, 'live-admin', 'admin') });
    let liveReceived = 0;
    live.on('message', () => { liveReceived++; });
    await live.subscribeAsync('devices/slow-0/telemetry', { qos: 1 });

    const msbToken = await account(t, 'msb-live', 'market-supervision');
    const msb = await connect(t.mqttUrl, { clientId: 'msb-live', username: 'msb-live', password: msbToken });
    const trapped = new Set<string>();
    msb.on('message', (_topic, payload) => {
      const m = JSON.parse(payload.toString());
      if (m.event === 'raised' && m.alert.type === 'elevator.trapped') trapped.add(m.alert.deviceId);
    });
    await msb.subscribeAsync('alerts/market-supervision', { qos: 1 });

    const lifts: Array<{ id: string; client: MqttClient }> = [];
    for (let i = 0; i < 5; i++) {
      const id = `slow-lift-${i}`;
      lifts.push({ id, client: await connectDevice(t, id, await registerDevice(t, { id, kind: 'elevator', siteId: 'slow-site', maintenanceUnitId: 'mu-slow' })) });
    }

    // The fixed times are the scenario: 2,000 messages/s of 10-reading batches (~5 MB/s) for 8 s,
    // and a trapped passenger every 1.2 s while it runs.
    const load = runLoad({ mqttUrl: t.mqttUrl, devices, ratePerSecond: 2000, durationMs: 8000, qos: 1, batchSize: 10 });
    for (const lift of lifts) {
      await new Promise((r) => setTimeout(r, 1200));
      await publish(lift.client, `devices/${lift.id}/events`, { type: 'fault', fault: 'trapped' });
    }
    const summary = await load;

    // ingest lost nothing
    expect(summary.errors).toBe(0);
    expect(summary.unacknowledged).toBe(0);
    expect(summary.acknowledged).toBe(summary.published);
    // every trapped alert reached the healthy market-supervision subscriber
    await waitFor(() => trapped.size === lifts.length, 10_000);
    // the live subscriber, far within its budget, got every message of the device it watches: its
    // last one is the marker that everything before it is in (one stream, in order)
    const watched = summary.perDevice['slow-0']!.acknowledged;
    await waitFor(() => liveReceived >= watched, 10_000);
    expect(liveReceived).toBe(watched);
    // the frozen subscriber was skipped, and counted, as being behind; nothing was skipped for everyone
    expect(await skipped(t, 'subscriber_behind')).toBeGreaterThan(0);
    expect(await skipped(t, 'in_flight')).toBe(0);
    const metrics = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
    expect(metrics).toMatch(/gateway_relay_skipped_total\{reason="subscriber_behind"\} [1-9]/);

    frozen.destroy();
    sse.destroy();
    for (const lift of lifts) await lift.client.endAsync();
    await live.endAsync();
    await msb.endAsync();
  }, 60_000);
});
