/**
 * The alert ledger (台账): every alert with its whole history, durable in the store. Active alerts
 * (open, acknowledged, dispatched, resolved) are mirrored in memory by (device, type, subject),
 * so a rule can tell in O(1) whether a condition repeats an open alert. Closed and cleared alerts
 * stay in the ledger; only the memory index forgets them.
 *
 * The memory index holds only what the store holds. A change is made copy-on-write inside a
 * transaction (`begin`, `create` / `edit`, `record`): the alert service works on a copy, reads in
 * the transaction see that copy, and the index takes it only at `commit`, after the database
 * committed. A rollback drops the copies, so the API and the rules never see a state that was not
 * stored. The snapshots the index hands out are never changed (`Readonly<Alert>`: a change is a
 * new copy), and each recorded change is announced to the `onChange` listeners (changes.ts) after
 * the commit.
 */
import { sql, type Generated, type Kysely } from 'kysely';
import type { Migration } from '../core/db/query.js';
import { StoreConflictError, type Awaitable, type Database, type Store } from '../core/db/store.js';
import { alertScopeCondition, type Principal } from '../registry/index.js';
import { ACTIVE_STATES, upgradeAlert, type Alert, type AlertState, type HistoryEntry } from './model.js';
import type { AlertChange, AlertChangeListener } from './changes.js';

/**
 * The times and marks the supervision figures compare (alerts/facts.ts), kept as columns next to the
 * document that holds them too: written with every change, so a period's facts are read without
 * parsing a document. Column, kind, path in the document.
 */
const FACT_COLUMN_DDL = [
  ['acknowledged_at', 'time', 'acknowledgedAt'], ['unit_acknowledged_at', 'time', 'unitAcknowledgedAt'], ['arrived_at', 'time', 'arrivedAt'],
  ['arrive_by', 'time', 'deadlines.arrive'], ['resolve_by', 'time', 'deadlines.resolveBy'], ['resolved_at', 'time', 'resolvedAt'],
  ['closed_at', 'time', 'closedAt'], ['cleared_at', 'time', 'clearedAt'], ['confirmation', 'text', 'confirmation'], ['dismissed', 'flag', 'details.dismissed'],
] as const;

export interface FactColumns {
  acknowledged_at: number | null; unit_acknowledged_at: number | null; arrived_at: number | null; arrive_by: number | null; resolve_by: number | null;
  resolved_at: number | null; closed_at: number | null; cleared_at: number | null; confirmation: string | null; dismissed: number | null;
}

function factColumns(a: Readonly<Alert>): FactColumns {
  return {
    acknowledged_at: a.acknowledgedAt, unit_acknowledged_at: a.unitAcknowledgedAt ?? null, arrived_at: a.arrivedAt ?? null, arrive_by: a.deadlines.arrive ?? null,
    resolve_by: a.deadlines.resolveBy, resolved_at: a.resolvedAt, closed_at: a.closedAt, cleared_at: a.clearedAt, confirmation: a.confirmation,
    dismissed: a.details.dismissed === true ? 1 : null,
  };
}

export interface LedgerTables {
  alerts: {
    id: Generated<number>; type: string; subject: string; device_id: string; device_kind: string; site_id: string; company_id: string;
    maintenance_unit_id: string | null; domain: string; state: string; severity: string; suppressed: number; opened_at: number;
    updated_at: number; doc: string;
  } & FactColumns;
  alert_history: { alert_id: number; seq: number; at: number; actor: string; action: string; note: string | null; detail: string | null };
}

export const LEDGER_MIGRATIONS: readonly Migration[] = [{
  // the SQLite DDL is the one existing databases ran (version 1 of 'alerts'): keep it as it is
  sqlite: `CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, subject TEXT NOT NULL, device_id TEXT NOT NULL,
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
  postgres: `CREATE TABLE alerts (id BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, subject TEXT NOT NULL, device_id TEXT NOT NULL,
     device_kind TEXT NOT NULL, site_id TEXT NOT NULL, company_id TEXT NOT NULL, maintenance_unit_id TEXT, domain TEXT NOT NULL,
     state TEXT NOT NULL, severity TEXT NOT NULL, suppressed INTEGER NOT NULL, opened_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
     doc TEXT NOT NULL);
   CREATE UNIQUE INDEX alerts_one_active ON alerts (device_id, type, subject) WHERE state IN ('open', 'acknowledged', 'dispatched', 'resolved');
   CREATE INDEX alerts_state ON alerts (state, id);
   CREATE INDEX alerts_company ON alerts (company_id, id);
   CREATE INDEX alerts_device ON alerts (device_id, id);
   CREATE INDEX alerts_type ON alerts (type, id);
   CREATE TABLE alert_history (alert_id BIGINT NOT NULL, seq INTEGER NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL,
     action TEXT NOT NULL, note TEXT, detail TEXT, PRIMARY KEY (alert_id, seq));`,
},
// the supervision figures read a period's alerts by when they opened (alerts/facts.ts)
'CREATE INDEX alerts_opened ON alerts (opened_at)',
// ... and the times they compare, as columns: taking them out of 100,000 documents costs more than a second
{
  sqlite: `${FACT_COLUMN_DDL.map(([c, t]) => `ALTER TABLE alerts ADD COLUMN ${c} ${t === 'time' ? 'INTEGER' : t === 'flag' ? 'INTEGER' : 'TEXT'};`).join('\n')}
   UPDATE alerts SET ${FACT_COLUMN_DDL.map(([c, , path]) => `${c} = json_extract(doc, '$.${path}')`).join(', ')};`,
  postgres: `${FACT_COLUMN_DDL.map(([c, t]) => `ALTER TABLE alerts ADD COLUMN ${c} ${t === 'time' ? 'BIGINT' : t === 'flag' ? 'INTEGER' : 'TEXT'};`).join('\n')}
   UPDATE alerts SET ${FACT_COLUMN_DDL.map(([c, t, path]) => {
     const text = `(doc::jsonb #>> '{${path.split('.').join(',')}}')`;
     return `${c} = ${t === 'time' ? `CAST(ROUND(CAST(${text} AS NUMERIC)) AS BIGINT)` : t === 'flag' ? `CASE WHEN ${text} = 'true' THEN 1 ELSE NULL END` : text}`;
   }).join(', ')};`,
},
// the facts a period's figures read, in an index that holds them all: read without visiting the rows
// (whose documents make them long), in the order of opening
`CREATE INDEX alerts_facts ON alerts (opened_at, id, type, domain, device_id, device_kind, site_id, company_id, maintenance_unit_id, state,
   suppressed, acknowledged_at, unit_acknowledged_at, arrived_at, arrive_by, resolve_by, resolved_at, closed_at, cleared_at, confirmation, dismissed);
 DROP INDEX alerts_opened;`,
];

/** The states of an active alert (the `alerts_one_active` index lists the same). */
const ACTIVE_STATE_LIST: readonly AlertState[] = [...ACTIVE_STATES];

/** `canSeeAlert` (registry/scope.ts) as a condition on the `alerts` table, for listing and counting alerts in the store. */

type AlertUpdate = Pick<LedgerTables['alerts'], 'state' | 'severity' | 'suppressed' | 'company_id' | 'maintenance_unit_id' | 'updated_at' | 'doc'> & FactColumns;

/** The ledger's queries, the same for both stores. */
export const ledgerQueries = (q: Kysely<LedgerTables>) => ({
  activeDocs: () => q.selectFrom('alerts').select('doc').where('state', 'in', ACTIVE_STATE_LIST),
  /** A new alert with the id the store gave it (its document is written by the first `update`). */
  insert: (row: Omit<LedgerTables['alerts'], 'doc' | 'id' | keyof FactColumns> & { id: number }) => q.insertInto('alerts').values({ ...row, doc: '{}' }),
  /**
   * The alert's new state, over the one this node last saw (`seenUpdatedAt`): if another node
   * changed it meanwhile, no row matches and the commit is refused (cluster mode), never overwritten.
   */
  update: (id: number, set: AlertUpdate, seenUpdatedAt?: number) => {
    const u = q.updateTable('alerts').set(set).where('id', '=', id);
    return seenUpdatedAt === undefined ? u : u.where('updated_at', '=', seenUpdatedAt);
  },
  docs: (ids: readonly number[]) => q.selectFrom('alerts').select(['id', 'doc']).where('id', 'in', ids),
  get: (id: number) => q.selectFrom('alerts').select('doc').where('id', '=', id),
  history: (alertId: number) => q.selectFrom('alert_history').select(['at', 'actor', 'action', 'note', 'detail']).where('alert_id', '=', alertId).orderBy('seq'),
  /**
   * The alert's next history entry, numbered by the database (the entry after its last one): the
   * number is right whichever node writes, and needs no read before the write.
   */
  addHistory: (row: Omit<LedgerTables['alert_history'], 'seq'>) => q.insertInto('alert_history')
    .columns(['alert_id', 'seq', 'at', 'actor', 'action', 'note', 'detail'])
    .expression((eb) => eb.selectFrom('alert_history').select((s) => [
      // typed: PostgreSQL reads a bare parameter in a select list as text
      sql<number>`CAST(${row.alert_id} AS BIGINT)`.as('alert_id'),
      sql<number>`COALESCE(MAX(${s.ref('seq')}), 0) + 1`.as('seq'),
      sql<number>`CAST(${row.at} AS BIGINT)`.as('at'),
      sql<string>`CAST(${row.actor} AS TEXT)`.as('actor'),
      sql<string>`CAST(${row.action} AS TEXT)`.as('action'),
      sql<string | null>`CAST(${row.note} AS TEXT)`.as('note'),
      sql<string | null>`CAST(${row.detail} AS TEXT)`.as('detail'),
    ]).where('alert_id', '=', row.alert_id)),
  /** Newest first; `before` pages by id. */
  list: (f: AlertFilter) => {
    let s = q.selectFrom('alerts').select(['id', 'doc']).where((eb) => alertScopeCondition(eb, f.viewer));
    if (f.states && f.states.length > 0) s = s.where('state', 'in', f.states);
    if (f.type) s = s.where('type', '=', f.type);
    if (f.deviceId) s = s.where('device_id', '=', f.deviceId);
    if (f.siteId) s = s.where('site_id', '=', f.siteId);
    if (f.companyId) s = s.where('company_id', '=', f.companyId);
    if (f.maintenanceUnitId) s = s.where('maintenance_unit_id', '=', f.maintenanceUnitId);
    if (f.from !== undefined) s = s.where('opened_at', '>=', f.from);
    if (f.to !== undefined) s = s.where('opened_at', '<', f.to);
    if (f.before !== undefined) s = s.where('id', '<', f.before);
    return s.orderBy('id', 'desc').limit(f.limit);
  },
  countByTypeAndState: (viewer: Principal) => q.selectFrom('alerts').select((eb) => ['type', 'state', eb.fn.countAll<number>().as('n')])
    .where((eb) => alertScopeCondition(eb, viewer)).groupBy(['type', 'state']),
  countBySite: (f: SiteCountFilter) => {
    let s = q.selectFrom('alerts').select((eb) => ['site_id', eb.fn.countAll<number>().as('n')])
      .where((eb) => alertScopeCondition(eb, f.viewer)).where('type', '=', f.type);
    if (f.from !== undefined) s = s.where('opened_at', '>=', f.from);
    if (f.to !== undefined) s = s.where('opened_at', '<', f.to);
    return s.groupBy('site_id').orderBy('site_id');
  },
});

/** Alerts of one type opened in [from, to) that the viewer may see. */
export interface SiteCountFilter { viewer: Principal; type: string; from?: number | undefined; to?: number | undefined }

export interface AlertFilter {
  states?: AlertState[] | undefined;
  type?: string | undefined;
  deviceId?: string | undefined;
  siteId?: string | undefined;
  companyId?: string | undefined;
  maintenanceUnitId?: string | undefined;
  /** Opened at or after `from` and before `to` (epoch ms): the period of a scorecard row. */
  from?: number | undefined;
  to?: number | undefined;
  before?: number | undefined;
  limit: number;
  /** Only the alerts this principal may see. */
  viewer: Principal;
}

export const activeKey = (deviceId: string, type: string, subject: string) => `${deviceId}\u0000${type}\u0000${subject}`;

/** What the open transaction has changed so far. */
interface Pending {
  /** The newest state of each alert the transaction touched: its working copy, or its last recorded snapshot. */
  latest: Map<number, Readonly<Alert>>;
  /** The last recorded snapshot of each alert: what the memory index takes at the commit. */
  recorded: Map<number, Readonly<Alert>>;
  /** Working copies not recorded yet, with what each was copied from (null: a new alert). */
  working: Map<number, { draft: Alert; previous: Readonly<Alert> | null }>;
  /** (device, type, subject) → the alert active there now; null when it left the active states in this transaction. */
  keys: Map<string, Readonly<Alert> | null>;
  changes: AlertChange[];
  created: Readonly<Alert>[];
}

/** Change details the service gives with a recorded copy (the ledger adds the snapshots). */
export type ChangeRecord = Pick<AlertChange, 'kind' | 'at' | 'queues' | 'actor' | 'note' | 'reason'>;

const NO_CHANGES: readonly AlertChange[] = Object.freeze([]);
const NOTHING = () => {};
const NO_ALERTS: ReadonlyArray<Readonly<Alert>> = Object.freeze([]);

/**
 * The working copy of a snapshot: every field by name (the compiler asks for a new one here), and
 * new arrays for the three that changes push to. Cheaper than a spread, and snapshots are not frozen
 * at run time for the same reason: `Readonly<Alert>` is what the ledger hands out.
 */
function copyOf(a: Readonly<Alert>): Alert {
  return {
    id: a.id, type: a.type, subject: a.subject, severity: a.severity, state: a.state, label: a.label, domain: a.domain,
    deviceId: a.deviceId, deviceKind: a.deviceKind, siteId: a.siteId, companyId: a.companyId, maintenanceUnitId: a.maintenanceUnitId,
    // optional, so the compiler does not ask for them: without them a change would drop the names and the area
    siteName: a.siteName, companyName: a.companyName, maintenanceUnitName: a.maintenanceUnitName, street: a.street, community: a.community,
    // the building fire corroboration groups by: a change that dropped it would move the alarm to another group
    building: a.building, location: a.location, openedAt: a.openedAt, updatedAt: a.updatedAt, lastRaisedAt: a.lastRaisedAt, count: a.count,
    conditionActive: a.conditionActive, suppressed: a.suppressed, confirmation: a.confirmation, forwardedUnverified: a.forwardedUnverified,
    deadlines: a.deadlines, acknowledgedAt: a.acknowledgedAt, acknowledgements: a.acknowledgements.slice(), unitAcknowledgedAt: a.unitAcknowledgedAt,
    arrivedAt: a.arrivedAt, arrivedBy: a.arrivedBy, dispatchedAt: a.dispatchedAt, resolvedAt: a.resolvedAt,
    closedAt: a.closedAt, clearedAt: a.clearedAt, escalations: a.escalations.slice(), queues: a.queues.slice(), details: a.details,
  };
}

export class AlertLedger {
  private readonly active = new Map<string, Readonly<Alert>>();
  private readonly activeById = new Map<number, Readonly<Alert>>();
  private readonly queries;
  private inTx = false;
  /**
   * The open transaction's changes, when it has made any (null otherwise, so reads in a transaction
   * that changes no alert cost nothing). One set of maps, cleared after each transaction.
   */
  private pending: Pending | null = null;
  private readonly changeSet: Pending = { latest: new Map(), recorded: new Map(), working: new Map(), keys: new Map(), changes: [], created: [] };
  private readonly listeners: AlertChangeListener[] = [];
  /**
   * One set per read of the store under way (`refresh`, `reloadActive`): the alerts this node
   * changed meanwhile. Such a change's write may be missing from what the read returns, so the
   * read's copy must not replace it: its write either commits (memory is right) or is refused (the
   * refusal's resync reads again, after it). Replaced, an alert showed one repeat fewer than the
   * store held until its next change (cluster mode, PostgreSQL restarted under load).
   */
  private readonly changedDuringReads = new Set<Set<number>>();

  static async open(db: Database, onError: (err: unknown, what: string) => void = () => {}): Promise<AlertLedger> {
    const store = db.store<LedgerTables>();
    await store.migrate('alerts', LEDGER_MIGRATIONS);
    await store.prepareIds('alerts');
    const ledger = new AlertLedger(store, onError);
    for (const r of await store.all(ledger.queries.activeDocs())) ledger.remember(upgradeAlert(JSON.parse(r.doc) as Alert));
    return ledger;
  }

  /** Runs the ledger's queries; its statement cache keeps one prepared count per scope shape (five roles). */
  private constructor(private readonly store: Store<LedgerTables>, private readonly onError: (err: unknown, what: string) => void) {
    this.queries = ledgerQueries(store.q);
  }

  private remember(a: Readonly<Alert>): void {
    this.active.set(activeKey(a.deviceId, a.type, a.subject), a);
    this.activeById.set(a.id, a);
  }

  private tx(): Pending {
    if (!this.inTx) throw new Error('alert ledger: changes are made inside a transaction (AlertService.atomically)');
    return this.pending ??= this.changeSet;
  }

  // ---- reads (inside a transaction they see its changes) ----

  findActive(deviceId: string, type: string, subject: string): Readonly<Alert> | undefined {
    const key = activeKey(deviceId, type, subject);
    const p = this.pending;
    if (p !== null && p.keys.has(key)) return p.keys.get(key) ?? undefined;
    return this.active.get(key);
  }

  /** The alert if it is active. */
  getActive(id: number): Readonly<Alert> | undefined {
    const a = this.pending?.latest.get(id) ?? this.activeById.get(id);
    return a !== undefined && ACTIVE_STATES.has(a.state) ? a : undefined;
  }

  activeAlerts(): IterableIterator<Readonly<Alert>> {
    const p = this.pending;
    return p === null ? this.activeById.values() : this.activeIn(p);
  }

  private *activeIn(p: Pending): IterableIterator<Readonly<Alert>> {
    for (const a of this.activeById.values()) if (!p.latest.has(a.id)) yield a;
    for (const a of p.latest.values()) if (ACTIVE_STATES.has(a.state)) yield a;
  }

  /** The alert: from memory when it is active, from the store otherwise. */
  get(id: number): Awaitable<Readonly<Alert> | undefined> {
    const a = this.pending?.latest.get(id) ?? this.activeById.get(id);
    if (a) return a;
    const row = this.store.get(this.queries.get(id));
    return row instanceof Promise ? row.then(parseDoc) : parseDoc(row);
  }

  // ---- changes ----

  /** Opens the transaction's change set (the alert service calls it with the database transaction). */
  begin(): void {
    if (this.inTx) throw new Error('alert ledger: a transaction is open already');
    this.inTx = true;
  }

  /** Stores a new alert, gives it its id, and returns it as a working copy (`record` it). */
  create(fields: Omit<Alert, 'id'>): Alert {
    const p = this.tx();
    const id = this.store.nextId('alerts');
    this.store.write(this.queries.insert({
      id, type: fields.type, subject: fields.subject, device_id: fields.deviceId, device_kind: fields.deviceKind, site_id: fields.siteId,
      company_id: fields.companyId, maintenance_unit_id: fields.maintenanceUnitId, domain: fields.domain, state: fields.state,
      severity: fields.severity, suppressed: fields.suppressed ? 1 : 0, opened_at: fields.openedAt, updated_at: fields.updatedAt,
    }));
    const draft = { id, ...fields } as Alert;
    p.working.set(draft.id, { draft, previous: null });
    p.latest.set(draft.id, draft);
    p.keys.set(activeKey(draft.deviceId, draft.type, draft.subject), draft);
    p.created.push(draft);
    return draft;
  }

  /** The working copy of an alert in this transaction: made on the first edit, and again after each `record`. */
  edit(a: Readonly<Alert>): Alert {
    const p = this.tx();
    const w = p.working.get(a.id);
    if (w) return w.draft;
    const base = p.latest.get(a.id) ?? this.activeById.get(a.id) ?? a;
    const draft = copyOf(base);
    p.working.set(a.id, { draft, previous: base });
    p.latest.set(a.id, draft);
    return draft;
  }

  /**
   * Writes a working copy and records its change. The copy becomes the snapshot that the change
   * announces and the memory index takes at the commit (nobody changes it after this); a later
   * edit makes a new copy.
   */
  record(draft: Alert, change: ChangeRecord): void {
    const p = this.tx();
    const w = p.working.get(draft.id);
    if (w?.draft !== draft) throw new Error(`alert ledger: alert ${draft.id} is not a working copy of this transaction`);
    const seen = w.previous?.updatedAt;
    this.store.write(this.queries.update(draft.id, {
      state: draft.state, severity: draft.severity, suppressed: draft.suppressed ? 1 : 0, company_id: draft.companyId, maintenance_unit_id: draft.maintenanceUnitId,
      updated_at: draft.updatedAt, doc: JSON.stringify(draft), ...factColumns(draft),
    }, seen), seen === undefined ? undefined : ({ changes }) => {
      if (changes !== 1) throw new StoreConflictError(`alert ${draft.id} was changed by another node`);
    });
    p.working.delete(draft.id);
    p.recorded.set(draft.id, draft);
    p.keys.set(activeKey(draft.deviceId, draft.type, draft.subject), ACTIVE_STATES.has(draft.state) ? draft : null);
    // one literal of one shape: a spread of the caller's object would cost more than the rest of this
    p.changes.push({
      kind: change.kind, alert: draft, previous: w.previous, queues: change.queues, at: change.at,
      actor: change.actor, note: change.note, reason: change.reason,
    });
  }

  /**
   * After the database committed: the memory index takes the recorded snapshots. Returns the
   * transaction's changes; `takeAnnouncements` hands them to the listeners once they are durable.
   */
  commit(): readonly AlertChange[] {
    const p = this.pending;
    this.inTx = false;
    this.pending = null;
    if (p === null) return NO_CHANGES;
    for (const a of p.recorded.values()) {
      if (ACTIVE_STATES.has(a.state)) this.remember(a);
      else if (this.activeById.delete(a.id)) this.active.delete(activeKey(a.deviceId, a.type, a.subject));
      for (const changed of this.changedDuringReads) changed.add(a.id);
    }
    const changes = p.changes.length > 0 ? p.changes : NO_CHANGES;
    // a new array for the next transaction: these are announced later
    if (p.changes.length > 0) p.changes = [];
    this.clear(p);
    return changes;
  }

  /** After a rollback: forgets the working copies. Returns the alerts the transaction had created (never stored). */
  rollback(): ReadonlyArray<Readonly<Alert>> {
    const p = this.pending;
    this.inTx = false;
    this.pending = null;
    if (p === null) return NO_ALERTS;
    const created = p.created.length > 0 ? p.created : NO_ALERTS;
    this.clear(p);
    return created;
  }

  private clear(p: Pending): void {
    p.latest.clear();
    p.recorded.clear();
    p.working.clear();
    p.keys.clear();
    if (p.changes.length > 0) p.changes = [];
    if (p.created.length > 0) p.created = [];
  }

  /** The function that announces `changes` (a commit's) to the listeners, in order (one that throws does not stop the others). */
  announcer(changes: readonly AlertChange[]): () => void {
    if (changes.length === 0) return NOTHING;
    return () => {
      for (const c of changes) {
        for (const l of this.listeners) {
          try { l(c); } catch (err) { this.onError(err, 'alert change listener failed'); }
        }
      }
    };
  }

  /** Hears every committed change; returns the unsubscribe. */
  onChange(listener: AlertChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  addHistory(alertId: number, entry: HistoryEntry): void {
    this.store.write(this.queries.addHistory({
      alert_id: alertId, at: entry.at, actor: entry.actor, action: entry.action, note: entry.note ?? null,
      detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
    }));
  }

  async history(id: number): Promise<HistoryEntry[]> {
    return (await this.store.all(this.queries.history(id)))
      .map((r) => ({ at: r.at, actor: r.actor, action: r.action, ...(r.note === null ? {} : { note: r.note }), ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) }) }));
  }

  /**
   * Takes another node's committed changes of these alerts (cluster mode): each is read from the
   * store and replaces this node's copy (or leaves the index when no longer active). Returns each
   * alert with the copy it replaced. Never called inside a transaction.
   */
  async refresh(ids: readonly number[]): Promise<Array<{ before: Readonly<Alert> | undefined; after: Readonly<Alert> }>> {
    if (ids.length === 0) return [];
    return this.whileReading(async (changed) => {
      const rows = await this.store.all(this.queries.docs(ids));
      const out: Array<{ before: Readonly<Alert> | undefined; after: Readonly<Alert> }> = [];
      for (const r of rows) {
        const a = upgradeAlert(JSON.parse(r.doc) as Alert);
        if (!changed.has(a.id)) out.push(this.take(a));
      }
      return out;
    });
  }

  /** Runs a read of the store, telling it which alerts this node changed while it was under way (`changedDuringReads`). */
  private async whileReading<T>(read: (changed: ReadonlySet<number>) => Promise<T>): Promise<T> {
    const changed = new Set<number>();
    this.changedDuringReads.add(changed);
    try {
      return await read(changed);
    } finally {
      this.changedDuringReads.delete(changed);
    }
  }

  /** Reads every active alert again (after a refused commit, or notices missed); returns what changed. */
  async reloadActive(): Promise<Array<{ before: Readonly<Alert> | undefined; after: Readonly<Alert> | undefined }>> {
    return this.whileReading(async (changed) => {
      const rows = await this.store.all(this.queries.activeDocs());
      const fresh = new Map<number, Alert>();
      for (const r of rows) {
        const a = upgradeAlert(JSON.parse(r.doc) as Alert);
        fresh.set(a.id, a);
      }
      const out: Array<{ before: Readonly<Alert> | undefined; after: Readonly<Alert> | undefined }> = [];
      for (const old of [...this.activeById.values()]) {
        if (fresh.has(old.id) || changed.has(old.id)) continue;
        // no longer active: its stored state says how it ended
        const stored = await this.store.get(this.queries.get(old.id));
        if (changed.has(old.id)) continue;
        if (stored) out.push(this.take(upgradeAlert(JSON.parse(stored.doc) as Alert)));
        else {
          this.activeById.delete(old.id);
          this.active.delete(activeKey(old.deviceId, old.type, old.subject));
          out.push({ before: old, after: undefined });
        }
      }
      for (const a of fresh.values()) if (!changed.has(a.id)) out.push(this.take(a));
      return out;
    });
  }

  /**
   * The store's copy replaces this node's: reads wait for this node's earlier writes, so the store
   * holds them (or refused them). An alert changed here while the read was under way is not taken
   * (see `changedDuringReads`).
   */
  private take(a: Alert): { before: Readonly<Alert> | undefined; after: Readonly<Alert> } {
    const before = this.activeById.get(a.id);
    if (ACTIVE_STATES.has(a.state)) {
      if (before && activeKey(before.deviceId, before.type, before.subject) !== activeKey(a.deviceId, a.type, a.subject)) this.active.delete(activeKey(before.deviceId, before.type, before.subject));
      this.remember(a);
    } else if (this.activeById.delete(a.id)) {
      this.active.delete(activeKey(a.deviceId, a.type, a.subject));
    }
    return { before, after: a };
  }

  /** Newest first; `before` pages by id. */
  async list(f: AlertFilter): Promise<Array<Readonly<Alert>>> {
    const rows = await this.store.all(this.queries.list(f));
    // an active alert's freshest copy is the one in memory
    return rows.map((r) => this.activeById.get(r.id) ?? (upgradeAlert(JSON.parse(r.doc) as Alert)));
  }

  /** How many alerts the principal may see, per type and state (counted in SQL: the ledger keeps closed alerts for years). */
  async countByTypeAndState(viewer: Principal): Promise<Array<{ type: string; state: string; n: number }>> {
    // PostgreSQL counts in BIGINT
    return (await this.store.all(this.queries.countByTypeAndState(viewer))).map((r) => ({ ...r, n: Number(r.n) }));
  }

  /** How many alerts of a type the viewer may see opened in a period, per site (e-bikes in lifts: the street's statistics). */
  async countBySite(f: SiteCountFilter): Promise<Array<{ siteId: string; n: number }>> {
    return (await this.store.all(this.queries.countBySite(f))).map((r) => ({ siteId: r.site_id, n: Number(r.n) }));
  }
}

function parseDoc(row: { doc: string } | undefined): Alert | undefined {
  return row ? (upgradeAlert(JSON.parse(row.doc) as Alert)) : undefined;
}
