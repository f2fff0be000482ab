/**
 * The embedded durable store: one SQLite database (better-sqlite3, WAL mode) in DATA_DIR for the
 * registry, accounts, dead letters, device state and (later) the alert ledger. Each capability owns
 * its tables and brings its own ordered migrations through `migrate`.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

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
export function migrate(db: Db, module: string, steps: readonly string[]): void {
  const done = new Set(
    (db.prepare('SELECT version FROM schema_migrations WHERE module = ?').all(module) as Array<{ version: number }>).map((r) => r.version),
  );
  steps.forEach((sql, i) => {
    const version = i + 1;
    if (done.has(version)) return;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (module, version) VALUES (?, ?)').run(module, version);
    })();
  });
}
