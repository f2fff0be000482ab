/** The gateway under test, in its own process, built by the same composition root as `npm start`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../gateway/config.js';
import { startGateway, type Gateway } from '../../gateway/app.js';
import type { DeviceKind } from '../../ingest/index.js';
import { monitorEventLoopDelay, PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { cpuSecondsOf, profilerHandlers, rssOf, serve, settledRss } from './ipc.js';
import type { GcPauses, Stall } from '../latency.js';

let gw: Gateway | undefined;
/** When `stuckLogins` first saw each connection still logging in. */
const firstSeen = new WeakMap<object, number>();
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
/** Garbage-collection pauses since the last `loopDelay` reset: whether the event loop's longest stalls are the collector's. */
const noGcPauses = (): GcPauses & { longest: Stall[] } => ({ count: 0, totalMs: 0, maxMs: 0, maxKind: '', over50: 0, longest: [] });
let gcPauses = noGcPauses();
let resetAt = performance.now();
/** The three longest, by a 10 ms timer that came late: when the worst ones happened, to set them beside the GC pauses. */
let stalls: Stall[] = [];
const keepLongest = (list: Stall[], stall: Stall) => {
  list.push(stall);
  list.sort((a, b) => b.ms - a.ms);
  if (list.length > 3) list.length = 3;
};
let tick = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - tick - 10;
  tick = now;
  if (late > 20) keepLongest(stalls, { atS: Math.round((now - late - resetAt) / 10) / 100, ms: Math.round(late) });
}, 10).unref();
const GC_KINDS: Record<number, string> = { [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major', [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor', [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcPauses.count++;
    gcPauses.totalMs += e.duration;
    if (e.duration > 50) gcPauses.over50++;
    if (e.duration > 20) keepLongest(gcPauses.longest, { atS: Math.round((e.startTime - resetAt) / 10) / 100, ms: Math.round(e.duration) });
    if (e.duration > gcPauses.maxMs) { gcPauses.maxMs = e.duration; gcPauses.maxKind = GC_KINDS[(e as unknown as { detail?: { kind: number } }).detail?.kind ?? -1] ?? 'other'; }
  }
}).observe({ entryTypes: ['gc'] });
const dataDir = process.env.BENCH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'bench-gw-'));
// a directory made here (not given by the parent, which removes its own) goes with the process
if (!process.env.BENCH_DATA_DIR) process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));

/** The acceptor child processes' ids (`mqtt.acceptors`; none without them). */
function acceptorPids(): number[] {
  return gw?.broker.acceptorPids() ?? [];
}

function counter(name: string): Promise<number> {
  return gw!.metrics.registry.getSingleMetric(name)!.get().then((m) => m.values.reduce((a, v) => a + v.value, 0));
}

const profiler = profilerHandlers();
// as `npm start` does (gateway/main.ts): SIGTERM closes the gateway cleanly, then exits; how long each
// step of the close took goes to the file BENCH_CLOSE_STEPS names, and a CPU profile of the close to
// BENCH_CLOSE_PROFILE's, if any (the storm's report)
process.once('SIGTERM', () => {
  const closing = gw;
  gw = undefined;
  const close = async () => {
    if (!closing) return;
    const profileFile = process.env.BENCH_CLOSE_PROFILE;
    if (profileFile) await profiler.profileStart!({});
    const took = await closing.close();
    if (profileFile) await profiler.profileStop!({ file: profileFile });
    if (took && process.env.BENCH_CLOSE_STEPS) writeFileSync(process.env.BENCH_CLOSE_STEPS, JSON.stringify(took));
  };
  close().then(() => process.exit(0), () => process.exit(1));
});

serve({
  ...profiler,
  async start(overrides: Record<string, unknown>) {
    gw = await startGateway(loadConfig({}, {
      dataDir, adminToken: 'bench-admin-token-0123456789', logLevel: 'warn',
      // the per-device rate limit would cap publishers that send as fast as they can: the benchmark measures the pipeline
      mqtt: { port: 0, host: '127.0.0.1', limits: { publishPerSecond: 0 } }, http: { port: 0, host: '127.0.0.1' }, ...overrides,
    }));
    return { ...gw.ports(), startup: gw.startup };
  },
  /**
   * Registers devices straight in the registry (the API path is tested elsewhere; here it would only add setup time).
   * Answers once the rows are durable: in cluster mode (PostgreSQL) the other nodes can then read them.
   */
  async register(args: { prefix: string; count: number; kinds: DeviceKind[]; sites: number }) {
    const out: Array<{ id: string; secret: string; kind: DeviceKind }> = [];
    for (let s = 0; s < args.sites; s++) {
      const id = `${args.prefix}-site-${s}`;
      if (!gw!.registry.getSite(id)) gw!.registry.createSite({ id, name: id, companyId: `${args.prefix}-co-${s % 3}` }, 'bench');
    }
    for (let i = 0; i < args.count; i++) {
      const kind = args.kinds[i % args.kinds.length]!;
      const id = `${args.prefix}-${kind}-${i}`;
      const { secret } = gw!.registry.createDevice({ id, kind, siteId: `${args.prefix}-site-${i % args.sites}`, maintenanceUnitId: 'bench-mu' }, 'bench');
      out.push({ id, secret: secret!, kind });
    }
    await gw!.database.store().durable();
    return out;
  },
  async account(args: { id: string; role: 'market-supervision' }) {
    const { token } = gw!.registry.createAccount({ id: args.id, role: args.role }, 'bench');
    await gw!.database.store().durable();
    return token;
  },
  /** Whether this node's registry has these devices and accounts (cluster mode: another node registered them). */
  knows(args: { devices?: string[]; accounts?: string[] }) {
    return (args.devices ?? []).every((id) => gw!.registry.getDevice(id) !== undefined)
      && (args.accounts ?? []).every((id) => gw!.registry.getAccount(id) !== undefined);
  },
  /** Event-loop delay percentiles (ms) since the last reset: how long a message can wait for its turn. */
  async loopDelay(args: { reset?: boolean } = {}) {
    if (args.reset) {
      loop.reset();
      gcPauses = noGcPauses();
      stalls = [];
      // a stall before the reset (the profiler's start) is not counted when its timer fires after it
      resetAt = tick = performance.now();
      return null;
    }
    return { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6, gc: gcPauses, stalls };
  },
  /**
   * Connections from `address` still logging in that were already so at an earlier call, `sinceMs`
   * or more ago, with what Aedes made of them: a login left without an answer, seen from inside.
   */
  stuckLogins(args: { address: string; sinceMs: number }) {
    const now = Date.now();
    const pending = (gw!.broker as unknown as { pendingStreams: Set<Record<string, unknown>> }).pendingStreams;
    const out: unknown[] = [];
    for (const stream of pending) {
      if (stream.gwAddress !== args.address) continue;
      const first = firstSeen.get(stream) ?? now;
      firstSeen.set(stream, first);
      if (now - first < args.sinceMs) continue;
      const c = stream.client as Record<string, unknown> | undefined;
      const st = stream as unknown as { readableLength: number; destroyed: boolean; readableFlowing: boolean | null; id?: number };
      out.push({
        pendingMs: now - first, acceptorConnection: st.id, buffered: st.readableLength, destroyed: st.destroyed, flowing: st.readableFlowing,
        client: c && { id: c.id, connecting: c.connecting, connected: c.connected, authorized: c._authorized, paused: c._paused, parsingBatch: c._parsingBatch, closed: c.closed, connackSent: c.connackSent },
      });
    }
    return { pending: pending.size, stuck: out, acceptors: gw!.broker.acceptorStats() };
  },
  /** With `mqtt.acceptors`: the connections each holds, and how many were refused because one was full. */
  acceptorStats: () => gw!.broker.acceptorStats() ?? null,
  /** CPU seconds this process and its acceptor processes have used since they started. */
  cpu: () => {
    const own = process.cpuUsage();
    return { gateway: (own.user + own.system) / 1e6, acceptors: acceptorPids().reduce((a, pid) => a + cpuSecondsOf(pid), 0) };
  },
  /**
   * The whole gateway's RSS: this process after a full GC plus its acceptor processes (with
   * `mqtt.acceptors` they hold the device sockets), so per-device memory counts all of it.
   */
  rss: () => settledRss() + acceptorPids().reduce((a, pid) => a + rssOf(pid), 0),
  counters: async () => ({
    /** Group commits so far (the ingest commit histogram's count): readings / commits is the group size. */
    commits: await gw!.metrics.registry.getSingleMetric('gateway_ingest_commit_seconds')!.get()
      .then((m) => (m.values as Array<{ metricName?: string; value: number }>).find((v) => v.metricName === 'gateway_ingest_commit_seconds_count')?.value ?? 0),
    valid: await counter('gateway_objects_valid_total'),
    rejected: await counter('gateway_rejected_total'),
    written: await counter('gateway_points_written_total'),
    pending: gw!.writer.health().pendingPoints,
    connections: gw!.broker.aedes.connectedClients,
  }),
  flush: (timeoutMs: number) => gw!.writer.flush(timeoutMs),
  /** MQTT connections that waited for their address's turn to log in since this process started (`gateway_mqtt_logins_queued_total`). */
  loginsQueued: () => counter('gateway_mqtt_logins_queued_total'),
  /** MQTT connections refused since this process started, by reason (`gateway_mqtt_connects_refused_total`). */
  refusals: async () => Object.fromEntries((await gw!.metrics.registry.getSingleMetric('gateway_mqtt_connects_refused_total')!.get()).values.map((v) => [String(v.labels.reason), v.value])),
  async close() {
    await gw?.close();
    gw = undefined;
    return true;
  },
  /** Exits normally, so a --cpu-prof profile is written. */
  exit() {
    setTimeout(() => process.exit(0), 10);
    return true;
  },
});
