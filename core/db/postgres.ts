/**
 * PostgreSQL execution of the query layer (cluster mode): the same Kysely-built queries as the
 * embedded store, run asynchronously through a node-postgres pool, and the same migrations (each
 * module's steps, in their PostgreSQL form where the dialects differ). `PostgresStore` runs a query
 * at once; the gateway's capabilities get `openPostgresDatabase`'s stores, whose writes go through
 * the write-behind commit.
 *
 * Values: epoch milliseconds and counts are BIGINT in PostgreSQL, which node-postgres returns as
 * strings by default (an int8 can exceed 2^53). Ours never do (dates until the year 285,000), so they
 * are read as numbers, as SQLite returns them. Booleans are stored as 0 / 1 in both dialects, so a
 * row reads the same whichever store it came from.
 */
import pg from 'pg';
import type { Kysely } from 'kysely';
import { compile, migrationFor, queryBuilder, type Migration, type Query } from './query.js';
import { StoreUnavailableError, type Database, type Notice, type NoticeTopic, type Store, type WriteResult } from './store.js';
import { COMMIT_MARKS_MIGRATION, WriteBehind, type WriteBehindOptions } from './write-behind.js';

const INT8_OID = 20;
pg.types.setTypeParser(INT8_OID, (v) => Number(v));

type Client = pg.Pool | pg.PoolClient;

/** The advisory lock key migrations take (leader election uses other keys). */
const MIGRATION_LOCK = 0x6d696772;

export class PostgresStore<Tables> {
  readonly dialect = 'postgres' as const;
  readonly q: Kysely<Tables> = queryBuilder<Tables>('postgres');

  constructor(private readonly client: Client) {}

  /**
   * Applies the module's steps not run yet, in one transaction. Nodes starting together would race
   * to create the same tables: a transaction-scoped advisory lock makes them take turns, and the
   * second finds the steps done.
   */
  async migrate(module: string, steps: readonly Migration[]): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.client.query('CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (module, version))');
      const done = new Set((await tx.client.query<{ version: number }>('SELECT version FROM schema_migrations WHERE module = $1', [module])).rows.map((r) => r.version));
      for (const [i, step] of steps.entries()) {
        const version = i + 1;
        if (done.has(version)) continue;
        await tx.client.query(migrationFor(step, 'postgres'));
        await tx.client.query('INSERT INTO schema_migrations (module, version) VALUES ($1, $2)', [module, version]);
      }
    });
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
    // a connection the server ends between two queries says so here (unheard, it would end the process)
    const dropped = () => undefined;
    conn.on('error', dropped);
    try {
      await conn.query('BEGIN');
      const result = await fn(new PostgresStore<Tables>(conn));
      await conn.query('COMMIT');
      return result;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      conn.off('error', dropped);
      conn.release();
    }
  }
}

function params(values: readonly unknown[]): unknown[] {
  return values.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
}

export interface PostgresDatabaseOptions {
  connectionString: string;
  /** This node's name: its own notices are not handed back to it. */
  nodeId?: string;
  /** Connections of the pool (reads and the commit). */
  poolSize?: number;
  maxPendingWrites?: number;
  probeMs?: number;
  onError: (err: unknown, what: string) => void;
  onCommit?: WriteBehindOptions['onCommit'];
  onFailure?: WriteBehindOptions['onFailure'];
}

/** Ids reserved per call (`nextId`); a new block is reserved when half of one is left. */
const ID_BLOCK = 256;

/**
 * PostgreSQL as the gateway's `Database` (cluster mode): reads run on the pool, writes go through
 * the write-behind commit (write-behind.ts), and new ids come from blocks reserved from each
 * table's own sequence, so that they are unique across the nodes and known before the commit.
 */
export async function openPostgresDatabase(opts: PostgresDatabaseOptions): Promise<Database & { readonly pool: pg.Pool }> {
  const pool = new pg.Pool({
    connectionString: opts.connectionString, max: opts.poolSize ?? 8,
    // a server that stopped answering (a network partition) fails the query instead of hanging it; the commit is retried
    query_timeout: 30_000, keepAlive: true,
  });
  // an idle connection ended by the server (a restart) is noticed by the next query, not here
  pool.on('error', (err) => opts.onError(err, 'idle store connection lost'));
  const direct = new PostgresStore<unknown>(pool);
  await direct.migrate('store', [COMMIT_MARKS_MIGRATION]);
  const writes = new WriteBehind(pool, {
    maxPendingWrites: opts.maxPendingWrites ?? 100_000,
    probeMs: opts.probeMs ?? 2000,
    backoff: { initialDelayMs: 100, maxDelayMs: 5000 },
    onError: opts.onError,
    ...(opts.onCommit ? { onCommit: opts.onCommit } : {}),
    ...(opts.onFailure ? { onFailure: opts.onFailure } : {}),
    onRefused: () => { for (const h of refusedHandlers) h(); },
  });
  const refusedHandlers: Array<() => void> = [];
  // A turn's notices go out together, after its writes: NOTIFY is transactional, so the others hear
  // of a change when (and only if) the commit holding it, or a later one, has committed.
  const pendingNotices = new Map<NoticeTopic, Set<string>>();
  let noticesScheduled = false;
  const flushNotices = () => {
    noticesScheduled = false;
    if (closed) return;
    for (const [topic, ids] of pendingNotices) {
      for (const chunk of noticeChunks([...ids])) writes.write('SELECT pg_notify($1, $2)', [NOTICE_CHANNEL, JSON.stringify({ node, topic, ids: chunk })]);
    }
    pendingNotices.clear();
  };
  const node = opts.nodeId ?? `node-${process.pid}`;
  let listener: NoticeListener | undefined;
  const ids = new Map<string, IdBlocks>();
  let closed = false;
  const idsOf = (table: string) => {
    let b = ids.get(table);
    if (!b) ids.set(table, (b = new IdBlocks(pool, table, opts.onError)));
    return b;
  };

  class PgStore<Tables> implements Store<Tables> {
    readonly dialect = 'postgres' as const;
    readonly q: Kysely<Tables> = queryBuilder<Tables>('postgres');
    get open(): boolean { return !closed; }
    migrate(module: string, steps: readonly Migration[]): Promise<void> { return direct.migrate(module, steps); }
    // A read sees this node's writes made before it (an action's answer shows its own history
    // entry); if their commit was refused, it reads what the store holds instead.
    async all<R>(query: Query<R>): Promise<R[]> {
      await writes.durable()?.catch(() => undefined);
      return direct.all(query);
    }
    async get<R>(query: Query<R>): Promise<R | undefined> {
      await writes.durable()?.catch(() => undefined);
      return direct.get(query);
    }
    write(query: Query, then?: (r: WriteResult) => void): void {
      const c = compile(query);
      writes.write(c.sql, params(c.parameters), then);
    }
    transaction<T>(fn: () => T): T {
      const mark = writes.mark();
      try {
        return fn();
      } catch (err) {
        writes.truncate(mark);
        throw err;
      }
    }
    nextId(table: string): number { return idsOf(table).next(); }
    prepareIds(table: string): Promise<void> { return idsOf(table).fill(); }
    afterCommit(fn: () => void): void { writes.afterCommit(fn); }
    durable(): Promise<void> | undefined { return writes.durable(); }
    notify(topic: NoticeTopic, ids: readonly string[]): void {
      let set = pendingNotices.get(topic);
      if (!set) pendingNotices.set(topic, (set = new Set()));
      for (const id of ids) set.add(id);
      if (!noticesScheduled) {
        noticesScheduled = true;
        setImmediate(flushNotices);
      }
    }
  }

  return {
    pool,
    dialect: 'postgres',
    store: <Tables>() => new PgStore<Tables>(),
    health: () => ({ ok: writes.ok, dialect: 'postgres', pendingWrites: writes.pendingWrites, ...(writes.error ? { lastError: writes.error } : {}) }),
    get saturated() { return writes.saturated; },
    listen(handler) {
      listener ??= new NoticeListener(opts.connectionString, node, opts.onError);
      listener.handlers.push(handler);
      listener.start();
    },
    onRefused(handler) { refusedHandlers.push(handler); },
    async close(timeoutMs = 5000) {
      if (closed) return;
      await listener?.stop();
      await writes.close(timeoutMs);
      closed = true;
      await pool.end().catch(() => undefined);
    },
  };
}

/** Ids of one table reserved from its sequence, a block ahead of need. */
class IdBlocks {
  private ids: number[] = [];
  private filling: Promise<void> | null = null;

  constructor(private readonly pool: pg.Pool, private readonly table: string, private readonly onError: (err: unknown, what: string) => void) {}

  next(): number {
    if (this.ids.length < ID_BLOCK / 2) void this.fill().catch((err) => this.onError(err, `reserving ids of ${this.table} failed`));
    const id = this.ids.shift();
    // only a burst of more than half a block within one round trip to the server gets here
    if (id === undefined) throw new StoreUnavailableError(`no ${this.table} id reserved yet; the store is slow or unreachable`);
    return id;
  }

  fill(): Promise<void> {
    this.filling ??= this.pool.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id FROM generate_series(1, ${ID_BLOCK})`, [this.table])
      .then((r) => { for (const row of r.rows) this.ids.push(Number(row.id)); })
      .finally(() => { this.filling = null; });
    return this.filling;
  }
}

const NOTICE_CHANNEL = 'gateway_changes';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: ids go out in chunks well under it. */
const NOTICE_BYTES = 6000;

function noticeChunks(ids: readonly string[]): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let bytes = 0;
  for (const id of ids) {
    const n = Buffer.byteLength(id) + 3;
    if (bytes + n > NOTICE_BYTES && chunk.length > 0) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(id);
    bytes += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * LISTEN on a connection of its own (outside the pool: a pooled connection would stop listening
 * when given back). A notice is delivered only to connections listening when it is sent, so after
 * the connection was lost the handlers are told `resync`: they read again what they keep in memory.
 */
class NoticeListener {
  readonly handlers: Array<(notice: Notice) => void> = [];
  private client: pg.Client | undefined;
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lostOnce = false;

  constructor(private readonly connectionString: string, private readonly node: string, private readonly onError: (err: unknown, what: string) => void) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', (m) => {
      if (m.channel !== NOTICE_CHANNEL || !m.payload) return;
      let parsed: { node: string; topic: NoticeTopic; ids: string[] };
      try { parsed = JSON.parse(m.payload) as typeof parsed; } catch { return; }
      if (parsed.node === this.node) return;
      this.deliver({ topic: parsed.topic, ids: parsed.ids });
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTICE_CHANNEL}`);
      this.client = client;
      if (this.lostOnce) this.deliver({ topic: 'resync' });
    } catch (err) {
      this.lost(client, err);
    }
  }

  private deliver(notice: Notice): void {
    for (const h of this.handlers) {
      try { h(notice); } catch (err) { this.onError(err, 'notice handler failed'); }
    }
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.stopped || (this.client !== undefined && this.client !== client)) return;
    if (err !== undefined) this.onError(err, 'notice connection lost; reconnecting');
    this.client = undefined;
    this.lostOnce = true;
    client.end().catch(() => undefined);
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; void this.connect(); }, 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
