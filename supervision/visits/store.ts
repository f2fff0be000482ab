/**
 * The maintenance visits' table (维保记录) and its queries, the same for SQLite and PostgreSQL.
 * Rows are never deleted: TSG T5002 asks for maintenance records to be kept at least 4 years.
 */
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Migration } from '../../core/db/query.js';

export interface VisitRow {
  id: number;
  device_id: string;
  /** The elevator's site, company and maintenance unit when the visit started (history keeps who was responsible then). */
  site_id: string;
  company_id: string;
  unit_id: string;
  started_at: number;
  started_by: string;
  /** null while the visit is under way. */
  finished_at: number | null;
  /** An account id, or 'system' for a visit the gateway ended after `maxOpen`. */
  finished_by: string | null;
  /** JSON array of the checklist items done. */
  items: string | null;
  note: string | null;
  /** Time in inspection / maintenance mode the telemetry showed during the visit; null while under way. */
  mode_ms: number | null;
  /** 0 / 1: booleans are integers in both stores. */
  valid: number;
  suspect: number;
  auto_finished: number;
}

export interface VisitsTables { maintenance_visits: VisitRow }

const TABLE = (id: string, time: string) => `CREATE TABLE maintenance_visits (id ${id}, device_id TEXT NOT NULL, site_id TEXT NOT NULL,
     company_id TEXT NOT NULL, unit_id TEXT NOT NULL, started_at ${time} NOT NULL, started_by TEXT NOT NULL, finished_at ${time},
     finished_by TEXT, items TEXT, note TEXT, mode_ms ${time}, valid INTEGER NOT NULL DEFAULT 0, suspect INTEGER NOT NULL DEFAULT 0,
     auto_finished INTEGER NOT NULL DEFAULT 0);`;

// - one_open: one visit under way per elevator, across every node (the database decides a race between two)
// - open: the visits the timer leader may have to end (started before now − maxOpen)
// - started / device / unit / company: the lists and the scorecards' periods, newest first; `started`
//   holds what the scorecards read, so a quarter of a city's visits is read from it alone
// - last_valid: the memory of each elevator's last valid visit, loaded at start
const INDEXES = `
   CREATE UNIQUE INDEX maintenance_visits_one_open ON maintenance_visits (device_id) WHERE finished_at IS NULL;
   CREATE INDEX maintenance_visits_open ON maintenance_visits (started_at) WHERE finished_at IS NULL;
   CREATE INDEX maintenance_visits_started ON maintenance_visits (started_at, id, device_id, site_id, company_id, unit_id, finished_at, valid, suspect, mode_ms);
   CREATE INDEX maintenance_visits_device ON maintenance_visits (device_id, started_at);
   CREATE INDEX maintenance_visits_unit ON maintenance_visits (unit_id, started_at);
   CREATE INDEX maintenance_visits_company ON maintenance_visits (company_id, started_at);
   CREATE INDEX maintenance_visits_last_valid ON maintenance_visits (device_id, finished_at) WHERE valid = 1;`;

export const VISIT_MIGRATIONS: readonly Migration[] = [{
  sqlite: TABLE('INTEGER PRIMARY KEY AUTOINCREMENT', 'INTEGER') + INDEXES,
  postgres: TABLE('BIGSERIAL PRIMARY KEY', 'BIGINT') + INDEXES,
}];

/** Which visits a caller may list: by unit, by company, by sites, or all. */
export type VisitScope = { all: true } | { unitId: string } | { companyId: string } | { siteIds: readonly string[] };

export interface VisitFilter {
  scope: VisitScope;
  deviceId?: string | undefined;
  unitId?: string | undefined;
  /** Started in [from, to). */
  from?: number | undefined;
  to?: number | undefined;
  suspect?: boolean | undefined;
  /** After this visit in the list's order (started_at, id descending). */
  after?: { startedAt: number; id: number } | undefined;
  limit: number;
}

type Eb = ExpressionBuilder<VisitsTables, 'maintenance_visits'>;

function scoped(eb: Eb, s: VisitScope): Expression<SqlBool> {
  if ('all' in s) return eb.lit(true);
  if ('unitId' in s) return eb('unit_id', '=', s.unitId);
  if ('companyId' in s) return eb('company_id', '=', s.companyId);
  return s.siteIds.length === 0 ? eb.lit(false) : eb('site_id', 'in', s.siteIds);
}

export const visitQueries = (q: Kysely<VisitsTables>) => ({
  insert: (row: VisitRow) => q.insertInto('maintenance_visits').values(row),
  byId: (id: number) => q.selectFrom('maintenance_visits').selectAll().where('id', '=', id),
  openOf: (deviceId: string) => q.selectFrom('maintenance_visits').select(['id', 'device_id']).where('device_id', '=', deviceId).where('finished_at', 'is', null),
  /** Visits under way that started at or before `cutoff`, oldest first. */
  dueOpen: (cutoff: number) => q.selectFrom('maintenance_visits').selectAll().where('finished_at', 'is', null).where('started_at', '<=', cutoff).orderBy('started_at'),
  /** Ends a visit still under way (0 rows changed: someone else ended it first). */
  finish: (id: number, f: { finished_at: number; finished_by: string; items: string | null; note: string | null; mode_ms: number; valid: number; suspect: number; auto_finished: number }) =>
    q.updateTable('maintenance_visits').set(f).where('id', '=', id).where('finished_at', 'is', null),
  lastValidAll: () => q.selectFrom('maintenance_visits').select(['device_id', (eb) => eb.fn.max('finished_at').as('at')]).where('valid', '=', 1).groupBy('device_id'),
  lastValidOf: (deviceId: string) => q.selectFrom('maintenance_visits').select((eb) => eb.fn.max('finished_at').as('at')).where('valid', '=', 1).where('device_id', '=', deviceId),
  list: (f: VisitFilter) => {
    let s = q.selectFrom('maintenance_visits').selectAll().where((eb) => scoped(eb, f.scope));
    if (f.deviceId !== undefined) s = s.where('device_id', '=', f.deviceId);
    if (f.unitId !== undefined) s = s.where('unit_id', '=', f.unitId);
    if (f.from !== undefined) s = s.where('started_at', '>=', f.from);
    if (f.to !== undefined) s = s.where('started_at', '<', f.to);
    if (f.suspect !== undefined) s = s.where('suspect', '=', f.suspect ? 1 : 0);
    const after = f.after;
    if (after) s = s.where((eb) => eb.or([eb('started_at', '<', after.startedAt), eb.and([eb('started_at', '=', after.startedAt), eb('id', '<', after.id)])]));
    return s.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(f.limit);
  },
  /** The scorecards' period: started in [from, to), oldest first. */
  inPeriod: (f: { from: number; to: number; unitId?: string | undefined; deviceId?: string | undefined }) => {
    let s = q.selectFrom('maintenance_visits')
      .select(['id', 'device_id', 'site_id', 'company_id', 'unit_id', 'started_at', 'finished_at', 'valid', 'suspect', 'mode_ms'])
      .where('started_at', '>=', f.from).where('started_at', '<', f.to);
    if (f.unitId !== undefined) s = s.where('unit_id', '=', f.unitId);
    if (f.deviceId !== undefined) s = s.where('device_id', '=', f.deviceId);
    return s.orderBy('started_at').orderBy('id');
  },
});
