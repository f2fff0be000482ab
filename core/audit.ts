/** The audit log: every registry change and (later) every alert action, who did it and when. */
import { migrate, type Db } from './store.js';

export interface AuditEntry { id: number; at: number; actor: string; action: string; target: string; detail: unknown }

export class AuditLog {
  private readonly insert;
  constructor(private readonly db: Db, private readonly now: () => number = Date.now) {
    migrate(db, 'audit', [
      `CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
         action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
       CREATE INDEX audit_log_target ON audit_log (target, id);`,
    ]);
    this.insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)');
  }

  record(actor: string, action: string, target: string, detail?: unknown): void {
    this.insert.run(this.now(), actor, action, target, detail === undefined ? null : JSON.stringify(detail));
  }

  list(opts: { target?: string; limit: number }): AuditEntry[] {
    const rows = (opts.target
      ? this.db.prepare('SELECT * FROM audit_log WHERE target = ? ORDER BY id DESC LIMIT ?').all(opts.target, opts.limit)
      : this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(opts.limit)) as Array<AuditEntry & { detail: string | null }>;
    return rows.map((r) => ({ ...r, detail: r.detail ? JSON.parse(r.detail) : null }));
  }
}
