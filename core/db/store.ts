/**
 * The store boundary: what every capability sees of the gateway's durable store, the same in the
 * embedded mode (one SQLite file, sqlite.ts) and in cluster mode (PostgreSQL, postgres.ts).
 *
 * The domain above it is synchronous: a rule decides, the ledger takes a copy-on-write change, the
 * queue appends, all in one event-loop turn, without a promise per message. What differs is when a
 * write becomes durable:
 *
 * - SQLite runs each write at once, inside the open transaction; `durable()` is already true when
 *   the transaction returns.
 * - PostgreSQL takes the writes of a turn into the node's next commit (write-behind.ts), one
 *   PostgreSQL transaction per batch, in the order they were made. `durable()` is a promise that
 *   settles when everything written so far has committed; an MQTT acknowledgement, an HTTP answer
 *   to a change and a message to an agency wait for it.
 *
 * Reads (loading at start, the API's lists) are synchronous on SQLite and a promise on PostgreSQL:
 * callers `await` them, which costs nothing on a value that is not a promise.
 */
import type { Kysely } from 'kysely';
import type { Dialect, Migration, Query } from './query.js';

export type Awaitable<T> = T | Promise<T>;

/** A write's outcome, for the few callers that use it (a prune's count, a cursor assigned by the database). */
export interface WriteResult { changes: number; rows: readonly unknown[] }

export interface Store<Tables> {
  readonly dialect: Dialect;
  /** The capability's typed query builder. */
  readonly q: Kysely<Tables>;
  /** False once the gateway closed the store (late timers must not write). */
  readonly open: boolean;
  migrate(module: string, steps: readonly Migration[]): Awaitable<void>;
  /** Reads see every write this node made before them (PostgreSQL waits for their commit). */
  all<R>(query: Query<R>): Awaitable<R[]>;
  get<R>(query: Query<R>): Awaitable<R | undefined>;
  /**
   * A write. SQLite: run now, in the open transaction. PostgreSQL: joins the node's next commit;
   * `then` runs when it has been executed there (before the commit is known to have succeeded).
   */
  write(query: Query, then?: (result: WriteResult) => void): void;
  /** `fn`'s writes all or none: a SQLite transaction; on PostgreSQL they leave the next commit if `fn` throws. */
  transaction<T>(fn: () => T): T;
  /**
   * A new id for a row of `table` (its `id` column), known at once, before the row is committed:
   * the domain hands the new alert's id out in the same turn.
   */
  nextId(table: string): number;
  /** Makes `nextId(table)` ready (PostgreSQL reserves a block of ids from the table's sequence). */
  prepareIds(table: string): Awaitable<void>;
  /** Runs `fn` once everything written so far is durable: now on SQLite; after that commit on PostgreSQL. */
  afterCommit(fn: () => void): void;
  /** Undefined when everything written so far is durable; otherwise settles when it is (rejects if that commit failed). */
  durable(): Promise<void> | undefined;
  /**
   * Tells the other nodes that these entries changed, once the writes made so far commit (cluster
   * mode: a NOTIFY in the same transaction; nothing on SQLite, where there are no other nodes).
   */
  notify(topic: NoticeTopic, ids: readonly string[]): void;
}

/**
 * What a notice is about: alerts (ids), queues (names), registry entries (`site:`, `device:`,
 * `account:` + id), presence (`{deviceId}:1` connected to the sender, `:0` disconnected from it),
 * supervision records (`visit:` + device id, `order:` + id).
 */
export type NoticeTopic = 'alerts' | 'queues' | 'registry' | 'presence' | 'supervision' | 'notifications';

/**
 * A change another node committed. `resync`: notices may have been missed (the listening
 * connection was lost); whoever keeps a copy of the store in memory reads it again.
 */
export type Notice = { topic: NoticeTopic; ids: string[] } | { topic: 'resync' };

/** How the store is doing, for `/readyz` and the metrics. */
export interface StoreHealth {
  ok: boolean;
  dialect: Dialect;
  /** Writes made but not yet committed (always 0 on SQLite). */
  pendingWrites: number;
  /** Why the last commit failed, while the store is not ok. */
  lastError?: string;
}

/**
 * The gateway's store: every capability takes its own typed view of it. One per process; the
 * composition root opens it (`openSqliteDatabase` or `openPostgresDatabase`) and closes it last.
 */
export interface Database {
  readonly dialect: Dialect;
  store<Tables>(): Store<Tables>;
  health(): StoreHealth;
  /**
   * Too many writes are waiting for the database (it is unreachable): new work that can wait is
   * refused instead of piling up in memory (devices are not acknowledged and resend; changes over
   * HTTP get 503).
   */
  readonly saturated: boolean;
  /** Hears the other nodes' notices (cluster mode); never called on SQLite. */
  listen(handler: (notice: Notice) => void): void;
  /**
   * A commit was refused for good (a conflict with another node's change): the memory of whoever
   * wrote in it may no longer match the store, and should be read again.
   */
  onRefused(handler: () => void): void;
  /** Commits what is pending (or gives up after `timeoutMs`) and closes. */
  close(timeoutMs?: number): Promise<void>;
}

/** A write that found the row changed by someone else (another node): its commit is refused, and memory read again. */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

/** A change could not be made durable: the store is unreachable, or refused it. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
