/**
 * The one query layer: every capability builds its SQL with Kysely, typed by its own tables, and the
 * same query compiles for the embedded SQLite store and for PostgreSQL (cluster mode). Kysely is used
 * only to build and compile (a "dummy" driver); executing is the store's job:
 *
 * - SQLite (better-sqlite3) runs synchronously (`SqliteStore`): the ingest group commit and the
 *   alert ledger commit before an MQTT acknowledgement without a promise per message, which is
 *   what keeps ingest near the broker's own ceiling.
 * - PostgreSQL runs asynchronously (`PostgresStore`, node-postgres).
 *
 * Why Kysely: it is a query builder, not an ORM (the SQL stays visible and ours), its types come from
 * table interfaces each capability declares next to its migrations, it compiles one builder call to
 * each dialect's placeholders and quirks (`?` vs `$1`, `ON CONFLICT`, `RETURNING`), and it can compile
 * without a connection, which a synchronous SQLite path needs. Raw SQL stays for DDL (migrations are
 * written per dialect where they differ) and for the few statements a builder cannot say better.
 */
import {
  DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector,
  SqliteQueryCompiler, type CompiledQuery, type Compilable,
} from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** A query ready to run: built with `queryBuilder`, or already compiled. */
export type Query<R = unknown> = Compilable<R> | CompiledQuery<R>;

export function compile<R>(q: Query<R>): CompiledQuery<R> {
  return 'compile' in q ? q.compile() : q;
}

/** A Kysely instance that only builds and compiles queries for `dialect`; it never connects. */
export function queryBuilder<Tables>(dialect: Dialect): Kysely<Tables> {
  return new Kysely<Tables>({
    dialect: dialect === 'sqlite'
      ? { createAdapter: () => new SqliteAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new SqliteIntrospector(db), createQueryCompiler: () => new SqliteQueryCompiler() }
      : { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() },
  });
}

/**
 * A migration step: one SQL script for both dialects, or one per dialect where their DDL differs
 * (`INTEGER PRIMARY KEY AUTOINCREMENT` vs `BIGSERIAL PRIMARY KEY`, `WITHOUT ROWID`, `BLOB` vs `BYTEA`).
 */
export type Migration = string | { sqlite: string; postgres: string };

export function migrationFor(step: Migration, dialect: Dialect): string {
  return typeof step === 'string' ? step : step[dialect];
}
