/**
 * `npm run bench -- --cluster`: cluster mode (PostgreSQL + Redis + InfluxDB, see docs/cluster.md)
 * with 1, 2, 3 … gateway nodes on this machine. Each node is the bench's gateway process (the same
 * composition root as `npm start`) given the cluster settings that DATABASE_URL, REDIS_URL, NODE_ID,
 * INFLUX_URL / INFLUX_VERSION / INFLUX_DATABASE set; all nodes share one private PostgreSQL, one
 * private Redis and one influxd started by the bench. For each node count:
 *
 * - ingest: QoS 1 telemetry from publishers spread evenly over the nodes, each publisher connected
 *   straight to one node's MQTT port (no load balancer), as fast as acknowledgements allow;
 * - alert latency device → agency with the elevators on node 1 and the agency on node N;
 * - each node's resident memory at the end.
 *
 * Every node count gets a database of its own on the one server, so each starts from an empty store.
 */
import { rssOf, spawnProc, type Proc } from './procs/ipc.js';
import type { LoadSummary } from '../simulators/load.js';
import type { DeviceKind } from '../ingest/index.js';
import type { InfluxdHandle } from './influxd.js';
import { alertLatencyAcross, everyNodeKnows, type LatencyNode, type LatencyResult } from './latency.js';
// the tests' server harnesses import only node modules, pg and bench/influxd.ts (no vitest)
import { startPostgres, type PostgresHandle } from '../tests/harness/postgres.js';
import { startRedis, type RedisHandle } from '../tests/harness/redis.js';

export interface ClusterNodeResult {
  nodeId: string;
  publishers: number;
  acknowledged: number;
  /** Readings this node validated and stored during the ingest window. */
  stored: number;
  /** Resident memory (VmRSS) at the end of the node count's phases. */
  rssBytes: number;
  /** Lines the node logged at warn / error level or above (it runs at `warn`), and other lines (stack traces). */
  warnLines: number;
  errorLines: number;
  otherLines: number;
}

export interface ClusterRun {
  nodes: number;
  /** From spawning the first node to every node ready. */
  startMs: number;
  ackRate: number;
  storedRate: number;
  acknowledged: number;
  stored: number;
  /** Points the nodes wrote to the time-series backend from the start of ingest until after the flush. */
  written: number;
  pendingAfterFlush: number;
  flushed: boolean;
  unacknowledged: number;
  errors: number;
  rejected: number;
  connectErrors: number;
  reconnects: number;
  windowMs: number;
  latency?: LatencyResult;
  perNode: ClusterNodeResult[];
  /** What looked wrong (stalled acknowledgements, errors, log lines at warn or above). */
  problems: string[];
  /** The nodes' warn/error output, first lines (prefixed with the node). */
  logLines: string[];
}

export interface ClusterResults {
  timeseries: string;
  publishers: number;
  durationMs: number;
  runs: ClusterRun[];
  note: string;
  /** Set when the phase could not finish: what failed, with the nodes' last lines. */
  error?: string;
}

const KINDS: DeviceKind[] = ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
const UNLIMITED = 1_000_000;
const MAX_LOG_LINES = 40;

export const CLUSTER_NOTE = (cpus: number) =>
  `This machine has ${cpus} core${cpus === 1 ? '' : 's'}: the N gateway processes share ${cpus === 1 ? 'it' : 'them'} with PostgreSQL, Redis, influxd and the load generator, ` +
  'so throughput cannot scale with N here; what the cluster rows show is the cost of cluster mode on one box (PostgreSQL commits before each ' +
  'acknowledgement, InfluxDB writes, Redis for the alert messages; no live copy crosses Redis, as nobody subscribes to device data here) ' +
  'and that N nodes work together under load. Scaling needs one core or more per node.';

interface Node extends LatencyNode {
  id: string;
  warn: number;
  error: number;
  other: number;
  lines: string[];
}

export async function measureCluster(opts: {
  loader: Proc; gatewayScript: string; probeScript: string; influxd?: InfluxdHandle; nodeCounts: number[];
  /** The nodes' Node flags, those of the single-process phases (`npm start`'s and --gateway-flags). */
  execArgv: string[];
  publishers: number; durationMs: number; cpus: number; log: (l: string) => void;
}): Promise<ClusterResults> {
  const { log } = opts;
  const results: ClusterResults = {
    timeseries: opts.influxd ? 'InfluxDB 1.x' : 'embedded (one store per node; influxd not installed)',
    publishers: opts.publishers, durationMs: opts.durationMs, runs: [], note: CLUSTER_NOTE(opts.cpus),
  };
  log(`6/6 cluster mode: ${opts.nodeCounts.join(', ')} node(s), one PostgreSQL, one Redis, ${opts.influxd ? 'one influxd' : 'no influxd'}`);
  let pg: PostgresHandle | undefined;
  let redis: RedisHandle | undefined;
  try {
    const [p, r] = await Promise.allSettled([startPostgres(), startRedis()]);
    if (p.status === 'fulfilled') pg = p.value;
    if (r.status === 'fulfilled') redis = r.value;
    if (p.status === 'rejected') throw p.reason;
    if (r.status === 'rejected') throw r.reason;
    if (opts.influxd && !opts.influxd.running) await opts.influxd.start();
    for (const n of opts.nodeCounts) results.runs.push(await clusterRun(n, { ...opts, pg: pg!, redis: redis! }));
  } catch (err) {
    results.error = err instanceof Error ? err.message : String(err);
    log(`   cluster phase failed: ${results.error}`);
  } finally {
    await redis?.stop().catch((err: unknown) => log(`   stopping Redis failed: ${String(err)}`));
    await pg?.stop().catch((err: unknown) => log(`   stopping PostgreSQL failed: ${String(err)}`));
  }
  return results;
}

async function clusterRun(count: number, opts: {
  loader: Proc; gatewayScript: string; probeScript: string; influxd?: InfluxdHandle; pg: PostgresHandle; redis: RedisHandle; execArgv: string[];
  publishers: number; durationMs: number; log: (l: string) => void;
}): Promise<ClusterRun> {
  const { log } = opts;
  const database = `bench_n${count}`;
  await opts.pg.pool.query(`CREATE DATABASE ${database}`);
  const databaseUrl = opts.pg.url.replace(/\/postgres$/, `/${database}`);
  const nodes: Node[] = [];
  const problems: string[] = [];
  let run: ClusterRun | undefined;

  const startNode = async (i: number): Promise<Node> => {
    const id = `bench-node-${i}`;
    const node: Node = { id, url: '', proc: undefined as unknown as Proc, warn: 0, error: 0, other: 0, lines: [] };
    const onLine = (line: string) => {
      let level = 0;
      try { level = (JSON.parse(line) as { level?: number }).level ?? 0; } catch { /* not a log line */ }
      if (level >= 50) node.error++;
      else if (level >= 40) node.warn++;
      else node.other++;
      if (node.lines.length < MAX_LOG_LINES) {
        node.lines.push(`[${id}] ${line}`);
        process.stderr.write(`[${id}] ${line}\n`);
      }
    };
    const proc = await spawnProc(opts.gatewayScript, opts.execArgv, {}, { onLine, dataDir: true });
    node.proc = proc;
    nodes[i - 1] = node; // in node order, whichever answers first
    try {
      const { mqtt } = await proc.call<{ mqtt: number }>('start', {
        cluster: { databaseUrl, redisUrl: opts.redis.url, nodeId: id },
        ...(opts.influxd ? { influx: { url: opts.influxd.url, version: '1', database: `bench_cluster_n${count}` } } : {}),
      });
      node.url = `mqtt://127.0.0.1:${mqtt}`;
    } catch (err) {
      throw new Error(`${id} did not start: ${err instanceof Error ? err.message : String(err)}${node.lines.length ? `\n${node.lines.join('\n')}` : ' (it printed nothing)'}`, { cause: err });
    }
    return node;
  };

  try {
    log(`   ${count} node(s): starting`);
    const t0 = performance.now();
    // the first node creates the schema; the others then start together
    await startNode(1);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => startNode(i + 2)));
    const startMs = Math.round(performance.now() - t0);

    // ingest: publishers registered on node 1, spread evenly over the nodes
    log(`   ${count} node(s): ingest, ${opts.publishers} publishers (${spread(opts.publishers, count)}), QoS 1, ${opts.durationMs / 1000} s`);
    const devices = await nodes[0]!.proc.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: `c${count}-ing`, count: opts.publishers, kinds: KINDS, sites: 10 });
    await everyNodeKnows(nodes, { devices: devices.map((d) => d.id) });
    const shares = nodes.map((_, k) => devices.filter((_d, i) => i % count === k));
    type Counters = { valid: number; rejected: number; written: number; pending: number };
    const counters = () => Promise.all(nodes.map((n) => n.proc.call<Counters>('counters')));
    const before = await counters();
    const summaries = await Promise.all(nodes.map((n, k) => (shares[k]!.length === 0 ? Promise.resolve(undefined)
      : opts.loader.call<LoadSummary>('load', { mqttUrl: n.url, devices: shares[k], ratePerSecond: UNLIMITED, durationMs: opts.durationMs, qos: 1 }))));
    const after = await counters();
    const flushedEach = await Promise.all(nodes.map((n) => n.proc.call<boolean>('flush', 60_000)));
    const afterFlush = await counters();

    const sum = (f: (s: LoadSummary) => number) => summaries.reduce((a, s) => a + (s ? f(s) : 0), 0);
    const windowMs = Math.max(...summaries.map((s) => (s ? s.durationMs + s.drainMs : 1)));
    const acknowledged = sum((s) => s.acknowledged);
    const storedEach = nodes.map((_, k) => after[k]!.valid - before[k]!.valid);
    const stored = storedEach.reduce((a, b) => a + b, 0);
    const written = afterFlush.reduce((a, c, k) => a + c.written - before[k]!.written, 0);
    const pendingAfterFlush = afterFlush.reduce((a, c) => a + c.pending, 0);
    run = {
      nodes: count, startMs, windowMs,
      ackRate: Math.round((acknowledged * 1000) / windowMs), storedRate: Math.round((stored * 1000) / windowMs),
      acknowledged, stored, written, pendingAfterFlush, flushed: flushedEach.every(Boolean),
      unacknowledged: sum((s) => s.unacknowledged), errors: sum((s) => s.errors), rejected: after.reduce((a, c, k) => a + c.rejected - before[k]!.rejected, 0),
      connectErrors: sum((s) => s.connectErrors), reconnects: sum((s) => s.reconnects),
      perNode: [], problems, logLines: [],
    };
    log(`   ${count} node(s): acknowledged ${acknowledged} (${run.ackRate} msg/s), stored ${stored} readings (${run.storedRate} readings/s; per node ${storedEach.join(' / ')}), ` +
      `written ${written} points, ${pendingAfterFlush} pending after flush`);
    if (run.unacknowledged > 0) problems.push(`${run.unacknowledged} messages still unacknowledged 10 s after publishing stopped`);
    if (run.errors > 0) problems.push(`${run.errors} publishes failed`);
    if (run.connectErrors > 0 || run.reconnects > 0) problems.push(`${run.connectErrors} connection errors, ${run.reconnects} reconnects`);
    const notConnected = summaries.reduce((a, s) => a + (s ? s.devices - s.connectedAtStart : 0), 0);
    if (notConnected > 0) problems.push(`${notConnected} publishers not connected when publishing started`);
    if (stored < acknowledged) problems.push(`${acknowledged - stored} acknowledged readings not counted as stored`);
    if (run.rejected > 0) problems.push(`${run.rejected} readings rejected`);
    if (opts.influxd && (!run.flushed || pendingAfterFlush > 0 || written < stored)) {
      problems.push(`InfluxDB: ${written} of ${stored} stored readings written after the flush, ${pendingAfterFlush} pending${run.flushed ? '' : ', flush timed out'}`);
    }

    // alert latency: elevators on node 1, agency on node N, background at half of this node count's rate
    const rate = Math.max(100, Math.round(run.storedRate / 2));
    run.latency = await alertLatencyAcross({
      loader: opts.loader, probeScript: opts.probeScript, nodes, rate, publishers: opts.publishers, durationMs: opts.durationMs,
      prefix: `c${count}-lat`, title: `   ${count} node(s): alert latency`, log,
    });
    if (run.latency.lost) problems.push(`${run.latency.lost} of ${run.latency.lost + run.latency.samples} alerts did not reach the agency within 2 s of the last`);

    run.perNode = nodes.map((n, k) => ({
      nodeId: n.id, publishers: shares[k]!.length, acknowledged: summaries[k]?.acknowledged ?? 0, stored: storedEach[k]!,
      rssBytes: rssOf(n.proc.child.pid), warnLines: n.warn, errorLines: n.error, otherLines: n.other,
    }));
    log(`   ${count} node(s): RSS ${run.perNode.map((p) => `${p.nodeId} ${mb(p.rssBytes)} MB`).join(', ')}`);
    return run;
  } finally {
    await Promise.all(nodes.map(async (n) => {
      // closing waits for Redis and PostgreSQL; a node that cannot close is killed by stop()
      const closed = await Promise.race([n.proc.call('close').then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000).unref())]);
      if (!closed) problems.push(`${n.id} did not close within 20 s (killed)`);
      await n.proc.stop();
    }));
    const logged = nodes.filter((n) => n.warn + n.error + n.other > 0);
    if (logged.length > 0) problems.push(`log output: ${logged.map((n) => `${n.id} ${n.warn} warn, ${n.error} error, ${n.other} other lines`).join('; ')}`);
    if (run) run.logLines = nodes.flatMap((n) => n.lines);
    for (const p of problems) log(`   ${count} node(s): PROBLEM ${p}`);
  }
}

const mb = (b: number) => (b / (1024 * 1024)).toFixed(0);
function spread(total: number, n: number): string {
  return Array.from({ length: n }, (_, k) => Math.floor(total / n) + (k < total % n ? 1 : 0)).join(' / ');
}
