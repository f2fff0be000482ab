/**
 * The MQTT layer of cluster mode: several gateway processes behind a TCP load balancer share one
 * Redis, so that it does not matter which of them a device or an account is connected to.
 *
 * - The emitter (mqemitter-redis) is Aedes' message bus. Every publish, also one whose subscribers
 *   are all on this node, goes out as a Redis PUBLISH on the message's topic and comes back through
 *   this node's PSUBSCRIBE/SUBSCRIBE connection (there is no local shortcut), so a publish on node A
 *   reaches live subscribers on node B. Aedes' own cluster traffic rides on it too: `$SYS/{id}/new/clients`
 *   (a client id connecting on one node closes its session on the others), heartbeats, and the
 *   persistence's `$SYS/sub/+` subscription broadcasts. Redis pub/sub keeps nothing: a message is
 *   delivered only to the nodes subscribed at that moment.
 * - The persistence (aedes-persistence-redis) holds what must outlive a connection and a node:
 *   persistent sessions' subscriptions (`client:{id}` hashes, `clients` set), their offline queues
 *   (`outgoing:{id}` lists of `packet:{broker}:{counter}` keys, each packet with a count of the queues
 *   holding it), QoS 2 packets in flight (`incoming:{id}`), retained messages (`retained` hash) and
 *   wills (`will:{broker}:{id}`). Each node also keeps every persistent subscription in an in-memory
 *   trie (loaded from Redis at setup, kept current through the `$SYS/sub/+` broadcasts): a QoS 1 publish
 *   asks it which offline queues to append to without a Redis round trip. A SUBSCRIBE of a persistent
 *   session is acknowledged only after its own broadcast came back through Redis.
 *
 * When Redis is unreachable (ioredis 5 defaults; read in the three libraries and measured): every
 * connection reconnects forever (50 ms more per attempt, at most 2 s apart) and queues commands
 * meanwhile; a command still queued after 20 reconnection attempts (about 10 s) fails. So everything
 * that needs Redis (a CONNECT, a SUBSCRIBE, a publish) waits, then fails, and Aedes closes that
 * client's connection. Aedes writes a client's QoS 1 PUBACK before it publishes the message, so such
 * a message was acknowledged and is lost (a device's readings are not: the ingest pipeline stored them
 * before the PUBACK; their live copies and the alert queues' messages are). Nothing reaches any
 * subscriber meanwhile, not even one on the same node, and what other nodes published while this
 * node's subscriber connection was down is never delivered live (a persistent session finds it in its
 * queue at its next connect). Back, the subscriber connection resubscribes by itself. The emitter
 * reports connection errors on its `state` emitter, which throws when nobody listens: here they go to
 * `onError`. Closing a broker whose clients hold subscriptions waits for Redis as well (tens of
 * seconds); this module bounds only its own part. A Redis that restarts empty (no AOF/RDB) loses the
 * sessions while the nodes' tries keep their subscriptions until the nodes restart: give it persistence.
 *
 * - The relay filters (`RELAY_FILTERS`): every topic filter granted on any node that can match a
 *   device topic, a Redis set of that name (never shrunk), and a notice of each new one on the channel
 *   of that name, heard by every node on a connection of its own; what they are for and the window
 *   they leave: `RelayAudience` in forwarder.ts. Aedes' emitter never sees these notices (its
 *   subscriber connection is another, and it ignores the channel when a `#` subscription makes it
 *   PSUBSCRIBE `*`).
 *
 * Startup waits until all four connections are ready and fails after `connectTimeoutMs`. The Aedes
 * `id` of each node must be unique per process run, not only per host: offline packets are stored
 * as `packet:{brokerId}:{counter}` with a counter that starts again at 0, so a node restarting under
 * the same id would overwrite packets still queued for offline sessions.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import type MemoryPersistence from 'aedes-persistence/types/asyncPersistence.js';
import type { SharedFilters, SharedFiltersListener } from './forwarder.js';

const require = createRequire(import.meta.url);

/** aedes-persistence 11's promise interface (what Aedes 1.x calls), which aedes-persistence-redis 12 implements. */
export type AsyncPersistence = Pick<MemoryPersistence, keyof MemoryPersistence>;
export type RedisEmitter = mqemitterRedis.MQEmitterRedis;

interface RedisPersistenceOptions {
  /** The connection it uses (instead of building one from these options); its `destroy` disconnects it. */
  conn: Redis;
  /** Packets of an offline queue sent at one (re)connect: the rest wait for the next one. Default 1000. */
  maxSessionDelivery?: number;
}
/** The package's main export: its async implementation behind aedes-persistence's callback/promise wrapper. */
const redisPersistence = require('aedes-persistence-redis') as (opts: RedisPersistenceOptions) => AsyncPersistence;

export interface RedisTransportOptions {
  /** Names this node's Redis connections (`CLIENT LIST`); use the same value as the Aedes id. */
  nodeId: string;
  /** Aedes' `concurrency` (listener calls in flight per emitter); Aedes' default is 100. */
  concurrency?: number;
  /** How long startup waits for Redis. Default 10 s. */
  connectTimeoutMs?: number;
  /** Connection errors (refused, reset…), one per failed attempt while Redis is away. */
  onError?: (err: Error, connection: 'emitter' | 'persistence' | 'relay filters') => void;
}

export interface RedisTransport {
  /** Aedes' `mq` option. */
  mq: RedisEmitter;
  /** Aedes' `persistence` option. */
  persistence: AsyncPersistence;
  /** The topic filters granted on every node, for the relay audience (see forwarder.ts). */
  relayFilters: SharedFilters;
  /** Call after the broker is closed: destroys the persistence and closes the emitter, bounded in time even with Redis gone. */
  close(): Promise<void>;
}

/** How long each step of a close waits for Redis (the broker's sessions, PING, QUIT / PUNSUBSCRIBE) before going on without it. */
const CLOSE_GRACE_MS = 2000;

/** The Redis set of the relay filters, and the channel of the notices of new ones. */
export const RELAY_FILTERS = 'gw:relay-filters';
/** After a failed read of the relay filters, the next try (the node forwards everything meanwhile). */
const RELAY_RESYNC_MS = 1000;

function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid Redis URL)';
  }
}

/** Resolves once the connection is ready; rejects after `ms` with its last error. */
function ready(conn: Redis, ms: number): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let last: Error | undefined;
    const onError = (err: Error) => { last = err; };
    const finish = (err?: Error) => {
      clearTimeout(timer);
      conn.off('ready', onReady);
      conn.off('error', onError);
      if (err) reject(err); else resolve();
    };
    const onReady = () => finish();
    const timer = setTimeout(() => finish(new Error(`not ready after ${ms} ms${last ? `: ${last.message}` : ''}`)), ms);
    conn.on('error', onError);
    conn.once('ready', onReady);
  });
}

/** Resolves when `p` settles or after CLOSE_GRACE_MS, whichever comes first; never rejects. */
export function withinCloseGrace(p: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_GRACE_MS);
    p.then(() => undefined, () => undefined).finally(() => { clearTimeout(timer); resolve(); });
  });
}

export async function createRedisTransport(url: string, opts: RedisTransportOptions): Promise<RedisTransport> {
  const name = opts.nodeId.replace(/[^A-Za-z0-9._:-]/g, '_');
  const onError = opts.onError ?? (() => undefined);
  const connection = (role: string, extra: RedisOptions = {}) => new Redis(url, { connectionName: `${name}:${role}`, ...extra });
  // mqemitter-redis turns auto-pipelining on for connections it builds itself; we build them to name them
  const pubConn = connection('mq-pub', { enableAutoPipelining: true });
  const subConn = connection('mq-sub');
  const db = connection('persistence');
  db.on('error', (err: Error) => onError(err, 'persistence'));
  // subscribed again by relayFilters itself, and only then is the set re-read
  const noticeConn = connection('relay', { autoResubscribe: false });
  noticeConn.on('error', (err: Error) => onError(err, 'relay filters'));
  // The emitter sends QUIT without handling its answer: when the connection is dropped first (Redis slow
  // or gone past CLOSE_GRACE_MS), the failed QUIT would be an unhandled rejection and end the process.
  for (const conn of [pubConn, subConn]) {
    const quit = conn.quit.bind(conn);
    conn.quit = ((...args: Parameters<Redis['quit']>) => {
      const answer = quit(...args);
      answer.catch(() => undefined);
      return answer;
    }) as Redis['quit'];
  }

  const mq = mqemitterRedis({
    pubConn, subConn,
    concurrency: opts.concurrency ?? 100,
    // as Aedes' default emitter: `a/#` matches `a` [MQTT-4.7.1-3]
    matchEmptyLevels: true,
  });
  // the emitter forwards its connections' errors here, and an EventEmitter without an 'error' listener throws
  (mq as unknown as { state: EventEmitter }).state.on('error', (err: Error) => onError(err, 'emitter'));
  // A `#` subscription makes the emitter PSUBSCRIBE `*`, which hears the relay filters' notices too: it
  // would decode them as its own messages and throw. It skips the channels in this set (made for Sentinel's).
  const ignored = (mq as unknown as { _ignoredTopicsSet?: Set<string> })._ignoredTopicsSet;
  if (!(ignored instanceof Set)) throw new Error('unexpected mqemitter-redis: no _ignoredTopicsSet to keep the relay filters\' channel out of');
  ignored.add(RELAY_FILTERS);

  /** Drops the emitter's sockets without QUIT; a connection between two reconnection attempts never reports its end, so this does not wait for it. */
  const dropEmitter = (): Promise<void> => {
    pubConn.disconnect();
    subConn.disconnect();
    return new Promise((resolve) => (mq as unknown as { _close(cb: () => void): void })._close(() => resolve()));
  };
  // The emitter's close sends QUIT and waits for both connections to end: with Redis gone and commands
  // queued it would wait forever, and Aedes' close waits for it. Bounded here.
  let emitterClosed: Promise<void> | undefined;
  const quitEmitter = mq.close.bind(mq);
  const closeEmitter = (): Promise<void> => {
    emitterClosed ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => { void dropEmitter().then(resolve); }, CLOSE_GRACE_MS);
      quitEmitter(() => { clearTimeout(timer); resolve(); });
    });
    return emitterClosed;
  };
  mq.close = (cb: () => void) => { void closeEmitter().then(cb); };

  const persistence = redisPersistence({ conn: db });
  const relayFilters = sharedFilters(pubConn, noticeConn, (err) => onError(err, 'relay filters'));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      relayFilters.close();
      // Commands the closing sessions issued (a will's removal) are answered before the connection is
      // dropped: the persistence sends some without awaiting them, and a dropped connection would fail
      // them as unhandled rejections. A PING is answered after everything sent before it.
      await withinCloseGrace(db.ping());
      // the persistence unsubscribes `$SYS/sub/+` through the broker and the emitter, then drops its connection;
      // it throws when it was never set up (the broker did not start)
      await withinCloseGrace(persistence.destroy());
      db.disconnect();
      await closeEmitter();
    })();
    return closing;
  };

  const timeout = opts.connectTimeoutMs ?? 10_000;
  try {
    await Promise.all([ready(pubConn, timeout), ready(subConn, timeout), ready(db, timeout), ready(noticeConn, timeout)]);
  } catch (err) {
    db.disconnect();
    noticeConn.disconnect();
    emitterClosed = dropEmitter();
    await emitterClosed;
    throw new Error(`Redis at ${redactedUrl(url)} is unreachable: ${(err as Error).message}`, { cause: err });
  }
  return { mq, persistence, relayFilters, close };
}

/**
 * The relay filters over Redis (see the header). `commands` adds and reads (a connection not in
 * subscriber mode); `notices` is subscribed to the channel, and nothing else.
 *
 * A new filter is added with SADD and announced with PUBLISH in one MULTI. A node subscribes (and
 * waits for Redis' answer) before it reads the set (SMEMBERS): a filter announced before its
 * SUBSCRIBE was added before it, so before the read, and one announced after reaches it. It is
 * in step (`synced`) from then until its notice connection closes or a share fails (`lost`); then it
 * subscribes and reads again once the connection is back (and every `RELAY_RESYNC_MS` while that
 * fails). On each read it adds back what it knows and the set lacks (a Redis that restarted empty),
 * announced as new.
 */
function sharedFilters(commands: Redis, notices: Redis, onError: (err: Error) => void): SharedFilters & { close(): void } {
  /** Filters known to be in the set: a grant of one of them needs no round trip. */
  const known = new Set<string>();
  /** Shares sent and not answered yet, by filter (a reconnect storm grants the same filters many times). */
  const sending = new Map<string, Promise<void>>();
  let listener: SharedFiltersListener | undefined;
  let synced = false;
  /** Bumped on every loss: a read that began before one does not put the node back in step. */
  let losses = 0;
  let reading = false;
  let readAgain = false;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  const heard = (filter: string): void => {
    known.add(filter);
    listener!.heard(filter);
  };
  const lose = (): void => {
    losses++;
    if (!synced) return;
    synced = false;
    listener!.lost();
  };
  const announce = (filters: readonly string[]): Promise<void> => {
    const tx = commands.multi().sadd(RELAY_FILTERS, filters as string[]);
    for (const f of filters) tx.publish(RELAY_FILTERS, f);
    return tx.exec().then((results) => {
      // a command's own failure (WRONGTYPE…) is in its slot, not a rejection
      const failed = results?.find(([err]) => err)?.[0];
      if (!results || failed) throw failed ?? new Error('relay filters: transaction aborted');
    });
  };
  const read = async (): Promise<void> => {
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        readAgain = false;
        const at = losses;
        try {
          await notices.subscribe(RELAY_FILTERS);
          const members = new Set(await commands.smembers(RELAY_FILTERS));
          const missing = [...known].filter((f) => !members.has(f));
          for (const f of members) heard(f);
          if (missing.length > 0) await announce(missing);
          clearTimeout(retry);
          if (at === losses && !closed && !synced) {
            synced = true;
            listener!.synced();
          }
        } catch (err) {
          if (closed) return;
          onError(err as Error);
          lose();
          clearTimeout(retry);
          retry = setTimeout(() => void read(), RELAY_RESYNC_MS);
          retry.unref();
        }
      } while (readAgain && !closed);
    } finally {
      reading = false;
    }
  };

  return {
    async start(to) {
      listener = to;
      notices.on('message', (channel: string, filter: string) => {
        if (channel === RELAY_FILTERS) heard(filter);
      });
      // every close (also each failed reconnection attempt) may have lost notices; a ready connection is subscribed again and reads
      notices.on('close', () => { if (!closed) lose(); });
      notices.on('ready', () => { if (!closed) void read(); });
      await read();
    },
    share(filter) {
      if (known.has(filter)) return Promise.resolve();
      let pending = sending.get(filter);
      if (pending) return pending;
      pending = announce([filter]).then(() => {
        sending.delete(filter);
        known.add(filter);
      }, (err: unknown) => {
        sending.delete(filter);
        // the other nodes may not hear of it; this one may have missed theirs too
        if (!closed) {
          lose();
          void read();
        }
        throw err;
      });
      sending.set(filter, pending);
      return pending;
    },
    close() {
      closed = true;
      clearTimeout(retry);
      notices.disconnect();
    },
  };
}
