/**
 * Alert latency: from an elevator's trapped-passenger event to the `raised` message arriving at a
 * market-supervision MQTT subscriber, while other devices keep the gateway at the given telemetry
 * rate (half its measured maximum). Gateway, background load and the measuring clients each run in
 * their own process.
 */
import { spawnProc, type Proc } from './procs/ipc.js';
import type { LoadSummary } from '../simulators/load.js';
import type { DeviceKind } from '../ingest/index.js';

export interface LatencyResult {
  rate: number;
  samples: number;
  lost?: number;
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  backgroundRate?: number;
  /** The gateway's event-loop delay during the measurement (ms); in a cluster, the node with the worst p99. */
  loopDelay?: { p50: number; p99: number; max: number; gc?: GcPauses; stalls?: Stall[] };
  /** City scale: the probe's elevator logins that had to be tried again (no CONNACK within 10 s, or closed before it). */
  probeLoginsRetried?: number;
  note?: string;
}

const KINDS: DeviceKind[] = ['fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** An event-loop stall or GC pause: when (s after the measurement began) and how long (ms). */
export interface Stall { atS: number; ms: number }

/** The gateway's garbage-collection pauses over the measurement (bench/procs/gateway.ts); `longest`: the three longest over 20 ms. */
export interface GcPauses { count: number; totalMs: number; maxMs: number; maxKind: string; over50: number; longest?: Stall[] }

/** The result of a probe's measured latencies (ms): percentiles, or a note when no alert arrived. */
export function latencyResult(latencies: readonly number[], m: { rate: number; lost: number; backgroundRate: number; loopDelay: NonNullable<LatencyResult['loopDelay']> }): LatencyResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  if (sorted.length === 0) return { ...m, samples: 0, note: 'no alert arrived' };
  return { ...m, samples: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! };
}

/** A gateway (or cluster node) under test: its process and its MQTT URL. */
export interface LatencyNode { proc: Proc; url: string }

export async function measureAlertLatency(opts: { loader: Proc; gatewayScript: string; execArgv?: string[]; rate: number; publishers: number; durationMs: number; log: (l: string) => void }): Promise<LatencyResult> {
  const gw = await spawnProc(opts.gatewayScript, opts.execArgv ?? ['--expose-gc'], {}, { dataDir: true });
  try {
    const { mqtt } = await gw.call<{ mqtt: number }>('start', {});
    return await alertLatencyAcross({ ...opts, probeScript: opts.gatewayScript.replace(/gateway\.js$/, 'load.js'), nodes: [{ proc: gw, url: `mqtt://127.0.0.1:${mqtt}` }], prefix: 'lat', title: '3/5 alert latency' });
  } finally {
    await gw.call('close').catch(() => undefined);
    await gw.stop();
  }
}

/**
 * The measurement on running gateways: the elevators are registered on and connect to the first
 * node, the agency subscriber connects to the last (the same one when there is one), and the
 * background devices are spread evenly over all of them, each sending its share of `rate`.
 */
export async function alertLatencyAcross(opts: { loader: Proc; probeScript: string; nodes: LatencyNode[]; rate: number; publishers: number; durationMs: number; prefix: string; title: string; log: (l: string) => void }): Promise<LatencyResult> {
  const samples = Math.max(50, Math.min(400, Math.floor(opts.durationMs / 40)));
  const intervalMs = Math.max(10, Math.floor(opts.durationMs / samples));
  const first = opts.nodes[0]!;
  const last = opts.nodes[opts.nodes.length - 1]!;
  const where = opts.nodes.length > 1 ? ` (elevators on node 1, agency on node ${opts.nodes.length}, background on all ${opts.nodes.length})` : '';
  opts.log(`${opts.title}: ${samples} trapped-passenger alerts under ${opts.rate} msg/s of background telemetry${where}`);
  const probe = await spawnProc(opts.probeScript);
  try {
    // background devices are not elevators, so their telemetry cannot raise elevator alerts
    const background = await first.proc.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: `${opts.prefix}-bg`, count: opts.publishers, kinds: KINDS, sites: 10 });
    const elevators = await first.proc.call<Array<{ id: string; secret: string }>>('register', { prefix: `${opts.prefix}-lift`, count: samples, kinds: ['elevator'], sites: 10 });
    const agencyId = `${opts.prefix}-msb`;
    const token = await first.proc.call<string>('account', { id: agencyId, role: 'market-supervision' });
    await everyNodeKnows(opts.nodes, { devices: [...background, ...elevators].map((d) => d.id), accounts: [agencyId] });
    const shares = opts.nodes.map((_, k) => background.filter((_d, i) => i % opts.nodes.length === k));
    const loads = Promise.all(opts.nodes.flatMap((node, k) => (shares[k]!.length === 0 ? [] : [opts.loader.call<LoadSummary>('load', {
      mqttUrl: node.url, devices: shares[k], ratePerSecond: (opts.rate * shares[k]!.length) / background.length, durationMs: opts.durationMs + 8000, qos: 1,
    })])));
    await new Promise((r) => setTimeout(r, 2000)); // let the background load settle
    await Promise.all(opts.nodes.map((n) => n.proc.call('loopDelay', { reset: true })));
    const { latencies, lost } = await probe.call<{ latencies: number[]; lost: number }>('latency', { url: first.url, agencyUrl: last.url, agency: { id: agencyId, token }, elevators, intervalMs });
    const delays = await Promise.all(opts.nodes.map((n) => n.proc.call<{ p50: number; p99: number; max: number }>('loopDelay')));
    const summaries = await loads;
    const backgroundRate = Math.round(summaries.reduce((a, s) => a + s.achievedRate, 0));
    const loopDelay = delays.reduce((worst, d) => (d.p99 > worst.p99 ? d : worst));
    const result = latencyResult(latencies, { rate: opts.rate, lost, backgroundRate, loopDelay });
    if (result.samples === 0) return result;
    opts.log(`   p50 ${result.p50!.toFixed(1)} ms, p95 ${result.p95!.toFixed(1)} ms, p99 ${result.p99!.toFixed(1)} ms (${lost} lost; background ${backgroundRate} msg/s; ${opts.nodes.length > 1 ? 'worst node\'s' : 'gateway'} event-loop delay p99 ${loopDelay.p99.toFixed(1)} ms, max ${loopDelay.max.toFixed(1)} ms)`);
    return result;
  } finally {
    await probe.stop();
  }
}

/** Cluster mode: what one node registered reaches the others through PostgreSQL's notices; waits until it has. */
export async function everyNodeKnows(nodes: LatencyNode[], what: { devices?: string[]; accounts?: string[] }, timeoutMs = 30_000): Promise<void> {
  if (nodes.length < 2) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const known = await Promise.all(nodes.map((n) => n.proc.call<boolean>('knows', what)));
    if (known.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`registrations did not reach every node within ${timeoutMs / 1000} s (known on nodes: ${known.map((k, i) => `${i + 1}=${k}`).join(', ')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
