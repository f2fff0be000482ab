/** Device authentication and the deny-by-default topic ACL, with real mqtt.js clients. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

let t: TestGateway;
let secretA: string;
let secretB: string;

beforeAll(async () => {
  t = await startTestGateway();
  secretA = await registerDevice(t, { id: 'elev-a', kind: 'elevator' });
  secretB = await registerDevice(t, { id: 'elev-b', kind: 'elevator' });
});
afterAll(async () => { await t.dispose(); });

function refusalCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe('device authentication', () => {
  it('accepts the registered secret', async () => {
    const c = await connectDevice(t, 'elev-a', secretA);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('refuses a wrong secret with bad credentials (4)', async () => {
    const err = await connectDevice(t, 'elev-a', 'wrong-secret-wrong-secret').catch((e) => e);
    expect(refusalCode(err)).toBe(4);
  });

  it('refuses an unknown device with bad credentials (4)', async () => {
    const err = await connectDevice(t, 'nobody', 'whatever-whatever-whatever').catch((e) => e);
    expect(refusalCode(err)).toBe(4);
  });

  it('refuses a client id that is not the device id (2)', async () => {
    const err = await connect(t.mqttUrl, { clientId: 'elev-b', username: 'elev-a', password: secretA }).catch((e) => e);
    expect(refusalCode(err)).toBe(2);
  });

  it('refuses a disabled device (5) and cuts off its live session', async () => {
    const secret = await registerDevice(t, { id: 'elev-disabled', kind: 'elevator' });
    const live = await connectDevice(t, 'elev-disabled', secret);
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const res = await t.api('PATCH', '/api/v1/devices/elev-disabled', { disabled: true });
    expect(res.status).toBe(200);
    await closed;
    live.end(true);
    const err = await connectDevice(t, 'elev-disabled', secret).catch((e) => e);
    expect(refusalCode(err)).toBe(5);
  });

  it('refuses an old secret after rotation', async () => {
    const secret = await registerDevice(t, { id: 'elev-rot', kind: 'elevator' });
    const res = await t.api('POST', '/api/v1/devices/elev-rot/secret');
    expect(res.status).toBe(201);
    expect(refusalCode(await connectDevice(t, 'elev-rot', secret).catch((e) => e))).toBe(4);
    const c = await connectDevice(t, 'elev-rot', res.body.secret);
    await c.endAsync();
  });
});

describe('topic ACL', () => {
  it('does not store what a device publishes on another device\'s topic, and explains why', async () => {
    const a = await connectDevice(t, 'elev-a', secretA);
    const errors: Array<Record<string, unknown>> = [];
    await a.subscribeAsync('devices/elev-a/errors', { qos: 0 });
    a.on('message', (topic, payload) => { if (topic === 'devices/elev-a/errors') errors.push(JSON.parse(payload.toString())); });
    // a subscriber on the victim's topic must not receive the forged message either
    const b = await connectDevice(t, 'elev-b', secretB);
    const seenByB: string[] = [];
    await b.subscribeAsync('devices/elev-b/#', { qos: 1 });
    b.on('message', (topic, payload) => seenByB.push(`${topic} floor ${JSON.parse(payload.toString()).floor}`));

    await publish(a, 'devices/elev-b/telemetry', { ...sampleTelemetry('elevator'), floor: 7 });
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ reason: 'topic_not_allowed', topic: 'devices/elev-b/telemetry' });
    const stored = await t.api('GET', '/api/v1/devices/elev-b/telemetry');
    expect(stored.body.count).toBe(0);
    const letters = await t.api('GET', '/api/v1/dead-letters?deviceId=elev-a');
    expect(letters.body.items.some((l: { reason: string; topic: string }) => l.reason === 'topic_not_allowed' && l.topic === 'devices/elev-b/telemetry')).toBe(true);
    // b's own reading, relayed after the forged one was handled, is the marker: a relayed forgery
    // would have reached b before it, on the same ordered stream
    await publish(b, 'devices/elev-b/telemetry', { ...sampleTelemetry('elevator'), floor: 8 });
    await waitFor(() => seenByB.length > 0);
    expect(seenByB).toEqual(['devices/elev-b/telemetry floor 8']);
    await a.endAsync();
    await b.endAsync();
  });

  it('refuses subscriptions outside the device\'s own subtree', async () => {
    const a = await connectDevice(t, 'elev-a', secretA);
    const own = await a.subscribeAsync('devices/elev-a/#');
    expect(own[0]!.qos).toBe(0);
    for (const topic of ['devices/elev-b/telemetry', 'devices/#', 'devices/+/telemetry', '#', 'alerts/fire-service', '$SYS/#']) {
      // mqtt.js rejects a SUBACK failure; the packet it carries shows the 0x80 return code
      const err = await a.subscribeAsync(topic, { qos: 1 }).then(() => undefined, (e) => e);
      expect(err?.packet?.granted, topic).toEqual([128]);
    }
    await a.endAsync();
  });

  it('refuses publishing to the errors topic or an arbitrary topic', async () => {
    const a = await connectDevice(t, 'elev-a', secretA);
    await publish(a, 'devices/elev-a/errors', { fake: true });
    await publish(a, 'something/else', { fake: true });
    const letters = await waitFor(async () => {
      const res = await t.api('GET', '/api/v1/dead-letters?deviceId=elev-a');
      const topics = res.body.items.map((l: { topic: string }) => l.topic);
      return topics.includes('devices/elev-a/errors') && topics.includes('something/else') ? res.body.items : undefined;
    });
    expect(letters.filter((l: { reason: string }) => l.reason === 'topic_not_allowed').length).toBeGreaterThanOrEqual(2);
    await a.endAsync();
  });

  it('closes a connection that announces a packet above the size limit', async () => {
    const big = await startTestGateway({ mqtt: { maxPacketBytes: 4096 } });
    try {
      const secret = await registerDevice(big, { id: 'elev-big', kind: 'elevator' });
      const c = await connectDevice(big, 'elev-big', secret);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish('devices/elev-big/telemetry', Buffer.alloc(10_000, 0x20), { qos: 1 });
      await closed;
      c.end(true);
      const metrics = await fetch(big.httpUrl + '/metrics').then((r) => r.text());
      expect(metrics).toMatch(/gateway_mqtt_connects_refused_total\{reason="packet_too_large"\} 1/);
    } finally {
      await big.dispose();
    }
  });
});
