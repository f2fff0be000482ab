/**
 * Maintenance visits (维保记录) on the real gateway: maintenance accounts sign in and out at their
 * elevators over the API, the elevators publish their mode over MQTT, and each visit is judged on
 * those readings: valid with at least 20 minutes of inspection / maintenance mode, otherwise
 * suspect (疑似虚假维保). Who may start, finish and read visits; a visit left open ended by the
 * gateway after 12 hours; the public notice shows the last valid visit.
 *
 * Readings carry `ts` from the test's manual clock (2025-06-02), which the gateway accepts as a
 * device replaying old readings: the ingest's `maxPastMs` is widened for it, since the pipeline
 * checks `ts` against the real time. The embedded time series stores a reading at its `ts`, and the
 * readings are stored when the device's publish is acknowledged, so a visit finished after that sees them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './harness/gateway.js';
import { publish } from './harness/gateway.js';
import { NORMAL, account, addDevice, startAlertGateway, type ManualClock, type TestDevice } from './harness/alerts.js';
import { modeReadings } from '../supervision/visits/judge.js';
import type { TelemetryQuery, TelemetryRow } from '../ingest/index.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const YEAR = 365 * 24 * HOUR;

let t: TestGateway;
let clock: ManualClock;
const tokens = {} as Record<'muV' | 'muW' | 'propV' | 'propW' | 'ms' | 'fire' | 'street', string>;
const lifts = {} as Record<'valid' | 'inspect' | 'silent' | 'short' | 'auto' | 'w' | 'due', TestDevice>;
const ids = {} as Record<'valid' | 'inspect' | 'silent' | 'short' | 'auto' | 'w' | 'w2' | 'race', number>;

/** Readings of `d` at `base` + minutes, each with the given mode, in one batch. */
async function readings(d: TestDevice, base: number, modes: Array<[minutes: number, mode: string]>): Promise<void> {
  await publish(d.client, `devices/${d.id}/telemetry`, modes.map(([m, mode]) => ({ ...NORMAL.elevator, mode, ts: base + m * MIN })));
}

/** `token` absent: the admin's. */
const start = (deviceId: string, token?: string) => t.api('POST', '/api/v1/maintenance-visits', { deviceId }, token);
const finish = (id: number, token: string, body: unknown = {}) => t.api('POST', `/api/v1/maintenance-visits/${id}/finish`, body, token);
const listIds = async (query: string, token?: string) => {
  const res = await t.api('GET', `/api/v1/maintenance-visits${query}`, undefined, token);
  expect(res.status).toBe(200);
  return (res.body.items as Array<{ id: number }>).map((v) => v.id).sort((a, b) => a - b);
};
const sorted = (...xs: number[]) => [...xs].sort((a, b) => a - b);

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({ ingest: { maxPastMs: 5 * YEAR }, timeseries: { retentionDays: 5 * 365 } }));
  for (const [id, name] of [['co-v', '安居物业'], ['co-w', '宜家物业']]) expect((await t.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
  for (const [id, name] of [['unit-v', '迅达电梯维保'], ['unit-w', '奥的斯电梯维保']]) {
    expect((await t.api('POST', '/api/v1/maintenance-units', { id, name, phone: '400-800-1234' })).status).toBe(201);
  }
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-v', name: '阳光小区', companyId: 'co-v', street: '南山街道' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-w', name: '明月小区', companyId: 'co-w', street: '北岭街道' })).status).toBe(201);
  const onV = { companyId: 'co-v', siteId: 'site-v', unitId: 'unit-v' };
  lifts.valid = await addDevice(t, 'elevator', { id: 'lift-valid', ...onV, extra: { registrationCode: '31104403002025060001', location: '1号楼 A梯' } });
  for (const name of ['inspect', 'silent', 'short', 'auto'] as const) lifts[name] = await addDevice(t, 'elevator', { id: `lift-${name}`, ...onV });
  lifts.w = await addDevice(t, 'elevator', { id: 'lift-w', companyId: 'co-w', siteId: 'site-w', unitId: 'unit-w' });
  tokens.muV = await account(t, 'mu-v', 'maintenance', 'unit-v');
  tokens.muW = await account(t, 'mu-w', 'maintenance', 'unit-w');
  tokens.propV = await account(t, 'prop-v', 'property', 'co-v');
  tokens.propW = await account(t, 'prop-w', 'property', 'co-w');
  tokens.ms = await account(t, 'ms-1', 'market-supervision');
  tokens.fire = await account(t, 'fire-1', 'fire-service');
  tokens.street = await account(t, 'street-ns', 'street', '南山街道');
});

afterAll(async () => {
  for (const d of Object.values(lifts)) await d.client.endAsync();
  await t?.dispose();
});

describe('a visit judged on the elevator\'s telemetry', () => {
  it('25 minutes of maintenance mode in a 40-minute visit: valid, and the public notice shows its date', async () => {
    const t0 = clock.now();
    expect(new Date(t0).toISOString()).toBe('2025-06-02T00:00:00.000Z');
    const started = await start('lift-valid', tokens.muV);
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({
      state: 'open', deviceId: 'lift-valid', location: '1号楼 A梯', registrationCode: '31104403002025060001', siteName: '阳光小区',
      companyName: '安居物业', unitId: 'unit-v', unitName: '迅达电梯维保', startedAt: t0, startedBy: 'mu-v', finishedAt: null, modeMs: null, valid: false, suspect: false,
    });
    ids.valid = started.body.id;
    // by hand: the reading 2 min before the start holds 5 min (maxReadingGap), so 3 min count after the start;
    // 10→15, 15→20, 20→25: 15 min; 25→28: 3 min; 28→32: 4 min (up to the normal reading); total 3 + 15 + 3 + 4 = 25 min
    await readings(lifts.valid, t0, [[-2, 'maintenance'], [8, 'normal'], [10, 'maintenance'], [15, 'maintenance'], [20, 'maintenance'], [25, 'maintenance'], [28, 'maintenance'], [32, 'normal'], [38, 'normal']]);
    clock.advance(40 * MIN);
    const done = await finish(ids.valid, tokens.muV, { items: ['曳引机', '门系统', '安全回路'], note: '例行半月保养' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      id: ids.valid, state: 'finished', finishedAt: t0 + 40 * MIN, finishedBy: 'mu-v', autoFinished: false, items: ['曳引机', '门系统', '安全回路'], note: '例行半月保养',
      modeMs: 25 * MIN, modeMinutes: 25, valid: true, suspect: false,
    });
    expect(t.gw.supervision.visits.lastValidVisitAt('lift-valid')).toBe(t0 + 40 * MIN);
    // 2025-06-02T00:40Z is 08:40 on 2 June in Asia/Shanghai
    const notice = await fetch(`${t.httpUrl}/public/elevators/31104403002025060001`, { headers: { accept: 'application/json' } });
    expect((await notice.json()).lastMaintenanceVisit).toBe('2025-06-02');
    const audit = await t.api('GET', `/api/v1/audit?target=visit:${ids.valid}`);
    expect(audit.body.map((e: { action: string; actor: string }) => [e.action, e.actor]).reverse()).toEqual([['visit.start', 'mu-v'], ['visit.finish', 'mu-v']]);
    // the scorecards' contract: the visit as a fact of its period
    expect(await t.gw.supervision.visits.inPeriod({ from: t0, to: t0 + 1, deviceId: 'lift-valid' })).toEqual([{
      id: ids.valid, deviceId: 'lift-valid', siteId: 'site-v', companyId: 'co-v', unitId: 'unit-v', startedAt: t0, finishedAt: t0 + 40 * MIN, valid: true, suspect: false, modeMs: 25 * MIN,
    }]);
  });

  it('10 minutes of inspection mode in 40 minutes: suspect, and listed as such', async () => {
    const t1 = clock.now();
    ids.inspect = (await start('lift-inspect', tokens.muV)).body.id;
    // by hand: 10→15 (next reading) 5 min, 15→20 (the reading holds at most 5 min; the terminal then fell silent) 5 min: 10 min
    await readings(lifts.inspect, t1, [[0, 'normal'], [10, 'inspection'], [15, 'inspection'], [35, 'normal']]);
    clock.advance(40 * MIN);
    const done = await finish(ids.inspect, tokens.muV);
    expect(done.body).toMatchObject({ state: 'finished', modeMs: 10 * MIN, modeMinutes: 10, valid: false, suspect: true, items: [], note: null });
    expect(t.gw.supervision.visits.lastValidVisitAt('lift-inspect')).toBeUndefined();
    expect(await listIds('?suspect=true&deviceId=lift-inspect')).toEqual([ids.inspect]);
    expect(await listIds('?suspect=true&unitId=unit-v')).toContain(ids.inspect);
    expect(await listIds('?suspect=true&unitId=unit-v')).not.toContain(ids.valid);
    expect(await listIds('?suspect=false&unitId=unit-v')).toEqual([ids.valid]);
  });

  it('no telemetry at all: suspect', async () => {
    ids.silent = (await start('lift-silent', tokens.muV)).body.id;
    clock.advance(40 * MIN);
    expect((await finish(ids.silent, tokens.muV)).body).toMatchObject({ modeMs: 0, modeMinutes: 0, valid: false, suspect: true });
  });

  it('a 15-minute visit is suspect even in maintenance mode the whole time (less than 20 minutes)', async () => {
    const t2 = clock.now();
    ids.short = (await start('lift-short', tokens.muV)).body.id;
    // by hand: 0→5, 5→10, 10→15: 15 min; the reading at the sign-out adds nothing
    await readings(lifts.short, t2, [[0, 'maintenance'], [5, 'maintenance'], [10, 'maintenance'], [15, 'maintenance']]);
    clock.advance(15 * MIN);
    expect((await finish(ids.short, tokens.muV)).body).toMatchObject({ modeMs: 15 * MIN, modeMinutes: 15, valid: false, suspect: true });
  });
});

describe('who may start and finish a visit', () => {
  it('another unit\'s account, a device that is not an elevator and an unknown id: 404 alike; property: 403; bad input: 400', async () => {
    const smoke = await addDevice(t, 'smoke_detector', { companyId: 'co-v', siteId: 'site-v' });
    for (const [deviceId, token] of [['lift-valid', tokens.muW], [smoke.id, tokens.muV], [smoke.id, undefined], ['lift-none', tokens.muV]] as const) {
      const res = await start(deviceId, token);
      expect([res.status, res.body.error.code]).toEqual([404, 'VISIT_NOT_FOUND']);
    }
    await smoke.client.endAsync();
    for (const token of [tokens.propV, tokens.ms, tokens.street]) {
      const res = await start('lift-valid', token);
      expect([res.status, res.body.error.code]).toEqual([403, 'VISIT_FORBIDDEN']);
    }
    expect((await start('bad id', tokens.muV)).body.error.code).toBe('GW_BAD_REQUEST');
    expect((await t.api('POST', '/api/v1/maintenance-visits', {}, tokens.muV)).status).toBe(400);
  });

  it('a second start while one is under way: 409; finish by another unit: 404; finish twice: 409', async () => {
    const first = await start('lift-w', tokens.muW);
    expect(first.status).toBe(201);
    ids.w = first.body.id;
    const again = await start('lift-w', tokens.muW);
    expect([again.status, again.body.error.code, again.body.error.details]).toEqual([409, 'VISIT_ALREADY_OPEN', { visitId: ids.w }]);
    // the admin may start one too, and is refused the same way
    expect((await start('lift-w')).body.error.code).toBe('VISIT_ALREADY_OPEN');
    expect((await finish(ids.w, tokens.muV)).body.error.code).toBe('VISIT_NOT_FOUND');
    expect((await finish(ids.w, tokens.propW)).body.error.code).toBe('VISIT_FORBIDDEN');
    expect((await finish(ids.w, tokens.muW, { items: 'all' })).body.error.code).toBe('GW_BAD_REQUEST');
    clock.advance(30 * MIN);
    expect((await finish(ids.w, tokens.muW)).status).toBe(200);
    const twice = await finish(ids.w, tokens.muW);
    expect([twice.status, twice.body.error.code]).toEqual([409, 'VISIT_ALREADY_FINISHED']);
    // finished, a new visit of the same elevator may start
    const next = await start('lift-w', tokens.muW);
    expect(next.status).toBe(201);
    ids.w2 = next.body.id;
    expect((await finish(ids.w2, tokens.muW)).status).toBe(200);
  });

  it('two starts of one elevator at the same moment: one visit, the other refused', async () => {
    clock.advance(MIN);
    // called in one turn, both read the store before either writes (two HTTP requests seldom interleave so)
    const unit = { id: 'mu-v', role: 'maintenance' as const, scope: 'unit-v' };
    const both = await Promise.allSettled([t.gw.supervision.visits.startVisit(unit, 'lift-silent'), t.gw.supervision.visits.startVisit(unit, 'lift-silent')]);
    expect(both.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    ids.race = (both[0] as PromiseFulfilledResult<{ id: number }>).value.id;
    expect((both[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'VISIT_ALREADY_OPEN', details: { visitId: ids.race } });
    // and two sign-outs at the same moment: one finishes it
    const ends = await Promise.allSettled([t.gw.supervision.visits.finishVisit(unit, ids.race, {}), t.gw.supervision.visits.finishVisit(unit, ids.race, {})]);
    // which of the two wins is the store's to decide (on PostgreSQL the reads interleave); exactly one does
    expect(ends.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((ends.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'VISIT_ALREADY_FINISHED' });
  });
});

describe('a visit nobody finished', () => {
  it('is ended by the gateway exactly 12 hours after it started: never valid, judged on the telemetry up to then', async () => {
    const visits = t.gw.supervision.visits;
    // cluster mode: the node must lead the timers for the check below to mean anything
    await expect.poll(() => visits.leading, { timeout: 15_000 }).toBe(true);
    // a minute after the last visit started, so that the list's order below does not rest on ids
    clock.advance(MIN);
    const ta = clock.now();
    ids.auto = (await start('lift-auto', tokens.muV)).body.id;
    // 30 min of maintenance mode: enough for a valid visit, had anybody signed out
    await readings(lifts.auto, ta, [[0, 'maintenance'], [5, 'maintenance'], [10, 'maintenance'], [15, 'maintenance'], [20, 'maintenance'], [25, 'maintenance'], [30, 'normal']]);
    const due = ta + 12 * HOUR;
    clock.set(due - 1);
    // the run the clock's move started, and one more, are over: the visit is still under way
    await visits.finishDue();
    expect((await t.api('GET', `/api/v1/maintenance-visits/${ids.auto}`, undefined, tokens.muV)).body).toMatchObject({ state: 'open', finishedAt: null });
    clock.set(due);
    await visits.finishDue();
    const ended = await t.api('GET', `/api/v1/maintenance-visits/${ids.auto}`, undefined, tokens.muV);
    expect(ended.body).toMatchObject({ state: 'finished', finishedAt: due, finishedBy: 'system', autoFinished: true, modeMs: 30 * MIN, modeMinutes: 30, valid: false, suspect: true });
    expect(visits.lastValidVisitAt('lift-auto')).toBeUndefined();
    expect((await finish(ids.auto, tokens.muV)).body.error.code).toBe('VISIT_ALREADY_FINISHED');
    const audit = await t.api('GET', `/api/v1/audit?target=visit:${ids.auto}`);
    expect(audit.body[0]).toMatchObject({ action: 'visit.finish', actor: 'system', detail: { auto: true, valid: false } });
  });
});

describe('who reads which visits', () => {
  it('property its company\'s, a unit its own, market supervision and admin all, a street its sites\', the fire service none', async () => {
    const onV = sorted(ids.valid, ids.inspect, ids.silent, ids.short, ids.race, ids.auto);
    const onW = sorted(ids.w, ids.w2);
    expect(await listIds('', tokens.propV)).toEqual(onV);
    expect(await listIds('', tokens.propW)).toEqual(onW);
    expect(await listIds('', tokens.muV)).toEqual(onV);
    expect(await listIds('', tokens.muW)).toEqual(onW);
    expect(await listIds('', tokens.ms)).toEqual(sorted(...onV, ...onW));
    expect(await listIds('')).toEqual(sorted(...onV, ...onW));
    expect(await listIds('', tokens.street)).toEqual(onV);
    // a filter does not widen the scope
    expect(await listIds('?unitId=unit-v', tokens.muW)).toEqual([]);
    expect((await t.api('GET', `/api/v1/maintenance-visits/${ids.valid}`, undefined, tokens.muW)).body.error.code).toBe('VISIT_NOT_FOUND');
    expect((await t.api('GET', `/api/v1/maintenance-visits/${ids.valid}`, undefined, tokens.propW)).body.error.code).toBe('VISIT_NOT_FOUND');
    expect((await t.api('GET', `/api/v1/maintenance-visits/${ids.valid}`, undefined, tokens.ms)).body).toMatchObject({ id: ids.valid, valid: true });
    expect((await t.api('GET', '/api/v1/maintenance-visits', undefined, tokens.fire)).body.error.code).toBe('VISIT_FORBIDDEN');
    expect((await t.api('GET', `/api/v1/maintenance-visits/${ids.valid}`, undefined, tokens.fire)).body.error.code).toBe('VISIT_FORBIDDEN');
  });

  it('newest first, in pages; a period in the installation\'s dates; a bad date is refused with its field', async () => {
    const first = await t.api('GET', '/api/v1/maintenance-visits?limit=2', undefined, tokens.ms);
    // the last two started: the auto-finished visit, then the one of the two simultaneous starts
    expect(first.body.items.map((v: { id: number }) => v.id)).toEqual([ids.auto, ids.race]);
    expect(first.body.nextBefore).toBe(ids.race);
    const rest = await t.api('GET', `/api/v1/maintenance-visits?limit=100&before=${first.body.nextBefore}`, undefined, tokens.ms);
    expect(rest.body.items.map((v: { id: number }) => v.id)).toEqual([ids.w2, ids.w, ids.short, ids.silent, ids.inspect, ids.valid]);
    expect(rest.body.nextBefore).toBeUndefined();
    // every visit here started on 2 June in Asia/Shanghai (the clock started at 08:00 there and moved about 3 hours)
    expect(await listIds('?from=2025-06-02&to=2025-06-02')).toEqual(sorted(ids.valid, ids.inspect, ids.silent, ids.short, ids.w, ids.w2, ids.race, ids.auto));
    expect(await listIds('?from=2025-06-01&to=2025-06-01')).toEqual([]);
    expect(await listIds('?to=2025-06-02T00:00:00Z')).toEqual([]);
    expect(await listIds('?from=2025-06-02T00:00:00Z&to=2025-06-02T00:00:00.001Z')).toEqual([ids.valid]);
    for (const [query, path] of [['from=yesterday', 'from'], ['from=2025-02-30', 'from'], ['to=2025-06-02T08:00', 'to'], ['from=2025-06-03&to=2025-06-02', 'to']]) {
      const res = await t.api('GET', `/api/v1/maintenance-visits?${query}`);
      expect([res.status, res.body.error.code, res.body.error.details]).toEqual([400, 'VISIT_BAD_QUERY', [{ path, message: expect.any(String) }]]);
    }
  });
});

describe('the 15-day maintenance check counts valid visits', () => {
  it('a maintenance_overdue alert open for an elevator ends when a valid visit is finished', async () => {
    const lift = await addDevice(t, 'elevator', { id: 'lift-due', companyId: 'co-v', siteId: 'site-v', unitId: 'unit-v' });
    lifts.due = lift;
    await readings(lift, clock.now(), [[0, 'normal']]);
    const overdue = async () => (await t.api('GET', '/api/v1/alerts?deviceId=lift-due&type=elevator.maintenance_overdue')).body.items as Array<{ id: number; state: string }>;
    // registered now and never visited: 15 days are counted from registration
    clock.advance(16 * 24 * HOUR);
    t.gw.alerts.runSchedules();
    const [open] = await overdue();
    expect(open).toMatchObject({ state: 'open' });

    const tv = clock.now();
    const id = (await start('lift-due', tokens.muV)).body.id as number;
    // by hand: 0→5, 5→10, 10→15, 15→20, 20→25 in maintenance mode: 25 min
    await readings(lift, tv, [[0, 'maintenance'], [5, 'maintenance'], [10, 'maintenance'], [15, 'maintenance'], [20, 'maintenance'], [25, 'normal']]);
    clock.advance(30 * MIN);
    expect((await finish(id, tokens.muV)).body).toMatchObject({ valid: true, modeMinutes: 25 });
    // the check ran again when the visit was stored, not at the next daily run
    expect((await overdue()).map((a) => [a.id, a.state])).toEqual([[open!.id, 'cleared']]);
  });
});

describe('reading a long visit\'s telemetry', () => {
  it('reads every reading in pages of 10,000, also when a page ends inside one instant', async () => {
    // 9,998 readings a second apart, 5 in the same millisecond across the first page's end, 15,000 more
    const rows: TelemetryRow[] = [];
    for (let i = 0; i < 9_998; i++) rows.push({ ts: i * 1000, mode: 'normal' });
    for (let i = 0; i < 5; i++) rows.push({ ts: 9_998_000, mode: i === 4 ? 'maintenance' : 'normal' });
    for (let i = 0; i < 15_000; i++) rows.push({ ts: 9_999_000 + i * 1000, mode: 'inspection' });
    const calls: Array<[number, number]> = [];
    const telemetry = {
      async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
        const page = rows.filter((r) => r.ts >= q.from && r.ts <= q.to).slice(0, q.limit);
        calls.push([q.from, page.length]);
        return page;
      },
    };
    const got = await modeReadings(telemetry, 'lift-x', 0, Infinity);
    expect(got).toEqual(rows.map((r) => ({ ts: r.ts, mode: r.mode })));
    // by hand: page 1 ends inside the instant 9,998,000 (9,998 + 2 of its 5), so page 2 starts there: its 5, then
    // 9,995 inspection readings up to 9,999,000 + 9,994 s = 19,993,000; page 3 reads that one again and the
    // 15,000 − 9,995 = 5,005 after it
    expect(calls).toEqual([[0, 10_000], [9_998_000, 10_000], [19_993_000, 5_006]]);
  });
});
