/**
 * The scope matrix: every role against every alert and queue resource, over the
 * API (list, read, act, pull, stream) and MQTT (`alerts/{queue}` subscriptions). An alert outside
 * the caller's scope is answered as missing (404), so ids cannot be probed; a queue outside it is
 * 403, for every name, existing or not (an MQTT subscription is refused with 0x80).
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, account, addDevice, event, startAlertGateway, type TestDevice } from './harness/alerts.js';
import { ADMIN_TOKEN, type TestGateway } from './harness/gateway.js';

let t: TestGateway;
let watcher: AlertWatcher;
const alerts: Record<string, number> = {};
const tokens: Record<string, string> = {};
const devices: TestDevice[] = [];

const QUEUES = ['market-supervision', 'fire-service', 'property/co-a', 'property/co-b', 'maintenance/unit-a', 'maintenance/unit-b'];
/** who sees which alert (names below) and which queue */
const SEES: Record<string, { alerts: string[]; queues: string[] }> = {
  root: { alerts: ['liftA', 'fireWaterA', 'pumpB', 'liftB'], queues: QUEUES },
  propA: { alerts: ['liftA', 'fireWaterA'], queues: ['property/co-a'] },
  propB: { alerts: ['pumpB', 'liftB'], queues: ['property/co-b'] },
  maintA: { alerts: ['liftA'], queues: ['maintenance/unit-a'] },
  maintB: { alerts: ['liftB'], queues: ['maintenance/unit-b'] },
  market: { alerts: ['liftA', 'liftB'], queues: ['market-supervision'] },
  fire: { alerts: ['fireWaterA'], queues: ['fire-service'] },
};

beforeAll(async () => {
  ({ t } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
  const liftA = await addDevice(t, 'elevator', { companyId: 'co-a', siteId: 'site-a', unitId: 'unit-a' });
  const fireWaterA = await addDevice(t, 'fire_water', { companyId: 'co-a', siteId: 'site-a' });
  const pumpB = await addDevice(t, 'water_pump', { companyId: 'co-b', siteId: 'site-b' });
  const liftB = await addDevice(t, 'elevator', { companyId: 'co-b', siteId: 'site-b', unitId: 'unit-b' });
  devices.push(liftA, fireWaterA, pumpB, liftB);
  await event(liftA, { type: 'fault', fault: 'overspeed' });
  await event(fireWaterA, { type: 'pump_fault' });
  await event(pumpB, { type: 'flooded' });
  await event(liftB, { type: 'fault', fault: 'overspeed' });
  alerts.liftA = (await watcher.waitFor(liftA.id, 'elevator.overspeed', 'raised', ['market-supervision']))[0]!.alert.id;
  alerts.fireWaterA = (await watcher.waitFor(fireWaterA.id, 'fire_water.pump_fault', 'raised', ['fire-service']))[0]!.alert.id;
  alerts.pumpB = (await watcher.waitFor(pumpB.id, 'water.flooded', 'raised', ['property/co-b']))[0]!.alert.id;
  alerts.liftB = (await watcher.waitFor(liftB.id, 'elevator.overspeed', 'raised', ['maintenance/unit-b']))[0]!.alert.id;
  tokens.root = await account(t, 'root', 'admin');
  tokens.propA = await account(t, 'propA', 'property', 'co-a');
  tokens.propB = await account(t, 'propB', 'property', 'co-b');
  tokens.maintA = await account(t, 'maintA', 'maintenance', 'unit-a');
  tokens.maintB = await account(t, 'maintB', 'maintenance', 'unit-b');
  tokens.market = await account(t, 'market', 'market-supervision');
  tokens.fire = await account(t, 'fire', 'fire-service');
});
afterAll(async () => {
  for (const d of devices) await d.client.endAsync();
  await watcher.close();
  await t.dispose();
});

describe('scope matrix', () => {
  for (const [who, sees] of Object.entries(SEES)) {
    it(`${who}: alerts`, async () => {
      const token = tokens[who]!;
      const list = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, token);
      expect(list.status).toBe(200);
      const listed = new Set(list.body.items.map((a: { id: number }) => a.id));
      for (const [name, id] of Object.entries(alerts)) {
        const visible = sees.alerts.includes(name);
        expect(listed.has(id), `${who} lists ${name}`).toBe(visible);
        const one = await t.api('GET', `/api/v1/alerts/${id}`, undefined, token);
        expect(one.status, `${who} reads ${name}`).toBe(visible ? 200 : 404);
        if (!visible) {
          expect(one.body.error.code).toBe('ALERT_NOT_FOUND');
          for (const action of ['acknowledge', 'dispatch', 'resolve', 'close', 'confirm', 'dismiss']) {
            const res = await t.api('POST', `/api/v1/alerts/${id}/${action}`, { note: 'not mine' }, token);
            expect(res.status, `${who} ${action}s ${name}`).toBe(404);
            expect(res.body.error.code, `${who} ${action}s ${name}`).toBe('ALERT_NOT_FOUND');
          }
        }
      }
    });

    it(`${who}: queues over HTTP (pull and stream)`, async () => {
      const token = tokens[who]!;
      for (const q of QUEUES) {
        const visible = sees.queues.includes(q);
        const pull = await t.api('GET', `/api/v1/queues/${q}/messages`, undefined, token);
        expect(pull.status, `${who} pulls ${q}`).toBe(visible ? 200 : 403);
        if (visible) expect(pull.body.items.length, `${who} pulls ${q}`).toBeGreaterThan(0);
        else expect(pull.body.error.code).toBe('ALERT_QUEUE_FORBIDDEN');
        const ctl = new AbortController();
        const stream = await fetch(`${t.httpUrl}/api/v1/queues/${q}/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
        expect(stream.status, `${who} streams ${q}`).toBe(visible ? 200 : 403);
        ctl.abort();
      }
    });

    it(`${who}: queues over MQTT`, async () => {
      const c = await mqtt.connectAsync(t.mqttUrl, { clientId: `${who}:scope`, username: who, password: tokens[who]!, reconnectPeriod: 0 });
      try {
        for (const q of QUEUES) {
          const visible = sees.queues.includes(q);
          const granted = await c.subscribeAsync(`alerts/${q}`, { qos: 1 }).then((g) => g[0]!.qos, (e) => e?.packet?.granted?.[0]);
          expect(granted, `${who} subscribes alerts/${q}`).toBe(visible ? 1 : 128);
        }
      } finally {
        await c.endAsync();
      }
    });
  }

  it('the bootstrap admin token sees everything; no token gets 401', async () => {
    const list = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, ADMIN_TOKEN);
    expect(list.body.items.length).toBeGreaterThanOrEqual(4);
    expect((await t.api('GET', `/api/v1/alerts/${alerts.liftA}`, undefined, '')).status).toBe(401);
    expect((await t.api('GET', '/api/v1/queues/fire-service/messages', undefined, '')).status).toBe(401);
  });

  it('an agency acts on an alert in its scope', async () => {
    const res = await t.api('POST', `/api/v1/alerts/${alerts.liftB}/acknowledge`, { note: '维保单位已接单 / unit on its way' }, tokens.maintB);
    expect(res.status).toBe(200);
    expect(res.body.history.at(-1)).toMatchObject({ actor: 'maintB', action: 'acknowledged' });
  });
});
