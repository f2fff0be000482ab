/**
 * Handover of a site (物业交接) and of an elevator's maintenance: the site's devices, its open alerts
 * and their queues move to the new company at the moment it takes over (closed alerts stay with the
 * old one), every period of responsibility is kept, a handover from a later date falls due on the
 * alert clock, and an emergency operator (应急物业) runs a site for at most six months.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, SqliteStore } from '../core/db/sqlite.js';
import { REGISTRY_MIGRATIONS, registryQueries, type RegistryTables } from '../registry/store.js';
import { addMonths, dateIn, startOfDate } from '../core/dates.js';
import type { TestGateway } from './harness/gateway.js';
import { AlertWatcher, NORMAL, account, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;
const tokens: Record<string, string> = {};

/** The installation's default time zone: 2025-06-02T00:00Z (the test clock's start) is 08:00 there. */
const TZ = 'Asia/Shanghai';

async function company(id: string, name: string) {
  expect((await t.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
}

async function site(id: string, companyId: string, street = '南山街道') {
  expect((await t.api('POST', '/api/v1/sites', { id, name: `小区 ${id}`, companyId, street })).status).toBe(201);
}

const alertsOf = async (deviceId: string, token?: string) =>
  (await t.api('GET', `/api/v1/alerts?deviceId=${deviceId}`, undefined, token)).body.items as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
  await company('co-a', '甲物业 A Property');
  await company('co-b', '乙物业 B Property');
  await company('co-e', '应急物业 Emergency Co');
  tokens.a = await account(t, 'prop-a', 'property', 'co-a');
  tokens.b = await account(t, 'prop-b', 'property', 'co-b');
  tokens.street = await account(t, 'street-ns', 'street', '南山街道');
});

afterAll(async () => {
  await watcher?.close();
  await t?.dispose();
});

describe('handover now', () => {
  let lift: TestDevice;
  let smoke: TestDevice;
  let liftAlert: number;
  let smokeAlert: number;
  let handedAt: number;

  beforeAll(async () => {
    await site('site-h', 'co-a');
    lift = await addDevice(t, 'elevator', { companyId: 'co-a', siteId: 'site-h', unitId: 'unit-h' });
    smoke = await addDevice(t, 'smoke_detector', { companyId: 'co-a', siteId: 'site-h' });
    // a closed alert: low battery that ended by itself, before the handover
    await telemetry(smoke, { ...NORMAL.smoke_detector, battery: 12 });
    await telemetry(smoke, { ...NORMAL.smoke_detector, battery: 90 });
    await watcher.waitFor(smoke.id, 'smoke.low_battery', 'closed', ['property/co-a']);
    smokeAlert = (await alertsOf(smoke.id))[0]!.id;
    // an open one on the lift, in the company's and the unit's queues
    await event(lift, { type: 'alarm_button' });
    await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', ['property/co-a', 'maintenance/unit-h']);
    liftAlert = (await alertsOf(lift.id))[0]!.id;
  });

  it('only an admin hands a site over; the site\'s own company may not', async () => {
    for (const token of [tokens.a, tokens.street]) {
      const res = await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b' }, token);
      expect(res.body.error.code).toBe('GW_FORBIDDEN');
    }
    // a company of another site is told the site does not exist
    expect((await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b' }, tokens.b)).body.error.code).toBe('GW_NOT_FOUND');
    // bad handovers change nothing
    expect((await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-none' })).body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'companyId' }] });
    expect((await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-a' })).body.error.code).toBe('GW_CONFLICT');
    expect((await t.api('PATCH', '/api/v1/sites/site-h', { from: '2025-07-01' })).body.error.code).toBe('GW_BAD_REQUEST');
    expect((await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b', from: '2025-13-01' })).body.error.code).toBe('GW_BAD_REQUEST');
    // before the current company took over (the site was created at the test clock's start)
    const early = await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b', from: '2025-06-01' });
    expect(early.body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'from' }] });
    expect((await t.api('GET', '/api/v1/sites/site-h')).body).toMatchObject({ companyId: 'co-a', operator: 'regular' });
    expect(await t.api('GET', '/api/v1/sites/site-h/responsibility').then((r) => r.body)).toHaveLength(1);
  });

  it('moves the devices and the open alert to the new company at once; the closed alert stays with the old one', async () => {
    clock.advance(60_000);
    handedAt = clock.now();
    const res = await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'site-h', companyId: 'co-b', companyName: '乙物业 B Property', operator: 'regular', handover: { applied: true, alertsMoved: 1 } });

    // the old company's queue hears it one last time, the new company's gets it as raised
    const last = (await watcher.waitFor(lift.id, 'elevator.alarm_button', 'updated', ['property/co-a'])).find((m) => m.queue === 'property/co-a');
    expect(last).toMatchObject({ reason: 'handover', alert: { id: liftAlert } });
    const raised = (await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', ['property/co-b'])).find((m) => m.queue === 'property/co-b');
    expect(raised!.alert).toMatchObject({ id: liftAlert, queues: expect.arrayContaining(['property/co-b', 'maintenance/unit-h']) });
    expect(raised!.alert.queues).not.toContain('property/co-a');
    // the unit's queue hears the change, as any other
    expect(watcher.of(lift.id, 'elevator.alarm_button').filter((m) => m.queue === 'maintenance/unit-h').map((m) => [m.event, m.reason ?? null]))
      .toEqual([['raised', null], ['updated', 'handover']]);

    // scopes followed: devices and the open alert are B's; the closed alert remains A's
    const devicesOf = async (token: string | undefined) => ((await t.api('GET', '/api/v1/devices?siteId=site-h', undefined, token)).body as Array<{ id: string }>).map((d) => d.id).sort();
    expect(await devicesOf(tokens.a)).toEqual([]);
    expect(await devicesOf(tokens.b)).toEqual([lift.id, smoke.id].sort());
    expect((await alertsOf(lift.id, tokens.a))).toEqual([]);
    expect((await alertsOf(lift.id, tokens.b)).map((a) => [a.id, a.companyId, a.companyName])).toEqual([[liftAlert, 'co-b', '乙物业 B Property']]);
    expect((await alertsOf(smoke.id, tokens.a)).map((a) => [a.id, a.companyId])).toEqual([[smokeAlert, 'co-a']]);
    expect(await alertsOf(smoke.id, tokens.b)).toEqual([]);
    expect((await t.api('GET', `/api/v1/alerts/${liftAlert}`, undefined, tokens.a)).status).toBe(404);

    // the alert's history says from whom to whom
    const detail = await t.api('GET', `/api/v1/alerts/${liftAlert}`, undefined, tokens.b);
    expect(detail.body.history.at(-1)).toMatchObject({ action: 'reassigned', actor: 'admin', note: 'handover', detail: { from: { companyId: 'co-a' }, to: { companyId: 'co-b' } } });

    // who was responsible when
    const periods = (await t.api('GET', '/api/v1/sites/site-h/responsibility', undefined, tokens.b)).body;
    expect(periods).toEqual([
      { companyId: 'co-a', companyName: '甲物业 A Property', from: expect.any(Number), until: handedAt, emergency: false, actor: 'admin' },
      { companyId: 'co-b', companyName: '乙物业 B Property', from: handedAt, until: null, emergency: false, actor: 'admin' },
    ]);
    const audit = await t.api('GET', '/api/v1/audit?target=site:site-h');
    expect(audit.body.map((e: { action: string }) => e.action)).toContain('site.handover');
  });

  it('after the handover only the new company\'s queue hears the alert\'s changes', async () => {
    expect((await t.api('POST', `/api/v1/alerts/${liftAlert}/acknowledge`, { note: '已接手' }, tokens.b)).status).toBe(200);
    // the acknowledgement reached B's queue: it went to every queue of the alert in the same commit
    await watcher.waitFor(lift.id, 'elevator.alarm_button', 'acknowledged', ['property/co-b', 'maintenance/unit-h']);
    expect(watcher.of(lift.id, 'elevator.alarm_button').filter((m) => m.queue === 'property/co-a').map((m) => m.event)).toEqual(['raised', 'updated']);
    // a change keeps the names and the area the alert opened with: the street still sees it
    const seen = await alertsOf(lift.id, tokens.street);
    expect(seen.map((a) => [a.id, a.state, a.street, a.siteName])).toEqual([[liftAlert, 'acknowledged', '南山街道', '小区 site-h']]);
    expect((await t.api('GET', `/api/v1/alerts/${liftAlert}`, undefined, tokens.street)).status).toBe(200);
  });

  it('an elevator given to another maintenance unit takes its open alerts to the new unit', async () => {
    const oldUnit = await account(t, 'mu-h', 'maintenance', 'unit-h');
    const res = await t.api('PATCH', `/api/v1/devices/${lift.id}`, { maintenanceUnitId: 'unit-h2' }, tokens.b);
    expect(res.status).toBe(200);
    const moved = (await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', ['maintenance/unit-h2'])).find((m) => m.queue === 'maintenance/unit-h2');
    expect(moved!.alert).toMatchObject({ id: liftAlert, state: 'acknowledged', maintenanceUnitId: 'unit-h2' });
    const last = watcher.of(lift.id, 'elevator.alarm_button').filter((m) => m.queue === 'maintenance/unit-h').at(-1)!;
    expect([last.event, last.reason]).toEqual(['updated', 'unit_changed']);
    expect(await alertsOf(lift.id, oldUnit)).toEqual([]);
    const newUnit = await account(t, 'mu-h2', 'maintenance', 'unit-h2');
    expect((await alertsOf(lift.id, newUnit)).map((a) => a.id)).toEqual([liftAlert]);
  });
});

describe('handover from a later date, and emergency operators', () => {
  let lift: TestDevice;

  beforeAll(async () => {
    await site('site-l', 'co-a');
    lift = await addDevice(t, 'elevator', { companyId: 'co-a', siteId: 'site-l', unitId: 'unit-l' });
    await event(lift, { type: 'alarm_button' });
    await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', ['property/co-a']);
  });

  it('an emergency operator runs a site for at most six months', async () => {
    expect(dateIn(clock.now(), TZ)).toBe('2025-06-02');
    expect((await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-e', emergencyUntil: '2025-12-02', from: '2025-07-01' })).body.pendingHandover).toMatchObject({ emergencyUntil: '2025-12-02' });
    // six months from today is 2025-12-02: one day more is refused
    const tooLong = await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-e', emergencyUntil: '2025-12-03' });
    expect(tooLong.body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'emergencyUntil' }] });
    const backwards = await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-e', from: '2025-06-10', emergencyUntil: '2025-06-09' });
    expect(backwards.body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'emergencyUntil' }] });
    expect((await t.api('GET', '/api/v1/sites/site-l')).body).toMatchObject({ companyId: 'co-a' });
  });

  it('is kept on the site, survives a restart, and falls due at midnight of its date in the installation\'s time zone', async () => {
    const res = await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-e', from: '2025-06-05', emergencyUntil: '2025-12-05' });
    expect(res.status).toBe(200);
    const due = startOfDate('2025-06-05', TZ)!;
    expect(due).toBe(Date.parse('2025-06-04T16:00:00Z'));
    expect(res.body).toMatchObject({ companyId: 'co-a', handover: { applied: false }, pendingHandover: { companyId: 'co-e', companyName: '应急物业 Emergency Co', from: due, emergencyUntil: '2025-12-05' } });

    await watcher.close();
    await t.stop();
    await t.restart();
    watcher = await AlertWatcher.start(t, 'watcher-after-restart');
    expect((await t.api('GET', '/api/v1/sites/site-l')).body.pendingHandover).toMatchObject({ companyId: 'co-e', from: due });

    // one second before midnight: still A's (checked when the clock moves, which is when it would apply)
    clock.set(due - 1000);
    expect((await t.api('GET', '/api/v1/sites/site-l')).body).toMatchObject({ companyId: 'co-a', operator: 'regular' });
    expect((await alertsOf(lift.id, tokens.a)).map((a) => a.type)).toContain('elevator.alarm_button');
    clock.set(due);
    expect((await t.api('GET', '/api/v1/sites/site-l')).body).toMatchObject({ companyId: 'co-e', operator: 'emergency', emergencyUntil: '2025-12-05' });
    expect((await t.api('GET', '/api/v1/sites/site-l')).body.pendingHandover).toBeUndefined();
    expect(await alertsOf(lift.id, tokens.a)).toEqual([]);
    await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', ['property/co-e']);
    const periods = (await t.api('GET', '/api/v1/sites/site-l/responsibility')).body;
    expect(periods.at(-1)).toEqual({ companyId: 'co-e', companyName: '应急物业 Emergency Co', from: due, until: null, emergency: true, actor: 'admin' });
    expect(periods.at(-2)).toMatchObject({ companyId: 'co-a', until: due, emergency: false });
  });

  it('a regular company taking over from the emergency operator ends the emergency; a cancelled handover never applies', async () => {
    const taken = await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-b' });
    expect(taken.body).toMatchObject({ companyId: 'co-b', operator: 'regular' });
    expect(taken.body.emergencyUntil).toBeUndefined();

    const later = clock.now() + 3 * 86_400_000;
    const fixed = await t.api('PATCH', '/api/v1/sites/site-l', { companyId: 'co-a', from: new Date(later).toISOString() });
    expect(fixed.body.pendingHandover).toMatchObject({ companyId: 'co-a', from: later });
    expect((await t.api('DELETE', '/api/v1/sites/site-l/handover', undefined, tokens.b)).body.error.code).toBe('GW_FORBIDDEN');
    const cancelled = await t.api('DELETE', '/api/v1/sites/site-l/handover');
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.pendingHandover).toBeUndefined();
    expect((await t.api('DELETE', '/api/v1/sites/site-l/handover')).body.error.code).toBe('GW_NOT_FOUND');
    // when it would have fallen due, nothing happens
    clock.set(later);
    expect((await t.api('GET', '/api/v1/sites/site-l')).body).toMatchObject({ companyId: 'co-b' });
    expect((await alertsOf(lift.id, tokens.b)).filter((a) => a.type === 'elevator.alarm_button').map((a) => a.companyId)).toEqual(['co-b']);
  });
});

describe('the migration', () => {
  it('gives every existing site its company as the one responsible since the site was created', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handover-'));
    const db = openDatabase(dir, 'old.sqlite');
    try {
      const store = new SqliteStore<RegistryTables>(db);
      store.migrate('registry', REGISTRY_MIGRATIONS.slice(0, 3));
      db.exec(`INSERT INTO sites (id, name, company_id, address, created_at) VALUES ('s1', 'S1', 'co-1', NULL, 10), ('s2', 'S2', 'co-2', NULL, 20)`);
      store.migrate('registry', REGISTRY_MIGRATIONS);
      const q = registryQueries(store.q);
      expect(store.all(q.responsibility('s1'))).toEqual([{ site_id: 's1', company_id: 'co-1', from_at: 10, until_at: null, emergency: 0, actor: 'system' }]);
      expect(store.all(q.responsibility('s2'))).toEqual([{ site_id: 's2', company_id: 'co-2', from_at: 20, until_at: null, emergency: 0, actor: 'system' }]);
      expect(store.all(q.sites().orderBy('id'))[0]).toMatchObject({ emergency_until: null, handover_company_id: null, handover_at: null });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('calendar dates', () => {
  it('adds months the way contracts do, and reads dates in the installation\'s zone', () => {
    expect(addMonths('2025-06-05', 6)).toBe('2025-12-05');
    expect(addMonths('2025-08-31', 6)).toBe('2026-02-28');
    expect(addMonths('2027-08-31', 6)).toBe('2028-02-29');
    expect(addMonths('2025-11-30', 2)).toBe('2026-01-30');
    expect(startOfDate('2025-02-30', TZ)).toBeUndefined();
    expect(startOfDate('2025-03-30', 'Europe/Berlin')).toBe(Date.parse('2025-03-29T23:00:00Z'));
    expect(startOfDate('2025-03-31', 'Europe/Berlin')).toBe(Date.parse('2025-03-30T22:00:00Z'));
    expect(dateIn(Date.parse('2025-06-04T16:00:00Z'), TZ)).toBe('2025-06-05');
    expect(dateIn(Date.parse('2025-06-04T15:59:59Z'), TZ)).toBe('2025-06-04');
  });
});
