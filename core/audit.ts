/** The audit log: every registry change and alert action, refused logins and actions, who did it and when. */
import type { Generated, Kysely } from 'kysely';
import type { Database, Store } from './db/store.js';
import type { Migration } from './db/query.js';

export interface AuditEntry { id: number; at: number; actor: string; action: string; target: string; detail: unknown }

export interface AuditTables {
  audit_log: { id: Generated<number>; at: number; actor: string; action: string; target: string; detail: string | null };
}

export const AUDIT_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
      action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
    CREATE INDEX audit_log_target ON audit_log (target, id);`,
  postgres: `CREATE TABLE audit_log (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
      action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
    CREATE INDEX audit_log_target ON audit_log (target, id);`,
}];

/** The audit log's queries, the same for both stores. */
export const auditQueries = (q: Kysely<AuditTables>) => ({
  insert: (row: { at: number; actor: string; action: string; target: string; detail: string | null }) => q.insertInto('audit_log').values(row),
  list: (opts: { target?: string | undefined; limit: number }) => {
    let s = q.selectFrom('audit_log').selectAll();
    if (opts.target) s = s.where('target', '=', opts.target);
    return s.orderBy('id', 'desc').limit(opts.limit);
  },
});

export class AuditLog {
  private readonly queries;

  static async open(db: Database, now: () => number = Date.now): Promise<AuditLog> {
    const store = db.store<AuditTables>();
    await store.migrate('audit', AUDIT_MIGRATIONS);
    return new AuditLog(store, now);
  }

  private constructor(private readonly store: Store<AuditTables>, private readonly now: () => number) {
    this.queries = auditQueries(store.q);
  }

  /** Joins the caller's unit of work (durable with it). */
  record(actor: string, action: string, target: string, detail?: unknown): void {
    this.store.write(this.queries.insert({ at: this.now(), actor, action, target, detail: detail === undefined ? null : JSON.stringify(detail) }));
  }

  async list(opts: { target?: string | undefined; limit: number }): Promise<AuditEntry[]> {
    return (await this.store.all(this.queries.list(opts))).map((r) => ({ ...r, detail: r.detail ? JSON.parse(r.detail) : null }));
  }
}
