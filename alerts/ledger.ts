/**
 * The alert ledger (台账): every alert with its whole history, durable in SQLite. Active alerts
 * (open, acknowledged, dispatched, resolved) are mirrored in memory by (device, type, subject),
 * so a rule can tell in O(1) whether a condition repeats an open alert. Closed and cleared alerts
 * stay in the ledger; only the memory index forgets them.
 */
import type { Statement } from 'better-sqlite3';
import { migrate, type Db } from '../core/store.js';
import { alertScopeSql, type AlertColumns, type Principal } from '../registry/index.js';
import { ACTIVE_STATES, type Alert, type AlertState, type HistoryEntry } from './model.js';

const MIGRATIONS = [
  `CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, subject TEXT NOT NULL, device_id TEXT NOT NULL,
     device_kind TEXT NOT NULL, site_id TEXT NOT NULL, company_id TEXT NOT NULL, maintenance_unit_id TEXT, domain TEXT NOT NULL,
     state TEXT NOT NULL, severity TEXT NOT NULL, suppressed INTEGER NOT NULL, opened_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     doc TEXT NOT NULL);
   CREATE UNIQUE INDEX alerts_one_active ON alerts (device_id, type, subject) WHERE state IN ('open', 'acknowledged', 'dispatched', 'resolved');
   CREATE INDEX alerts_state ON alerts (state, id);
   CREATE INDEX alerts_company ON alerts (company_id, id);
   CREATE INDEX alerts_device ON alerts (device_id, id);
   CREATE INDEX alerts_type ON alerts (type, id);
   CREATE TABLE alert_history (alert_id INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
     action TEXT NOT NULL, note TEXT, detail TEXT, PRIMARY KEY (alert_id, seq)) WITHOUT ROWID;`,
];

export interface AlertFilter {
  states?: AlertState[] | undefined;
  type?: string | undefined;
  deviceId?: string | undefined;
  siteId?: string | undefined;
  before?: number | undefined;
  limit: number;
  /** Only the alerts this principal may see. */
  viewer: Principal;
}

/** The `alerts` table's columns the scope rule filters on. */
const SCOPE_COLUMNS: AlertColumns = { companyId: 'company_id', deviceKind: 'device_kind', maintenanceUnitId: 'maintenance_unit_id', domain: 'domain', suppressed: 'suppressed' };

export const activeKey = (deviceId: string, type: string, subject: string) => `${deviceId}\u0000${type}\u0000${subject}`;

export class AlertLedger {
  private readonly active = new Map<string, Alert>();
  private readonly activeById = new Map<number, Alert>();
  private readonly historySeq = new Map<number, number>();
  /** One prepared count per scope shape (five roles). */
  private readonly countStmts = new Map<string, Statement<unknown[]>>();
  private readonly stmts;

  constructor(private readonly db: Db) {
    migrate(db, 'alerts', MIGRATIONS);
    this.stmts = {
      insert: db.prepare(`INSERT INTO alerts (type, subject, device_id, device_kind, site_id, company_id, maintenance_unit_id, domain, state,
        severity, suppressed, opened_at, updated_at, doc) VALUES (@type, @subject, @deviceId, @deviceKind, @siteId, @companyId,
        @maintenanceUnitId, @domain, @state, @severity, @suppressed, @openedAt, @updatedAt, '{}')`),
      update: db.prepare(`UPDATE alerts SET state = ?, severity = ?, suppressed = ?, maintenance_unit_id = ?, updated_at = ?, doc = ? WHERE id = ?`),
      get: db.prepare('SELECT doc FROM alerts WHERE id = ?'),
      history: db.prepare('SELECT at, actor, action, note, detail FROM alert_history WHERE alert_id = ? ORDER BY seq'),
      lastSeq: db.prepare('SELECT MAX(seq) AS seq FROM alert_history WHERE alert_id = ?'),
      addHistory: db.prepare('INSERT INTO alert_history (alert_id, seq, at, actor, action, note, detail) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
    for (const r of db.prepare(`SELECT doc FROM alerts WHERE state IN ('open', 'acknowledged', 'dispatched', 'resolved')`).all() as Array<{ doc: string }>) {
      this.remember(JSON.parse(r.doc) as Alert);
    }
  }

  private remember(a: Alert): void {
    this.active.set(activeKey(a.deviceId, a.type, a.subject), a);
    this.activeById.set(a.id, a);
  }

  findActive(deviceId: string, type: string, subject: string): Alert | undefined {
    return this.active.get(activeKey(deviceId, type, subject));
  }

  activeAlerts(): IterableIterator<Alert> { return this.activeById.values(); }

  isActive(a: Alert): boolean { return this.activeById.get(a.id) === a; }

  /** Stores a new alert and gives it its id. */
  create(a: Omit<Alert, 'id'>): Alert {
    const info = this.stmts.insert.run({ ...a, maintenanceUnitId: a.maintenanceUnitId, suppressed: a.suppressed ? 1 : 0 });
    const alert = { id: Number(info.lastInsertRowid), ...a } as Alert;
    this.save(alert);
    return alert;
  }

  /** Writes the alert back; an alert that left the active states is dropped from the memory index. */
  save(a: Alert): void {
    this.stmts.update.run(a.state, a.severity, a.suppressed ? 1 : 0, a.maintenanceUnitId, a.updatedAt, JSON.stringify(a), a.id);
    if (ACTIVE_STATES.has(a.state)) {
      if (this.activeById.get(a.id) !== a) this.remember(a);
    } else if (this.activeById.get(a.id) === a) {
      this.activeById.delete(a.id);
      this.active.delete(activeKey(a.deviceId, a.type, a.subject));
    }
  }

  addHistory(alertId: number, entry: HistoryEntry): void {
    let seq = this.historySeq.get(alertId);
    if (seq === undefined) seq = (this.stmts.lastSeq.get(alertId) as { seq: number | null }).seq ?? 0;
    seq++;
    this.historySeq.set(alertId, seq);
    // bounded: only alerts touched since the start are cached, and each is a number
    if (this.historySeq.size > 100_000) this.historySeq.clear();
    this.stmts.addHistory.run(alertId, seq, entry.at, entry.actor, entry.action, entry.note ?? null, entry.detail === undefined ? null : JSON.stringify(entry.detail));
  }

  get(id: number): Alert | undefined {
    const a = this.activeById.get(id);
    if (a) return a;
    const row = this.stmts.get.get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Alert) : undefined;
  }

  history(id: number): HistoryEntry[] {
    return (this.stmts.history.all(id) as Array<{ at: number; actor: string; action: string; note: string | null; detail: string | null }>)
      .map((r) => ({ at: r.at, actor: r.actor, action: r.action, ...(r.note === null ? {} : { note: r.note }), ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) }) }));
  }

  /** Newest first; `before` pages by id. */
  list(f: AlertFilter): Alert[] {
    const scope = alertScopeSql(f.viewer, SCOPE_COLUMNS);
    const where: string[] = [scope.where];
    const params: unknown[] = [...scope.params];
    if (f.states && f.states.length > 0) { where.push(`state IN (${f.states.map(() => '?').join(', ')})`); params.push(...f.states); }
    if (f.type) { where.push('type = ?'); params.push(f.type); }
    if (f.deviceId) { where.push('device_id = ?'); params.push(f.deviceId); }
    if (f.siteId) { where.push('site_id = ?'); params.push(f.siteId); }
    if (f.before !== undefined) { where.push('id < ?'); params.push(f.before); }
    params.push(f.limit);
    const rows = this.db.prepare(`SELECT id, doc FROM alerts WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(...params) as Array<{ id: number; doc: string }>;
    // an active alert's freshest copy is the one in memory
    return rows.map((r) => this.activeById.get(r.id) ?? (JSON.parse(r.doc) as Alert));
  }

  /** How many alerts the principal may see, per type and state (counted in SQL: the ledger keeps closed alerts for years). */
  countByTypeAndState(viewer: Principal): Array<{ type: string; state: string; n: number }> {
    const scope = alertScopeSql(viewer, SCOPE_COLUMNS);
    let stmt = this.countStmts.get(scope.where);
    if (!stmt) {
      stmt = this.db.prepare<unknown[]>(`SELECT type, state, COUNT(*) AS n FROM alerts WHERE ${scope.where} GROUP BY type, state`);
      this.countStmts.set(scope.where, stmt);
    }
    return stmt.all(...scope.params) as Array<{ type: string; state: string; n: number }>;
  }
}
