/**
 * Slow consumers: an MQTT subscriber and an SSE client that never read do not slow ingest or the
 * other consumers. The frozen MQTT subscriber takes `#` (device data and every alert queue), so its
 * socket fills within a second and then every message it should get finds it full.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import net from 'node:net';
import http from 'node:http';
import mqttPacket from 'mqtt-packet';
import { connect, connectDevice, publish, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';
import { runLoad, type LoadDevice } from '../simulators/load.js';
import type { DeviceKind } from '../ingest/schemas/kinds.js';

let t: TestGateway;
beforeAll(async () => { t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', drainTimeoutMs: 60_000 } }); });
afterAll(async () => { await t.dispose(); });

async function account(id: string, role: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role });
  return res.body.token;
}

/** An MQTT client built by hand that subscribes and then never reads its socket again. */
async function frozenSubscriber(id: string, token: string, topic: string): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(t.mqttUrl).port), '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 0, username: id, password: Buffer.from(token) }));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as never));
  await new Promise((r) => setTimeout(r, 200));
  socket.pause();
  return socket;
}

/** An SSE client that opens the stream and never reads it. */
function frozenSse(queue: string, token: string): http.ClientRequest {
  const req = http.get(`${t.httpUrl}/api/v1/queues/${encodeURIComponent(queue)}/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => res.pause());
  req.on('error', () => undefined);
  return req;
}

it('keeps ingest, live subscribers and alert delivery going while an MQTT subscriber and an SSE client never read', async () => {
  const kinds: DeviceKind[] = ['fire_water', 'water_pump', 'smoke_detector', 'fire_panel'];
  const devices: LoadDevice[] = [];
  for (let i = 0; i < 16; i++) {
    const kind = kinds[i % kinds.length]!;
    devices.push({ id: `slow-${i}`, kind, secret: await registerDevice(t, { id: `slow-${i}`, kind, siteId: 'slow-site' }) });
  }
  const frozen = await frozenSubscriber('frozen-admin', await account('frozen-admin', 'admin'), '#');
  const sse = frozenSse('market-supervision', await account('frozen-msb', 'market-supervision'));

  const live = await connect(t.mqttUrl, { clientId: 'live-admin', username: 'live-admin', password: await account('live-admin', 'admin') });
  let liveReceived = 0;
  live.on('message', () => { liveReceived++; });
  await live.subscribeAsync('devices/slow-0/telemetry', { qos: 1 });

  const msbToken = await account('msb-live', 'market-supervision');
  const msb = await connect(t.mqttUrl, { clientId: 'msb-live', username: 'msb-live', password: msbToken });
  const raisedAt = new Map<string, number>();
  msb.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString());
    if (m.event === 'raised' && m.alert.type === 'elevator.trapped') raisedAt.set(m.alert.deviceId, Date.now());
  });
  await msb.subscribeAsync('alerts/market-supervision', { qos: 1 });

  const lifts: Array<{ id: string; client: Awaited<ReturnType<typeof connectDevice>> }> = [];
  for (let i = 0; i < 5; i++) {
    const id = `slow-lift-${i}`;
    lifts.push({ id, client: await connectDevice(t, id, await registerDevice(t, { id, kind: 'elevator', siteId: 'slow-site', maintenanceUnitId: 'mu-slow' })) });
  }

  // 2,000 messages/s of 10-reading batches (~5 MB/s): the frozen socket is full within a second
  const load = runLoad({ mqttUrl: t.mqttUrl, devices, ratePerSecond: 2000, durationMs: 8000, qos: 1, batchSize: 10 });
  const sentAt = new Map<string, number>();
  for (const lift of lifts) {
    await new Promise((r) => setTimeout(r, 1200));
    sentAt.set(lift.id, Date.now());
    await publish(lift.client, `devices/${lift.id}/events`, { type: 'fault', fault: 'trapped' });
  }
  const summary = await load;

  expect(summary.errors).toBe(0);
  expect(summary.unacknowledged).toBe(0);
  expect(summary.achievedRate).toBeGreaterThan(1800);
  // the live subscriber kept getting the device data it watches
  expect(liveReceived).toBe(summary.perDevice['slow-0']!.acknowledged);
  // every trapped alert reached the healthy market-supervision subscriber promptly
  for (const lift of lifts) {
    const latency = (raisedAt.get(lift.id) ?? Infinity) - sentAt.get(lift.id)!;
    expect(latency, `${lift.id} alert latency`).toBeLessThan(1000);
  }
  const metrics = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  expect(Number(/gateway_relay_skipped_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);

  frozen.destroy();
  sse.destroy();
  for (const lift of lifts) await lift.client.endAsync();
  await live.endAsync();
  await msb.endAsync();
}, 60_000);
