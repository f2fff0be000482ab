/**
 * The cluster node directory on both stores (the embedded SQLite and a real PostgreSQL), with a
 * manual clock and heartbeats called directly: nodes listed up with their connections, the leader
 * flag following the election and shown for one live node only, a silent node unreachable after 3
 * intervals, a stopped node left and then forgotten; failed heartbeats reported and retried; and
 * `GET /api/v1/cluster` through the real HTTP server: admins only.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, SqliteStore, type Db } from '../core/db/sqlite.js';
import { openPostgresDatabase } from '../core/db/postgres.js';
import type { Database } from '../core/db/store.js';
import { ManualClock } from '../core/clock.js';
import { createLogger } from '../core/log.js';
import { ADMIN_PRINCIPAL, type Principal } from '../registry/index.js';
import { CLUSTER_NODE_MIGRATIONS, NodeDirectory, type ClusterNodeTables, type NodeConnections, type NodeDirectoryOptions, type NodeStore } from '../gateway/cluster/nodes.js';
import { clusterRoutes } from '../gateway/http/routes/cluster.js';
import { buildHttp } from '../gateway/http/server.js';
import type { HttpDeps } from '../gateway/http/deps.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';

const INTERVAL = 5000;
const DAY = 24 * 60 * 60 * 1000;

let pgServer: PostgresHandle;
let dir: string;
let db: Db;
const stores: Record<'sqlite' | 'postgres', NodeStore> = {} as never;
let pgDatabase: Database | undefined;

beforeAll(async () => {
  pgServer = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'cluster-nodes-'));
  db = openDatabase(dir, 'test.sqlite');
  stores.sqlite = new SqliteStore<ClusterNodeTables>(db);
  pgDatabase = await openPostgresDatabase({ connectionString: pgServer.url, onError: () => undefined });
  stores.postgres = pgDatabase.store<ClusterNodeTables>();
}, 60_000);
afterAll(async () => {
  await pgDatabase?.close();
  await pgServer?.stop();
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(['sqlite', 'postgres'] as const)('the node directory on %s', (dialect) => {
  let clock: ManualClock;
  const store = () => stores[dialect];

  beforeEach(async () => {
    clock = new ManualClock(1_764_460_800_000);
    await store().migrate('cluster-nodes', CLUSTER_NODE_MIGRATIONS);
    store().write(store().q.deleteFrom('cluster_nodes'));
    await store().durable();
  });

  /** A directory whose leadership and connections the test sets. */
  function node(nodeId: string, opts: { leader?: boolean; connections?: NodeConnections } = {}) {
    const state = { leader: opts.leader ?? false, connections: opts.connections ?? { devices: 0, agencies: 0, streams: 0 } };
    const errors: string[] = [];
    const directory = new NodeDirectory({
      store: store(), nodeId, host: `host-${nodeId}`, pid: 1000, version: '0.1.0', intervalMs: INTERVAL, now: () => clock.now(),
      connections: () => state.connections, isLeader: () => state.leader, onError: (_err, what) => errors.push(what),
    });
    return { directory, state, errors };
  }

  const byId = async (d: NodeDirectory) => Object.fromEntries((await d.list()).map((n) => [n.nodeId, n]));

  it('lists every node up with its connections, and the leader flag follows the election', async () => {
    const a = node('node-a', { leader: true, connections: { devices: 1200, agencies: 3, streams: 7 } });
    const b = node('node-b', { connections: { devices: 800, agencies: 1, streams: 0 } });
    const c = node('node-c');
    const started = clock.now();
    for (const n of [a, b, c]) expect(await n.directory.beat()).toBe(true);

    const seen = await b.directory.list();
    expect(seen.map((n) => n.nodeId)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(seen[0]).toEqual({
      nodeId: 'node-a', host: 'host-node-a', pid: 1000, version: '0.1.0', startedAt: started, seenAt: started, leader: true,
      connections: { devices: 1200, agencies: 3, streams: 7 }, state: 'up', leftAt: null,
    });
    expect(seen.map((n) => [n.state, n.leader])).toEqual([['up', true], ['up', false], ['up', false]]);
    expect(seen[1]!.connections).toEqual({ devices: 800, agencies: 1, streams: 0 });
    // every node reads the same directory
    expect(await a.directory.list()).toEqual(seen);

    // the lock changes hands: each node's next heartbeat says so; connections move with the devices
    clock.advance(INTERVAL);
    a.state.leader = false; b.state.leader = true;
    a.state.connections = { devices: 0, agencies: 0, streams: 0 };
    b.state.connections = { devices: 2000, agencies: 4, streams: 7 };
    for (const n of [a, b, c]) await n.directory.beat();
    const after = await byId(c.directory);
    expect([after['node-a']!.leader, after['node-b']!.leader, after['node-c']!.leader]).toEqual([false, true, false]);
    expect(after['node-b']!.connections).toEqual({ devices: 2000, agencies: 4, streams: 7 });
    expect(after['node-b']!.seenAt).toBe(clock.now());
    expect(after['node-b']!.startedAt).toBe(started);
    for (const n of [a, b, c]) expect(n.errors).toEqual([]);
  });

  it('two nodes both claiming the lead (one interval of staleness): the most recently seen claim is shown, and only a live one', async () => {
    const a = node('node-a', { leader: true });
    const b = node('node-b', { leader: true });
    await a.directory.beat();
    clock.advance(1000);
    await b.directory.beat();
    let nodes = await byId(a.directory);
    expect([nodes['node-a']!.leader, nodes['node-b']!.leader]).toEqual([false, true]);

    // b goes silent: past 3 intervals its claim is not shown; a, still claiming and live, is the leader
    clock.advance(INTERVAL);
    await a.directory.beat();
    clock.advance(2 * INTERVAL + 1);
    nodes = await byId(a.directory);
    expect([nodes['node-b']!.state, nodes['node-b']!.leader]).toEqual(['unreachable', false]);
    expect([nodes['node-a']!.state, nodes['node-a']!.leader]).toEqual(['up', true]);
  });

  it('a node whose heartbeats stop is unreachable after 3 intervals, and up again with its next heartbeat', async () => {
    const a = node('node-a', { leader: true, connections: { devices: 5, agencies: 1, streams: 2 } });
    const b = node('node-b');
    await a.directory.beat();
    await b.directory.beat();
    // b keeps beating, a does not
    for (let i = 0; i < 3; i++) { clock.advance(INTERVAL); await b.directory.beat(); }
    let nodes = await byId(b.directory);
    expect(nodes['node-a']!.state).toBe('up'); // exactly 3 intervals: still within
    clock.advance(1);
    nodes = await byId(b.directory);
    expect(nodes['node-a']).toMatchObject({ state: 'unreachable', leader: false, connections: { devices: 5, agencies: 1, streams: 2 } });
    expect(nodes['node-b']!.state).toBe('up');
    // the only claim is not live: no leader at all
    expect(Object.values(nodes).filter((n) => n.leader)).toEqual([]);

    await a.directory.beat();
    nodes = await byId(b.directory);
    expect([nodes['node-a']!.state, nodes['node-a']!.leader]).toEqual(['up', true]);
  });

  it('stop() marks the node left (never leader, later heartbeats write nothing); nodes gone for more than 24 h are omitted and forgotten', async () => {
    const a = node('node-a', { leader: true });
    const b = node('node-b');
    const c = node('node-c');
    for (const n of [a, b, c]) await n.directory.beat();
    clock.advance(1000);
    b.state.leader = true; // b takes over as a shuts down
    await a.directory.stop();
    const leftAt = clock.now();
    expect(await a.directory.beat()).toBe(false);
    await b.directory.beat();
    let nodes = await byId(b.directory);
    expect(nodes['node-a']).toMatchObject({ state: 'left', leader: false, leftAt, seenAt: leftAt });
    expect(nodes['node-b']).toMatchObject({ state: 'up', leader: true, leftAt: null });

    // a left node stays listed as left however long ago its heartbeat was, up to 24 h
    clock.advance(DAY - 1000);
    await b.directory.beat();
    nodes = await byId(b.directory);
    expect(nodes['node-a']!.state).toBe('left');
    expect(nodes['node-c']!.state).toBe('unreachable');
    clock.advance(1001);
    await b.directory.beat();
    expect((await b.directory.list()).map((n) => [n.nodeId, n.state])).toEqual([['node-b', 'up']]);
    // and the leader's heartbeat deleted their rows
    const rows = await store().all(store().q.selectFrom('cluster_nodes').select('node_id'));
    expect(rows.map((r) => r.node_id)).toEqual(['node-b']);
  });

  it('the embedded mode: one node, itself, leader', async () => {
    const self = node('gw-1', { leader: true, connections: { devices: 3, agencies: 2, streams: 1 } });
    await self.directory.beat();
    expect(await self.directory.list()).toMatchObject([{ nodeId: 'gw-1', state: 'up', leader: true, connections: { devices: 3, agencies: 2, streams: 1 } }]);
  });
});

describe('heartbeats on a timer', () => {
  /** The SQLite store, failing the first `failures` writes. */
  function flaky(failures: number) {
    const inner = stores.sqlite;
    const calls = { runs: 0 };
    const s: NodeStore = {
      dialect: inner.dialect, q: inner.q,
      migrate: (m, steps) => inner.migrate(m, steps),
      write: (query) => { calls.runs++; if (calls.runs <= failures) throw new Error('disk I/O error'); inner.write(query); },
      all: (query) => inner.all(query),
      durable: () => inner.durable(),
    };
    return { s, calls };
  }

  const base = (store: NodeStore, errors: unknown[]): NodeDirectoryOptions => ({
    store, nodeId: 'timer-node', version: '0.1.0', intervalMs: 20, connections: () => ({ devices: 1, agencies: 0, streams: 0 }),
    isLeader: () => false, onError: (err) => errors.push(err),
  });

  beforeEach(async () => {
    await stores.sqlite.migrate('cluster-nodes', CLUSTER_NODE_MIGRATIONS);
    stores.sqlite.write(stores.sqlite.q.deleteFrom('cluster_nodes'));
  });

  it('beats at once, then every interval; a failed heartbeat is reported, never thrown, and retried; stop() ends the timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { s, calls } = flaky(2);
      const errors: unknown[] = [];
      const d = new NodeDirectory(base(s, errors));
      expect(() => d.start()).not.toThrow();
      await vi.advanceTimersByTimeAsync(0);
      expect(calls.runs).toBe(1);
      // the first two fail, the third (two intervals later) writes the row
      await vi.advanceTimersByTimeAsync(20);
      expect(calls.runs).toBe(2);
      expect(await d.list()).toEqual([]);
      await vi.advanceTimersByTimeAsync(20);
      expect(await d.list()).toMatchObject([{ nodeId: 'timer-node', state: 'up' }]);
      expect(errors.map((e) => (e as Error).message)).toEqual(['disk I/O error', 'disk I/O error']);
      await d.stop();
      const stopped = calls.runs;
      // when the next five heartbeats would have come: none does
      await vi.advanceTimersByTimeAsync(5 * 20);
      expect(calls.runs).toBe(stopped);
      expect((await d.list())[0]!.state).toBe('left');
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failing store makes stop() report, not throw', async () => {
    const errors: unknown[] = [];
    const d = new NodeDirectory(base(flaky(Infinity).s, errors));
    expect(await d.beat()).toBe(false);
    await expect(d.stop()).resolves.toBeUndefined();
    expect(errors).toHaveLength(2);
  });
});

describe('GET /api/v1/cluster', () => {
  const PROPERTY: Principal = { id: 'prop-1', role: 'property', scope: 'co-1' };
  const TOKENS: Record<string, Principal> = { 'admin-token': ADMIN_PRINCIPAL, 'property-token': PROPERTY, 'admin-account-token': { id: 'ops', role: 'admin' } };

  it('answers admins with the nodes and the leader; 403 for other accounts, 401 without a valid token', async () => {
    await stores.sqlite.migrate('cluster-nodes', CLUSTER_NODE_MIGRATIONS);
    stores.sqlite.write(stores.sqlite.q.deleteFrom('cluster_nodes'));
    const clock = new ManualClock(1_764_460_800_000);
    const make = (nodeId: string, leader: boolean, devices: number) => new NodeDirectory({
      store: stores.sqlite, nodeId, host: 'gw', version: '0.1.0', intervalMs: INTERVAL, now: () => clock.now(),
      connections: () => ({ devices, agencies: 1, streams: 2 }), isLeader: () => leader,
    });
    const self = make('node-a', false, 10);
    const other = make('node-b', true, 20);
    await self.beat();
    await other.beat();

    const deps = {
      log: createLogger('silent'), metrics: {}, registry: {}, presence: {}, deadLetters: {}, writer: {},
      audit: { record: () => {} }, auth: { principalForToken: (t: string) => TOKENS[t] }, ready: () => [],
      extraRoutes: [clusterRoutes({ nodes: self, nodeId: 'node-a' })],
    } as unknown as HttpDeps;
    const app = await buildHttp(deps);
    try {
      const get = (token?: string) => app.inject({ method: 'GET', url: '/api/v1/cluster', headers: token ? { authorization: `Bearer ${token}` } : {} });
      for (const token of ['admin-token', 'admin-account-token']) {
        const res = await get(token);
        expect(res.statusCode, token).toBe(200);
        expect(res.json()).toEqual({
          self: 'node-a', leader: 'node-b',
          nodes: [
            { nodeId: 'node-a', host: 'gw', pid: process.pid, version: '0.1.0', startedAt: clock.now(), seenAt: clock.now(), leader: false, connections: { devices: 10, agencies: 1, streams: 2 }, state: 'up', leftAt: null },
            { nodeId: 'node-b', host: 'gw', pid: process.pid, version: '0.1.0', startedAt: clock.now(), seenAt: clock.now(), leader: true, connections: { devices: 20, agencies: 1, streams: 2 }, state: 'up', leftAt: null },
          ],
        });
      }
      const refused = await get('property-token');
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('GW_FORBIDDEN');
      for (const token of [undefined, 'nobody-token']) {
        const res = await get(token);
        expect(res.statusCode, String(token)).toBe(401);
        expect(res.json().error.code).toBe('GW_UNAUTHORIZED');
      }
      // the leader gone silent: no leader is shown
      clock.advance(3 * INTERVAL + 1);
      await self.beat();
      const later = (await get('admin-token')).json();
      expect(later.leader).toBeNull();
      expect(later.nodes.map((n: { state: string }) => n.state)).toEqual(['up', 'unreachable']);
      // documented in the OpenAPI document with its response schema
      const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      expect(doc.paths['/api/v1/cluster'].get.responses['200']).toBeDefined();
    } finally {
      await app.close();
    }
  });
});
