/**
 * Scorecards (考核), the ranking (红黑榜) and the period's reports (季度通报), SPEC §10 and DOMAIN.md
 * "Figures regulators use". The figures themselves are pure functions (figures.ts); this gathers
 * their facts for a period and a caller, and serves them:
 *
 * - `GET /api/v1/scorecards/maintenance-units?period=` and `/scorecards/companies?period=`
 * - `GET /api/v1/rankings/maintenance-units?period=&red=&black=` and `/rankings/companies`
 * - `GET /api/v1/reports?period=&format=xlsx|csv&section=`
 * - `GET /public/rankings?period=&kind=` (no login), registered only when `ranking.public` is on
 *
 * Who sees which rows: admin and market supervision every unit and company; the fire service the
 * companies; a street / community the units and companies active in its area, with figures over
 * the area's sites only; a property company its own row; a maintenance unit its own. Anything
 * else is 403. Definitions: docs/supervision-scorecards.md.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { addDays, startOfDate } from '../../core/dates.js';
import { badRequest, forbidden } from '../../core/errors.js';
import { canSeeAlert, canSeeSite, type Principal, type Registry } from '../../registry/index.js';
import type { Presence } from '../../ingest/index.js';
import type { AlertFact, AlertFacts } from '../../alerts/index.js';
import type { RankingConfig, ScorecardsConfig } from '../config.js';
import type { OrderFact, OrderSource, VisitFact, VisitSource } from '../facts.js';
import { parsePeriod, periodOf, type Period } from './period.js';
import {
  UNIT_ALERT_TYPES, companyFigures, companyScoreParts, isIncident, rank, unitFigures, unitScoreParts,
  type CompanyFigures, type ElevatorRef, type Named, type Place, type Rate, type Ranking, type UnitFigures,
} from './figures.js';
import { REPORT_SECTIONS, reportCsv, reportXlsx, sectionsOf, type IncidentLine, type OrderLine, type ReportData } from './report.js';
import { PUBLIC_STYLE_HASH, PublicRateLimit, renderRankingError, renderRankingPage, type PublicPlace, type PublicRanking } from './public-page.js';

export { parsePeriod, periodOf, type Period } from './period.js';
export { FAULT_TYPES, UNIT_WEIGHTS, COMPANY_WEIGHTS, type Rate, type Average, type UnitFigures, type CompanyFigures, type Ranking, type Place } from './figures.js';

export interface ScorecardsDeps {
  registry: Registry;
  alerts: Pick<AlertFacts, 'inPeriod'>;
  visits: VisitSource;
  orders: OrderSource;
  /** Device online rate of a company's sites. */
  presence: Pick<Presence, 'get'>;
  clock: Clock;
  config: { scorecards: ScorecardsConfig; ranking: RankingConfig };
  /** Periods (2026-11, 2026-Q4) are calendar months and quarters in this time zone. */
  timeZone: string;
}

/** What a caller's rows are made of: which tables, narrowed to one entity or to an area's sites. */
interface View {
  units: boolean;
  companies: boolean;
  /** Only this unit / company (the maintenance and property roles). */
  unitId?: string | undefined;
  companyId?: string | undefined;
  /** Street / community: the figures count only these sites. */
  area?: ReadonlySet<string> | undefined;
}

export interface UnitRow extends UnitFigures { links: { trapped: string; alerts: string; visits: string } }
export interface CompanyRow extends CompanyFigures { links: { alerts: string; orders: string } }

export type Kind = 'maintenance-units' | 'companies';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
/** The public page: a few visits a minute per address ... */
const PUBLIC_RATE = { burst: 20, perMinute: 20 };
/** ... and a period's ranking computed at most once a minute (on the alert clock). */
const PUBLIC_CACHE_MS = 60_000;
/** Requests within this of a read of the same period's facts reuse it (see `shared`). */
const FACTS_REUSE_MS = 5_000;

const byName = (a: Named, b: Named) => a.name.localeCompare(b.name, 'zh-CN') || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
/** A period's bounds as the list APIs take them: ISO date-times (UTC), `to` exclusive. */
const bounds = (p: Period) => ({ from: new Date(p.from).toISOString(), to: new Date(p.to).toISOString() });
const q = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();

/**
 * How much of a period one read covers. On SQLite a read is synchronous: a quarter of a city's
 * alerts in one read would hold the event loop (MQTT acknowledgements, alert delivery) for a
 * second; a day's read holds it for a few milliseconds, and the loop runs between two.
 */
const SLICE_MS = 86_400_000;

/** `read` over [from, to) a slice at a time, in order, yielding to the event loop between slices. */
async function sliced<T>(from: number, to: number, read: (from: number, to: number) => Promise<T[]>): Promise<T[]> {
  const parts: T[][] = [];
  for (let at = from; at < to; at += SLICE_MS) {
    parts.push(await read(at, Math.min(at + SLICE_MS, to)));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return parts.flat();
}

export class Scorecards {
  private readonly limit = new PublicRateLimit(PUBLIC_RATE.burst, PUBLIC_RATE.perMinute);
  private readonly publicCache = new Map<string, { at: number; page: PublicRanking }>();
  private readonly reads = new Map<string, { at: number; value: Promise<unknown> }>();
  private readonly timeFormat: Intl.DateTimeFormat;

  constructor(private readonly deps: ScorecardsDeps) {
    this.timeFormat = new Intl.DateTimeFormat('sv-SE', {
      timeZone: deps.timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
  }

  /** The period `text` names, judged against the alert clock (400 when it is not one). */
  period(text: string | undefined): Period {
    return parsePeriod(text, this.deps.timeZone, this.deps.clock.now());
  }

  // ---- who sees what ----

  private view(p: Principal): View {
    switch (p.role) {
      case 'admin': case 'market-supervision': return { units: true, companies: true };
      case 'fire-service': return { units: false, companies: true };
      case 'property': return { units: false, companies: true, companyId: p.scope ?? '' };
      case 'maintenance': return { units: true, companies: false, unitId: p.scope ?? '' };
      case 'street': case 'community': {
        const area = new Set(this.deps.registry.listSites().filter((s) => canSeeSite(p, s)).map((s) => s.id));
        return { units: true, companies: true, area };
      }
    }
  }

  private need(v: View, kind: Kind): void {
    if (kind === 'maintenance-units' && !v.units) throw forbidden('无权查看维保单位考核 / maintenance unit scorecards are outside your scope');
    if (kind === 'companies' && !v.companies) throw forbidden('无权查看物业企业考核 / property company scorecards are outside your scope');
  }

  private inArea = (v: View, siteId: string | null) => v.area === undefined || (siteId !== null && v.area.has(siteId));

  // ---- facts ----

  /**
   * A read of a period's facts, reused by the requests of the next few seconds (FACTS_REUSE_MS, wall
   * time). The console asks for the scorecards and both rankings at once, and a quarter of a city
   * is a second's read that, on SQLite, holds the event loop: read once, not four times. Figures
   * are therefore at most that old; a failed read is not kept.
   */
  private shared<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = Date.now();
    for (const [k, e] of this.reads) if (now - e.at >= FACTS_REUSE_MS) this.reads.delete(k);
    const hit = this.reads.get(key);
    if (hit !== undefined) return hit.value as Promise<T>;
    const entry = { at: now, value: read() };
    entry.value.catch(() => { if (this.reads.get(key) === entry) this.reads.delete(key); });
    this.reads.set(key, entry);
    return entry.value;
  }

  /** Forgets the facts kept for reuse (the benchmark measures reads, not the reuse). */
  forget(): void {
    this.reads.clear();
  }

  private async alertFacts(period: Period, v: View, types?: readonly string[]): Promise<AlertFact[]> {
    const maintenanceUnitId = v.companies ? undefined : v.unitId;
    const companyId = v.units ? undefined : v.companyId;
    const all = await this.shared(`alerts ${period.from} ${period.to} ${maintenanceUnitId ?? ''} ${companyId ?? ''} ${types?.join(',') ?? '*'}`,
      () => sliced(period.from, period.to, (from, to) => this.deps.alerts.inPeriod({ from, to, types, maintenanceUnitId, companyId })));
    return v.area === undefined ? all : all.filter((f) => v.area!.has(f.siteId));
  }

  private elevators(v: View): ElevatorRef[] {
    const out: ElevatorRef[] = [];
    // a city's elevators share a few hundred due dates; each date's midnight asks Intl, which is slow
    const dueEnds = new Map<string, number | null>();
    const dueEnd = (date: string) => {
      let end = dueEnds.get(date);
      if (end === undefined) {
        // registry dates are checked dates (YYYY-MM-DD)
        end = startOfDate(addDays(date, 1), this.deps.timeZone) ?? null;
        dueEnds.set(date, end);
      }
      return end;
    };
    for (const d of this.deps.registry.listDevices()) {
      if (d.kind !== 'elevator' || d.disabled || !this.inArea(v, d.siteId)) continue;
      const inspectionDueEnd = d.nextInspectionDue === undefined ? null : dueEnd(d.nextInspectionDue);
      out.push({ id: d.id, siteId: d.siteId, maintenanceUnitId: d.maintenanceUnitId, createdAt: d.createdAt, inspectionDueEnd });
    }
    return out;
  }

  /** The unit entries of the caller's rows: all, its own, or those active in its area (elevators there now, or alerts / visits there in the period). */
  private unitList(v: View, elevators: readonly ElevatorRef[], alerts: readonly AlertFact[], visits: readonly VisitFact[]): Named[] {
    const { registry } = this.deps;
    const named = (id: string): Named => ({ id, name: registry.getMaintenanceUnit(id)?.name ?? id });
    if (v.unitId !== undefined) return registry.getMaintenanceUnit(v.unitId) ? [named(v.unitId)] : [];
    if (v.area === undefined) return registry.listMaintenanceUnits().map((u) => ({ id: u.id, name: u.name })).sort(byName);
    const ids = new Set<string>();
    for (const e of elevators) if (e.maintenanceUnitId) ids.add(e.maintenanceUnitId);
    for (const a of alerts) if (a.maintenanceUnitId) ids.add(a.maintenanceUnitId);
    for (const x of visits) ids.add(x.unitId);
    return [...ids].filter((id) => registry.getMaintenanceUnit(id)).map(named).sort(byName);
  }

  private companyList(v: View, alerts: readonly AlertFact[]): Named[] {
    const { registry } = this.deps;
    const named = (id: string): Named => ({ id, name: registry.getCompany(id)?.name ?? id });
    if (v.companyId !== undefined) return registry.getCompany(v.companyId) ? [named(v.companyId)] : [];
    if (v.area === undefined) return registry.listCompanies().map((c) => ({ id: c.id, name: c.name })).sort(byName);
    const ids = new Set<string>();
    for (const s of registry.listSites()) if (v.area.has(s.id)) ids.add(s.companyId);
    for (const a of alerts) ids.add(a.companyId);
    return [...ids].filter((id) => registry.getCompany(id)).map(named).sort(byName);
  }

  private unitLinks(id: string, p: Period): UnitRow['links'] {
    const span = bounds(p);
    return {
      trapped: `/api/v1/alerts?${q({ type: 'elevator.trapped', maintenanceUnitId: id, ...span })}`,
      alerts: `/api/v1/alerts?${q({ maintenanceUnitId: id, ...span })}`,
      visits: `/api/v1/maintenance-visits?${q({ unitId: id, ...span })}`,
    };
  }

  private companyLinks(id: string, p: Period): CompanyRow['links'] {
    return {
      alerts: `/api/v1/alerts?${q({ companyId: id, ...bounds(p) })}`,
      orders: `/api/v1/orders?${q({ targetType: 'company', targetId: id })}`,
    };
  }

  private async unitRowsFrom(period: Period, v: View, alerts: readonly AlertFact[]): Promise<UnitRow[]> {
    const { config } = this.deps;
    const interval = config.scorecards.maintenanceInterval;
    const elevators = this.elevators(v);
    // from one interval before the period: the last valid visit before it decides its first days
    const from = period.from - interval;
    const visits = (await this.shared(`visits ${from} ${period.to}`, () => sliced(from, period.to, (a, b) => this.deps.visits.inPeriod({ from: a, to: b }))))
      .filter((x) => this.inArea(v, x.siteId));
    const units = this.unitList(v, elevators, alerts, visits.filter((x) => x.startedAt >= period.from));
    const rows = unitFigures({
      period, now: this.deps.clock.now(), responseWithinMs: config.scorecards.responseWithin, maintenanceIntervalMs: interval,
      units, elevators, alerts, visits,
    });
    return rows.map((r) => ({ ...r, links: this.unitLinks(r.id, period) }));
  }

  private async companyRowsFrom(period: Period, v: View, alerts: readonly AlertFact[]): Promise<CompanyRow[]> {
    const { registry, presence } = this.deps;
    const companies = this.companyList(v, alerts);
    const sites = registry.listSites().filter((s) => this.inArea(v, s.id)).map((s) => ({ id: s.id, companyId: s.companyId }));
    const devices = registry.listDevices().filter((d) => this.inArea(v, d.siteId))
      .map((d) => ({ id: d.id, siteId: d.siteId, disabled: d.disabled, online: presence.get(d.id)?.online === true }));
    const orders = (await this.deps.orders.inPeriod({ from: period.from, to: period.to, targetType: 'company', targetId: v.companyId }))
      .filter((o) => v.area === undefined || this.inArea(v, o.siteId));
    const rows = companyFigures({ period, now: this.deps.clock.now(), companies, sites, devices, alerts, orders });
    return rows.map((r) => ({ ...r, links: this.companyLinks(r.id, period) }));
  }

  /** The caller's unit rows for the period (403 when it may not read them). */
  async unitRows(p: Principal, period: Period): Promise<UnitRow[]> {
    const v = this.view(p);
    this.need(v, 'maintenance-units');
    return this.unitRowsFrom(period, v, await this.unitFacts(period, v));
  }

  /**
   * The alerts the unit figures read: only their types for one unit's row; all of them otherwise,
   * the same read as the company figures' (reused by the page's other requests: see `shared`).
   */
  private unitFacts(period: Period, v: View): Promise<AlertFact[]> {
    return this.alertFacts(period, v, v.unitId !== undefined ? UNIT_ALERT_TYPES : undefined);
  }

  /** The caller's company rows for the period (403 when it may not read them). */
  async companyRows(p: Principal, period: Period): Promise<CompanyRow[]> {
    const v = this.view(p);
    this.need(v, 'companies');
    return this.companyRowsFrom(period, v, await this.alertFacts(period, v));
  }

  /**
   * The red and black lists of what the caller may see. A property company or a maintenance unit
   * sees only its own row, and a ranking of one is none: 403.
   */
  async ranking(p: Principal, kind: Kind, period: Period, red: number, black: number): Promise<Ranking<UnitRow> | Ranking<CompanyRow>> {
    if (p.role === 'property' || p.role === 'maintenance') throw forbidden('排名只对监管部门开放 / the ranking is for the supervising authorities');
    return kind === 'maintenance-units'
      ? rank(await this.unitRows(p, period), unitScoreParts, red, black)
      : rank(await this.companyRows(p, period), companyScoreParts, red, black);
  }

  // ---- reports ----

  async report(p: Principal, period: Period): Promise<ReportData> {
    const { registry } = this.deps;
    const v = this.view(p);
    const alerts = await this.alertFacts(period, v);
    const units = v.units ? await this.unitRowsFrom(period, v, alerts) : undefined;
    const companies = v.companies ? await this.companyRowsFrom(period, v, alerts) : undefined;
    const unitIds = new Set(units?.map((u) => u.id));
    const companyIds = new Set(companies?.map((c) => c.id));
    const siteName = (id: string | null) => (id === null ? null : registry.getSite(id)?.name ?? id);
    const orders: OrderLine[] = (await this.deps.orders.inPeriod({ from: period.from, to: period.to }))
      .filter((o: OrderFact) => (o.targetType === 'company' ? companyIds : unitIds).has(o.targetId) && this.inArea(v, o.siteId))
      .map((o) => ({
        ...o,
        targetName: (o.targetType === 'company' ? registry.getCompany(o.targetId)?.name : registry.getMaintenanceUnit(o.targetId)?.name) ?? o.targetId,
        siteName: siteName(o.siteId),
      }));
    const incidents: IncidentLine[] = [];
    for (const a of alerts) {
      const kind = isIncident(a);
      // the area's alerts were chosen by site above; the others by the alert scope rule
      if (kind === undefined || (v.area === undefined && !canSeeAlert(p, a))) continue;
      incidents.push({
        id: a.id, kind, siteId: a.siteId, siteName: siteName(a.siteId) ?? a.siteId, companyName: registry.getCompany(a.companyId)?.name ?? a.companyId,
        unitName: a.maintenanceUnitId === null ? null : registry.getMaintenanceUnit(a.maintenanceUnitId)?.name ?? a.maintenanceUnitId,
        deviceId: a.deviceId, openedAt: a.openedAt, arrivedAt: a.arrivedAt, endedAt: a.resolvedAt ?? a.clearedAt ?? a.closedAt, state: a.state,
      });
    }
    return {
      periodId: period.id, complete: period.complete, time: (ms) => (ms === null ? '' : this.timeFormat.format(new Date(ms))),
      units, companies, orders, incidents,
    };
  }

  // ---- the public page ----

  /** The public ranking: every entity, names and figures as text, nothing else. Computed at most once a minute per period and kind. */
  async publicRanking(kind: Kind, period: Period): Promise<PublicRanking> {
    const key = `${kind} ${period.id}`;
    const now = this.deps.clock.now();
    const cached = this.publicCache.get(key);
    if (cached && now - cached.at < PUBLIC_CACHE_MS) return cached.page;
    const { red, black } = this.deps.config.ranking;
    // everything, as market supervision sees it; only names and figures leave this function
    const v: View = { units: true, companies: true };
    const r = kind === 'maintenance-units'
      ? rank(await this.unitRowsFrom(period, v, await this.unitFacts(period, v)), unitScoreParts, red, black)
      : rank(await this.companyRowsFrom(period, v, await this.alertFacts(period, v)), companyScoreParts, red, black);
    const text = (pl: Place<UnitRow> | Place<CompanyRow>): PublicPlace => ({
      place: pl.place, name: pl.name, score: pl.score,
      figures: kind === 'maintenance-units' ? publicUnitFigures(pl.figures as UnitRow) : publicCompanyFigures(pl.figures as CompanyRow),
    });
    const page: PublicRanking = {
      kind, period: period.id, complete: period.complete, ranked: r.ranked,
      red: (r.red as Array<Place<UnitRow> | Place<CompanyRow>>).map(text), black: (r.black as Array<Place<UnitRow> | Place<CompanyRow>>).map(text),
    };
    if (this.publicCache.size > 100) this.publicCache.clear();
    this.publicCache.set(key, { at: now, page });
    return page;
  }

  /** The last quarter that has ended: what the public page shows when no period is asked for. */
  private lastQuarter(): Period {
    const now = this.deps.clock.now();
    const [y, m] = this.timeFormat.format(new Date(now)).slice(0, 7).split('-').map(Number) as [number, number];
    const qNow = Math.floor((m - 1) / 3) + 1;
    const id = qNow === 1 ? `${y - 1}-Q4` : `${y}-Q${qNow - 1}`;
    return periodOf(id, this.deps.timeZone, now)!;
  }

  // ---- HTTP ----

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const { ranking } = this.deps.config;
    const periodQuery = { period: z.string().max(16).optional().describe('2026-11 (a month) or 2026-Q4 (a quarter), in the installation\'s time zone') };
    const size = (fallback: number) => z.coerce.number().int().min(0).max(100).default(fallback);
    const answer = <T>(period: Period, body: T) => ({ period: { id: period.id, kind: period.kind, from: period.from, to: period.to, complete: period.complete }, ...body });

    r.get('/scorecards/maintenance-units', {
      schema: { tags: ['supervision'], summary: 'Maintenance unit scorecards (维保单位考核) for a month or a quarter: one row per unit, each rate with its counts', querystring: z.object(periodQuery) },
    }, async (req) => {
      const period = this.period(req.query.period);
      return answer(period, { items: await this.unitRows(req.principal, period) });
    });

    r.get('/scorecards/companies', {
      schema: { tags: ['supervision'], summary: 'Property company scorecards (物业企业考核) for a month or a quarter', querystring: z.object(periodQuery) },
    }, async (req) => {
      const period = this.period(req.query.period);
      return answer(period, { items: await this.companyRows(req.principal, period) });
    });

    for (const kind of ['maintenance-units', 'companies'] as const) {
      r.get(`/rankings/${kind}`, {
        schema: {
          tags: ['supervision'],
          summary: `Red and black lists (红黑榜) of ${kind === 'companies' ? 'property companies' : 'maintenance units'}: best and worst by score, ties by name`,
          querystring: z.object({ ...periodQuery, red: size(ranking.red), black: size(ranking.black) }),
        },
      }, async (req) => {
        const period = this.period(req.query.period);
        return answer(period, await this.ranking(req.principal, kind, period, req.query.red, req.query.black));
      });
    }

    r.get('/reports', {
      schema: {
        tags: ['supervision'],
        summary: 'The period\'s report (季度通报): XLSX with a sheet per section, or one section as CSV',
        querystring: z.object({ ...periodQuery, format: z.enum(['csv', 'xlsx']), section: z.enum(REPORT_SECTIONS).optional().describe('CSV: required') }),
        produces: ['text/csv', XLSX_TYPE],
      },
    }, async (req, reply) => {
      const period = this.period(req.query.period);
      const { format, section } = req.query;
      if (format === 'csv' && section === undefined) {
        throw badRequest(`CSV 报表需要 section=${REPORT_SECTIONS.join('|')} / a CSV report needs ?section=${REPORT_SECTIONS.join('|')}`, [{ path: 'section', message: 'required for CSV' }]);
      }
      const data = await this.report(req.principal, period);
      if (section !== undefined && !sectionsOf(data).includes(section)) throw forbidden('该部分不在您的权限范围内 / that section is outside your scope');
      const name = `report-${period.id}${section ? `-${section}` : ''}`;
      reply.header('cache-control', 'no-store');
      if (format === 'csv') {
        return reply.header('content-disposition', `attachment; filename="${name}.csv"`).type('text/csv; charset=utf-8').send(reportCsv(data, section!));
      }
      // exceljs is loaded on the first workbook (about 0.3 s), not at every start
      const { default: ExcelJS } = (await import('exceljs')) as unknown as { default: { Workbook: Parameters<typeof reportXlsx>[1] } };
      return reply.header('content-disposition', `attachment; filename="${name}.xlsx"`).type(XLSX_TYPE).send(await reportXlsx(data, ExcelJS.Workbook));
    });
  };

  /** The public ranking page (no login), registered only when `ranking.public` is on. */
  readonly publicRoutes: FastifyPluginAsync = async (app) => {
    const csp = `default-src 'none'; script-src 'none'; style-src ${PUBLIC_STYLE_HASH}; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
    const secure = (reply: FastifyReply, cache: string) => reply.header('content-security-policy', csp).header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY').header('cache-control', cache).header('vary', 'Accept');
    const json = (req: FastifyRequest) => /\bapplication\/json\b/i.test(req.headers.accept ?? '') && !/\btext\/html\b/i.test(req.headers.accept ?? '');
    const refuse = (req: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string) => {
      secure(reply, 'no-store').status(status);
      return json(req) ? reply.type('application/json; charset=utf-8').send({ error: { code, message } }) : reply.type('text/html; charset=utf-8').send(renderRankingError(message));
    };

    app.addHook('onRequest', async (req, reply) => {
      const wait = this.limit.take(req.ip, Date.now());
      if (wait === 0) return;
      reply.header('retry-after', String(wait));
      return refuse(req, reply, 429, 'GW_RATE_LIMITED', '请求过于频繁，请稍后再试 / too many requests from this address; try again later');
    });

    app.get('/public/rankings', {
      schema: {
        tags: ['public'], security: [],
        summary: 'The published red and black lists (红黑榜公示): names and figures only (HTML, or JSON with Accept: application/json)',
        querystring: z.object({ period: z.string().max(16).optional(), kind: z.string().max(32).optional() }),
      },
    }, async (req, reply) => {
      const { period: text, kind = 'maintenance-units' } = req.query as { period?: string; kind?: string };
      if (kind !== 'maintenance-units' && kind !== 'companies') {
        return refuse(req, reply, 400, 'GW_BAD_REQUEST', 'kind 须为 maintenance-units 或 companies / kind must be maintenance-units or companies');
      }
      let period: Period;
      try {
        period = text === undefined ? this.lastQuarter() : this.period(text);
      } catch (err) {
        return refuse(req, reply, 400, 'GW_BAD_REQUEST', (err as Error).message);
      }
      const page = await this.publicRanking(kind, period);
      secure(reply, 'public, max-age=60');
      return json(req) ? reply.type('application/json; charset=utf-8').send(page) : reply.type('text/html; charset=utf-8').send(renderRankingPage(page));
    });
  };
}

// ---- the public figures, as text ----

const percent = (r: Rate) => (r.rate === null ? '—' : `${(r.rate * 100).toFixed(1)}%`);
const ratio = (r: Rate) => (r.rate === null ? '—' : r.rate.toFixed(2));

function publicUnitFigures(u: UnitFigures): Record<string, string> {
  return {
    elevators: String(u.elevators), response: percent(u.response), arrival: percent(u.arrival),
    averageArrival: u.averageArrival.ms === null ? '—' : (u.averageArrival.ms / 60_000).toFixed(1),
    faultsPerElevator: ratio(u.faultsPerElevator), trappedPerElevator: ratio(u.trappedPerElevator),
    maintenanceOnTime: percent(u.maintenanceOnTime), suspectVisits: String(u.visits.suspect), inspectionsOnTime: percent(u.inspectionsOnTime),
  };
}

function publicCompanyFigures(c: CompanyFigures): Record<string, string> {
  return {
    sites: String(c.sites), alerts: String(c.alerts), closedInTime: percent(c.closedInTime), ordersOverdue: String(c.ordersOverdue.count),
    incidents: String(c.incidents.total), online: percent(c.online), coverage: percent(c.coverage),
  };
}
