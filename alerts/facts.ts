/**
 * What the supervision figures read of the ledger (DOMAIN.md "Figures regulators use"): one slim
 * row per alert opened in a period, with the times the figures compare, taken out of the stored
 * document by the database (a quarter of a city is about 100,000 alerts: parsing their documents
 * in JavaScript would take seconds). Closed alerts are read as the ledger stored them.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Database, Store } from '../core/db/store.js';
import type { LedgerTables } from './ledger.js';

export interface AlertFact {
  id: number;
  type: string;
  domain: string;
  deviceId: string;
  deviceKind: string;
  siteId: string;
  companyId: string;
  maintenanceUnitId: string | null;
  state: string;
  /** Raised in inspection / maintenance mode: not counted as a fault. */
  suppressed: boolean;
  openedAt: number;
  acknowledgedAt: number | null;
  /**
   * The first acknowledgement by the elevator's maintenance unit (the 3-minute response counts only this one):
   * its acknowledge, or its first arrive / dispatch / resolve if it acted before acknowledging. The property
   * company's never sets it. Null on alerts stored before it was kept.
   */
  unitAcknowledgedAt: number | null;
  /**
   * Trapped passengers: when the maintenance unit arrived on site (recorded by the unit, or by the property
   * company seeing it arrive), and by when it had to (opened + the site's deadline; null before it was kept).
   */
  arrivedAt: number | null;
  arriveBy: number | null;
  resolveBy: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  clearedAt: number | null;
  /** Fire alarms: 'confirmed' once corroborated or verified; null for other types. */
  confirmation: string | null;
  /** Dismissed as a false alarm. */
  dismissed: boolean;
}

export interface FactFilter {
  /** Opened at or after `from` and before `to` (epoch ms). */
  from: number;
  to: number;
  companyId?: string | undefined;
  maintenanceUnitId?: string | undefined;
  /** Only these types (e.g. the elevator types); all when absent. */
  types?: readonly string[] | undefined;
}

/** The document fields read, by their path in the stored JSON. */
const FIELDS = {
  acknowledgedAt: ['acknowledgedAt'], unitAcknowledgedAt: ['unitAcknowledgedAt'], arrivedAt: ['arrivedAt'],
  arriveBy: ['deadlines', 'arrive'], resolveBy: ['deadlines', 'resolveBy'], resolvedAt: ['resolvedAt'], closedAt: ['closedAt'],
  clearedAt: ['clearedAt'], confirmation: ['confirmation'], dismissed: ['details', 'dismissed'],
} as const;

type Raw = Omit<AlertFact, 'suppressed' | 'dismissed' | 'maintenanceUnitId'> & {
  maintenanceUnitId: string | null; suppressed: number; dismissed: unknown;
};

export class AlertFacts {
  private readonly store: Store<LedgerTables>;

  constructor(db: Database) {
    this.store = db.store<LedgerTables>();
  }

  /** The facts of every alert opened in [from, to) that the filter keeps, oldest first. */
  async inPeriod(f: FactFilter): Promise<AlertFact[]> {
    const { q, dialect } = this.store;
    const field = (path: readonly string[]): RawBuilder<unknown> => dialect === 'sqlite'
      ? sql`json_extract(doc, ${'$.' + path.join('.')})`
      : sql`(doc::jsonb #>> ${'{' + path.join(',') + '}'})`;
    const num = (path: readonly string[]) => dialect === 'sqlite' ? field(path) : sql`CAST(${field(path)} AS DOUBLE PRECISION)`;
    let query = q.selectFrom('alerts').select([
      'id', 'type', 'domain', 'device_id as deviceId', 'device_kind as deviceKind', 'site_id as siteId', 'company_id as companyId',
      'maintenance_unit_id as maintenanceUnitId', 'state', 'suppressed', 'opened_at as openedAt',
      num(FIELDS.acknowledgedAt).as('acknowledgedAt'), num(FIELDS.unitAcknowledgedAt).as('unitAcknowledgedAt'),
      num(FIELDS.arrivedAt).as('arrivedAt'), num(FIELDS.arriveBy).as('arriveBy'), num(FIELDS.resolveBy).as('resolveBy'),
      num(FIELDS.resolvedAt).as('resolvedAt'), num(FIELDS.closedAt).as('closedAt'), num(FIELDS.clearedAt).as('clearedAt'),
      field(FIELDS.confirmation).as('confirmation'), field(FIELDS.dismissed).as('dismissed'),
    ]).where('opened_at', '>=', f.from).where('opened_at', '<', f.to);
    if (f.companyId !== undefined) query = query.where('company_id', '=', f.companyId);
    if (f.maintenanceUnitId !== undefined) query = query.where('maintenance_unit_id', '=', f.maintenanceUnitId);
    if (f.types !== undefined) query = query.where('type', 'in', f.types.length > 0 ? [...f.types] : ['']);
    const rows = (await this.store.all(query.orderBy('opened_at').orderBy('id'))) as unknown as Raw[];
    return rows.map((r) => ({
      ...r,
      id: Number(r.id), openedAt: Number(r.openedAt),
      acknowledgedAt: numOrNull(r.acknowledgedAt), unitAcknowledgedAt: numOrNull(r.unitAcknowledgedAt), arrivedAt: numOrNull(r.arrivedAt),
      arriveBy: numOrNull(r.arriveBy), resolveBy: numOrNull(r.resolveBy), resolvedAt: numOrNull(r.resolvedAt), closedAt: numOrNull(r.closedAt),
      clearedAt: numOrNull(r.clearedAt), confirmation: typeof r.confirmation === 'string' ? r.confirmation : null,
      suppressed: Number(r.suppressed) === 1,
      // SQLite's json_extract gives 1 for true; PostgreSQL's #>> the text 'true'
      dismissed: r.dismissed === 1 || r.dismissed === true || r.dismissed === 'true',
    }));
  }
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
