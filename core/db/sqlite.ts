/**
 * The embedded durable store: one SQLite database (better-sqlite3, WAL mode) in DATA_DIR for the
 * registry, accounts, dead letters, device state, the alert ledger and queues. Each capability owns
 * its tables and brings its own ordered migrations. Queries are built with the query layer
 * (query.ts) and run here synchronously: a commit before an MQTT acknowledgement costs no promise.
 */
import Database, { type Statement } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { compile, migrationFor, queryBuilder, type Migration, type Query } from './query.js';
import type { Database as GatewayDatabase, Store, WriteResult } from './store.js';

export type Db = Database.Database;

export function openDatabase(dataDir: string, file: string): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, file));
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a committed transaction survives a process crash; only an OS crash or
  // power loss can lose the last transactions. That is the durability the MQTT ack promises.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (module, version))');
  return db;
}

/** Applies the migrations of one module that have not run yet, each in its own transaction. */
export function migrate(db: Db, module: string, steps: readonly Migration[]): void {
  const done = new Set(
    (db.prepare('SELECT version FROM schema_migrations WHERE module = ?').all(module) as Array<{ version: number }>).map((r) => r.version),
  );
  steps.forEach((step, i) => {
    const version = i + 1;
    if (done.has(version)) return;
    db.transaction(() => {
      db.exec(migrationFor(step, 'sqlite'));
      db.prepare('INSERT INTO schema_migrations (module, version) VALUES (?, ?)').run(module, version);
    })();
  });
}

/**
 * Prepared statements kept per SQL text. The texts a capability compiles are few (one per query
 * shape; a multi-row insert has one shape per row count up to its chunk size), so a bound is a guard
 * against a caller that builds unbounded shapes, not a cache policy.
 */
const MAX_STATEMENTS = 512;

/** The embedded store as the gateway's `Database` (store.ts): every write is durable when its transaction returns. */
export function sqliteDatabase(db: Db): GatewayDatabase & { readonly db: Db } {
  return {
    db,
    dialect: 'sqlite',
    store: <Tables>() => new SqliteStore<Tables>(db),
    health: () => ({ ok: db.open, dialect: 'sqlite', pendingWrites: 0 }),
    saturated: false,
    listen: () => {},
    onRefused: () => {},
    async close() { if (db.open) db.close(); },
  };
}

/** The next id of each table, per database: one process owns the file, so a counter in memory is enough. */
const lastIds = new WeakMap<Db, Map<string, number>>();

/**
 * A capability's view of the SQLite store: its typed query builder (`q`) and synchronous execution
 * of what it builds. Booleans become 0 / 1, since SQLite has no boolean and better-sqlite3 refuses them.
 */
export class SqliteStore<Tables> implements Store<Tables> {
  readonly dialect = 'sqlite' as const;
  readonly q: Kysely<Tables> = queryBuilder<Tables>('sqlite');
  private readonly statements = new Map<string, Statement<unknown[]>>();

  constructor(readonly db: Db) {}

  get open(): boolean { return this.db.open; }

  write(query: Query, then?: (result: WriteResult) => void): void {
    const c = compile(query);
    const s = this.statement(c.sql);
    if (s.reader) {
      // a write with RETURNING
      const rows = s.all(...params(c.parameters));
      then?.({ changes: rows.length, rows });
    } else {
      const r = s.run(...params(c.parameters));
      then?.({ changes: r.changes, rows: [] });
    }
  }

  nextId(table: string): number {
    let ids = lastIds.get(this.db);
    if (!ids) lastIds.set(this.db, (ids = new Map()));
    let last = ids.get(table);
    if (last === undefined) {
      // AUTOINCREMENT never reuses an id, even of a deleted row: sqlite_sequence remembers the highest
      const hasSequences = this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get() !== undefined;
      const seq = hasSequences ? this.db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined : undefined;
      const max = this.db.prepare(`SELECT MAX(id) AS id FROM "${table.replace(/"/g, '')}"`).get() as { id: number | null };
      last = Math.max(seq?.seq ?? 0, max.id ?? 0);
    }
    ids.set(table, ++last);
    return last;
  }

  prepareIds(): void {}

  afterCommit(fn: () => void): void { fn(); }

  durable(): undefined { return undefined; }

  notify(): void {}

  migrate(module: string, steps: readonly Migration[]): void { migrate(this.db, module, steps); }

  run(query: Query): { changes: number; lastInsertRowid: number | bigint } {
    const c = compile(query);
    return this.statement(c.sql).run(...params(c.parameters));
  }

  all<R>(query: Query<R>): R[] {
    const c = compile(query);
    return this.statement(c.sql).all(...params(c.parameters)) as R[];
  }

  get<R>(query: Query<R>): R | undefined {
    const c = compile(query);
    return this.statement(c.sql).get(...params(c.parameters)) as R | undefined;
  }

  /** Runs `fn` in one transaction (nested calls join it, as better-sqlite3 makes savepoints). */
  transaction<T>(fn: () => T): T { return this.db.transaction(fn)(); }

  private statement(sql: string): Statement<unknown[]> {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      s = this.db.prepare<unknown[]>(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}

function params(values: readonly unknown[]): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] === 'boolean') (out ??= values.slice())[i] = values[i] ? 1 : 0;
  }
  return out ?? (values as unknown[]);
}
