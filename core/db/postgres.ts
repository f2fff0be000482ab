/**
 * PostgreSQL execution of the query layer (cluster mode): the same Kysely-built queries as the
 * embedded store, run asynchronously through a node-postgres pool, and the same migrations (each
 * module's steps, in their PostgreSQL form where the dialects differ).
 *
 * Values: epoch milliseconds and counts are BIGINT in PostgreSQL, which node-postgres returns as
 * strings by default (an int8 can exceed 2^53). Ours never do (dates until the year 285,000), so they
 * are read as numbers, as SQLite returns them. Booleans are stored as 0 / 1 in both dialects, so a
 * row reads the same whichever store it came from.
 */
import pg from 'pg';
import type { Kysely } from 'kysely';
import { compile, migrationFor, queryBuilder, type Migration, type Query } from './query.js';

const INT8_OID = 20;
pg.types.setTypeParser(INT8_OID, (v) => Number(v));

type Client = pg.Pool | pg.PoolClient;

export class PostgresStore<Tables> {
  readonly dialect = 'postgres' as const;
  readonly q: Kysely<Tables> = queryBuilder<Tables>('postgres');

  constructor(private readonly client: Client) {}

  async migrate(module: string, steps: readonly Migration[]): Promise<void> {
    await this.client.query('CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (module, version))');
    const done = new Set((await this.client.query<{ version: number }>('SELECT version FROM schema_migrations WHERE module = $1', [module])).rows.map((r) => r.version));
    for (const [i, step] of steps.entries()) {
      const version = i + 1;
      if (done.has(version)) continue;
      await this.transaction(async (tx) => {
        await tx.client.query(migrationFor(step, 'postgres'));
        await tx.client.query('INSERT INTO schema_migrations (module, version) VALUES ($1, $2)', [module, version]);
      });
    }
  }

  async run(query: Query): Promise<{ changes: number }> {
    const c = compile(query);
    const r = await this.client.query(c.sql, params(c.parameters));
    return { changes: r.rowCount ?? 0 };
  }

  async all<R>(query: Query<R>): Promise<R[]> {
    const c = compile(query);
    return (await this.client.query(c.sql, params(c.parameters))).rows as R[];
  }

  async get<R>(query: Query<R>): Promise<R | undefined> {
    return (await this.all(query))[0];
  }

  /** Runs `fn` on one connection inside BEGIN / COMMIT; ROLLBACK if it throws. */
  async transaction<T>(fn: (tx: PostgresStore<Tables>) => Promise<T>): Promise<T> {
    if (!(this.client instanceof pg.Pool)) return fn(this);
    const conn = await this.client.connect();
    try {
      await conn.query('BEGIN');
      const result = await fn(new PostgresStore<Tables>(conn));
      await conn.query('COMMIT');
      return result;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }
}

function params(values: readonly unknown[]): unknown[] {
  return values.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
}
