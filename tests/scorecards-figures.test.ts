/**
 * The scorecard figures as pure functions over hand-made facts (supervision/scorecards/figures.ts):
 * every expected number is worked out by hand in the comment next to it, from the definitions in
 * docs/supervision-scorecards.md. No gateway, no store.
 */
import { describe, expect, it } from 'vitest';
import type { AlertFact } from '../alerts/index.js';
import type { OrderFact, VisitFact } from '../supervision/facts.js';
import {
  companyFigures, companyScoreParts, maintainedOnTime, rank, score, unitFigures, unitScoreParts, type ElevatorRef, type Named,
} from '../supervision/scorecards/figures.js';
import { parsePeriod, periodOf } from '../supervision/scorecards/period.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TZ = 'Asia/Shanghai';

// November 2026 in Shanghai: 1 Nov 00:00 +08:00 to 1 Dec 00:00 +08:00
const T0 = Date.UTC(2026, 9, 31, 16);
const END = Date.UTC(2026, 10, 30, 16);
const period = { from: T0, to: END };
/** A day after the period: everything in it is judged. */
const AFTER = END + DAY;

let ids = 0;
function alert(f: Partial<AlertFact> & Pick<AlertFact, 'type' | 'openedAt'>): AlertFact {
  return {
    id: ++ids, domain: f.type.startsWith('fire') ? 'fire' : 'elevator', deviceId: 'e1', deviceKind: 'elevator', siteId: 's1', companyId: 'c1', maintenanceUnitId: 'u1',
    state: 'closed', suppressed: false, acknowledgedAt: null, unitAcknowledgedAt: null, arrivedAt: null, arriveBy: null, resolveBy: null, resolvedAt: null,
    closedAt: null, clearedAt: null, confirmation: null, dismissed: false, ...f,
  };
}

function visit(deviceId: string, unitId: string, finishedAt: number, valid: boolean): VisitFact {
  return { id: ++ids, deviceId, siteId: 's1', companyId: 'c1', unitId, startedAt: finishedAt - HOUR, finishedAt, valid, suspect: !valid, modeMs: valid ? 40 * MIN : 0 };
}

describe('periods', () => {
  it('a month and a quarter are midnight to midnight in the time zone', () => {
    expect(periodOf('2026-11', TZ, 0)).toEqual({ id: '2026-11', kind: 'month', from: T0, to: END, complete: false });
    // Q4: 1 Oct 00:00 +08:00 to 1 Jan 2027 00:00 +08:00
    expect(periodOf('2026-Q4', TZ, Date.UTC(2027, 0, 5))).toEqual({ id: '2026-Q4', kind: 'quarter', from: Date.UTC(2026, 8, 30, 16), to: Date.UTC(2026, 11, 31, 16), complete: true });
    // 2026-Q1 in UTC: 1 Jan to 1 Apr
    expect(periodOf('2026-Q1', 'UTC', 0)).toMatchObject({ from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 3, 1) });
    // complete exactly at its end
    expect(periodOf('2026-11', TZ, END)!.complete).toBe(true);
    expect(periodOf('2026-11', TZ, END - 1)!.complete).toBe(false);
  });

  it('anything else is refused with the path period', () => {
    for (const bad of ['2026-13', '2026-00', '2026-Q5', '2026-Q0', '2026-1', '26-11', '2026-11-01', '2026Q4', 'Q4', '']) {
      expect(periodOf(bad, TZ, 0), bad).toBeUndefined();
    }
    expect(() => parsePeriod('2026-13', TZ, 0)).toThrowError(expect.objectContaining({ code: 'GW_BAD_REQUEST', details: [expect.objectContaining({ path: 'period' })] }));
    expect(() => parsePeriod(undefined, TZ, 0)).toThrowError(expect.objectContaining({ code: 'GW_BAD_REQUEST' }));
  });
});

describe('maintenance on time (15 days)', () => {
  const I = 15 * DAY;
  it('judges the gaps between valid visits, the last one before the period included', () => {
    // visits 5 days before, then day 8 and day 22; gaps 13, 14 and 8 days to the end: on time
    expect(maintainedOnTime([T0 - 5 * DAY, T0 + 8 * DAY, T0 + 22 * DAY], 0, period, AFTER, I)).toBe(true);
    // 2 days before, then day 20: a gap of 22 days
    expect(maintainedOnTime([T0 - 2 * DAY, T0 + 20 * DAY], 0, period, AFTER, I)).toBe(false);
    // no visit at all since registration long ago
    expect(maintainedOnTime([], 0, period, AFTER, I)).toBe(false);
    // day 10 last: 20 days to the end of the period
    expect(maintainedOnTime([T0 - 1 * DAY, T0 + 10 * DAY], 0, period, AFTER, I)).toBe(false);
    // the same, judged on day 20 (the period not over): 10 days so far
    expect(maintainedOnTime([T0 - 1 * DAY, T0 + 10 * DAY], 0, period, T0 + 20 * DAY, I)).toBe(true);
  });

  it('starts counting at registration for a new elevator', () => {
    // registered on day 20, no visit yet: 10 days to the end, within 15
    expect(maintainedOnTime([], T0 + 20 * DAY, period, AFTER, I)).toBe(true);
    // registered on day 5, no visit: 25 days
    expect(maintainedOnTime([], T0 + 5 * DAY, period, AFTER, I)).toBe(false);
    // registered after the period: nothing to judge
    expect(maintainedOnTime([], END + HOUR, period, AFTER, I)).toBeUndefined();
  });
});

// ---- maintenance units ----

const units: Named[] = [{ id: 'u1', name: '安达电梯' }, { id: 'u2', name: '博远维保' }];
const elevators: ElevatorRef[] = [
  { id: 'e1', siteId: 's1', maintenanceUnitId: 'u1', createdAt: 0, inspectionDueEnd: END + 15 * DAY },
  { id: 'e2', siteId: 's1', maintenanceUnitId: 'u1', createdAt: 0, inspectionDueEnd: T0 + 10 * DAY },
  { id: 'e3', siteId: 's2', maintenanceUnitId: 'u2', createdAt: T0 + 20 * DAY, inspectionDueEnd: END + 90 * DAY },
];
const d = (n: number) => T0 + n * DAY;
const unitAlerts: AlertFact[] = [
  // a1: unit acknowledged at 2 min (responded), arrived at 20 of 30 min (in time), resolved at 50 min
  alert({ type: 'elevator.trapped', openedAt: d(1), unitAcknowledgedAt: d(1) + 2 * MIN, arriveBy: d(1) + 30 * MIN, arrivedAt: d(1) + 20 * MIN, resolvedAt: d(1) + 50 * MIN }),
  // a2: the property company acknowledged at 1 min (does not count), the unit at 4 min (late); arrived at 40 of 30 min (late); cleared by itself at 45 min
  alert({
    type: 'elevator.trapped', openedAt: d(2), acknowledgedAt: d(2) + MIN, unitAcknowledgedAt: d(2) + 4 * MIN, arriveBy: d(2) + 30 * MIN, arrivedAt: d(2) + 40 * MIN,
    state: 'cleared', clearedAt: d(2) + 45 * MIN,
  }),
  // a3: never acknowledged by the unit, stored without an arrival deadline (not judged for arrival), resolved at 90 min
  alert({ type: 'elevator.trapped', openedAt: d(3), resolvedAt: d(3) + 90 * MIN }),
  // suppressed (raised in inspection mode): counts nowhere
  alert({ type: 'elevator.trapped', openedAt: d(4), suppressed: true, unitAcknowledgedAt: d(4) + MIN }),
  // faults: two of u1; a suppressed one, the alarm button and offline are not faults
  alert({ type: 'elevator.door_open_fault', openedAt: d(5) }),
  alert({ type: 'elevator.overspeed', openedAt: d(6), deviceId: 'e2' }),
  alert({ type: 'elevator.overspeed', openedAt: d(7), suppressed: true }),
  alert({ type: 'elevator.alarm_button', openedAt: d(8) }),
  alert({ type: 'device.offline', openedAt: d(9) }),
  // u2: one fault; an overdue inspection raised for e3 although its registry date is later
  alert({ type: 'elevator.power_lost', openedAt: d(10), deviceId: 'e3', maintenanceUnitId: 'u2' }),
  alert({ type: 'elevator.inspection_overdue', openedAt: d(11), deviceId: 'e3', maintenanceUnitId: 'u2' }),
];
const unitVisits: VisitFact[] = [
  // e1: 5 days before the period (not counted as a visit of the period), days 8 and 22: on time
  visit('e1', 'u1', d(-5), true), visit('e1', 'u1', d(8), true), visit('e1', 'u1', d(22), true),
  // e2: 2 days before, then a suspect visit on day 10 (does not count) and a valid one on day 20: a 22-day gap
  visit('e2', 'u1', d(-2), true), visit('e2', 'u1', d(10), false), visit('e2', 'u1', d(20), true),
];

describe('maintenance unit figures', () => {
  const [u1, u2] = unitFigures({ period, now: AFTER, responseWithinMs: 3 * MIN, maintenanceIntervalMs: 15 * DAY, units, elevators, alerts: unitAlerts, visits: unitVisits });

  it('rescue: response, arrival and their averages', () => {
    // a1 of a1, a2, a3
    expect(u1!.response).toEqual({ count: 1, of: 3, rate: 1 / 3 });
    // a1 of a1, a2 (a3 has no deadline)
    expect(u1!.arrival).toEqual({ count: 1, of: 2, rate: 0.5 });
    // (20 + 40) / 2 = 30 min
    expect(u1!.averageArrival).toEqual({ ms: 30 * MIN, of: 2 });
    // (50 + 45 + 90) / 3 = 61.67 min = 3,700,000 ms
    expect(u1!.averageRescue).toEqual({ ms: 3_700_000, of: 3 });
    // u2 had no trapped passengers: nothing to judge
    expect(u2!.response).toEqual({ count: 0, of: 0, rate: null });
    expect(u2!.averageArrival).toEqual({ ms: null, of: 0 });
  });

  it('per elevator: faults and trapped incidents', () => {
    expect(u1!.elevators).toBe(2);
    // door open fault + overspeed over 2 elevators
    expect(u1!.faultsPerElevator).toEqual({ count: 2, of: 2, rate: 1 });
    // a1, a2, a3 over 2 elevators
    expect(u1!.trappedPerElevator).toEqual({ count: 3, of: 2, rate: 1.5 });
    expect(u2!.faultsPerElevator).toEqual({ count: 1, of: 1, rate: 1 });
    expect(u2!.trappedPerElevator).toEqual({ count: 0, of: 1, rate: 0 });
  });

  it('maintenance, visits and inspections', () => {
    // e1 on time, e2 not
    expect(u1!.maintenanceOnTime).toEqual({ count: 1, of: 2, rate: 0.5 });
    // e3 registered on day 20, 10 days to the end
    expect(u2!.maintenanceOnTime).toEqual({ count: 1, of: 1, rate: 1 });
    // in the period: e1 days 8, 22 and e2 day 20 valid; e2 day 10 suspect
    expect(u1!.visits).toEqual({ valid: 3, suspect: 1 });
    expect(u2!.visits).toEqual({ valid: 0, suspect: 0 });
    // e1's date is after the period; e2's passed on day 10
    expect(u1!.inspectionsOnTime).toEqual({ count: 1, of: 2, rate: 0.5 });
    // e3's registry date is later, but an overdue inspection was raised in the period
    expect(u2!.inspectionsOnTime).toEqual({ count: 0, of: 1, rate: 0 });
  });

  it('judges nothing that is still within its deadline', () => {
    const open = alert({ type: 'elevator.trapped', openedAt: d(1), arriveBy: d(1) + 30 * MIN });
    // one minute after it was raised: neither the 3 minutes nor the 30 have passed
    const [early] = unitFigures({ period, now: d(1) + MIN, responseWithinMs: 3 * MIN, maintenanceIntervalMs: 15 * DAY, units, elevators, alerts: [open], visits: [] });
    expect(early!.response).toEqual({ count: 0, of: 0, rate: null });
    expect(early!.arrival).toEqual({ count: 0, of: 0, rate: null });
    // ten minutes after: the response is judged (missed), the arrival is not yet
    const [later] = unitFigures({ period, now: d(1) + 10 * MIN, responseWithinMs: 3 * MIN, maintenanceIntervalMs: 15 * DAY, units, elevators, alerts: [open], visits: [] });
    expect(later!.response).toEqual({ count: 0, of: 1, rate: 0 });
    expect(later!.arrival).toEqual({ count: 0, of: 0, rate: null });
  });
});

// ---- property companies ----

const companies: Named[] = [{ id: 'c1', name: '甲物业' }, { id: 'c2', name: '乙物业' }];
const sites = [{ id: 's1', companyId: 'c1' }, { id: 's2', companyId: 'c1' }, { id: 's3', companyId: 'c2' }];
const devices = [
  { id: 'd1', siteId: 's1', disabled: false, online: true },
  { id: 'd2', siteId: 's1', disabled: false, online: false },
  // s2's only device is disabled: s2 is not covered
  { id: 'd3', siteId: 's2', disabled: true, online: true },
  { id: 'd4', siteId: 's3', disabled: false, online: true },
];
const companyAlerts: AlertFact[] = [
  // b1: resolved at 20 of 30 min: in time; a trapped incident
  alert({ type: 'elevator.trapped', openedAt: d(1), resolveBy: d(1) + 30 * MIN, resolvedAt: d(1) + 20 * MIN }),
  // b2: a confirmed fire resolved at 3 h of 2 h: late; a fire incident
  alert({ type: 'fire.alarm', openedAt: d(2), confirmation: 'confirmed', resolveBy: d(2) + 2 * HOUR, resolvedAt: d(2) + 3 * HOUR }),
  // b3: confirmed, then dismissed as a false alarm and closed at 10 min: in time, no incident
  alert({ type: 'fire.alarm', openedAt: d(3), confirmation: 'confirmed', dismissed: true, resolveBy: d(3) + 2 * HOUR, closedAt: d(3) + 10 * MIN }),
  // b4: never resolved, its deadline long passed: late
  alert({ type: 'water.tank_low', openedAt: d(4), state: 'open', resolveBy: d(5) }),
  // b5: no resolve deadline: counted as an alert, not judged
  alert({ type: 'elevator.inspection_due', openedAt: d(5) }),
  // b6: recorded in maintenance mode: not counted
  alert({ type: 'elevator.door_open_fault', openedAt: d(6), suppressed: true, resolveBy: d(6) + HOUR }),
  // b7: open, its deadline still ahead: counted, not judged
  alert({ type: 'water.door_open', openedAt: d(29), state: 'open', resolveBy: AFTER + HOUR }),
];
const order = (targetId: string, overdue: boolean, targetType: OrderFact['targetType'] = 'company'): OrderFact => ({
  id: ++ids, targetType, targetId, siteId: null, issuedAt: d(1), dueAt: d(10), state: overdue ? 'overdue' : 'closed', closedAt: overdue ? null : d(5), overdue,
});
const orders = [order('c1', true), order('c1', false), order('u1', true, 'maintenance-unit'), order('c2', true)];

describe('property company figures', () => {
  const [c1, c2] = companyFigures({ period, now: AFTER, companies, sites, devices, alerts: companyAlerts, orders });

  it('alerts closed in time and overdue', () => {
    // b1..b5 and b7
    expect(c1!.alerts).toBe(6);
    // judged: b1 (in), b2 (late), b3 (in), b4 (late)
    expect(c1!.closedInTime).toEqual({ count: 2, of: 4, rate: 0.5 });
    expect(c1!.overdue).toEqual({ count: 2, of: 4, rate: 0.5 });
    expect(c2!.alerts).toBe(0);
    expect(c2!.closedInTime).toEqual({ count: 0, of: 0, rate: null });
  });

  it('orders, incidents, presence and coverage', () => {
    // one of its two orders overdue; the unit's order is not its
    expect(c1!.ordersOverdue).toEqual({ count: 1, of: 2, rate: 0.5 });
    expect(c2!.ordersOverdue).toEqual({ count: 1, of: 1, rate: 1 });
    // b1 trapped, b2 fire (b3 dismissed)
    expect(c1!.incidents).toEqual({ trapped: 1, fires: 1, total: 2 });
    // d1 of d1, d2 (d3 disabled)
    expect(c1!.online).toEqual({ count: 1, of: 2, rate: 0.5 });
    // s1 of s1, s2
    expect(c1!.coverage).toEqual({ count: 1, of: 2, rate: 0.5 });
    expect(c1!.sites).toBe(2);
    expect(c2!.online).toEqual({ count: 1, of: 1, rate: 1 });
    expect(c2!.coverage).toEqual({ count: 1, of: 1, rate: 1 });
  });
});

// ---- scores and the ranking ----

describe('scores and the red and black lists', () => {
  const rows = unitFigures({ period, now: AFTER, responseWithinMs: 3 * MIN, maintenanceIntervalMs: 15 * DAY, units, elevators, alerts: unitAlerts, visits: unitVisits });

  it('a unit scores the weighted mean of the figures it has', () => {
    // u1: response 1/3·25 = 8.333, arrival .5·25 = 12.5, maintenance .5·20 = 10, inspections .5·10 = 5,
    // genuine visits 3/4·5 = 3.75, faults 1/(1+1)·10 = 5, trapped 1/(1+1.5)·5 = 2; 46.583 of 100 → 46.6
    expect(score(unitScoreParts(rows[0]!))).toBe(46.6);
    // u2: maintenance 1·20, inspections 0·10, faults 1/(1+1)·10 = 5, trapped 1·5 = 5; 30 of 45 → 66.7
    expect(score(unitScoreParts(rows[1]!))).toBe(66.7);
    const r = rank(rows, unitScoreParts, 1, 1);
    expect(r.red.map((p) => [p.place, p.id, p.score])).toEqual([[1, 'u2', 66.7]]);
    expect(r.black.map((p) => [p.place, p.id, p.score])).toEqual([[2, 'u1', 46.6]]);
    // each place carries the figures behind its score
    expect(r.black[0]!.figures.response).toEqual({ count: 1, of: 3, rate: 1 / 3 });
  });

  it('a company scores likewise', () => {
    const [c1, c2] = companyFigures({ period, now: AFTER, companies, sites, devices, alerts: companyAlerts, orders });
    // c1: every part is 0.5 (incidents 2 per 2 sites → 1/(1+1)) → 50
    expect(score(companyScoreParts(c1!))).toBe(50);
    // c2: closed in time no data; orders 0·20, incidents 0 per site 1·20, online 1·15, coverage 1·10 → 45 / 65 → 69.2
    expect(score(companyScoreParts(c2!))).toBe(69.2);
  });

  it('breaks ties by name, leaves out entities without data, never lists one entity twice', () => {
    const part = (v: number | null) => [{ figure: 'x', value: v, weight: 1 }];
    const values: Record<string, number | null> = { Beta: 0.5, Alpha: 0.5, Gamma: 0.5, Delta: 0.9, Zeta: null };
    const entities = Object.keys(values).map((name) => ({ id: name.toLowerCase(), name }));
    const parts = (e: Named) => part(values[e.name]!);
    const r = rank(entities, parts, 2, 2);
    expect(r.ranked).toBe(4);
    expect(r.unranked).toBe(1);
    // Delta 90, then the three at 50 by name: Alpha
    expect(r.red.map((p) => p.name)).toEqual(['Delta', 'Alpha']);
    // worst first; equal scores by name
    expect(r.black.map((p) => p.name)).toEqual(['Beta', 'Gamma']);
    expect(r.black.map((p) => p.place)).toEqual([3, 4]);
    // 3 + 3 asked of 4: the black list takes only what the red one left
    const big = rank(entities, parts, 3, 3);
    expect(big.red.map((p) => p.name)).toEqual(['Delta', 'Alpha', 'Beta']);
    expect(big.black.map((p) => p.name)).toEqual(['Gamma']);
    expect(rank(entities, parts, 0, 0)).toMatchObject({ red: [], black: [] });
  });
});
