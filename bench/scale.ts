/**
 * City scale on one box (issue 18): the phases `scale` and `storm`.
 *
 * scale: N devices (bench/procs/fleet.ts, one lean MQTT socket each, spread over K loopback source
 * addresses) connect and publish one valid QoS 1 reading every 30 s; measured: the connect rate,
 * the gateway's RSS per device once every device has published, and the trapped-passenger alert
 * latency under that load (the probe of bench/latency.ts: an elevator publishes a trapped fault, an
 * agency subscriber receives the alert).
 *
 * storm: with the N devices connected and publishing, the gateway process gets SIGTERM and is
 * started again on the same data directory and ports; the devices reconnect with the recommended
 * back-off. Measured: time from the first dropped connection to the last device back, refusals by
 * reason, every acknowledged reading found in the store (the embedded store read after the run),
 * and `device.offline` alerts raised (gateway.sqlite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DeviceKind } from '../ingest/index.js';
import { spawnProc, type Proc } from './procs/ipc.js';
import { latencyResult, type LatencyResult } from './latency.js';
import { freePort } from './influxd.js';
import { EmbeddedWriter } from '../ingest/writers/embedded.js';

/** Not elevators: their readings cannot raise the elevator alerts the latency probe waits for. */
const KINDS: DeviceKind[] = ['fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
/** The recommended device back-off (docs/performance.md): first retry within 1 s, doubling, capped at 60 s. */
export const BACKOFF: Backoff = { baseMs: 1000, capMs: 60_000, jitter: true };
export interface Backoff { baseMs: number; capMs: number; jitter: boolean }

export interface ScaleResult {
  devices: number;
  addresses: number;
  intervalMs: number;
  connectSeconds: number;
  connectRate: number;
  /** Gateway RSS growth from registered-but-unconnected to every device connected and having published, per device. */
  gatewayBytesPerDevice: number;
  gatewayRssBytes: number;
  latency: LatencyResult;
  limitedBy: string;
}

export interface StormResult {
  devices: number;
  signal: 'SIGTERM' | 'SIGKILL';
  backoff: Backoff;
  /** SIGTERM to exit (the gateway's clean close). */
  closeSeconds: number;
  /** How long the gateway was kept down between its exit and the new process's spawn. */
  downSeconds: number;
  /** Spawn of the new process to its MQTT port answering (registry loaded). */
  startSeconds: number;
  /** First dropped connection to the last device back (undefined: not all came back within the wait). */
  backSeconds?: number;
  stillDown: number;
  refusals: Record<string, number>;
  connacks: Record<string, number>;
  attempts: number;
  /** Connections that were up and were lost, during the storm (N when each device lost its connection once). */
  dropped: number;
  /** Connections closed before their CONNACK (refused by the operating system while the gateway was down, or by its guards). */
  closedBeforeConnack: number;
  retries: number;
  maxBackoffMs: number;
  acknowledged: number;
  missing: number;
  missingDevices: number;
  unacknowledgedAtEnd: number;
  queueDropped: number;
  offlineAlerts: number;
}

export interface CityOptions {
  gatewayScript: string;
  fleetScript: string;
  probeScript: string;
  execArgv: string[];
  devices: number;
  addresses: number;
  intervalMs: number;
  storm: boolean;
  /** SIGKILL instead of SIGTERM: a crash, no clean close. */
  kill?: boolean;
  /** How long the gateway stays down before it starts again (an outage; 0: at once). */
  downMs?: number;
  /** The devices' back-off (default: the recommended one). */
  backoff?: Backoff;
  log: (l: string) => void;
}



const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureCity(o: CityOptions): Promise<{ scale: ScaleResult; storm?: StormResult }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-city-'));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const overrides = { mqtt: { port: mqttPort, host: '127.0.0.1' }, http: { port: httpPort, host: '127.0.0.1' } };
  const addresses = Array.from({ length: o.addresses }, (_, i) => `127.0.0.${i + 2}`);
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const startGateway = async () => {
    const gw = await spawnProc(o.gatewayScript, o.execArgv, { BENCH_DATA_DIR: dataDir });
    await gw.call('start', overrides);
    return gw;
  };
  let gw: Proc | undefined;
  let fleet: Proc | undefined;
  let probe: Proc | undefined;
  try {
    o.log(`scale: ${o.devices} devices over ${o.addresses} source addresses, one QoS 1 reading each every ${o.intervalMs / 1000} s`);
    gw = await startGateway();
    const t0 = performance.now();
    const devices = await gw.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: 'city', count: o.devices, kinds: KINDS, sites: 100 });
    o.log(`   registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const rss0 = await gw.call<number>('rss');
    fleet = await spawnProc(o.fleetScript, ['--expose-gc', '--max-old-space-size=4096']);
    const c = await fleet.call<{ ms: number; connacks: Record<string, number> }>('start', {
      host: '127.0.0.1', port: mqttPort, devices, addresses, intervalMs: o.intervalMs, ...(o.backoff ?? BACKOFF), connackTimeoutMs: 10_000, initialConcurrency: 100 * o.addresses,
    });
    const connectRate = Math.round((o.devices * 1000) / c.ms);
    o.log(`   ${o.devices} connected in ${(c.ms / 1000).toFixed(1)} s (${connectRate}/s; CONNACKs ${JSON.stringify(c.connacks)}); waiting one interval so each has published`);
    await sleep(o.intervalMs + 5000);
    const rss1 = await gw.call<number>('rss');
    const gatewayBytesPerDevice = (rss1 - rss0) / o.devices;
    o.log(`   gateway RSS ${(rss1 / 2 ** 20).toFixed(0)} MB, ${(gatewayBytesPerDevice / 1024).toFixed(1)} KB per connected publishing device`);

    // the trapped-passenger probe under the fleet's load
    const samples = 200;
    const elevators = await gw.call<Array<{ id: string; secret: string }>>('register', { prefix: 'city-lift', count: samples, kinds: ['elevator'], sites: 10 });
    const token = await gw.call<string>('account', { id: 'city-msb', role: 'market-supervision' });
    probe = await spawnProc(o.probeScript);
    await gw.call('loopDelay', { reset: true });
    const before = await fleet.call<{ acknowledged: number }>('status');
    const tl = performance.now();
    const { latencies, lost } = await probe.call<{ latencies: number[]; lost: number }>('latency', { url, agency: { id: 'city-msb', token }, elevators, intervalMs: 50 });
    const after = await fleet.call<{ acknowledged: number }>('status');
    const loopDelay = await gw.call<{ p50: number; p99: number; max: number }>('loopDelay');
    const backgroundRate = Math.round(((after.acknowledged - before.acknowledged) * 1000) / (performance.now() - tl));
    const latency = latencyResult(latencies, { rate: Math.round(o.devices / (o.intervalMs / 1000)), lost, backgroundRate, loopDelay });
    o.log(`   trapped alert latency p50 ${latency.p50?.toFixed(1)} / p95 ${latency.p95?.toFixed(1)} / p99 ${latency.p99?.toFixed(1)} ms (${lost} lost; background ${backgroundRate} readings/s; event-loop delay p99 ${loopDelay.p99.toFixed(1)} ms)`);
    await probe.stop();
    probe = undefined;
    const scale: ScaleResult = {
      devices: o.devices, addresses: o.addresses, intervalMs: o.intervalMs, connectSeconds: c.ms / 1000, connectRate, gatewayBytesPerDevice, gatewayRssBytes: rss1, latency,
      limitedBy: 'the hard limit of open files per process on this machine (ulimit -Hn); one gateway process and one generator process each hold one socket per device',
    };

    let storm: StormResult | undefined;
    if (o.storm) {
      const downMs = o.downMs ?? 0;
      o.log(`storm: ${o.kill ? 'SIGKILL' : 'SIGTERM'} to the gateway with ${o.devices} devices connected, then started again${downMs > 0 ? ` ${downMs / 1000} s after it exited` : ''} on the same data directory and ports`);
      await fleet.call('armStorm');
      const tc = performance.now();
      if (o.kill) {
        const child = gw.child;
        await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
      } else await gw.stop();
      const closeSeconds = (performance.now() - tc) / 1000;
      await sleep(downMs);
      const ts = performance.now();
      gw = await startGateway();
      const startSeconds = (performance.now() - ts) / 1000;
      o.log(`   closed in ${closeSeconds.toFixed(1)} s, started again in ${startSeconds.toFixed(1)} s`);
      const w = await fleet.call<{ back: boolean; stillDown: number; seconds?: number; retries: number; maxBackoffMs: number; attempts: number; dropped: number; closedBeforeConnack: number; connacks: Record<string, number> }>('waitStorm', { timeoutMs: 240_000 });
      const refusals = await gw.call<Record<string, number>>('refusals');
      o.log(`   ${w.back ? `all back ${w.seconds!.toFixed(1)} s after the first drop` : `${w.stillDown} still down after 240 s`}; ${w.dropped} connections dropped, ${w.attempts} attempts (${w.closedBeforeConnack} closed before CONNACK), ${w.retries} back-off waits (longest ${(w.maxBackoffMs / 1000).toFixed(1)} s); CONNACKs ${JSON.stringify(w.connacks)}; refused ${JSON.stringify(refusals)}`);
      o.log('   one more interval of readings after the restart');
      await sleep(o.intervalMs + 5000);
      storm = {
        devices: o.devices, signal: o.kill ? 'SIGKILL' : 'SIGTERM', backoff: o.backoff ?? BACKOFF, closeSeconds, downSeconds: downMs / 1000, startSeconds, ...(w.seconds !== undefined && w.back ? { backSeconds: w.seconds } : {}), stillDown: w.stillDown, refusals, connacks: w.connacks,
        attempts: w.attempts, dropped: w.dropped, closedBeforeConnack: w.closedBeforeConnack, retries: w.retries, maxBackoffMs: w.maxBackoffMs, acknowledged: 0, missing: 0, missingDevices: 0, unacknowledgedAtEnd: 0, queueDropped: 0, offlineAlerts: 0,
      };
    }

    const end = await fleet.call<{ acked: Record<string, number[]>; unacknowledged: number; queueDropped: number; acknowledged: number }>('stop', { drainMs: 15_000 });
    await fleet.stop();
    fleet = undefined;
    await gw.call('close');
    await gw.stop();
    gw = undefined;
    // every acknowledged reading must be in the store, and no device should have been declared offline
    const { acknowledged, missing, missingDevices } = await missingReadings(dataDir, end.acked);
    const main = new Database(join(dataDir, 'gateway.sqlite'), { readonly: true });
    const offlineAlerts = (main.prepare("SELECT count(*) FROM alerts WHERE type = 'device.offline' AND device_id LIKE 'city-%'").pluck().get() as number);
    main.close();
    o.log(`   store check: ${acknowledged} acknowledged readings, ${missing} missing (${missingDevices} devices); ${end.unacknowledged} unacknowledged at the end; ${offlineAlerts} device.offline alerts`);
    if (storm) Object.assign(storm, { acknowledged, missing, missingDevices, unacknowledgedAtEnd: end.unacknowledged, queueDropped: end.queueDropped, offlineAlerts });
    return { scale, ...(storm ? { storm } : {}) };
  } finally {
    await probe?.stop();
    await fleet?.stop();
    if (gw) { await gw.call('close').catch(() => undefined); await gw.stop(); }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The readings the devices had acknowledged that the gateway's store does not hold, as the gateway
 * reads it: opening the embedded store first merges what its last run left in the recent tables
 * (ingest/writers/embedded.ts), so every stored point is then in `points`.
 */
export async function missingReadings(dataDir: string, acked: Record<string, number[]>): Promise<{ acknowledged: number; missing: number; missingDevices: number }> {
  await new EmbeddedWriter({ dataDir, retentionDays: 36_500 }).close();
  const db = new Database(join(dataDir, 'timeseries.sqlite'), { readonly: true });
  try {
    const byDevice = db.prepare('SELECT DISTINCT ts FROM points WHERE device = ?').pluck();
    let acknowledged = 0, missing = 0, missingDevices = 0;
    for (const [id, times] of Object.entries(acked)) {
      acknowledged += times.length;
      const stored = new Set(byDevice.all(id) as number[]);
      const m = times.filter((t) => !stored.has(t)).length;
      missing += m;
      if (m > 0) missingDevices++;
    }
    return { acknowledged, missing, missingDevices };
  } finally {
    db.close();
  }
}
