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
  /** The gateway's event-loop delay during the measurement (ms). */
  loopDelay?: { p50: number; p99: number; max: number };
  note?: string;
}

const KINDS: DeviceKind[] = ['fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function measureAlertLatency(opts: { loader: Proc; gatewayScript: string; rate: number; publishers: number; durationMs: number; log: (l: string) => void }): Promise<LatencyResult> {
  const samples = Math.max(50, Math.min(400, Math.floor(opts.durationMs / 40)));
  const intervalMs = Math.max(10, Math.floor(opts.durationMs / samples));
  opts.log(`3/5 alert latency: ${samples} trapped-passenger alerts under ${opts.rate} msg/s of background telemetry`);
  const gw = await spawnProc(opts.gatewayScript, ['--expose-gc']);
  const probe = await spawnProc(opts.gatewayScript.replace(/gateway\.js$/, 'load.js'));
  try {
    const { mqtt } = await gw.call<{ mqtt: number }>('start', {});
    const url = `mqtt://127.0.0.1:${mqtt}`;
    // background devices are not elevators, so their telemetry cannot raise elevator alerts
    const background = await gw.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: 'lat-bg', count: opts.publishers, kinds: KINDS, sites: 10 });
    const elevators = await gw.call<Array<{ id: string; secret: string }>>('register', { prefix: 'lat-lift', count: samples, kinds: ['elevator'], sites: 10 });
    const token = await gw.call<string>('account', { id: 'lat-msb', role: 'market-supervision' });
    const load = opts.loader.call<LoadSummary>('load', { mqttUrl: url, devices: background, ratePerSecond: opts.rate, durationMs: opts.durationMs + 8000, qos: 1 });
    await new Promise((r) => setTimeout(r, 2000)); // let the background load settle
    await gw.call('loopDelay', { reset: true });
    const { latencies, lost } = await probe.call<{ latencies: number[]; lost: number }>('latency', { url, agency: { id: 'lat-msb', token }, elevators, intervalMs });
    const loopDelay = await gw.call<{ p50: number; p99: number; max: number }>('loopDelay');
    const summary = await load;
    const sorted = [...latencies].sort((a, b) => a - b);
    if (sorted.length === 0) return { rate: opts.rate, samples: 0, lost, note: 'no alert arrived' };
    const result = { rate: opts.rate, samples: sorted.length, lost, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]!, backgroundRate: summary.achievedRate, loopDelay };
    opts.log(`   p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms (${lost} lost; background ${summary.achievedRate} msg/s; gateway event-loop delay p99 ${loopDelay.p99.toFixed(1)} ms, max ${loopDelay.max.toFixed(1)} ms)`);
    return result;
  } finally {
    await probe.stop();
    await gw.call('close').catch(() => undefined);
    await gw.stop();
  }
}
