/**
 * Maintenance visits (维保记录): a maintenance account signs in at an elevator it maintains and signs
 * out when done; the visit is then judged against the elevator's own telemetry (judge.ts). It is
 * valid when the terminal showed inspection / maintenance mode for at least `minModeDuration`
 * during it, and otherwise suspect (疑似虚假维保): counted and listed, never silently accepted.
 * A visit nobody signed out of is ended by the gateway after `maxOpen` (never valid).
 *
 * The last valid visit of each elevator is kept in memory: the 15-day maintenance check (alerts)
 * and the public notice read it synchronously. In cluster mode each change is announced to the
 * other nodes (`visit:{deviceId}`) in the commit that makes it, and they read that elevator again.
 */
import type { FastifyPluginAsync } from 'fastify';
import { StoreConflictError, type Database, type Store } from '../../core/db/store.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../core/audit.js';
import { canSeeSite, type Principal, type Registry } from '../../registry/index.js';
import type { TimeSeriesWriter } from '../../ingest/index.js';
import type { VisitsConfig } from '../config.js';
import type { VisitFact, VisitSource } from '../facts.js';
import { VisitError } from './errors.js';
import { modeReadings, modeTime } from './judge.js';
import { VISIT_MIGRATIONS, visitQueries, type VisitFilter, type VisitRow, type VisitScope, type VisitsTables } from './store.js';
import { visitRoutes } from './routes.js';
import { DueCheck } from '../../core/due-check.js';

export { VISIT_ERRORS, VisitError, type VisitErrorCode } from './errors.js';
export { modeTime } from './judge.js';

/** How long a finish waits for the time-series writer to make the latest readings queryable. */
const FLUSH_TIMEOUT_MS = 5_000;
/** Who finishes a visit left open. */
export const SYSTEM_ACTOR = 'system';

export interface VisitsDeps {
  db: Database;
  registry: Registry;
  /**
   * The stored readings a visit is judged on. The composition root passes the writer itself:
   * its `flush` brings what was just received (InfluxDB's spool) into what `query` sees.
   */
  telemetry: Pick<TimeSeriesWriter, 'query' | 'flush'>;
  clock: Clock;
  config: VisitsConfig;
  /** The installation's time zone: a list's `from=2025-06-01` is midnight there. */
  timeZone: string;
  audit: AuditLog;
  log: Logger;
  /** A valid visit ended: the elevator's 15-day maintenance check is run again now. */
  onValidVisit: (deviceId: string) => void;
}

/** A visit as the API answers it: with the names people read next to the ids. */
export interface VisitView {
  id: number;
  state: 'open' | 'finished';
  deviceId: string;
  location: string | null;
  registrationCode: string | null;
  siteId: string;
  siteName: string;
  companyId: string;
  companyName: string;
  unitId: string;
  unitName: string;
  startedAt: number;
  startedBy: string;
  finishedAt: number | null;
  /** An account id, or 'system' when the gateway ended it after `maxOpen`. */
  finishedBy: string | null;
  autoFinished: boolean;
  items: string[];
  note: string | null;
  /** Time in inspection / maintenance mode during the visit; null while it is under way. */
  modeMs: number | null;
  /** The same in whole minutes, rounded down (19.9 minutes never reads as 20); null while under way. */
  modeMinutes: number | null;
  valid: boolean;
  suspect: boolean;
}

export interface VisitListQuery {
  deviceId?: string | undefined;
  unitId?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  suspect?: boolean | undefined;
  /** The id of the last visit of the previous page. */
  before?: number | undefined;
  limit: number;
}

/** The roles that may start and finish visits (a maintenance account within its unit, an admin anywhere). */
const MAY_SIGN: ReadonlySet<string> = new Set(['admin', 'maintenance']);

/**
 * Which visits a principal may read (undefined: none at all, the fire service): maintenance its
 * unit's, property its company's, street / community their area's sites, market supervision and
 * admin all. A visit keeps the company and unit of when it happened, as closed alerts do.
 */
function visitScope(p: Principal, registry: Registry): VisitScope | undefined {
  switch (p.role) {
    case 'admin': case 'market-supervision': return { all: true };
    case 'maintenance': return { unitId: p.scope ?? '' };
    case 'property': return { companyId: p.scope ?? '' };
    case 'street': case 'community': return { siteIds: registry.listSites().filter((s) => canSeeSite(p, s)).map((s) => s.id) };
    case 'fire-service': return undefined;
  }
}

function inScope(s: VisitScope, row: Pick<VisitRow, 'unit_id' | 'company_id' | 'site_id'>): boolean {
  if ('all' in s) return true;
  if ('unitId' in s) return row.unit_id === s.unitId;
  if ('companyId' in s) return row.company_id === s.companyId;
  return s.siteIds.includes(row.site_id);
}

const alreadyFinished = (id: number) => new VisitError('VISIT_ALREADY_FINISHED', `维保记录 ${id} 已结束 / visit ${id} has already been finished`);

export class MaintenanceVisits implements VisitSource {
  /** The end of each elevator's last valid visit. */
  private readonly lastValid = new Map<string, number>();
  /**
   * Visits this node is starting, until their commit: a second start of the same elevator while the
   * first is under way waits for it and is refused with its id (the store's unique index decides between nodes).
   */
  private readonly starting = new Map<string, Promise<number>>();
  /** Visits being judged now: a second finish of the same one waits for nothing and is refused. */
  private readonly finishing = new Set<number>();
  private readonly store: Store<VisitsTables>;
  private readonly queries: ReturnType<typeof visitQueries>;
  private readonly modes: ReadonlySet<string>;
  /** Visits left open past `maxOpen` are ended by the timer leader. */
  private readonly check: DueCheck;
  /** The runs of `finishDue`, one after the other. */
  private due: Promise<void> = Promise.resolve();

  private constructor(private readonly deps: VisitsDeps) {
    this.store = deps.db.store<VisitsTables>();
    this.queries = visitQueries(this.store.q);
    this.modes = new Set(deps.config.modes);
    this.check = new DueCheck(deps.clock, deps.config.checkEvery, () => void this.finishDue());
  }

  static async open(deps: VisitsDeps): Promise<MaintenanceVisits> {
    const v = new MaintenanceVisits(deps);
    await v.store.migrate('visits', VISIT_MIGRATIONS);
    await v.store.prepareIds('maintenance_visits');
    for (const r of await v.store.all(v.queries.lastValidAll())) if (r.at !== null) v.lastValid.set(r.device_id, Number(r.at));
    return v;
  }

  // ---- what the scorecards, the 15-day check and the public notice read ----

  lastValidVisitAt(deviceId: string): number | undefined {
    return this.lastValid.get(deviceId);
  }

  async inPeriod(f: { from: number; to: number; unitId?: string | undefined; deviceId?: string | undefined }): Promise<VisitFact[]> {
    return (await this.store.all(this.queries.inPeriod(f))).map((r) => ({
      id: r.id, deviceId: r.device_id, siteId: r.site_id, companyId: r.company_id, unitId: r.unit_id, startedAt: r.started_at,
      finishedAt: r.finished_at, valid: r.valid === 1, suspect: r.suspect === 1, modeMs: r.mode_ms ?? 0,
    }));
  }

  // ---- the API's actions ----

  /** Signs in at an elevator: a maintenance account of the unit that maintains it, or an admin. */
  async startVisit(p: Principal, deviceId: string): Promise<VisitView> {
    const { registry, clock, audit } = this.deps;
    // refused by role before the elevator is looked at, so the answer says nothing about it
    if (!MAY_SIGN.has(p.role)) throw new VisitError('VISIT_FORBIDDEN', '只有维保单位账号可以开始维保 / only a maintenance account may start a maintenance visit');
    const device = registry.getDevice(deviceId);
    const maintains = device?.kind === 'elevator' && (p.role === 'admin' || device.maintenanceUnitId === p.scope);
    if (!device || !maintains) throw new VisitError('VISIT_NOT_FOUND', `电梯 ${deviceId} 不存在 / elevator ${deviceId} not found`);
    const unitId = device.maintenanceUnitId;
    if (!unitId) throw new VisitError('VISIT_NO_UNIT', `电梯 ${deviceId} 未登记维保单位 / elevator ${deviceId} has no maintenance unit registered`);
    // a start of the same elevator already under way on this node: its answer is this one's
    const other = this.starting.get(deviceId);
    if (other !== undefined) {
      const otherId = await other.catch(() => undefined);
      if (otherId !== undefined) throw alreadyOpen(deviceId, otherId);
    }
    let started!: (id: number) => void;
    let failed!: (err: unknown) => void;
    const mine = new Promise<number>((resolve, reject) => { started = resolve; failed = reject; });
    // no unhandled rejection when no second start waits on it
    mine.catch(() => {});
    // reserved before the first await, so that a second start in the meantime waits for this one
    this.starting.set(deviceId, mine);
    let row: VisitRow;
    try {
      // the store (which on PostgreSQL waits for this node's writes)
      const underWay = (await this.store.get(this.queries.openOf(deviceId)))?.id;
      if (underWay !== undefined) throw alreadyOpen(deviceId, underWay);
      row = {
        id: this.store.nextId('maintenance_visits'), device_id: deviceId, site_id: device.siteId, company_id: device.companyId, unit_id: unitId,
        started_at: clock.now(), started_by: p.id, finished_at: null, finished_by: null, items: null, note: null, mode_ms: null, valid: 0, suspect: 0, auto_finished: 0,
      };
      const written = row;
      this.store.transaction(() => {
        this.store.write(this.queries.insert(written));
        audit.record(p.id, 'visit.start', `visit:${written.id}`, { deviceId, unitId });
        this.store.notify('supervision', [`visit:${deviceId}`]);
      });
      await this.store.durable();
      started(row.id);
    } catch (err) {
      failed(err);
      throw err;
    } finally {
      if (this.starting.get(deviceId) === mine) this.starting.delete(deviceId);
    }
    return this.view(row);
  }

  /** Signs out: an account of the visit's unit, or an admin. The visit is judged on the telemetry now. */
  async finishVisit(p: Principal, id: number, body: { items?: string[] | undefined; note?: string | undefined }): Promise<VisitView> {
    if (!MAY_SIGN.has(p.role)) throw new VisitError('VISIT_FORBIDDEN', '只有维保单位账号可以结束维保 / only a maintenance account may finish a maintenance visit');
    const row = await this.visibleRow(p, id);
    this.refuseFinished(row);
    const finishedAt = this.deps.clock.now();
    const finished = await this.judgeAndFinish(row, finishedAt, { by: p.id, items: body.items ?? [], note: body.note ?? null, auto: false });
    return this.view(finished);
  }

  /** A visit the caller may read; 404 otherwise (and 403 for a role that reads none). */
  async visible(p: Principal, id: number): Promise<VisitView> {
    return this.view(await this.visibleRow(p, id));
  }

  async list(p: Principal, q: VisitListQuery): Promise<VisitView[]> {
    const scope = this.scopeOf(p);
    let after: VisitFilter['after'];
    if (q.before !== undefined) {
      const last = await this.store.get(this.queries.byId(q.before));
      if (!last || !inScope(scope, last)) throw new VisitError('VISIT_BAD_QUERY', `before: 没有维保记录 ${q.before} / no visit ${q.before}`, [{ path: 'before', message: 'unknown visit' }]);
      after = { startedAt: last.started_at, id: last.id };
    }
    const rows = await this.store.all(this.queries.list({ scope, deviceId: q.deviceId, unitId: q.unitId, from: q.from, to: q.to, suspect: q.suspect, after, limit: q.limit }));
    return rows.map((r) => this.view(r));
  }

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = visitRoutes(this, () => this.deps.timeZone);

  // ---- visits left open ----

  /** Whether this node ends visits left open (cluster mode: only the timer leader). */
  get leading(): boolean { return this.check.leading; }

  /** Cluster mode: only the timer leader ends visits left open (`maxOpen`). */
  setLeading(leading: boolean): void { this.check.setLeading(leading); }
  start(): void { this.check.start(); }
  stop(): void { this.check.stop(); }

  /**
   * Ends every visit open for `maxOpen` or longer, judged on the telemetry up to `startedAt + maxOpen`
   * (then it counts as finished). Runs one after another: what resolves has seen every earlier call through.
   */
  finishDue(): Promise<void> {
    this.due = this.due.then(() => this.finishDueNow()).catch((err: unknown) => {
      this.deps.log.error({ err }, 'ending maintenance visits left open failed');
    });
    return this.due;
  }

  private async finishDueNow(): Promise<void> {
    if (!this.check.leading || !this.store.open) return;
    const { maxOpen } = this.deps.config;
    for (const row of await this.store.all(this.queries.dueOpen(this.deps.clock.now() - maxOpen))) {
      if (this.finishing.has(row.id)) continue;
      try {
        await this.judgeAndFinish(row, row.started_at + maxOpen, { by: SYSTEM_ACTOR, items: [], note: null, auto: true });
      } catch (err) {
        // the next check tries again (the readings could not be flushed, or someone finished it meanwhile)
        this.deps.log.warn({ err, visitId: row.id }, 'a maintenance visit left open could not be ended now');
      }
    }
  }

  // ---- cluster mode ----

  /** Another node's committed change (ids `visit:{deviceId}`): that elevator's last valid visit is read again. */
  async onNotice(ids: readonly string[]): Promise<void> {
    for (const key of ids) {
      const deviceId = key.slice('visit:'.length);
      const at = (await this.store.get(this.queries.lastValidOf(deviceId)))?.at;
      const before = this.lastValid.get(deviceId);
      if (at === null || at === undefined || Number(at) === before) continue;
      this.lastValid.set(deviceId, Number(at));
      this.deps.onValidVisit(deviceId);
    }
  }

  // ---- inside ----

  private scopeOf(p: Principal): VisitScope {
    const scope = visitScope(p, this.deps.registry);
    if (!scope) throw new VisitError('VISIT_FORBIDDEN', '此角色不能查看维保记录 / your role may not read maintenance visits');
    return scope;
  }

  private async visibleRow(p: Principal, id: number): Promise<VisitRow> {
    const scope = this.scopeOf(p);
    const row = await this.store.get(this.queries.byId(id));
    if (!row || !inScope(scope, row)) throw new VisitError('VISIT_NOT_FOUND', `维保记录 ${id} 不存在 / visit ${id} not found`);
    return row;
  }

  private refuseFinished(row: VisitRow): void {
    if (row.finished_at !== null || this.finishing.has(row.id)) throw alreadyFinished(row.id);
  }

  /**
   * Judges the visit on the telemetry of [startedAt, finishedAt] and stores the outcome, with its
   * audit entry and the notice to the other nodes, in one unit of work.
   */
  private async judgeAndFinish(row: VisitRow, finishedAt: number, how: { by: string; items: string[]; note: string | null; auto: boolean }): Promise<VisitRow> {
    const { telemetry, config, audit, log } = this.deps;
    this.finishing.add(row.id);
    try {
      // what the terminal sent just before the sign-out must be there to be counted
      if (!(await telemetry.flush(FLUSH_TIMEOUT_MS))) {
        throw new VisitError('VISIT_TELEMETRY_UNAVAILABLE', '电梯运行数据暂未写入，无法核验本次维保，请稍后重试 / the elevator\'s latest readings are not stored yet, so the visit cannot be judged: try again shortly');
      }
      const readings = await modeReadings(telemetry, row.device_id, row.started_at - config.maxReadingGap, finishedAt);
      const modeMs = modeTime(readings, row.started_at, finishedAt, this.modes, config.maxReadingGap);
      // nobody signed out of a visit the gateway ended: it is never valid, whatever the telemetry showed
      const valid = !how.auto && modeMs >= config.minModeDuration;
      const done: VisitRow = {
        ...row, finished_at: finishedAt, finished_by: how.by, items: JSON.stringify(how.items), note: how.note, mode_ms: modeMs,
        valid: valid ? 1 : 0, suspect: valid ? 0 : 1, auto_finished: how.auto ? 1 : 0,
      };
      try {
        this.store.transaction(() => {
          this.store.write(this.queries.finish(row.id, {
            finished_at: finishedAt, finished_by: how.by, items: done.items, note: done.note, mode_ms: modeMs, valid: done.valid, suspect: done.suspect, auto_finished: done.auto_finished,
          }), ({ changes }) => {
            // another node ended it first (SQLite: the unit rolls back here; PostgreSQL: the commit is refused)
            if (changes !== 1) throw new StoreConflictError(`visit ${row.id} was finished by someone else`);
          });
          audit.record(how.by, 'visit.finish', `visit:${row.id}`, { deviceId: row.device_id, modeMs, valid, suspect: !valid, auto: how.auto });
          this.store.notify('supervision', [`visit:${row.device_id}`]);
        });
      } catch (err) {
        throw err instanceof StoreConflictError ? alreadyFinished(row.id) : err;
      }
      if (valid) {
        this.store.afterCommit(() => {
          this.lastValid.set(row.device_id, Math.max(finishedAt, this.lastValid.get(row.device_id) ?? 0));
          this.deps.onValidVisit(row.device_id);
        });
      }
      await this.store.durable();
      log.info({ visitId: row.id, deviceId: row.device_id, modeMs, valid, auto: how.auto }, valid ? 'maintenance visit finished: valid' : 'maintenance visit finished: suspect');
      return done;
    } finally {
      this.finishing.delete(row.id);
    }
  }

  private view(r: VisitRow): VisitView {
    const { registry } = this.deps;
    const device = registry.getDevice(r.device_id);
    const finished = r.finished_at !== null;
    return {
      id: r.id, state: finished ? 'finished' : 'open', deviceId: r.device_id, location: device?.location ?? null, registrationCode: device?.registrationCode ?? null,
      siteId: r.site_id, siteName: registry.getSite(r.site_id)?.name ?? r.site_id,
      companyId: r.company_id, companyName: registry.getCompany(r.company_id)?.name ?? r.company_id,
      unitId: r.unit_id, unitName: registry.getMaintenanceUnit(r.unit_id)?.name ?? r.unit_id,
      startedAt: r.started_at, startedBy: r.started_by, finishedAt: r.finished_at, finishedBy: r.finished_by, autoFinished: r.auto_finished === 1,
      items: r.items ? JSON.parse(r.items) as string[] : [], note: r.note,
      modeMs: finished ? r.mode_ms : null, modeMinutes: finished && r.mode_ms !== null ? Math.floor(r.mode_ms / 60_000) : null,
      valid: r.valid === 1, suspect: r.suspect === 1,
    };
  }
}

function alreadyOpen(deviceId: string, visitId: number): VisitError {
  return new VisitError('VISIT_ALREADY_OPEN', `电梯 ${deviceId} 已有进行中的维保 (${visitId}) / a visit of elevator ${deviceId} is already under way`, { visitId });
}
