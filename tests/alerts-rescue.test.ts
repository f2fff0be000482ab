/**
 * Trapped-passenger rescue supervision and the elevator checks around it (SPEC 10, DOMAIN.md
 * "Elevators" and "Supervision"): the arrival deadline by the site's area and its escalation, the
 * `arrive` action and who may take it, each party's own acknowledgement, inspection mode left on too
 * long, maintenance overdue read from the maintenance record, and the alert list's filters.
 *
 * "Not yet" checks are made with the manual clock standing at the moment in question and read from
 * the durable queue log (harness/queue-log.ts): `advance()` runs every due timer before it returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NORMAL, account, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';
import type { LedgerTables } from '../alerts/ledger.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const STREET = '南山街道';

let t: TestGateway;
let clock: ManualClock;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
});
afterAll(async () => {
  await t.dispose();
});

type AlertBody = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let sites = 0;
/** An elevator on a site of its own in STREET, urban or rural. */
async function lift(area: 'urban' | 'rural'): Promise<TestDevice> {
  const n = ++sites;
  const siteId = `rescue-site-${n}`, companyId = `rescue-co-${n}`;
  const created = await t.api('POST', '/api/v1/sites', { id: siteId, name: `小区 ${siteId}`, companyId, street: STREET, area });
  expect(created.status).toBe(201);
  return addDevice(t, 'elevator', { siteId, companyId, unitId: `rescue-unit-${n}` });
}

/** A trapped-passenger alert on the elevator, raised by its own fault event; the ledger holds it once the publish resolves. */
async function trapped(d: TestDevice): Promise<AlertBody> {
  await event(d, { type: 'fault', fault: 'trapped', levelled: true });
  return only(d, 'elevator.trapped');
}

async function only(d: TestDevice, type: string): Promise<AlertBody> {
  const res = await t.api('GET', `/api/v1/alerts?deviceId=${d.id}&type=${type}`);
  expect(res.status).toBe(200);
  expect(res.body.items).toHaveLength(1);
  return res.body.items[0] as AlertBody;
}

const act = (id: number, action: string, token?: string) => t.api('POST', `/api/v1/alerts/${id}/${action}`, { note: 'test' }, token);
const reasons = async (d: TestDevice, type: string, reason: string) => (await logged(t, d.id, type)).filter((m) => m.reason === reason);

/** The maintenance record supervision keeps, as the rules read it: the end of each elevator's last valid visit. */
const visits = new Map<string, number>();

describe('rescue arrival deadline', () => {
  it('a trapped-passenger alert must be reached within 30 min on an urban site and 60 min on a rural one', async () => {
    const urban = await lift('urban');
    const rural = await lift('rural');
    const a = await trapped(urban);
    const b = await trapped(rural);
    expect(a.deadlines.arrive - a.openedAt).toBe(30 * MIN);
    expect(b.deadlines.arrive - b.openedAt).toBe(60 * MIN);
    expect([a.arrivedAt, a.arrivedBy, b.arrivedAt]).toEqual([null, null, null]);
    // other alert types have no arrival deadline
    await event(urban, { type: 'alarm_button' });
    expect((await only(urban, 'elevator.alarm_button')).deadlines.arrive).toBeNull();
    for (const d of [urban, rural]) await d.client.endAsync();
  });

  it('the maintenance unit arriving before the deadline records the arrival, its acknowledgement, and no escalation at the deadline', async () => {
    const d = await lift('urban');
    const maint = await account(t, `maint-${d.unitId}`, 'maintenance', d.unitId);
    const a = await trapped(d);
    expect((await t.api('GET', `/api/v1/alerts/${a.id}`, undefined, maint)).body.allowedActions).toContain('arrive');

    clock.advance(12 * MIN);
    const arrivedAt = clock.now();
    const res = await act(a.id, 'arrive', maint);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      state: 'acknowledged', arrivedAt, arrivedBy: { role: 'maintenance', actor: `maint-${d.unitId}` },
      unitAcknowledgedAt: arrivedAt, acknowledgements: [{ role: 'maintenance', actor: `maint-${d.unitId}`, at: arrivedAt }],
    });
    expect(res.body.history.at(-1)).toMatchObject({ action: 'arrived', actor: `maint-${d.unitId}` });
    expect(res.body.allowedActions).not.toContain('arrive');
    const heard = await reasons(d, 'elevator.trapped', 'arrived');
    expect(heard.map((m) => [m.queue, m.event]).sort()).toEqual(
      [['maintenance/' + d.unitId, 'updated'], ['market-supervision', 'updated'], [`property/${d.companyId}`, 'updated']]);
    // the arrival is recorded once
    const again = await act(a.id, 'arrive', maint);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ALERT_INVALID_TRANSITION');

    // the clock at exactly the deadline: every timer due by then has run
    clock.advance(a.deadlines.arrive - clock.now());
    expect(clock.now()).toBe(a.deadlines.arrive);
    expect(await reasons(d, 'elevator.trapped', 'arrive_overdue')).toEqual([]);
    // the resolve deadline (also 30 min) did pass: the timers ran, and only the met one stayed quiet
    expect((await reasons(d, 'elevator.trapped', 'resolve_overdue')).length).toBeGreaterThan(0);
    await d.client.endAsync();
  });

  it('without an arrival, market supervision hears `escalated` at the deadline and not 1 ms before', async () => {
    const d = await lift('rural');
    const a = await trapped(d);
    clock.advance(a.deadlines.arrive - 1 - clock.now());
    expect(await reasons(d, 'elevator.trapped', 'arrive_overdue')).toEqual([]);
    clock.advance(1);
    const esc = await reasons(d, 'elevator.trapped', 'arrive_overdue');
    expect(esc.map((m) => [m.queue, m.event]).sort()).toEqual(
      [['maintenance/' + d.unitId, 'escalated'], ['market-supervision', 'escalated'], [`property/${d.companyId}`, 'escalated']]);
    const full = (await t.api('GET', `/api/v1/alerts/${a.id}`)).body as AlertBody;
    expect(full.escalations.filter((e: { kind: string }) => e.kind === 'arrive_overdue'))
      .toEqual([{ kind: 'arrive_overdue', at: a.deadlines.arrive, queues: ['market-supervision'] }]);
    // once: arriving late later changes nothing about it
    expect((await act(a.id, 'arrive')).status).toBe(200);
    clock.advance(HOUR);
    expect(await reasons(d, 'elevator.trapped', 'arrive_overdue')).toHaveLength(3);
    await d.client.endAsync();
  });

  it('who may record an arrival: a street account 403, another unit\'s account 404, a non-trapped alert 409', async () => {
    const d = await lift('urban');
    const street = await account(t, `street-${d.id}`, 'street', STREET);
    const otherUnit = await account(t, `maint-other-${d.id}`, 'maintenance', 'unit-nobody');
    const property = await account(t, `prop-${d.companyId}`, 'property', d.companyId);
    const a = await trapped(d);
    expect((await t.api('GET', `/api/v1/alerts/${a.id}`, undefined, street)).body.allowedActions).toEqual([]);
    const byStreet = await act(a.id, 'arrive', street);
    expect(byStreet.status).toBe(403);
    expect(byStreet.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
    const byOther = await act(a.id, 'arrive', otherUnit);
    expect(byOther.status).toBe(404);
    expect(byOther.body.error.code).toBe('ALERT_NOT_FOUND');

    await event(d, { type: 'alarm_button' });
    const button = await only(d, 'elevator.alarm_button');
    expect(button.allowedActions).not.toContain('arrive');
    const wrongType = await act(button.id, 'arrive', property);
    expect(wrongType.status).toBe(409);
    expect(wrongType.body.error.code).toBe('ALERT_INVALID_TRANSITION');
    expect(wrongType.body.error.message).toMatch(/^告警 \d+ 不能「到场」：仅限电梯困人告警 \/ /);

    // the property company seeing the unit arrive may record it
    expect((await act(a.id, 'arrive', property)).body.arrivedBy).toEqual({ role: 'property', actor: `prop-${d.companyId}` });
    await d.client.endAsync();
  });
});

describe('alerts stored before rescue supervision', () => {
  it('read without an arrival deadline (never escalated for it), and take acknowledgements and an arrival as new ones do', async () => {
    const d = await lift('urban');
    const a = await trapped(d);
    // the document as it was stored before these fields existed
    const store = t.gw.database.store<LedgerTables>();
    const row = await store.get(store.q.selectFrom('alerts').select('doc').where('id', '=', a.id));
    const { acknowledgements: _k, unitAcknowledgedAt: _u, arrivedAt: _a, arrivedBy: _b, ...old } = JSON.parse(row!.doc) as AlertBody;
    const { arrive: _d, ...deadlines } = old.deadlines as Record<string, unknown>;
    store.write(store.q.updateTable('alerts').set({ doc: JSON.stringify({ ...old, deadlines }) }).where('id', '=', a.id));
    await store.durable();
    await t.stop();
    await t.restart();

    const read = (await t.api('GET', `/api/v1/alerts/${a.id}`)).body as AlertBody;
    expect(read).toMatchObject({ deadlines: { arrive: null }, acknowledgements: [], unitAcknowledgedAt: null, arrivedAt: null, arrivedBy: null });
    clock.advance(2 * HOUR);
    expect(await reasons(d, 'elevator.trapped', 'arrive_overdue')).toEqual([]);
    const maint = await account(t, `maint-old-${d.unitId}`, 'maintenance', d.unitId);
    expect((await act(a.id, 'acknowledge', maint)).body.unitAcknowledgedAt).toBe(clock.now());
    expect((await act(a.id, 'arrive', maint)).body.arrivedAt).toBe(clock.now());
    await d.client.endAsync();
  });
});

describe('each party acknowledges for itself', () => {
  it('the property company, then the maintenance unit: both recorded, the unit\'s time is its own; the same party twice is 409', async () => {
    const d = await lift('urban');
    const property = await account(t, `prop-ack-${d.companyId}`, 'property', d.companyId);
    const maint = await account(t, `maint-ack-${d.unitId}`, 'maintenance', d.unitId);
    const a = await trapped(d);

    clock.advance(MIN);
    const propertyAt = clock.now();
    const first = await act(a.id, 'acknowledge', property);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ state: 'acknowledged', acknowledgedAt: propertyAt, unitAcknowledgedAt: null });
    expect(first.body.allowedActions).not.toContain('acknowledge');
    expect((await t.api('GET', `/api/v1/alerts/${a.id}`, undefined, maint)).body.allowedActions).toContain('acknowledge');

    clock.advance(MIN);
    const unitAt = clock.now();
    const second = await act(a.id, 'acknowledge', maint);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body).toMatchObject({ state: 'acknowledged', acknowledgedAt: propertyAt, unitAcknowledgedAt: unitAt });
    expect(second.body.acknowledgements).toEqual([
      { role: 'property', actor: `prop-ack-${d.companyId}`, at: propertyAt },
      { role: 'maintenance', actor: `maint-ack-${d.unitId}`, at: unitAt },
    ]);
    const heard = (await logged(t, d.id, 'elevator.trapped')).filter((m) => m.queue === `maintenance/${d.unitId}`).map((m) => m.event);
    expect(heard).toEqual(['raised', 'acknowledged', 'acknowledged']);

    const twice = await act(a.id, 'acknowledge', maint);
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('ALERT_INVALID_TRANSITION');
    expect(twice.body.error.message).toMatch(/^告警 \d+ 不能「确认」：维保单位已确认过该告警 \/ .*the maintenance unit has acknowledged it already/);
    expect(twice.body.error.details).toMatchObject({ role: 'maintenance' });
    // dispatching does not take the acknowledgement away from the parties that have not given one
    expect((await act(a.id, 'dispatch', property)).status).toBe(200);
    const admin = await act(a.id, 'acknowledge');
    expect(admin.status).toBe(200);
    expect(admin.body.state).toBe('dispatched');
    await d.client.endAsync();
  });
});

describe('inspection mode left on', () => {
  it('raised exactly 4 h after the car entered inspection mode, not suppressed by it, escalated at its resolve deadline, ended by normal mode', async () => {
    const d = await addDevice(t, 'elevator');
    await telemetry(d, NORMAL.elevator!);
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection' });
    // switching between the two service modes does not restart the count
    clock.advance(HOUR);
    await telemetry(d, { ...NORMAL.elevator, mode: 'maintenance' });
    clock.advance(3 * HOUR - 1);
    expect(await logged(t, d.id, 'elevator.inspection_mode_long')).toEqual([]);
    clock.advance(1);
    const raised = await logged(t, d.id, 'elevator.inspection_mode_long');
    expect(raised.map((m) => [m.queue, m.event]).sort()).toEqual([[`maintenance/${d.unitId}`, 'raised'], [`property/${d.companyId}`, 'raised']]);
    expect(raised[0]!.alert).toMatchObject({ suppressed: false, severity: 'major' });
    expect(raised[0]!.alert.details).toMatchObject({ mode: 'maintenance', since: clock.now() - 4 * HOUR, maxDurationMs: 4 * HOUR });

    clock.advance(2 * HOUR);
    const esc = await reasons(d, 'elevator.inspection_mode_long', 'resolve_overdue');
    expect(esc.find((m) => m.queue === 'market-supervision')?.event).toBe('escalated');

    await telemetry(d, NORMAL.elevator!);
    const ended = (await logged(t, d.id, 'elevator.inspection_mode_long')).filter((m) => m.reason === 'condition_ended');
    expect(ended.map((m) => m.queue).sort()).toEqual([`maintenance/${d.unitId}`, 'market-supervision', `property/${d.companyId}`]);
    expect(ended[0]!.alert.state).toBe('cleared');
    await d.client.endAsync();
  });

  it('follows the configured duration, per device too', async () => {
    const short = await startAlertGateway({ alerts: { rules: { devices: { 'lift-short': { inspectionModeMaxDuration: '30m' } } } } });
    try {
      const d = await addDevice(short.t, 'elevator', { id: 'lift-short' });
      await telemetry(d, { ...NORMAL.elevator, mode: 'inspection' });
      short.clock.advance(30 * MIN - 1);
      expect(await logged(short.t, d.id, 'elevator.inspection_mode_long')).toEqual([]);
      short.clock.advance(1);
      expect((await logged(short.t, d.id, 'elevator.inspection_mode_long')).map((m) => m.event)).toEqual(['raised', 'raised']);
      await d.client.endAsync();
    } finally {
      await short.t.dispose();
    }
  });
});

describe('maintenance overdue reads the maintenance record', () => {
  it('a valid visit 10 days ago keeps it quiet; none, or one 16 days ago, raises it; a new valid visit clears it', async () => {
    t.gw.alerts.useMaintenanceRecord({ lastValidVisitAt: (deviceId) => visits.get(deviceId) });
    const recent = await addDevice(t, 'elevator');
    const never = await addDevice(t, 'elevator');
    const old = await addDevice(t, 'elevator');
    for (const d of [recent, never, old]) await telemetry(d, NORMAL.elevator!);
    clock.advance(16 * DAY + HOUR);
    visits.set(recent.id, clock.now() - 10 * DAY);
    visits.set(old.id, clock.now() - 16 * DAY);
    // entering maintenance mode is not a visit: only the record counts
    await telemetry(never, { ...NORMAL.elevator, mode: 'maintenance' });
    await telemetry(never, NORMAL.elevator!);
    t.gw.alerts.runSchedules();

    expect(await logged(t, recent.id, 'elevator.maintenance_overdue')).toEqual([]);
    for (const d of [never, old]) {
      const raised = await logged(t, d.id, 'elevator.maintenance_overdue');
      expect(raised.map((m) => m.queue).sort(), d.id).toEqual(['maintenance/' + d.unitId, 'market-supervision', `property/${d.companyId}`]);
    }
    expect((await only(old, 'elevator.maintenance_overdue')).details.lastVisitAt).toBe(visits.get(old.id));
    expect((await only(never, 'elevator.maintenance_overdue')).details.lastVisitAt).toBeNull();

    // the record shows a new valid visit: supervision tells the alerts, which check that elevator again now
    visits.set(old.id, clock.now());
    t.gw.alerts.maintenanceVisited(old.id);
    const closed = (await logged(t, old.id, 'elevator.maintenance_overdue')).filter((m) => m.event === 'closed');
    expect(closed.map((m) => m.queue).sort()).toEqual(['maintenance/' + old.unitId, 'market-supervision', `property/${old.companyId}`]);
    expect(closed[0]!.alert.state).toBe('cleared');
    expect((await logged(t, never.id, 'elevator.maintenance_overdue')).map((m) => m.event)).toEqual(['raised', 'raised', 'raised']);
    for (const d of [recent, never, old]) await d.client.endAsync();
  });
});

describe('alert list filters (the scorecards link to them)', () => {
  it('opened in [from, to), by company and maintenance unit; a time that does not parse is 400 with its field', async () => {
    const d = await lift('urban');
    const from = clock.now();
    const a = await trapped(d);
    clock.advance(MIN);
    const list = async (q: string) => {
      const res = await t.api('GET', `/api/v1/alerts?${q}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return (res.body.items as AlertBody[]).map((x) => x.id);
    };
    expect(await list(`from=${from}&to=${from + 1}&companyId=${d.companyId}`)).toEqual([a.id]);
    expect(await list(`from=${new Date(from).toISOString()}&maintenanceUnitId=${d.unitId}`)).toEqual([a.id]);
    // `to` is exclusive; `from` inclusive
    expect(await list(`to=${from}&companyId=${d.companyId}`)).toEqual([]);
    expect(await list(`from=${from + 1}&maintenanceUnitId=${d.unitId}`)).toEqual([]);
    expect(await list(`companyId=nobody&maintenanceUnitId=${d.unitId}`)).toEqual([]);
    // the caller's scope still applies
    const other = await account(t, `prop-filter-${d.id}`, 'property', 'someone-else');
    const theirs = await t.api('GET', `/api/v1/alerts?companyId=${d.companyId}`, undefined, other);
    expect(theirs.body.items).toEqual([]);

    const bad = await t.api('GET', '/api/v1/alerts?from=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('GW_BAD_REQUEST');
    expect(bad.body.error.details.map((x: { path: string }) => x.path)).toEqual(['querystring.from']);
    expect((await t.api('GET', '/api/v1/alerts?to=2026-11-01')).body.error.details[0].path).toBe('querystring.to');
    await d.client.endAsync();
  });
});
