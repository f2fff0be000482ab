/**
 * Routing corrections of the practitioner review (DOMAIN.md): e-bikes in lifts go to the property
 * company and the street (city management), the fire service only when the alert is still unresolved
 * at its resolve deadline; water-quality alerts also go to the unit that runs the secondary water
 * supply (二次供水管理单位: the pump room's maintenance unit), which then sees that pump room and its
 * water alerts, and nothing more. Real MQTT subscriptions, a manual clock; "not sent" is read from
 * the queue log at the moment the PUBACK or the clock step returned (tests/harness/queue-log.ts).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, account, addDevice, event, startAlertGateway, telemetry, type ManualClock, type Received, type TestDevice } from './harness/alerts.js';
import { waitFor, type TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;
const tokens: Record<string, string> = {};
const devices: TestDevice[] = [];
const clients: MqttClient[] = [];

const NANSHAN = '南山街道', SHEKOU = '蛇口街道';
const NANSHAN_QUEUE = `street/${NANSHAN}`;
const path = (queue: string) => queue.split('/').map(encodeURIComponent).join('/');

async function site(id: string, companyId: string, street?: string): Promise<void> {
  const res = await t.api('POST', '/api/v1/sites', { id, name: `小区 ${id}`, companyId, ...(street ? { street } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** An account's MQTT session; the messages it receives are collected. */
async function session(id: string): Promise<{ client: MqttClient; got: Received[] }> {
  const client = await mqtt.connectAsync(t.mqttUrl, { clientId: `${id}:routing`, username: id, password: tokens[id]!, reconnectPeriod: 0 });
  clients.push(client);
  const got: Received[] = [];
  client.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString()) as Received));
  return { client, got };
}

const grant = (c: MqttClient, topic: string) => c.subscribeAsync(topic, { qos: 1 }).then((g) => g[0]!.qos, (e: { packet?: { granted?: number[] } }) => e.packet?.granted?.[0]);

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
  await site('site-ns', 'co-eb', NANSHAN);
  await site('site-sk', 'co-sk', SHEKOU);
  await site('site-plain', 'co-plain');
  tokens.street1 = await account(t, 'street1', 'street', NANSHAN);
  tokens.street2 = await account(t, 'street2', 'street', SHEKOU);
  tokens.community1 = await account(t, 'community1', 'community', '桃源社区');
  tokens.propEb = await account(t, 'propEb', 'property', 'co-eb');
  tokens.fire = await account(t, 'fire', 'fire-service');
  tokens.maintW = await account(t, 'maintW', 'maintenance', 'unit-water');
});
afterAll(async () => {
  for (const c of clients) await c.endAsync();
  for (const d of devices) await d.client.endAsync();
  await watcher.close();
  await t.dispose();
});

describe('street names: a queue name and an MQTT topic level', () => {
  it('a site street or a street account scope with "/", "+", "#" or a control character is refused', async () => {
    for (const street of ['南山/街道', '南山+', '南山#', '南山\u0007街道']) {
      const s = await t.api('POST', '/api/v1/sites', { id: 'site-bad', name: 'bad', companyId: 'co-eb', street });
      expect(s.status, street).toBe(400);
      const a = await t.api('POST', '/api/v1/accounts', { id: 'street-bad', role: 'street', scope: street });
      expect(a.status, street).toBe(400);
    }
  });
});

describe('water quality: also the unit running the secondary water supply', () => {
  let pump: TestDevice, otherPump: TestDevice, lift: TestDevice;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    pump = await addDevice(t, 'water_pump', { companyId: 'co-w1', siteId: 'site-w1', unitId: 'unit-water', extra: { maintenanceUnitId: 'unit-water' } });
    otherPump = await addDevice(t, 'water_pump', { companyId: 'co-w2', siteId: 'site-w2', unitId: 'unit-other', extra: { maintenanceUnitId: 'unit-other' } });
    lift = await addDevice(t, 'elevator', { companyId: 'co-w1', siteId: 'site-w1', unitId: 'unit-water' });
    devices.push(pump, otherPump, lift);
  });

  it('turbidity reaches property/{co} and maintenance/{unit}, over MQTT to the unit', async () => {
    const maint = await session('maintW');
    expect(await grant(maint.client, 'alerts/maintenance/unit-water')).toBe(1);
    for (const d of [pump, otherPump]) await telemetry(d, { ...NORMAL.water_pump, turbidity: 1.6 });
    clock.advance(60_000);
    const raised = (await logged(t, pump.id, 'water.turbidity_high')).filter((m) => m.event === 'raised');
    expect(raised.map((m) => m.queue).sort()).toEqual(['maintenance/unit-water', 'property/co-w1']);
    const other = (await logged(t, otherPump.id, 'water.turbidity_high')).filter((m) => m.event === 'raised');
    expect(other.map((m) => m.queue).sort()).toEqual(['maintenance/unit-other', 'property/co-w2']);
    const got = await waitFor(() => maint.got.find((m) => m.alert.deviceId === pump.id && m.event === 'raised'), 3000, 10);
    expect(got.alert.type).toBe('water.turbidity_high');
    expect(maint.got.some((m) => m.alert.deviceId === otherPump.id), 'nothing of another unit').toBe(false);
    ids.pump = raised[0]!.alert.id;
    ids.other = other[0]!.alert.id;
  });

  it('a pump room without a unit: the property company only', async () => {
    const plain = await addDevice(t, 'water_pump', { companyId: 'co-w3', siteId: 'site-w3' });
    devices.push(plain);
    await telemetry(plain, { ...NORMAL.water_pump, ph: 9.1 });
    clock.advance(60_000);
    const raised = (await logged(t, plain.id, 'water.ph_abnormal')).filter((m) => m.event === 'raised');
    expect(raised.map((m) => m.queue)).toEqual(['property/co-w3']);
  });

  it('the unit reads its pump room and that alert, not another company\'s pump room; its other alerts stay out of its queue', async () => {
    const token = tokens.maintW!;
    expect((await t.api('GET', `/api/v1/devices/${pump.id}`, undefined, token)).status).toBe(200);
    expect((await t.api('GET', `/api/v1/devices/${otherPump.id}`, undefined, token)).status).toBe(404);
    expect((await t.api('GET', `/api/v1/alerts/${ids.pump}`, undefined, token)).status).toBe(200);
    expect((await t.api('GET', `/api/v1/alerts/${ids.other}`, undefined, token)).status).toBe(404);
    // a pump-room smoke alarm is a fire-domain alert: not the unit's; a flood is water, read but not routed to it
    await event(pump, { type: 'flooded' });
    await telemetry(pump, { ...NORMAL.water_pump, smoke: true });
    const flooded = (await logged(t, pump.id, 'water.flooded')).filter((m) => m.event === 'raised');
    const smoke = (await logged(t, pump.id, 'water.smoke')).filter((m) => m.event === 'raised');
    expect(flooded.map((m) => m.queue)).toEqual(['property/co-w1']);
    expect(smoke.map((m) => m.queue)).toEqual(['property/co-w1']);
    const list = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, token);
    expect(list.status).toBe(200);
    const listed = (list.body.items as Array<{ id: number; deviceId: string; type: string }>).map((a) => `${a.deviceId} ${a.type}`).sort();
    expect(listed).toEqual([`${pump.id} water.flooded`, `${pump.id} water.turbidity_high`]);
    expect((await t.api('GET', `/api/v1/alerts/${smoke[0]!.alert.id}`, undefined, token)).status).toBe(404);
    const devs = await t.api('GET', '/api/v1/devices', undefined, token);
    expect(devs.body.map((d: { id: string }) => d.id).sort()).toEqual([lift.id, pump.id].sort());
  });

  it('elevator-only rules keep refusing the pump room: no maintenance visit, no arrival', async () => {
    const token = tokens.maintW!;
    const visit = await t.api('POST', '/api/v1/maintenance-visits', { deviceId: pump.id }, token);
    expect(visit.status).toBe(404);
    expect(visit.body.error.code).toBe('VISIT_NOT_FOUND');
    const arrive = await t.api('POST', `/api/v1/alerts/${ids.pump}/arrive`, { note: '到场 / on site' }, token);
    expect(arrive.status).toBe(409);
    expect(arrive.body.error.code).toBe('ALERT_INVALID_TRANSITION');
  });

  it('the unit\'s elevators work as before', async () => {
    await event(lift, { type: 'fault', fault: 'overspeed' });
    const raised = (await logged(t, lift.id, 'elevator.overspeed')).filter((m) => m.event === 'raised');
    expect(raised.map((m) => m.queue).sort()).toEqual(['maintenance/unit-water', 'market-supervision', 'property/co-w1']);
    const ack = await t.api('POST', `/api/v1/alerts/${raised[0]!.alert.id}/acknowledge`, { note: '维保单位已接单 / unit on its way' }, tokens.maintW);
    expect(ack.status).toBe(200);
    const visit = await t.api('POST', '/api/v1/maintenance-visits', { deviceId: lift.id }, tokens.maintW);
    expect(visit.status, JSON.stringify(visit.body)).toBe(201);
  });
});

describe('e-bikes in lifts: the property company and the street; the fire service at the resolve deadline', () => {
  let lift: TestDevice, plainLift: TestDevice;
  let alertId: number;
  let street: { client: MqttClient; got: Received[] };

  beforeAll(async () => {
    lift = await addDevice(t, 'elevator', { companyId: 'co-eb', siteId: 'site-ns' });
    plainLift = await addDevice(t, 'elevator', { companyId: 'co-plain', siteId: 'site-plain' });
    devices.push(lift, plainLift);
    street = await session('street1');
  });

  it('the street account may subscribe to its own queue only (UTF-8 topic, no wildcards)', async () => {
    expect(await grant(street.client, `alerts/${NANSHAN_QUEUE}`)).toBe(1);
    expect(await grant(street.client, 'alerts/street/+')).toBe(128);
    expect(await grant(street.client, `alerts/street/${SHEKOU}`)).toBe(128);
    const other = await session('street2');
    expect(await grant(other.client, `alerts/${NANSHAN_QUEUE}`)).toBe(128);
    // a community has no queue: no alert type is routed to one
    const community = await session('community1');
    expect(await grant(community.client, `alerts/${NANSHAN_QUEUE}`)).toBe(128);
  });

  it('raised on property/{co} and street/南山街道, over MQTT and HTTP pull; not on the fire service', async () => {
    await event(lift, { type: 'ebike_detected', confidence: 0.93 });
    const raised = (await logged(t, lift.id, 'elevator.ebike')).filter((m) => m.event === 'raised');
    expect(raised.map((m) => m.queue).sort()).toEqual(['property/co-eb', NANSHAN_QUEUE].sort());
    alertId = raised[0]!.alert.id;
    const got = await waitFor(() => street.got.find((m) => m.alert.id === alertId && m.event === 'raised'), 3000, 10);
    expect(got.queue).toBe(NANSHAN_QUEUE);
    const pull = await t.api('GET', `/api/v1/queues/${path(NANSHAN_QUEUE)}/messages`, undefined, tokens.street1);
    expect(pull.status).toBe(200);
    expect(pull.body.queue).toBe(NANSHAN_QUEUE);
    expect(pull.body.items.map((m: { alert: { id: number }; event: string }) => `${m.alert.id} ${m.event}`)).toEqual([`${alertId} raised`]);
    // gap-free, like every queue
    expect(pull.body.items.map((m: { cursor: number }) => m.cursor)).toEqual([1]);
  });

  it('another street is refused the queue over HTTP (pull and stream): 403', async () => {
    const pull = await t.api('GET', `/api/v1/queues/${path(NANSHAN_QUEUE)}/messages`, undefined, tokens.street2);
    expect(pull.status).toBe(403);
    expect(pull.body.error.code).toBe('ALERT_QUEUE_FORBIDDEN');
    const stream = await fetch(`${t.httpUrl}/api/v1/queues/${path(NANSHAN_QUEUE)}/stream`, { headers: { authorization: `Bearer ${tokens.street2}` } });
    expect(stream.status).toBe(403);
    await stream.body?.cancel();
    const own = new AbortController();
    const mine = await fetch(`${t.httpUrl}/api/v1/queues/${path(NANSHAN_QUEUE)}/stream?after=0`, { headers: { authorization: `Bearer ${tokens.street1}` }, signal: own.signal });
    expect(mine.status).toBe(200);
    own.abort();
    // a street still takes no action on alerts
    const ack = await t.api('POST', `/api/v1/alerts/${alertId}/acknowledge`, { note: '街道 / street' }, tokens.street1);
    expect(ack.status).toBe(403);
    expect(ack.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
  });

  it('a site without a street: the property company only', async () => {
    await event(plainLift, { type: 'ebike_detected', confidence: 0.91 });
    const raised = (await logged(t, plainLift.id, 'elevator.ebike')).filter((m) => m.event === 'raised');
    expect(raised.map((m) => m.queue)).toEqual(['property/co-plain']);
  });

  it('statistics: e-bike alerts per site for a period, within the caller\'s scope', async () => {
    const url = (q: string) => `/api/v1/alerts/stats?type=elevator.ebike${q}`;
    const admin = await t.api('GET', url(''));
    expect(admin.status).toBe(200);
    expect(admin.body.sites).toEqual([{ siteId: 'site-ns', siteName: '小区 site-ns', n: 1 }, { siteId: 'site-plain', siteName: '小区 site-plain', n: 1 }]);
    expect(admin.body.total).toBe(2);
    expect((await t.api('GET', url(''), undefined, tokens.street1)).body.sites).toEqual([{ siteId: 'site-ns', siteName: '小区 site-ns', n: 1 }]);
    expect((await t.api('GET', url(''), undefined, tokens.propEb)).body.sites).toEqual([{ siteId: 'site-ns', siteName: '小区 site-ns', n: 1 }]);
    expect((await t.api('GET', url(''), undefined, tokens.street2)).body).toMatchObject({ total: 0, sites: [] });
    // [from, to): the alerts opened at the current clock are in a period ending 1 ms later, not in one ending now
    const now = clock.now();
    expect((await t.api('GET', url(`&from=${now - 60_000}&to=${now + 1}`), undefined, tokens.street1)).body.total).toBe(1);
    expect((await t.api('GET', url(`&from=${now - 60_000}&to=${now}`), undefined, tokens.street1)).body.total).toBe(0);
    expect((await t.api('GET', '/api/v1/alerts/stats?type=no.such', undefined, tokens.street1)).status).toBe(400);
  });

  it('the fire service hears of it when the resolve deadline passes, not 1 ms before', async () => {
    const alert = await t.api('GET', `/api/v1/alerts/${alertId}`);
    const resolveBy = alert.body.deadlines.resolveBy as number;
    expect(resolveBy).toBe(alert.body.openedAt + 24 * 3_600_000);
    // no acknowledge deadline: it would escalate to the fire service too
    expect(alert.body.deadlines.acknowledgeBy).toBeNull();
    clock.set(resolveBy - 1);
    expect((await logged(t, lift.id, 'elevator.ebike')).filter((m) => m.queue === 'fire-service'), '1 ms before the deadline').toEqual([]);
    clock.set(resolveBy);
    const now = await logged(t, lift.id, 'elevator.ebike');
    expect(now.filter((m) => m.queue === 'fire-service').map((m) => `${m.event} ${m.reason}`)).toEqual(['escalated resolve_overdue']);
    expect(now.filter((m) => m.queue === NANSHAN_QUEUE).map((m) => m.event)).toEqual(['raised', 'escalated']);
    const fire = await t.api('GET', '/api/v1/queues/fire-service/messages', undefined, tokens.fire);
    expect(fire.body.items.some((m: { alert: { id: number } }) => m.alert.id === alertId)).toBe(true);
    await waitFor(() => street.got.find((m) => m.alert.id === alertId && m.event === 'escalated'), 3000, 10);
  });
});
