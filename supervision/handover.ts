/**
 * Handover of a site (物业交接): to another property company from a date, or to an emergency
 * operator (应急物业) that a street appoints when a company leaves without a successor, for at most
 * six months. At the moment the new company takes over, the site's devices, its open alerts and
 * their queues move to it (scopes follow at once); closed alerts stay with whoever was responsible
 * then, and the site keeps every period of responsibility (`GET /sites/{id}/responsibility`).
 *
 * A handover from a later time is kept on the site and applied when it falls due, by the node that
 * runs the cluster-wide timers (the only one in the embedded mode).
 *
 * The same move happens for one elevator when its maintenance unit is replaced (`unitChanged`).
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { addMonths, dateIn, instantOf, startOfDate } from '../core/dates.js';
import { DueCheck } from '../core/due-check.js';
import { badRequest, conflict, forbidden, notFound } from '../core/errors.js';
import { idSchema, isAdmin, type Principal, type Registry, type Site } from '../registry/index.js';
import type { Alert, Parties } from '../alerts/index.js';

/** An emergency operator runs a site for at most this many months (应急物业服务期限不超过6个月). */
export const EMERGENCY_MAX_MONTHS = 6;

/** How often the leader looks for handovers that fell due (a manual clock also triggers it when it moves). */
const CHECK_EVERY_MS = 30_000;

export const handoverSchema = z.object({
  companyId: idSchema,
  /** YYYY-MM-DD (midnight in the installation's time zone) or an ISO date-time with its offset; absent: now. */
  from: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
  /** The new company is an emergency operator until this date (at most 6 months after `from`). */
  emergencyUntil: z.iso.date().optional(),
});
export type HandoverRequest = z.infer<typeof handoverSchema>;

/** What the handover logic needs of the alerts: one unit of work, and moving active alerts to new parties. */
export interface AlertMover {
  atomically<T>(fn: () => T): T;
  reassign(match: (a: Readonly<Alert>) => boolean, partiesOf: (a: Readonly<Alert>) => Parties, at: number, actor: string, reason: 'handover' | 'unit_changed'): number;
}

/** What moves with a site besides its alerts: its open rectification orders (orders/). */
export interface OrderMover {
  /** Inside the handover's unit of work: the site's open orders to `fromCompanyId` go to `toCompanyId`; returns how many. */
  reassignSite(siteId: string, fromCompanyId: string, toCompanyId: string, at: number, actor: string): number;
}

export interface HandoverDeps {
  registry: Registry;
  alerts: AlertMover;
  orders?: OrderMover | undefined;
  /** The alert clock: a handover falls due on it, as deadlines do. */
  clock: Clock;
  /** The installation's time zone, for dates. */
  timeZone: string;
  log: Logger;
}

export type HandoverResult = { applied: true; site: Site; alertsMoved: number; ordersMoved: number } | { applied: false; site: Site };

export class SiteHandovers {
  private readonly due: DueCheck;

  constructor(private readonly deps: HandoverDeps) {
    this.due = new DueCheck(deps.clock, CHECK_EVERY_MS, () => this.applyDue());
  }

  /**
   * Hands `siteId` over as `req` asks (admin only): now when `from` is not later than now (a past
   * `from` is recorded as the start of the new period, not before the current one began), or fixed
   * for later, replacing any handover fixed before.
   */
  async handOver(p: Principal, siteId: string, req: HandoverRequest): Promise<HandoverResult> {
    const { registry, clock, timeZone } = this.deps;
    if (!isAdmin(p)) throw forbidden('only an admin may hand a site over to another company / 仅管理员可办理物业交接');
    const site = registry.getSite(siteId);
    if (!site) throw notFound('site', siteId);
    if (!registry.getCompany(req.companyId)) {
      throw badRequest(`company ${req.companyId} does not exist: register it first / 物业公司 ${req.companyId} 不存在，请先登记`, [{ path: 'companyId', message: 'unknown company' }]);
    }
    const now = clock.now();
    const from = req.from === undefined ? now : parseFrom(req.from, timeZone);
    if (req.emergencyUntil !== undefined) checkEmergencyPeriod(from, req.emergencyUntil, timeZone);
    if (req.companyId === site.companyId && (req.emergencyUntil ?? null) === (site.emergencyUntil ?? null)) {
      throw conflict(`site ${siteId} is already run by ${req.companyId}${site.emergencyUntil ? ` as emergency operator until ${site.emergencyUntil}` : ''} / 该小区已由此物业公司负责`);
    }
    if (from > now) {
      const pending = { companyId: req.companyId, from, emergencyUntil: req.emergencyUntil, actor: p.id };
      return { applied: false, site: registry.setPendingHandover(siteId, pending, p.id) };
    }
    const periods = await registry.responsibility(siteId);
    const current = periods.find((r) => r.until === null);
    if (current && from < current.from) {
      throw badRequest(`from must not be before the current company took over (${new Date(current.from).toISOString()}) / 交接日期不得早于现物业公司接管日期`, [{ path: 'from', message: 'before the current period of responsibility' }]);
    }
    return this.apply(siteId, { companyId: req.companyId, emergencyUntil: req.emergencyUntil }, from, p.id);
  }

  /** Cancels the handover fixed for later (admin only). */
  cancel(p: Principal, siteId: string): Site {
    if (!isAdmin(p)) throw forbidden('only an admin may cancel a handover / 仅管理员可撤销物业交接');
    const site = this.deps.registry.getSite(siteId);
    if (!site) throw notFound('site', siteId);
    if (!site.pendingHandover) throw notFound('pending handover of site', siteId);
    return this.deps.registry.setPendingHandover(siteId, undefined, p.id);
  }

  /** An elevator was given to another maintenance unit: its open alerts (and their queues) move to the new unit. */
  unitChanged(deviceId: string, actor: string): number {
    const at = this.deps.clock.now();
    return this.deps.alerts.reassign((a) => a.deviceId === deviceId, (a) => this.partiesOf(a), at, actor, 'unit_changed');
  }

  /** The site's company changes, and its open alerts move with it, in one unit of work. */
  private apply(siteId: string, to: { companyId: string; emergencyUntil?: string | undefined }, at: number, actor: string): HandoverResult {
    const { registry, alerts, orders } = this.deps;
    let alertsMoved = 0, ordersMoved = 0;
    // the alerts' unit of work outside: the rules that hear of the devices' new company join it, and
    // nobody hears of any of it before the whole handover is stored
    const site = alerts.atomically(() => registry.atomically(() => {
      const before = registry.getSite(siteId)?.companyId;
      const next = registry.handOver(siteId, to, at, actor);
      alertsMoved = alerts.reassign((a) => a.siteId === siteId, (a) => this.partiesOf(a), at, actor, 'handover');
      if (orders && before !== undefined && before !== to.companyId) ordersMoved = orders.reassignSite(siteId, before, to.companyId, at, actor);
      return next;
    }));
    return { applied: true, site, alertsMoved, ordersMoved };
  }

  /** Who answers for an alert now: its device's company and unit as the registry has them. */
  private partiesOf(a: Readonly<Alert>): Parties {
    const d = this.deps.registry.getDevice(a.deviceId);
    if (d) return { companyId: d.companyId, companyName: d.companyName, maintenanceUnitId: d.maintenanceUnitId ?? null, maintenanceUnitName: d.maintenanceUnitName };
    const site = this.deps.registry.getSite(a.siteId);
    const companyId = site?.companyId ?? a.companyId;
    return { companyId, companyName: this.deps.registry.getCompany(companyId)?.name, maintenanceUnitId: a.maintenanceUnitId, maintenanceUnitName: a.maintenanceUnitName };
  }

  // ---- handovers fixed for later ----

  /** Cluster mode: only the node that runs the cluster-wide timers applies them. */
  setLeading(leading: boolean): void { this.due.setLeading(leading); }
  start(): void { this.due.start(); }
  stop(): void { this.due.stop(); }

  /** Applies every handover that has fallen due, from the time it was fixed for. */
  applyDue(): void {
    if (!this.due.leading) return;
    const now = this.deps.clock.now();
    for (const site of this.deps.registry.listSites()) {
      const pending = site.pendingHandover;
      if (!pending || pending.from > now) continue;
      try {
        if (!this.deps.registry.getCompany(pending.companyId)) throw new Error(`company ${pending.companyId} does not exist`);
        this.apply(site.id, { companyId: pending.companyId, emergencyUntil: pending.emergencyUntil }, pending.from, pending.actor);
      } catch (err) {
        this.deps.log.error({ err, siteId: site.id }, 'handover could not be applied');
      }
    }
  }
}

function parseFrom(from: string, timeZone: string): number {
  const at = instantOf(from, timeZone);
  if (at === undefined) throw badRequest(`from: ${from} is not a date / 交接日期无效`, [{ path: 'from', message: 'not a date' }]);
  return at;
}

/** The emergency period ends on or after the day it starts, and at most six months after it. */
function checkEmergencyPeriod(from: number, until: string, timeZone: string): void {
  const start = dateIn(from, timeZone);
  const latest = addMonths(start, EMERGENCY_MAX_MONTHS);
  if (startOfDate(until, timeZone) === undefined) throw badRequest(`emergencyUntil: ${until} is not a date`, [{ path: 'emergencyUntil', message: 'not a date' }]);
  if (until < start || until > latest) {
    throw badRequest(`an emergency operator runs a site from ${start} for at most ${EMERGENCY_MAX_MONTHS} months: emergencyUntil must be between ${start} and ${latest} / 应急物业服务期限不超过6个月`,
      [{ path: 'emergencyUntil', message: `must be between ${start} and ${latest}` }]);
  }
}
