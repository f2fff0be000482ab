/**
 * The cluster's node directory: which gateway nodes exist, which one leads, and what each of them
 * carries (device, agency and stream connections), for `GET /api/v1/cluster` and an operator asking
 * "where did my devices go" after a node died. Each node upserts its own row of `cluster_nodes` every
 * `intervalMs` (a heartbeat) and any node reads all the rows; in the embedded single-process mode the
 * same code runs on the SQLite store and lists the one node, itself, as leader.
 *
 * Why a table rather than Redis (or gossip between the nodes): the nodes already share one
 * PostgreSQL, which is where they elect the leader (core/db/leader.ts) and keep all their state. A
 * table adds no server to run, secure and monitor, no second source of truth that could disagree with
 * the database about who is alive, and it is written through the same query layer as everything else,
 * so the embedded mode needs nothing extra either. A few rows written every few seconds cost nothing.
 *
 * States, as seen by the reader's clock (`now()`): `up` when the node's last heartbeat is at most 3
 * intervals old (one late or failed heartbeat is no alarm), `unreachable` when it is older (crashed,
 * killed, partitioned from the database), `left` when it stopped cleanly (`stop()` writes `left_at`).
 * Rows not seen for more than 24 h (for a node that left: since it left) are omitted, and the leader
 * deletes them. The nodes' clocks are assumed roughly in step (NTP); a skew of a second against a
 * 5 s interval changes nothing.
 *
 * The leader flag is the node's own `isLeader()` at its last heartbeat, so it can be stale by up to
 * one interval: a node that has just lost the advisory lock still claims it until its next heartbeat,
 * and the node that took the lock over claims it only from its first heartbeat after. Two rows may
 * then both claim to lead. `list()` shows one leader at most, and only a live (`up`) one: of the live
 * claims it prefers the most recently seen (ties by node id), since the newest claim is the likeliest
 * to be current: the lock changed hands since the older one was written, or the older one's node
 * would have written it again. Within that one interval it can still be wrong (the old leader wrote
 * its last claim just before learning it lost the lock); the next heartbeats settle it.
 */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Migration } from '../../core/db/query.js';
import type { Store } from '../../core/db/store.js';

export interface NodeConnections {
  /** MQTT sessions of devices on this node. */
  devices: number;
  /** MQTT sessions of agency / company accounts on this node. */
  agencies: number;
  /** Open server-sent event streams (console feed, queue streams) on this node. */
  streams: number;
}

export type NodeState = 'up' | 'unreachable' | 'left';

export interface NodeView {
  nodeId: string;
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  seenAt: number;
  /** Whether this node is the cluster's leader as far as the directory can tell (see the top of this file). */
  leader: boolean;
  connections: NodeConnections;
  state: NodeState;
  leftAt: number | null;
}

export interface ClusterNodeTables {
  cluster_nodes: {
    node_id: string; host: string; pid: number; version: string; started_at: number; seen_at: number;
    leader: number; connections: string; left_at: number | null;
  };
}

export const CLUSTER_NODE_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE cluster_nodes (node_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, version TEXT NOT NULL,
      started_at INTEGER NOT NULL, seen_at INTEGER NOT NULL, leader INTEGER NOT NULL DEFAULT 0, connections TEXT NOT NULL, left_at INTEGER)`,
  postgres: `CREATE TABLE cluster_nodes (node_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, version TEXT NOT NULL,
      started_at BIGINT NOT NULL, seen_at BIGINT NOT NULL, leader INTEGER NOT NULL DEFAULT 0, connections TEXT NOT NULL, left_at BIGINT)`,
}];

/** What the directory needs of the gateway's store (core/db/store.ts); every result is awaited, so it runs on either engine. */
export type NodeStore = Pick<Store<ClusterNodeTables>, 'dialect' | 'q' | 'migrate' | 'write' | 'all' | 'durable'>;

export interface NodeDirectoryOptions {
  store: NodeStore;
  nodeId: string;
  /** Default: the OS host name. */
  host?: string;
  /** Default: this process's. */
  pid?: number;
  version: string;
  /** Between heartbeats; default 5000. */
  intervalMs?: number;
  /** The clock heartbeats are stamped and judged with; default Date.now. */
  now?: () => number;
  connections: () => NodeConnections;
  isLeader: () => boolean;
  /** A failed heartbeat, leave or prune (the directory never throws; it tries again next interval). */
  onError?: (err: unknown, what: string) => void;
}

const MODULE = 'cluster-nodes';
const DEFAULT_INTERVAL_MS = 5000;
/** Heartbeats a node may miss before it is shown unreachable. */
const MISSED_INTERVALS = 3;
/** How long a node that left or stopped answering is still listed. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000;

const nodeQueries = (q: Kysely<ClusterNodeTables>) => ({
  upsert: (row: ClusterNodeTables['cluster_nodes']) => {
    const { node_id: _id, ...rest } = row;
    return q.insertInto('cluster_nodes').values(row).onConflict((oc) => oc.column('node_id').doUpdateSet(rest));
  },
  leave: (nodeId: string, at: number) => q.updateTable('cluster_nodes').set({ left_at: at, seen_at: at, leader: 0 }).where('node_id', '=', nodeId),
  seenSince: (cutoff: number) => q.selectFrom('cluster_nodes').selectAll().where('seen_at', '>=', cutoff).orderBy('node_id'),
  forget: (cutoff: number) => q.deleteFrom('cluster_nodes').where('seen_at', '<', cutoff),
});

export class NodeDirectory {
  private readonly store: NodeStore;
  private readonly queries: ReturnType<typeof nodeQueries>;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly host: string;
  private readonly pid: number;
  private readonly onError: (err: unknown, what: string) => void;
  private migrated: Promise<void> | undefined;
  /** Writes of this node, one after the other, so that a late heartbeat cannot undo `stop()`'s `left_at`. */
  private writes: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private startedAt: number;

  constructor(private readonly opts: NodeDirectoryOptions) {
    this.store = opts.store;
    this.queries = nodeQueries(opts.store.q);
    this.intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    this.host = opts.host ?? hostname();
    this.pid = opts.pid ?? process.pid;
    this.onError = opts.onError ?? (() => {});
    this.startedAt = this.now();
  }

  get nodeId(): string { return this.opts.nodeId; }

  /** The first heartbeat now, then one every interval (an unref'd timer: it never keeps the process up). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.startedAt = this.now();
    void this.tick();
  }

  private async tick(): Promise<void> {
    await this.beat();
    if (!this.running) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Writes this node's heartbeat (and, on the leader, forgets rows unseen for a day). Never throws:
   * a failure goes to `onError` and resolves false; the next interval tries again. After `stop()`
   * it writes nothing, so a stopped node stays `left`.
   */
  beat(): Promise<boolean> {
    return this.serial(async () => {
      if (this.stopped) return false;
      try {
        await this.ready();
        const now = this.now();
        const leader = this.opts.isLeader();
        this.store.write(this.queries.upsert({
          node_id: this.opts.nodeId, host: this.host, pid: this.pid, version: this.opts.version, started_at: this.startedAt,
          seen_at: now, leader: leader ? 1 : 0, connections: JSON.stringify(connectionsOf(this.opts.connections())), left_at: null,
        }));
        if (leader) this.store.write(this.queries.forget(now - FORGET_AFTER_MS));
        await this.store.durable();
        return true;
      } catch (err) {
        this.onError(err, `cluster heartbeat of node ${this.opts.nodeId} failed (${this.store.dialect}); retrying next interval`);
        return false;
      }
    });
  }

  /** The nodes seen within the last 24 h, by node id; at most one (live) leader. */
  async list(): Promise<NodeView[]> {
    await this.ready();
    const now = this.now();
    const rows = await this.store.all(this.queries.seenSince(now - FORGET_AFTER_MS));
    const nodes: NodeView[] = rows.map((r) => ({
      nodeId: r.node_id, host: r.host, pid: Number(r.pid), version: r.version, startedAt: Number(r.started_at), seenAt: Number(r.seen_at),
      leader: false, connections: parseConnections(r.connections), leftAt: r.left_at === null ? null : Number(r.left_at),
      state: r.left_at !== null ? 'left' : now - Number(r.seen_at) <= MISSED_INTERVALS * this.intervalMs ? 'up' : 'unreachable',
    }));
    const leader = nodes.filter((n, i) => Number(rows[i]!.leader) === 1 && n.state === 'up')
      .sort((a, b) => b.seenAt - a.seenAt || a.nodeId.localeCompare(b.nodeId))[0];
    if (leader) leader.leader = true;
    return nodes;
  }

  /** A clean shutdown: stops the heartbeats and marks this node `left` (errors go to `onError`). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.serial(async () => {
      try {
        await this.ready();
        this.store.write(this.queries.leave(this.opts.nodeId, this.now()));
        await this.store.durable();
      } catch (err) {
        this.onError(err, `cluster node ${this.opts.nodeId} could not record leaving (${this.store.dialect})`);
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.writes.then(fn);
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** The table, created once; a failed migration is tried again by the next call. */
  private ready(): Promise<void> {
    this.migrated ??= (async () => { await this.store.migrate(MODULE, CLUSTER_NODE_MIGRATIONS); })()
      .catch((err: unknown) => { this.migrated = undefined; throw err; });
    return this.migrated;
  }
}

const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

function connectionsOf(c: Partial<NodeConnections> | undefined): NodeConnections {
  return { devices: count(c?.devices), agencies: count(c?.agencies), streams: count(c?.streams) };
}

/** A row another version wrote may lack a count or hold something else: read what makes sense, zero for the rest. */
function parseConnections(text: string): NodeConnections {
  try {
    const v: unknown = JSON.parse(text);
    return connectionsOf(typeof v === 'object' && v !== null ? v as Partial<NodeConnections> : undefined);
  } catch {
    return connectionsOf(undefined);
  }
}
