/**
 * The practitioners' corrections to the fire rules (DOMAIN.md, "Corrections and additions"), on a
 * real gateway with real MQTT devices and the alert clock in the test's hand:
 * - fire alarms are corroborated within a building (or a panel zone), not across the site;
 * - offline timeouts follow the device's heartbeat: per model, and 25 h for battery smoke alarms;
 * - fire devices in test mode (over the API, or the device's own flag) record their alarms without
 *   sending the fire service out, and the test mode ends by itself at its end time.
 *
 * "Not sent" is read from the durable queue log, which is final when a device's publish is
 * acknowledged or the manual clock's `advance` returns (tests/harness/queue-log.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NORMAL, account, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import { connectDevice, type TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** The shipped verify window (alerts.fire.verifyWindow): an unconfirmed alarm goes to the fire service after it. */
const VERIFY_WINDOW = 3 * MIN;

let t: TestGateway;
let clock: ManualClock;
beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({
    alerts: { rules: { models: { 'MAINS-SD-2': { offlineAfter: '3h' } }, devices: { 'smoke-own-timeout': { offlineAfter: '4h' } } } },
  }));
});
afterAll(async () => { await t.dispose(); });

/** Messages of the device's fire alarm to one queue. */
const to = async (d: TestDevice, queue: string, type = 'fire.alarm') => (await logged(t, d.id, type)).filter((m) => m.queue === queue);
const property = (d: TestDevice) => `property/${d.companyId}`;
/** A second device on the same site (and company) as `first`. */
const beside = (first: TestDevice, kind: string, extra: Record<string, unknown> = {}) => addDevice(t, kind, { siteId: first.siteId, companyId: first.companyId, extra });

async function alertOf(d: TestDevice, type = 'fire.alarm') {
  const res = await t.api('GET', `/api/v1/alerts?deviceId=${d.id}&type=${type}`);
  expect(res.status).toBe(200);
  expect(res.body.items).toHaveLength(1);
  return (await t.api('GET', `/api/v1/alerts/${res.body.items[0].id}`)).body;
}

describe('fire-alarm corroboration within a building', () => {
  it('two detectors in different buildings of one site do not confirm each other; in one building they do', async () => {
    const a = await addDevice(t, 'smoke_detector', { extra: { building: '1号楼' } });
    const b = await beside(a, 'smoke_detector', { building: '2号楼' });
    const c = await beside(a, 'smoke_detector', { building: '1号楼' });
    await event(a, { type: 'alarm' });
    await event(b, { type: 'alarm' });
    expect((await to(a, property(a))).at(-1)!.alert.confirmation).toBe('unconfirmed');
    expect((await to(b, property(b))).at(-1)!.alert.confirmation).toBe('unconfirmed');
    expect([...await to(a, 'fire-service'), ...await to(b, 'fire-service')]).toEqual([]);

    await event(c, { type: 'alarm' });
    expect((await to(c, 'fire-service')).map((m) => [m.event, m.alert.confirmation])).toEqual([['raised', 'confirmed']]);
    expect((await to(a, 'fire-service')).map((m) => [m.event, m.alert.confirmation])).toEqual([['raised', 'confirmed']]);
    expect((await alertOf(c)).details.confirmedBy).toMatchObject({ by: 'second_source', sources: [{ deviceId: a.id }] });
    // the alarm in the other building is still the property company's to verify
    expect(await to(b, 'fire-service')).toEqual([]);
    expect((await alertOf(b)).confirmation).toBe('unconfirmed');
  });

  it('a sprinkler flow switch in another building does not confirm; one in the same building does', async () => {
    const detector = await addDevice(t, 'smoke_detector', { extra: { building: '3号楼' } });
    const elsewhere = await beside(detector, 'fire_water', { building: '4号楼' });
    const here = await beside(detector, 'fire_water', { building: '3号楼' });
    await event(detector, { type: 'alarm' });
    await telemetry(elsewhere, { ...NORMAL.fire_water, flowSwitch: true });
    expect(await to(detector, 'fire-service')).toEqual([]);
    expect((await alertOf(detector)).confirmation).toBe('unconfirmed');

    await telemetry(here, { ...NORMAL.fire_water, flowSwitch: true });
    expect((await to(detector, 'fire-service')).map((m) => [m.event, m.alert.confirmation])).toEqual([['raised', 'confirmed']]);
    expect((await alertOf(detector)).details.confirmedBy).toMatchObject({ by: 'flow_switch' });
  });

  it('devices without a building corroborate among themselves, not with a building\'s', async () => {
    const unplaced = await addDevice(t, 'smoke_detector');
    const placed = await beside(unplaced, 'smoke_detector', { building: '5号楼' });
    const unplacedToo = await beside(unplaced, 'smoke_detector');
    await event(unplaced, { type: 'alarm' });
    await event(placed, { type: 'alarm' });
    expect([...await to(unplaced, 'fire-service'), ...await to(placed, 'fire-service')]).toEqual([]);
    await event(unplacedToo, { type: 'alarm' });
    expect((await to(unplaced, 'fire-service')).map((m) => m.alert.confirmation)).toEqual(['confirmed']);
    expect((await to(unplacedToo, 'fire-service')).map((m) => m.alert.confirmation)).toEqual(['confirmed']);
    expect(await to(placed, 'fire-service')).toEqual([]);
  });
});

describe('offline timeouts follow the heartbeat', () => {
  it('per model, per device over the model, 25 h for smoke alarms and 2 h 15 min for panels, each exactly at its timeout', async () => {
    const byModel = await addDevice(t, 'smoke_detector', { extra: { model: 'MAINS-SD-2' } });
    const own = await addDevice(t, 'smoke_detector', { id: 'smoke-own-timeout', extra: { model: 'MAINS-SD-2' } });
    const battery = await addDevice(t, 'smoke_detector', { extra: { model: 'NB-SD-100' } });
    const panel = await addDevice(t, 'fire_panel');
    const devices = [byModel, own, battery, panel];
    for (const d of devices) await telemetry(d, NORMAL[d.kind]!);
    const seen = clock.now();
    const offline = async () => {
      const out: string[] = [];
      for (const d of devices) if ((await to(d, property(d), 'device.offline')).some((m) => m.event === 'raised')) out.push(d.id);
      return out;
    };
    const expected: Array<[number, TestDevice]> = [[135 * MIN, panel], [3 * HOUR, byModel], [4 * HOUR, own], [25 * HOUR, battery]];
    const gone: string[] = [];
    /** The devices gone offline so far, in the order `offline()` lists them. */
    const goneSoFar = () => devices.filter((x) => gone.includes(x.id)).map((x) => x.id);
    for (const [after, d] of expected) {
      clock.set(seen + after - 1);
      expect(await offline(), `1 ms before ${after / MIN} min`).toEqual(goneSoFar());
      clock.advance(1);
      gone.push(d.id);
      expect(await offline(), `at ${after / MIN} min`).toEqual(goneSoFar());
      expect((await to(d, property(d), 'device.offline'))[0]!.alert.details).toMatchObject({ offlineAfterMs: after, lastSeenAt: seen });
    }
    for (const d of devices) await d.client.endAsync();
  });
});

describe('test mode of fire devices', () => {
  it('over the API: an alarm reaches the property company, not the fire service; it ends exactly at `until`, and the next alarm goes to the fire service', async () => {
    const d = await addDevice(t, 'smoke_detector');
    const until = clock.now() + 2 * HOUR;
    const set = await t.api('PUT', `/api/v1/devices/${d.id}/test-mode`, { until: new Date(until).toISOString(), note: '月度测试 / monthly test' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: d.id, testModeUntil: until, testModeNote: '月度测试 / monthly test' });
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBe(until);

    await event(d, { type: 'alarm' });
    clock.advance(VERIFY_WINDOW + 1);
    const toProperty = await to(d, property(d));
    expect(toProperty[0]).toMatchObject({ event: 'raised', alert: { suppressed: true, details: { testMode: true } } });
    // the verify window passed without a verdict: a real alarm would have gone to the fire service now
    expect(toProperty.some((m) => m.reason === 'verify_window_passed')).toBe(true);
    expect(await to(d, 'fire-service')).toEqual([]);
    const alert = await alertOf(d);
    expect(alert.history[0]).toMatchObject({ action: 'raised', note: expect.stringContaining('test mode') });

    // one ms before its end the device is still in test mode
    clock.set(until - 1);
    await event(d, { type: 'alarm' });
    expect(await to(d, 'fire-service')).toEqual([]);
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBe(until);

    clock.advance(1);
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBeUndefined();
    const audit = await t.api('GET', `/api/v1/audit?target=device:${d.id}`);
    expect(audit.body.map((e: { action: string; actor: string }) => [e.action, e.actor])).toEqual(expect.arrayContaining([['device.test_mode.start', 'admin'], ['device.test_mode.expire', 'system']]));

    await event(d, { type: 'alarm' });
    const toFire = await to(d, 'fire-service');
    expect(toFire.map((m) => m.event)).toEqual(['raised']);
    expect(toFire[0]!.alert).toMatchObject({ suppressed: false, details: { testMode: false } });
    expect((await alertOf(d)).history.map((h: { action: string }) => h.action)).toContain('test_mode_ended');
  });

  it('the device\'s own test flag: a smoke alarm\'s test button and a panel in test state', async () => {
    const smoke = await addDevice(t, 'smoke_detector');
    const panel = await addDevice(t, 'fire_panel');
    await event(smoke, { type: 'alarm', test: true });
    await telemetry(panel, { ...NORMAL.fire_panel, test: true });
    await event(panel, { type: 'fire_alarm', zone: 'Z1' });
    clock.advance(VERIFY_WINDOW + 1);
    expect((await to(smoke, property(smoke)))[0]!.alert.details.testMode).toBe(true);
    expect((await to(smoke, property(smoke))).map((m) => m.reason ?? m.event)).toEqual(['raised', 'verify_window_passed']);
    expect((await to(panel, property(panel)))[0]!.alert.details.testMode).toBe(true);
    expect([...await to(smoke, 'fire-service'), ...await to(panel, 'fire-service')]).toEqual([]);

    // the flag held only for that event, and for the readings that carried it
    await event(smoke, { type: 'alarm' });
    expect((await to(smoke, 'fire-service')).map((m) => m.event)).toEqual(['raised']);
    await telemetry(panel, NORMAL.fire_panel!);
    await event(panel, { type: 'fire_alarm', zone: 'Z2' });
    clock.advance(VERIFY_WINDOW + 1);
    expect((await to(panel, 'fire-service')).map((m) => [m.event, m.alert.subject])).toEqual([['raised', 'Z2']]);
  });

  it('who may: the property company of the device and an admin; 404 for another company, 403 for maintenance, 400 for an elevator or a bad end', async () => {
    const d = await addDevice(t, 'fire_panel');
    const lift = await addDevice(t, 'elevator', { siteId: d.siteId, companyId: d.companyId });
    const own = await account(t, `prop-own-${d.id}`, 'property', d.companyId);
    const other = await account(t, `prop-other-${d.id}`, 'property', 'co-someone-else');
    const unit = await account(t, `mu-${d.id}`, 'maintenance', lift.unitId);
    const body = { until: new Date(clock.now() + HOUR).toISOString() };
    const put = (id: string, token?: string, b: unknown = body) => t.api('PUT', `/api/v1/devices/${id}/test-mode`, b, token);

    const foreign = await put(d.id, other);
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'GW_NOT_FOUND']);
    // answered as for a device that does not exist, so ids of other companies cannot be probed
    const missing = await put('no-such-device', other);
    expect([missing.status, missing.body.error.message]).toEqual([404, foreign.body.error.message.replace(d.id, 'no-such-device')]);
    const byUnit = await put(d.id, unit);
    expect([byUnit.status, byUnit.body.error.code]).toEqual([403, 'GW_FORBIDDEN']);
    const onLift = await put(lift.id, own);
    expect([onLift.status, onLift.body.error.code]).toEqual([400, 'ALERT_TEST_MODE_KIND']);
    const tooLong = await put(d.id, own, { until: new Date(clock.now() + 24 * HOUR + 1).toISOString() });
    expect([tooLong.status, tooLong.body.error.code]).toEqual([400, 'ALERT_TEST_MODE_UNTIL']);
    const past = await put(d.id, own, { until: new Date(clock.now()).toISOString() });
    expect([past.status, past.body.error.code]).toEqual([400, 'ALERT_TEST_MODE_UNTIL']);
    expect((await put(d.id, own, { until: 'tomorrow' })).status).toBe(400);
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBeUndefined();

    const ok = await put(d.id, own, { until: new Date(clock.now() + 24 * HOUR).toISOString() });
    expect(ok.status).toBe(200);
    const ended = await t.api('DELETE', `/api/v1/devices/${d.id}/test-mode`, undefined, own);
    expect(ended.status).toBe(200);
    expect(ended.body.testModeUntil).toBeUndefined();
    expect((await t.api('DELETE', `/api/v1/devices/${d.id}/test-mode`, undefined, other)).status).toBe(404);
    const audit = await t.api('GET', `/api/v1/audit?target=device:${d.id}`);
    expect(audit.body.filter((e: { action: string }) => e.action.startsWith('device.test_mode.')).map((e: { action: string; actor: string }) => [e.action, e.actor]))
      .toEqual(expect.arrayContaining([['device.test_mode.start', `prop-own-${d.id}`], ['device.test_mode.end', `prop-own-${d.id}`]]));
  });

  it('survives a restart, and still ends by itself', async () => {
    const d = await addDevice(t, 'smoke_detector');
    const until = clock.now() + HOUR;
    expect((await t.api('PUT', `/api/v1/devices/${d.id}/test-mode`, { until: new Date(until).toISOString() })).status).toBe(200);
    await d.client.endAsync();
    await t.stop();
    await t.restart();
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBe(until);
    const client = await connectDevice(t, d.id, d.secret);
    const again = { ...d, client };
    await event(again, { type: 'alarm' });
    clock.advance(VERIFY_WINDOW + 1);
    expect((await to(again, property(again)))[0]!.alert.details.testMode).toBe(true);
    expect(await to(again, 'fire-service')).toEqual([]);
    clock.set(until);
    expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.testModeUntil).toBeUndefined();
    await client.endAsync();
  });
});

describe('corroborateWithin: site', () => {
  let site: TestGateway;
  beforeAll(async () => { ({ t: site } = await startAlertGateway({ alerts: { fire: { corroborateWithin: 'site' } } })); });
  afterAll(async () => { await site.dispose(); });

  it('restores site-wide corroboration: detectors in different buildings confirm each other', async () => {
    const a = await addDevice(site, 'smoke_detector', { extra: { building: '1号楼' } });
    const b = await addDevice(site, 'smoke_detector', { siteId: a.siteId, companyId: a.companyId, extra: { building: '2号楼' } });
    await event(a, { type: 'alarm' });
    await event(b, { type: 'alarm' });
    const toFire = (await logged(site, b.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service');
    expect(toFire.map((m) => m.alert.confirmation)).toEqual(['confirmed']);
  });
});
