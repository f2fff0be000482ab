/**
 * What the supervision figures read of the ledger (DOMAIN.md "Figures regulators use"): one slim
 * row per alert opened in a period, with the times the figures compare. The ledger keeps those
 * times as columns beside each alert's document (ledger.ts FactColumns): a quarter of a city is
 * about 100,000 alerts, and taking the times out of their documents cost over a second.
 */
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

type Raw = Omit<AlertFact, 'suppressed' | 'dismissed'> & { suppressed: number; dismissed: number | null };

export class AlertFacts {
  private readonly store: Store<LedgerTables>;

  constructor(db: Database) {
    this.store = db.store<LedgerTables>();
  }

  /** The facts of every alert opened in [from, to) that the filter keeps, oldest first. */
  async inPeriod(f: FactFilter): Promise<AlertFact[]> {
    let query = this.store.q.selectFrom('alerts').select([
      'id', 'type', 'domain', 'device_id as deviceId', 'device_kind as deviceKind', 'site_id as siteId', 'company_id as companyId',
      'maintenance_unit_id as maintenanceUnitId', 'state', 'suppressed', 'opened_at as openedAt', 'acknowledged_at as acknowledgedAt',
      'unit_acknowledged_at as unitAcknowledgedAt', 'arrived_at as arrivedAt', 'arrive_by as arriveBy', 'resolve_by as resolveBy',
      'resolved_at as resolvedAt', 'closed_at as closedAt', 'cleared_at as clearedAt', 'confirmation', 'dismissed',
    ]).where('opened_at', '>=', f.from).where('opened_at', '<', f.to);
    if (f.companyId !== undefined) query = query.where('company_id', '=', f.companyId);
    if (f.maintenanceUnitId !== undefined) query = query.where('maintenance_unit_id', '=', f.maintenanceUnitId);
    if (f.types !== undefined) query = query.where('type', 'in', f.types.length > 0 ? [...f.types] : ['']);
    const rows = (await this.store.all(query.orderBy('opened_at').orderBy('id'))) as Raw[];
    const out: AlertFact[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = {
        id: r.id, type: r.type, domain: r.domain, deviceId: r.deviceId, deviceKind: r.deviceKind, siteId: r.siteId,
        companyId: r.companyId, maintenanceUnitId: r.maintenanceUnitId, state: r.state, suppressed: Number(r.suppressed) === 1,
        openedAt: r.openedAt,
        acknowledgedAt: r.acknowledgedAt, unitAcknowledgedAt: r.unitAcknowledgedAt, arrivedAt: r.arrivedAt,
        arriveBy: r.arriveBy, resolveBy: r.resolveBy, resolvedAt: r.resolvedAt, closedAt: r.closedAt,
        clearedAt: r.clearedAt, confirmation: r.confirmation, dismissed: r.dismissed === 1,
      };
    }
    return out;
  }
}

