/**
 * Queue delivery: MQTT persistent sessions (offline, and across a gateway restart), HTTP pull by
 * cursor, server-sent events with resume, and a signed webhook that is retried until its receiver
 * is up.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, account, addDevice, event, persistentAgency, startAlertGateway, type TestDevice } from './harness/alerts.js';
import { waitFor, type TestGateway } from './harness/gateway.js';
import { webhookSignature } from '../alerts/index.js';
import { sseEvents } from './harness/sse.js';

interface Msg { cursor: number; queue: string; event: string; alert: { id: number; type: string; deviceId: string } }

let t: TestGateway;
let watcher: AlertWatcher;
let hookPort: number;
const HOOK_SECRET = 'webhook-secret-0123456789';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  hookPort = await freePort();
  ({ t } = await startAlertGateway({
    alerts: { webhooks: [{ id: 'co-hook-system', queue: 'property/co-hook', url: `http://127.0.0.1:${hookPort}/alerts`, secret: HOOK_SECRET, retryInitial: 50, retryMax: 200 }] },
  }));
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});


/** A serious elevator fault: market supervision gets it at once. */
async function seriousFault(d: TestDevice): Promise<number> {
  await event(d, { type: 'fault', fault: 'overspeed' });
  const [m] = await watcher.waitFor(d.id, 'elevator.overspeed', 'raised', ['market-supervision']);
  return m!.alert.id;
}

describe('MQTT persistent sessions', () => {
  it('an agency offline while three alerts are raised gets all three in order on reconnect, also across a gateway restart', async () => {
    const token = await account(t, 'ms-bureau', 'market-supervision');
    const received: Msg[] = [];
    let c = await persistentAgency(t, 'ms-bureau', token, received);
    const granted = await c.subscribeAsync('alerts/market-supervision', { qos: 1 });
    expect(granted[0]!.qos).toBe(1);
    await c.endAsync();

    const lifts = [await addDevice(t, 'elevator'), await addDevice(t, 'elevator'), await addDevice(t, 'elevator')];
    const ids: number[] = [];
    for (const d of lifts) ids.push(await seriousFault(d));
    c = await persistentAgency(t, 'ms-bureau', token, received);
    await waitFor(() => received.length >= 3);
    // a live alert queued after the three is the marker: once it is in, a copy sent twice would be too
    const marker = await addDevice(t, 'elevator');
    lifts.push(marker);
    ids.push(await seriousFault(marker));
    await waitFor(() => received.length >= 4);
    expect(received.map((m) => m.alert.id)).toEqual(ids);
    expect(received.map((m) => m.event)).toEqual(['raised', 'raised', 'raised', 'raised']);
    const cursors = received.map((m) => m.cursor);
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    await c.endAsync();

    // offline again; three more alerts; the gateway restarts before the agency comes back
    const more = [await addDevice(t, 'elevator'), await addDevice(t, 'elevator'), await addDevice(t, 'elevator')];
    const ids2: number[] = [];
    for (const d of more) ids2.push(await seriousFault(d));
    for (const d of [...lifts, ...more]) await d.client.endAsync();
    await watcher.close();
    await t.stop();
    await t.restart();
    watcher = await AlertWatcher.start(t);
    const after: Msg[] = [];
    c = await persistentAgency(t, 'ms-bureau', token, after);
    await waitFor(() => after.length >= 3);
    // the session (its subscription) survived too: live messages keep coming, and the live one is
    // the marker that nothing missed was delivered twice
    const live = await addDevice(t, 'elevator');
    const liveId = await seriousFault(live);
    await waitFor(() => after.some((m) => m.alert.id === liveId));
    expect(after.map((m) => m.alert.id)).toEqual([...ids2, liveId]);
    expect(after.map((m) => m.cursor)).toEqual([1, 2, 3, 4].map((i) => cursors[3]! + i));
    await c.endAsync();
    await live.client.endAsync();
  });

  it('agencies may subscribe only to their own queue, and nobody but the gateway publishes alerts', async () => {
    const token = await account(t, 'fire-119', 'fire-service');
    const c = await persistentAgency(t, 'fire-119', token, []);
    for (const topic of ['alerts/market-supervision', 'alerts/#', 'alerts/+', 'alerts/property/co-1', 'devices/#']) {
      const err = await c.subscribeAsync(topic, { qos: 1 }).then(() => undefined, (e) => e);
      expect(err?.packet?.granted, topic).toEqual([128]);
    }
    expect((await c.subscribeAsync('alerts/fire-service', { qos: 1 }))[0]!.qos).toBe(1);
    const forged: string[] = [];
    c.on('message', (_topic, payload) => forged.push(payload.toString()));
    // even an admin account cannot publish on an alert topic
    const adminToken = await account(t, 'admin-tooling', 'admin');
    const admin = await persistentAgency(t, 'admin-tooling', adminToken, []);
    const refused = new Promise<void>((resolve) => admin.once('close', () => resolve()));
    admin.publish('alerts/fire-service', JSON.stringify({ forged: true }), { qos: 0 });
    // a publish the broker does not authorize ends the publisher's connection: it was handled, not routed
    await refused;
    // the gateway's own message on the same topic, sent after the refusal, is the only one heard
    await t.gw.broker.publish('alerts/fire-service', Buffer.from('{"gateway":true}'));
    await waitFor(() => forged.length > 0);
    expect(forged).toEqual(['{"gateway":true}']);
    admin.end(true);
    await c.endAsync();
  });
});

describe('HTTP pull', () => {
  it('pages a queue by cursor', async () => {
    const d = await addDevice(t, 'water_pump');
    for (const type of ['pump_fault', 'flooded', 'door_opened', 'power_lost']) await event(d, { type });
    const queue = `property/${d.companyId}`;
    await waitFor(() => watcher.messages.filter((m) => m.queue === queue).length >= 4);
    const token = await account(t, `prop-${d.companyId}`, 'property', d.companyId);
    const seen: Msg[] = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const res = await t.api('GET', `/api/v1/queues/${queue}/messages?after=${after}&limit=3`, undefined, token);
      expect(res.status).toBe(200);
      if (res.body.items.length === 0) break;
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items);
      after = res.body.next;
    }
    expect(seen.map((m) => m.cursor)).toEqual([1, 2, 3, 4]);
    expect(seen.map((m) => m.alert.type)).toEqual(['water.pump_fault', 'water.flooded', 'water.door_open', 'water.pump_power_lost']);
    // the queue name may also come URL-encoded in one path segment
    const encoded = await t.api('GET', `/api/v1/queues/${encodeURIComponent(queue)}/messages?after=2`, undefined, token);
    expect(encoded.body.items.map((m: Msg) => m.cursor)).toEqual([3, 4]);
    expect((await t.api('GET', '/api/v1/queues/nonsense/messages', undefined, token)).status).toBe(404);
    await d.client.endAsync();
  });
});


describe('server-sent events', () => {
  it('delivers live, and resumes after Last-Event-ID without a gap', async () => {
    const d = await addDevice(t, 'water_pump');
    const queue = `property/${d.companyId}`;
    const token = await account(t, `sse-${d.companyId}`, 'property', d.companyId);
    const ctl = new AbortController();
    const res = await fetch(`${t.httpUrl}/api/v1/queues/${queue}/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = sseEvents(res);
    // a stream opened without a cursor starts live: the first event is the one raised after it opened
    await event(d, { type: 'flooded' });
    const first = (await events.next()).value!;
    expect(first.event).toBe('raised');
    expect(first.id).toBe('1');
    expect(JSON.parse(first.data)).toMatchObject({ cursor: 1, queue, alert: { type: 'water.flooded' } });
    ctl.abort();

    // missed while disconnected
    await event(d, { type: 'pump_fault' });
    await event(d, { type: 'door_opened' });
    await waitFor(() => watcher.messages.filter((m) => m.queue === queue).length >= 3);
    const ctl2 = new AbortController();
    const res2 = await fetch(`${t.httpUrl}/api/v1/queues/${queue}/stream`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': '1' }, signal: ctl2.signal });
    const events2 = sseEvents(res2);
    const replayed = [(await events2.next()).value!, (await events2.next()).value!];
    expect(replayed.map((e) => e.id)).toEqual(['2', '3']);
    await event(d, { type: 'power_lost' });
    const live = (await events2.next()).value!;
    expect(live.id).toBe('4');
    ctl2.abort();

    const other = await account(t, 'sse-other', 'property', 'co-somebody-else');
    const denied = await fetch(`${t.httpUrl}/api/v1/queues/${queue}/stream`, { headers: { authorization: `Bearer ${other}` } });
    expect(denied.status).toBe(403);
    expect((await denied.json()).error.code).toBe('ALERT_QUEUE_FORBIDDEN');
    await d.client.endAsync();
  });
});

describe('webhook', () => {
  it('retries with backoff until the receiver is up, in order, signed with HMAC-SHA256', async () => {
    const d = await addDevice(t, 'water_pump', { companyId: 'co-hook' });
    await event(d, { type: 'flooded' });
    await event(d, { type: 'pump_fault' });
    await waitFor(() => watcher.messages.filter((m) => m.queue === 'property/co-hook').length >= 2);
    // nobody listens yet: the gateway keeps retrying
    await waitFor(async () => /gateway_alert_webhook_failures_total\{webhook="co-hook-system"\} [2-9]/.test(await (await fetch(`${t.httpUrl}/metrics`)).text()), 5000, 50);

    const got: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
    let fail = 1;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        // one refusal first: a non-2xx answer is retried as well
        if (fail-- > 0) { res.statusCode = 503; res.end(); return; }
        got.push({ headers: req.headers, body });
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(hookPort, '127.0.0.1', () => r()));
    try {
      await waitFor(() => got.length >= 2, 5000);
      const bodies = got.map((g) => JSON.parse(g.body) as Msg);
      expect(bodies.map((b) => b.cursor)).toEqual([1, 2]);
      expect(bodies.map((b) => b.alert.type)).toEqual(['water.flooded', 'water.pump_fault']);
      for (const g of got) {
        expect(g.headers['x-gateway-signature']).toBe(webhookSignature(HOOK_SECRET, g.headers['x-gateway-timestamp'] as string, g.body));
        expect(g.headers['x-gateway-queue']).toBe('property/co-hook');
      }
      // and live from now on
      await event(d, { type: 'door_opened' });
      await waitFor(() => got.length >= 3);
      expect(JSON.parse(got[2]!.body).cursor).toBe(3);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await d.client.endAsync();
    }
  });
});
