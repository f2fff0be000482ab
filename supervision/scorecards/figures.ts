/**
 * The figures regulators use (DOMAIN.md "Figures regulators use"), as pure functions over the
 * period's facts: the alerts (alerts/facts.ts), the maintenance visits and the rectification
 * orders (supervision/facts.ts), and the registry as it is now. Nothing here reads a store or a
 * clock: the caller gathers the facts, so every number can be checked by hand
 * (tests/scorecards-figures.test.ts) and traced back to the lists in each row's `links`.
 *
 * The definitions, and why, are in docs/supervision-scorecards.md; the short form is next to each
 * figure below.
 */
import type { AlertFact, AlertType } from '../../alerts/index.js';
import type { OrderFact, VisitFact } from '../facts.js';

/** `count` of `of`; `rate` = count / of, null when there is nothing to judge (of = 0). */
export interface Rate { count: number; of: number; rate: number | null }
/** The mean of `of` durations (ms); null when of = 0. */
export interface Average { ms: number | null; of: number }

export const rate = (count: number, of: number): Rate => ({ count, of, rate: of === 0 ? null : count / of });
const average = (sum: number, of: number): Average => ({ ms: of === 0 ? null : Math.round(sum / of), of });

export const TRAPPED = 'elevator.trapped' satisfies AlertType;
export const FIRE_ALARM = 'fire.alarm' satisfies AlertType;
export const INSPECTION_OVERDUE = 'elevator.inspection_overdue' satisfies AlertType;

/**
 * The alert types that count as a fault of the elevator (faults per elevator). Listed, not derived
 * from the catalogue, so that a type added later is counted only once someone decides it is a
 * fault. Left out on purpose: trapped passengers (a figure of its own), the alarm button (a
 * passenger's call, usually the same incident as a trapped alert), offline (the terminal, not the
 * lift), the schedules (inspection / maintenance due or overdue: the unit's record, counted
 * elsewhere), long idle, e-bikes (people's behaviour) and the special modes (fire return,
 * emergency power, earthquake: the building's state, not a defect).
 */
export const FAULT_TYPES: ReadonlySet<string> = new Set([
  'elevator.safety_circuit_open', 'elevator.stopped_outside_door_zone', 'elevator.unintended_movement', 'elevator.door_open_while_running',
  'elevator.moving_with_door_open', 'elevator.top_overrun', 'elevator.bottom_overrun', 'elevator.overspeed', 'elevator.door_open_fault',
  'elevator.door_close_fault', 'elevator.repeated_door_cycling', 'elevator.motor_runtime_limiter', 'elevator.position_lost',
  'elevator.restart_blocked', 'elevator.power_lost',
] satisfies AlertType[]);

/** The alert types the unit scorecards read (the store is asked for these only). */
export const UNIT_ALERT_TYPES: readonly string[] = [TRAPPED, INSPECTION_OVERDUE, ...FAULT_TYPES];

// ---- inputs ----

export interface PeriodSpan {
  from: number;
  to: number;
}

export interface Named { id: string; name: string }

/** An elevator as the registry holds it now. */
export interface ElevatorRef {
  id: string;
  siteId: string;
  maintenanceUnitId?: string | undefined;
  /** When it was registered: the maintenance obligation starts then at the latest. */
  createdAt: number;
  /** The end of its next inspection's due date (midnight after it, epoch ms); null: no date registered. */
  inspectionDueEnd: number | null;
}

/** Any device as the registry holds it now, with its presence. */
export interface DeviceRef { id: string; siteId: string; disabled: boolean; online: boolean }

export interface SiteRef { id: string; companyId: string }

export interface UnitInput {
  period: PeriodSpan;
  now: number;
  responseWithinMs: number;
  maintenanceIntervalMs: number;
  units: readonly Named[];
  /** The elevators counted (all, or those of an area). */
  elevators: readonly ElevatorRef[];
  /** The period's alerts of UNIT_ALERT_TYPES (more types are ignored). */
  alerts: readonly AlertFact[];
  /** Visits started in [period.from − maintenanceInterval, period.to): the earlier ones are the last visits before the period. */
  visits: readonly VisitFact[];
}

export interface UnitFigures {
  id: string;
  name: string;
  /** Elevators it maintains now (registry). */
  elevators: number;
  /** 3-minute response: trapped alerts its account acknowledged within `responseWithin`, of its trapped alerts. */
  response: Rate;
  /** 30 / 60-minute arrival: trapped alerts it signed in on site by the alert's arrival deadline, of its trapped alerts with a deadline. */
  arrival: Rate;
  /** Raised → arrived, over the trapped alerts with an arrival. */
  averageArrival: Average;
  /** Raised → resolved (or cleared, when it ended by itself), over the trapped alerts that ended. */
  averageRescue: Average;
  /** Fault alerts (FAULT_TYPES, not suppressed) of its elevators, per elevator maintained now. */
  faultsPerElevator: Rate;
  /** Trapped alerts (not suppressed) of its elevators, per elevator maintained now. */
  trappedPerElevator: Rate;
  /** Elevators whose valid visits leave no gap longer than `maintenanceInterval` in the period, of the elevators judged. */
  maintenanceOnTime: Rate;
  /** Visits its accounts started in the period: valid (supported by the telemetry) and suspect (疑似虚假维保). */
  visits: { valid: number; suspect: number };
  /** Elevators with a due date not passed and no overdue-inspection alert opened in the period, of those with a due date. */
  inspectionsOnTime: Rate;
}

// ---- maintenance units ----

/**
 * Whether an elevator had a valid visit often enough during the period: from the obligation's
 * start (the period's start, or the elevator's registration if later) to its end (the period's
 * end, or now if sooner), the time since the last valid visit (or since registration, when there
 * was none yet) never exceeds `interval`. A visit counts at its end (when it was finished).
 * `times` are the valid visits' ends, sorted. Undefined when nothing of the period has passed for it.
 */
export function maintainedOnTime(times: readonly number[], createdAt: number, span: PeriodSpan, now: number, interval: number): boolean | undefined {
  const start = Math.max(span.from, createdAt);
  const end = Math.min(span.to, now);
  if (end <= start) return undefined;
  let prev = createdAt;
  for (const at of times) {
    if (at > end) break;
    if (at <= start) { prev = Math.max(prev, at); continue; }
    if (at - prev > interval) return false;
    prev = at;
  }
  return end - prev <= interval;
}

interface UnitAcc {
  elevators: number;
  trapped: number;
  responded: number; responseOf: number;
  arrived: number; arrivalOf: number;
  arrivalSum: number; arrivalN: number;
  rescueSum: number; rescueN: number;
  faults: number;
  onTime: number; judged: number;
  valid: number; suspect: number;
  inspOk: number; inspOf: number;
}

const emptyAcc = (): UnitAcc => ({
  elevators: 0, trapped: 0, responded: 0, responseOf: 0, arrived: 0, arrivalOf: 0, arrivalSum: 0, arrivalN: 0, rescueSum: 0, rescueN: 0,
  faults: 0, onTime: 0, judged: 0, valid: 0, suspect: 0, inspOk: 0, inspOf: 0,
});

/**
 * The end of a trapped-passenger rescue: resolved by people, or cleared when the condition ended
 * by itself (a door opened with the car levelled) before anyone resolved it.
 */
const rescueEnd = (a: AlertFact): number | null => a.resolvedAt ?? (a.state === 'cleared' ? a.clearedAt : null);

/** One row per unit in `units`, in that order. */
export function unitFigures(input: UnitInput): UnitFigures[] {
  const { period, now } = input;
  const acc = new Map<string, UnitAcc>();
  for (const u of input.units) acc.set(u.id, emptyAcc());
  const unitOf = (id: string | null | undefined) => (id == null ? undefined : acc.get(id));

  const elevatorUnit = new Map<string, string>();
  for (const e of input.elevators) {
    const a = unitOf(e.maintenanceUnitId);
    if (a === undefined) continue;
    a.elevators++;
    elevatorUnit.set(e.id, e.maintenanceUnitId!);
  }

  const overdueInspection = new Set<string>();
  for (const f of input.alerts) {
    if (f.type === INSPECTION_OVERDUE) { overdueInspection.add(f.deviceId); continue; }
    // suppressed: raised in inspection / maintenance mode, on purpose by technicians (DOMAIN.md)
    if (f.suppressed) continue;
    // the unit that maintained the elevator when the alert was raised answers for it
    const a = unitOf(f.maintenanceUnitId);
    if (a === undefined) continue;
    if (FAULT_TYPES.has(f.type)) { a.faults++; continue; }
    if (f.type !== TRAPPED) continue;
    a.trapped++;
    // not yet acknowledged and its 3 minutes still running: not judged yet
    const responded = f.unitAcknowledgedAt !== null && f.unitAcknowledgedAt - f.openedAt <= input.responseWithinMs;
    if (f.unitAcknowledgedAt !== null || now - f.openedAt > input.responseWithinMs) {
      a.responseOf++;
      if (responded) a.responded++;
    }
    // an alert without an arrival deadline (stored before alerts carried one) cannot be judged
    if (f.arriveBy !== null && (f.arrivedAt !== null || now > f.arriveBy)) {
      a.arrivalOf++;
      if (f.arrivedAt !== null && f.arrivedAt <= f.arriveBy) a.arrived++;
    }
    if (f.arrivedAt !== null) { a.arrivalSum += f.arrivedAt - f.openedAt; a.arrivalN++; }
    const end = rescueEnd(f);
    if (end !== null) { a.rescueSum += end - f.openedAt; a.rescueN++; }
  }

  const validTimes = new Map<string, number[]>();
  for (const v of input.visits) {
    if (v.valid && v.finishedAt !== null) {
      let list = validTimes.get(v.deviceId);
      if (!list) validTimes.set(v.deviceId, (list = []));
      list.push(v.finishedAt);
    }
    if (v.startedAt < period.from || v.startedAt >= period.to) continue;
    const a = unitOf(v.unitId);
    if (a === undefined) continue;
    if (v.valid) a.valid++;
    else if (v.suspect) a.suspect++;
  }

  for (const e of input.elevators) {
    const unit = elevatorUnit.get(e.id);
    if (unit === undefined) continue;
    const a = acc.get(unit)!;
    const times = (validTimes.get(e.id) ?? []).sort((x, y) => x - y);
    const ok = maintainedOnTime(times, e.createdAt, period, now, input.maintenanceIntervalMs);
    if (ok !== undefined) {
      a.judged++;
      if (ok) a.onTime++;
    }
    if (e.inspectionDueEnd !== null) {
      a.inspOf++;
      // the registry's due date is moved on after each inspection: a date that passed before the
      // period's end (or now) was missed, and so was one an overdue alert was raised for
      const judgedUntil = Math.min(period.to, now);
      if (e.inspectionDueEnd >= judgedUntil && !overdueInspection.has(e.id)) a.inspOk++;
    }
  }

  return input.units.map((u) => {
    const a = acc.get(u.id)!;
    return {
      id: u.id, name: u.name, elevators: a.elevators,
      response: rate(a.responded, a.responseOf),
      arrival: rate(a.arrived, a.arrivalOf),
      averageArrival: average(a.arrivalSum, a.arrivalN),
      averageRescue: average(a.rescueSum, a.rescueN),
      faultsPerElevator: rate(a.faults, a.elevators),
      trappedPerElevator: rate(a.trapped, a.elevators),
      maintenanceOnTime: rate(a.onTime, a.judged),
      visits: { valid: a.valid, suspect: a.suspect },
      inspectionsOnTime: rate(a.inspOk, a.inspOf),
    };
  });
}

// ---- property companies ----

export interface CompanyInput {
  period: PeriodSpan;
  now: number;
  companies: readonly Named[];
  /** The sites counted (all, or those of an area), with their company now. */
  sites: readonly SiteRef[];
  devices: readonly DeviceRef[];
  /** The period's alerts (all types). */
  alerts: readonly AlertFact[];
  /** Rectification orders to companies, issued in the period or open during it. */
  orders: readonly OrderFact[];
}

export interface CompanyFigures {
  id: string;
  name: string;
  /** Its sites now. */
  sites: number;
  /** Alerts raised on its sites in the period (not counting those recorded in inspection / maintenance mode). */
  alerts: number;
  /** Alerts resolved (or cleared, or closed) by their resolve deadline, of those whose deadline passed or that were handled. */
  closedInTime: Rate;
  /** The rest of the same alerts: resolved late, or still not resolved past the deadline. */
  overdue: Rate;
  /** Rectification orders to it (issued in the period or open during it) that passed their deadline before being closed, of all of them. */
  ordersOverdue: Rate;
  /** Safety incidents: trapped passengers, and fire alarms confirmed and not dismissed. */
  incidents: { trapped: number; fires: number; total: number };
  /** Its enabled devices online now, of its enabled devices. */
  online: Rate;
  /** Its sites with at least one enabled device, of its sites. */
  coverage: Rate;
}

/** When people (or the condition itself) ended the alert: resolved, cleared by itself, or closed straight away. */
const handledAt = (a: AlertFact): number | null => a.resolvedAt ?? a.clearedAt ?? a.closedAt;

export const isIncident = (a: AlertFact): 'trapped' | 'fire' | undefined => {
  if (a.suppressed) return undefined;
  if (a.type === TRAPPED) return 'trapped';
  if (a.type === FIRE_ALARM && a.confirmation === 'confirmed' && !a.dismissed) return 'fire';
  return undefined;
};

interface CompanyAcc {
  sites: number; alerts: number; inTime: number; late: number; judged: number; orders: number; ordersOverdue: number;
  trapped: number; fires: number; devices: number; online: number; covered: number;
}

/** One row per company in `companies`, in that order. */
export function companyFigures(input: CompanyInput): CompanyFigures[] {
  const acc = new Map<string, CompanyAcc>();
  for (const c of input.companies) {
    acc.set(c.id, { sites: 0, alerts: 0, inTime: 0, late: 0, judged: 0, orders: 0, ordersOverdue: 0, trapped: 0, fires: 0, devices: 0, online: 0, covered: 0 });
  }
  const siteCompany = new Map<string, string>();
  const enabledBySite = new Map<string, number>();
  for (const s of input.sites) {
    siteCompany.set(s.id, s.companyId);
    const a = acc.get(s.companyId);
    if (a) a.sites++;
  }
  for (const d of input.devices) {
    const a = acc.get(siteCompany.get(d.siteId) ?? '');
    if (a === undefined || d.disabled) continue;
    a.devices++;
    if (d.online) a.online++;
    enabledBySite.set(d.siteId, (enabledBySite.get(d.siteId) ?? 0) + 1);
  }
  for (const s of input.sites) if ((enabledBySite.get(s.id) ?? 0) > 0) { const a = acc.get(s.companyId); if (a) a.covered++; }

  for (const f of input.alerts) {
    if (f.suppressed) continue;
    // the company responsible for the site when the alert was raised (handovers move open ones along)
    const a = acc.get(f.companyId);
    if (a === undefined) continue;
    a.alerts++;
    const incident = isIncident(f);
    if (incident === 'trapped') a.trapped++;
    else if (incident === 'fire') a.fires++;
    if (f.resolveBy === null) continue;
    const end = handledAt(f);
    if (end === null && input.now <= f.resolveBy) continue; // still within its deadline
    a.judged++;
    if (end !== null && end <= f.resolveBy) a.inTime++;
    else a.late++;
  }
  for (const o of input.orders) {
    if (o.targetType !== 'company') continue;
    const a = acc.get(o.targetId);
    if (a === undefined) continue;
    a.orders++;
    if (o.overdue) a.ordersOverdue++;
  }
  return input.companies.map((c) => {
    const a = acc.get(c.id)!;
    return {
      id: c.id, name: c.name, sites: a.sites, alerts: a.alerts,
      closedInTime: rate(a.inTime, a.judged), overdue: rate(a.late, a.judged),
      ordersOverdue: rate(a.ordersOverdue, a.orders),
      incidents: { trapped: a.trapped, fires: a.fires, total: a.trapped + a.fires },
      online: rate(a.online, a.devices), coverage: rate(a.covered, a.sites),
    };
  });
}

// ---- ranking (红黑榜) ----

/** One part of a score: a value in [0, 1] (1 is best) and its weight; value null when the figure has no data. */
export interface ScorePart { figure: string; value: number | null; weight: number }

/** Per-thing figures (faults per elevator, incidents per site): 0 scores 1, one per thing 0.5, more tends to 0. */
const perThing = (r: Rate): number | null => (r.rate === null ? null : 1 / (1 + r.rate));

/** The weights of a unit's score: rescue first (response and arrival), then upkeep, then the lift's record. */
export const UNIT_WEIGHTS = { response: 25, arrival: 25, maintenanceOnTime: 20, inspectionsOnTime: 10, genuineVisits: 5, faultsPerElevator: 10, trappedPerElevator: 5 } as const;

export function unitScoreParts(u: UnitFigures): ScorePart[] {
  const visits = u.visits.valid + u.visits.suspect;
  const w = UNIT_WEIGHTS;
  return [
    { figure: 'response', value: u.response.rate, weight: w.response },
    { figure: 'arrival', value: u.arrival.rate, weight: w.arrival },
    { figure: 'maintenanceOnTime', value: u.maintenanceOnTime.rate, weight: w.maintenanceOnTime },
    { figure: 'inspectionsOnTime', value: u.inspectionsOnTime.rate, weight: w.inspectionsOnTime },
    { figure: 'genuineVisits', value: visits === 0 ? null : u.visits.valid / visits, weight: w.genuineVisits },
    { figure: 'faultsPerElevator', value: perThing(u.faultsPerElevator), weight: w.faultsPerElevator },
    { figure: 'trappedPerElevator', value: perThing(u.trappedPerElevator), weight: w.trappedPerElevator },
  ];
}

/** The weights of a company's score: handling alerts in time first, then orders, incidents, and its sensors. */
export const COMPANY_WEIGHTS = { closedInTime: 35, ordersInTime: 20, incidentsPerSite: 20, online: 15, coverage: 10 } as const;

export function companyScoreParts(c: CompanyFigures): ScorePart[] {
  const w = COMPANY_WEIGHTS;
  return [
    { figure: 'closedInTime', value: c.closedInTime.rate, weight: w.closedInTime },
    { figure: 'ordersInTime', value: c.ordersOverdue.rate === null ? null : 1 - c.ordersOverdue.rate, weight: w.ordersInTime },
    { figure: 'incidentsPerSite', value: perThing(rate(c.incidents.total, c.sites)), weight: w.incidentsPerSite },
    { figure: 'online', value: c.online.rate, weight: w.online },
    { figure: 'coverage', value: c.coverage.rate, weight: w.coverage },
  ];
}

/**
 * 0..100: the weighted mean of the parts that have data (a part without data neither helps nor
 * hurts), rounded to 0.1; null when no part has data (the entity is not ranked).
 */
export function score(parts: readonly ScorePart[]): number | null {
  let sum = 0, weights = 0;
  for (const p of parts) {
    if (p.value === null) continue;
    sum += p.value * p.weight;
    weights += p.weight;
  }
  return weights === 0 ? null : Math.round((sum / weights) * 1000) / 10;
}

export interface Place<T> { place: number; id: string; name: string; score: number; figures: T }
export interface Ranking<T> { ranked: number; unranked: number; red: Place<T>[]; black: Place<T>[] }

const byName = (a: Named, b: Named) => a.name.localeCompare(b.name, 'zh-CN') || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The red list (best `red`, best first) and the black list (worst `black`, worst first). Equal
 * scores are ordered by name in both lists, so the order does not depend on the store. Nobody is
 * on both: with fewer ranked entities than red + black, the black list takes only those not on
 * the red one. `place` is the position in the full ranking (1 = best).
 */
export function rank<T extends Named>(rows: readonly T[], parts: (row: T) => ScorePart[], red: number, black: number): Ranking<T> {
  const scored: Array<{ row: T; score: number }> = [];
  for (const row of rows) {
    const s = score(parts(row));
    if (s !== null) scored.push({ row, score: s });
  }
  scored.sort((a, b) => b.score - a.score || byName(a.row, b.row));
  const place = (i: number): Place<T> => ({ place: i + 1, id: scored[i]!.row.id, name: scored[i]!.row.name, score: scored[i]!.score, figures: scored[i]!.row });
  const redN = Math.min(red, scored.length);
  const blackN = Math.min(black, scored.length - redN);
  const redList = Array.from({ length: redN }, (_, i) => place(i));
  // worst first; among equal scores by name, like the red list
  const bottom = scored.map((_, i) => i).slice(redN).sort((i, j) => scored[i]!.score - scored[j]!.score || byName(scored[i]!.row, scored[j]!.row));
  const blackList = bottom.slice(0, blackN).map(place);
  return { ranked: scored.length, unranked: rows.length - scored.length, red: redList, black: blackList };
}
