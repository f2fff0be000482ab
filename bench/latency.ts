/**
 * Alert latency: from a device's publish to the alert message arriving at an agency's MQTT
 * subscriber, while the gateway carries background telemetry at a given rate. Needs the alerts
 * capability; until it is wired into the gateway this phase reports why it was skipped.
 */
import type { Proc } from './procs/ipc.js';

export interface LatencyResult {
  rate: number;
  samples: number;
  p50?: number;
  p95?: number;
  p99?: number;
  note?: string;
}

export async function measureAlertLatency(opts: { loader: Proc; gatewayScript: string; rate: number; publishers: number; durationMs: number; log: (l: string) => void }): Promise<LatencyResult> {
  opts.log('3/5 alert latency: not measured yet (the alerts capability is not wired into the gateway)');
  return { rate: opts.rate, samples: 0, note: 'not measured: alerts not wired yet' };
}
