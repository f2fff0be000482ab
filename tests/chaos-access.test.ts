/**
 * Access guards on the MQTT side: repeated bad credentials from one address are slowed down, a
 * device that publishes too fast is held back (not cut off, nothing lost), connections per address
 * are capped, and no secret or token ever reaches the logs or the store in clear.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { gatewayProcess, type GatewayProcess } from './harness/process.js';
import { ADMIN_TOKEN } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

describe('guards', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      mqtt: { port: 0, host: '127.0.0.1', limits: { loginFailuresBeforeDelay: 2, loginDelayMs: 300, loginMaxDelayMs: 1200, publishPerSecond: 20, publishBurst: 5, maxConnectionsPerAddress: 6 } },
    });
  });
  afterAll(async () => { await t.dispose(); });

  it('slows down repeated bad logins of a device, answers a right guess no sooner than a wrong one, and lets its neighbours in at once', async () => {
    const secret = await registerDevice(t, { id: 'g-lift', kind: 'elevator' });
    const neighbour = await registerDevice(t, { id: 'g-neighbour', kind: 'elevator' });
    // whether a login was held is read from the gateway's own count, not from how long it took
    const held = async () => Number(/gateway_mqtt_logins_held_total (\d+)/.exec(await fetch(t.httpUrl + '/metrics').then((r) => r.text()))?.[1]);
    const before = await held();
    // a hold is counted from the previous failure, which happened between sending that attempt and
    // reading its refusal: measured from the sending, the bounds hold however slow the machine is
    const sentAt: number[] = [];
    const answeredAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      sentAt.push(Date.now());
      const err = await connectDevice(t, 'g-lift', 'guessing-guessing-guessing').catch((e) => e);
      expect(err.code).toBe(4);
      answeredAt.push(Date.now());
      // two free failures and a third checked at once: none of them waited
      if (i === 2) expect((await held()) - before).toBe(0);
    }
    // past that, the device's attempts are checked no sooner than 300 ms, then 600 ms, after the
    // previous refusal, however fast or slow the guesser (a slow one may find its turn already come)
    expect(answeredAt[3]! - sentAt[2]!).toBeGreaterThanOrEqual(280);
    expect(answeredAt[4]! - sentAt[3]!).toBeGreaterThanOrEqual(580);
    // another device behind the same address is not held: the address's allowance is far larger
    const heldBeforeNeighbour = await held();
    const other = await connectDevice(t, 'g-neighbour', neighbour);
    expect(await held()).toBe(heldBeforeNeighbour);
    await other.endAsync();
    // the right secret waits its turn like a guess would (1,200 ms after the last refusal), or a
    // fast answer would give it away
    const c = await connectDevice(t, 'g-lift', secret);
    expect(Date.now() - sentAt[4]!).toBeGreaterThanOrEqual(1150);
    await c.endAsync();
  });

  it('holds back a device publishing faster than its rate, losing nothing', async () => {
    const secret = await registerDevice(t, { id: 'g-chatty', kind: 'smoke_detector' });
    const c = await connectDevice(t, 'g-chatty', secret);
    const started = Date.now();
    await Promise.all(Array.from({ length: 45 }, (_, seq) => publish(c, 'devices/g-chatty/telemetry', { ...sampleTelemetry('smoke_detector', seq), ts: Date.now() - 60_000 + seq })));
    const elapsed = Date.now() - started;
    // 5 at once, the other 40 at 20 per second
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    const rows = (await t.api('GET', '/api/v1/devices/g-chatty/telemetry?from=0&fields=seq')).body.rows;
    expect(rows.map((r: { seq: number }) => r.seq)).toEqual(Array.from({ length: 45 }, (_, i) => i));
    const metrics = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
    expect(Number(/gateway_publish_throttled_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(40);
    await c.endAsync();
  });

  it('caps connections per address', async () => {
    const secrets = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => registerDevice(t, { id: `g-many-${i}`, kind: 'fire_panel' })));
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await connectDevice(t, `g-many-${i}`, secrets[i]!));
    const err = await connect(t.mqttUrl, { clientId: 'g-many-6', username: 'g-many-6', password: secrets[6]! }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    const metrics = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
    expect(metrics).toMatch(/gateway_mqtt_connects_refused_total\{reason="too_many_connections"\} [1-9]/);
    await clients[0]!.endAsync();
    await waitFor(async () => {
      const c = await connect(t.mqttUrl, { clientId: 'g-many-6', username: 'g-many-6', password: secrets[6]! }).catch(() => undefined);
      if (c) await c.endAsync();
      return c !== undefined;
    });
    for (const c of clients.slice(1)) await c.endAsync();
  });
});

describe('secrets', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await gatewayProcess({ LOG_LEVEL: 'trace' });
    await gw.start();
  });
  afterAll(async () => { await gw?.dispose(); });

  it('never writes a secret or token to the logs or, in clear, to the store', async () => {
    const call = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => fetch(gw.httpUrl + path, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    }).then((r) => r.json());
    await call('POST', '/api/v1/sites', { id: 's', name: 'S', companyId: 'c' });
    const device = await call('POST', '/api/v1/devices', { id: 'sec-1', kind: 'elevator', siteId: 's' });
    const account = await call('POST', '/api/v1/accounts', { id: 'sec-fire', role: 'fire-service' });
    const rotated = await call('POST', '/api/v1/devices/sec-1/secret');
    await call('GET', '/api/v1/devices', undefined, account.token);
    await call('GET', '/api/v1/devices', undefined, 'a-wrong-token-that-is-long-enough');
    const ok = await connect(gw.mqttUrl, { clientId: 'sec-1', username: 'sec-1', password: rotated.secret });
    await ok.publishAsync('devices/sec-1/telemetry', 'not json', { qos: 1 });
    await ok.endAsync();
    await connect(gw.mqttUrl, { clientId: 'sec-1', username: 'sec-1', password: device.secret }).catch(() => undefined);
    await connect(gw.mqttUrl, { clientId: 'x', username: 'sec-fire', password: 'wrong-wrong-wrong-wrong' }).catch(() => undefined);
    const agency = await connect(gw.mqttUrl, { clientId: 'sec-fire:console', username: 'sec-fire', password: account.token });
    await agency.endAsync();
    await gw.stop();
    const secrets = [device.secret, rotated.secret, account.token, ADMIN_TOKEN];
    const logs = gw.output();
    expect(logs.length).toBeGreaterThan(100); // trace logging really ran
    for (const s of secrets) expect(logs.includes(s), 'a secret is in the logs').toBe(false);
    for (const file of readdirSync(gw.dataDir).filter((f) => f.endsWith('.sqlite') || f.endsWith('-wal'))) {
      const bytes = readFileSync(join(gw.dataDir, file)).toString('latin1');
      for (const s of secrets) expect(bytes.includes(s), `a secret is in clear in ${file}`).toBe(false);
    }
  });
});
