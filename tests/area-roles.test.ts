/**
 * The area roles: `street` (scope = a street name) and `community` (scope = a community name) see the
 * sites whose street / community is that name, their devices and alerts (the list in SQL, one alert
 * in memory: both must agree) and take no action on alerts (403, audited). A street reads its own
 * queue (`street/{name}`, e-bikes in lifts) and no other; a community has no queue.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, account, addDevice, event, startAlertGateway, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';

let t: TestGateway;
let watcher: AlertWatcher;
const alerts: Record<string, number> = {};
const tokens: Record<string, string> = {};
const devices: Record<string, TestDevice> = {};

const STREET_1 = '南山街道', STREET_2 = '蛇口街道';
const COMMUNITY_1 = '桃源社区', COMMUNITY_2 = '大新社区';

/** site-n1 and site-n2 are in 南山街道 (two communities), site-s1 in 蛇口街道 (the name 桃源社区 again: a community name belongs to no street here). */
const SITES = [
  { id: 'site-n1', street: STREET_1, community: COMMUNITY_1 },
  { id: 'site-n2', street: STREET_1, community: COMMUNITY_2 },
  { id: 'site-s1', street: STREET_2, community: 'other' },
  { id: 'site-none' },
];

/** The queue each area account reads: a street its own, a community none. */
const OWN_QUEUE: Record<string, string | undefined> = { street1: `street/${STREET_1}`, street2: `street/${STREET_2}` };

/** who sees which alert (and device: one each, named alike) */
const SEES: Record<string, string[]> = {
  street1: ['liftN1', 'pumpN2'],
  street2: ['pumpS1'],
  community1: ['liftN1'],
  community2: ['pumpN2'],
};

beforeAll(async () => {
  ({ t } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
  for (const s of SITES) {
    const res = await t.api('POST', '/api/v1/sites', { name: `小区 ${s.id}`, companyId: 'co-area', ...s });
    expect(res.status).toBe(201);
  }
  devices.liftN1 = await addDevice(t, 'elevator', { companyId: 'co-area', siteId: 'site-n1', unitId: 'unit-area' });
  devices.pumpN2 = await addDevice(t, 'water_pump', { companyId: 'co-area', siteId: 'site-n2' });
  devices.pumpS1 = await addDevice(t, 'water_pump', { companyId: 'co-area', siteId: 'site-s1' });
  devices.pumpNone = await addDevice(t, 'water_pump', { companyId: 'co-area', siteId: 'site-none' });
  await event(devices.liftN1, { type: 'fault', fault: 'overspeed' });
  await event(devices.pumpN2, { type: 'flooded' });
  await event(devices.pumpS1, { type: 'flooded' });
  await event(devices.pumpNone, { type: 'flooded' });
  alerts.liftN1 = (await watcher.waitFor(devices.liftN1.id, 'elevator.overspeed', 'raised', ['property/co-area']))[0]!.alert.id;
  alerts.pumpN2 = (await watcher.waitFor(devices.pumpN2.id, 'water.flooded', 'raised', ['property/co-area']))[0]!.alert.id;
  alerts.pumpS1 = (await watcher.waitFor(devices.pumpS1.id, 'water.flooded', 'raised', ['property/co-area']))[0]!.alert.id;
  alerts.pumpNone = (await watcher.waitFor(devices.pumpNone.id, 'water.flooded', 'raised', ['property/co-area']))[0]!.alert.id;
  tokens.street1 = await account(t, 'street1', 'street', STREET_1);
  tokens.street2 = await account(t, 'street2', 'street', STREET_2);
  tokens.community1 = await account(t, 'community1', 'community', COMMUNITY_1);
  tokens.community2 = await account(t, 'community2', 'community', COMMUNITY_2);
});
afterAll(async () => {
  for (const d of Object.values(devices)) await d.client.endAsync();
  await watcher.close();
  await t.dispose();
});

describe('area roles', () => {
  for (const [who, sees] of Object.entries(SEES)) {
    it(`${who}: sites and devices of its area only; no companies or units`, async () => {
      const token = tokens[who]!;
      const devs = await t.api('GET', '/api/v1/devices', undefined, token);
      expect(devs.status).toBe(200);
      expect(devs.body.map((d: { id: string }) => d.id).sort()).toEqual(sees.map((n) => devices[n]!.id).sort());
      for (const [name, d] of Object.entries(devices)) {
        expect((await t.api('GET', `/api/v1/devices/${d.id}`, undefined, token)).status, `${who} reads ${name}`).toBe(sees.includes(name) ? 200 : 404);
        const site = await t.api('GET', `/api/v1/sites/${d.siteId}`, undefined, token);
        expect(site.status, `${who} reads ${d.siteId}`).toBe(sees.includes(name) ? 200 : 404);
      }
      const sites = await t.api('GET', '/api/v1/sites', undefined, token);
      expect(sites.body.map((s: { id: string }) => s.id).sort()).toEqual(sees.map((n) => devices[n]!.siteId).sort());
      expect((await t.api('GET', '/api/v1/companies', undefined, token)).body).toEqual([]);
      expect((await t.api('GET', '/api/v1/maintenance-units', undefined, token)).body).toEqual([]);
      // reading is all: no site changes
      expect((await t.api('PATCH', `/api/v1/sites/${devices[sees[0]!]!.siteId}`, { name: 'x' }, token)).status).toBe(403);
    });

    it(`${who}: alerts of its area, the same in the list (SQL) and by id (memory)`, async () => {
      const token = tokens[who]!;
      const list = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, token);
      expect(list.status).toBe(200);
      expect(list.body.items.map((a: { id: number }) => a.id).sort()).toEqual(sees.map((n) => alerts[n]!).sort());
      for (const item of list.body.items as Array<{ allowedActions: string[] }>) expect(item.allowedActions).toEqual([]);
      for (const [name, id] of Object.entries(alerts)) {
        const one = await t.api('GET', `/api/v1/alerts/${id}`, undefined, token);
        expect(one.status, `${who} reads ${name}`).toBe(sees.includes(name) ? 200 : 404);
        if (!sees.includes(name)) {
          expect(one.body.error.code).toBe('ALERT_NOT_FOUND');
          const act = await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, {}, token);
          expect(act.status).toBe(404);
        }
      }
      const summary = await t.api('GET', '/api/v1/console/summary', undefined, token);
      expect(summary.status).toBe(200);
      expect(summary.body.states).toEqual({ open: sees.length });
    });

    it(`${who}: every action refused with 403, and audited`, async () => {
      const token = tokens[who]!;
      const id = alerts[sees[0]!]!;
      for (const action of ['acknowledge', 'dispatch', 'resolve', 'close', 'confirm', 'dismiss']) {
        const res = await t.api('POST', `/api/v1/alerts/${id}/${action}`, { note: 'not ours' }, token);
        expect(res.status, `${who} ${action}`).toBe(403);
        expect(res.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
      }
      const rows = (await t.api('GET', `/api/v1/audit?target=${encodeURIComponent(`alert:${id}`)}&limit=1000`)).body as Array<{ actor: string; action: string; detail: Record<string, unknown> }>;
      expect(rows.filter((r) => r.actor === who && r.action === 'alert.acknowledge.refused').map((r) => r.detail))
        .toEqual([{ code: 'ALERT_ACTION_FORBIDDEN', state: 'open' }]);
      expect((await t.api('GET', `/api/v1/alerts/${id}`, undefined, token)).body.state).toBe('open');
    });

    it(`${who}: its street's queue only, a community none (HTTP and MQTT)`, async () => {
      const token = tokens[who]!;
      const own = OWN_QUEUE[who];
      // no alert here is routed to a street (none is an e-bike): nothing listed yet
      expect((await t.api('GET', '/api/v1/queues', undefined, token)).body).toEqual([]);
      for (const q of ['property/co-area', 'market-supervision', 'fire-service', `street/${STREET_1}`, `street/${STREET_2}`]) {
        const pull = await t.api('GET', `/api/v1/queues/${q.split('/').map(encodeURIComponent).join('/')}/messages`, undefined, token);
        expect(pull.status, `${who} pulls ${q}`).toBe(q === own ? 200 : 403);
        if (q !== own) expect(pull.body.error.code).toBe('ALERT_QUEUE_FORBIDDEN');
      }
      const c = await mqtt.connectAsync(t.mqttUrl, { clientId: `${who}:area`, username: who, password: token, reconnectPeriod: 0 });
      try {
        for (const topic of ['alerts/#', 'alerts/street/+', 'alerts/property/co-area', 'alerts/market-supervision', `alerts/street/${STREET_1}`, `alerts/street/${STREET_2}`]) {
          const granted = await c.subscribeAsync(topic, { qos: 1 }).then((g) => g[0]!.qos, (e) => e?.packet?.granted?.[0]);
          expect(granted, `${who} subscribes ${topic}`).toBe(topic === `alerts/${own}` ? 1 : 128);
        }
      } finally {
        await c.endAsync();
      }
    });
  }

  it('accounts: street and community need a scope, a name (not an id)', async () => {
    for (const role of ['street', 'community']) {
      const none = await t.api('POST', '/api/v1/accounts', { id: `no-scope-${role}`, role });
      expect(none.status, role).toBe(400);
      const empty = await t.api('POST', '/api/v1/accounts', { id: `empty-scope-${role}`, role, scope: '' });
      expect(empty.status, role).toBe(400);
      const control = await t.api('POST', '/api/v1/accounts', { id: `control-scope-${role}`, role, scope: '南山\n街道' });
      expect(control.status, role).toBe(400);
      const long = await t.api('POST', '/api/v1/accounts', { id: `long-scope-${role}`, role, scope: '街'.repeat(101) });
      expect(long.status, role).toBe(400);
      const spaced = await t.api('POST', '/api/v1/accounts', { id: `spaced-${role}`, role, scope: '南山 街道 Nanshan' });
      expect(spaced.status, role).toBe(201);
      expect(spaced.body).toMatchObject({ role, scope: '南山 街道 Nanshan' });
      // a street name is also a queue name and an MQTT topic level: no "/", "+" or "#"; a community's is not
      const slashed = await t.api('POST', '/api/v1/accounts', { id: `slashed-${role}`, role, scope: '南山街道 / Nanshan' });
      expect(slashed.status, role).toBe(role === 'street' ? 400 : 201);
      // trimmed like the sites' names, so the account matches them
      const padded = await t.api('POST', '/api/v1/accounts', { id: `padded-${role}`, role, scope: '  南山街道 ' });
      expect(padded.status, role).toBe(201);
      expect(padded.body.scope).toBe('南山街道');
    }
    // the other roles keep their rules: property needs an id, admin takes none
    expect((await t.api('POST', '/api/v1/accounts', { id: 'prop-named', role: 'property', scope: '南山街道' })).status).toBe(400);
    expect((await t.api('POST', '/api/v1/accounts', { id: 'admin-scoped', role: 'admin', scope: '南山街道' })).status).toBe(400);
  });
});
