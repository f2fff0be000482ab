/**
 * City scale on one box (issue 18): the phases `scale` and `storm`.
 *
 * scale: N devices (bench/procs/fleet.ts, one lean MQTT socket each, spread over K loopback source
 * addresses and over `fleets` fleet processes, each ≤ ~15,000 sockets: the hard limit of open files
 * per process; with `acceptors` the gateway's acceptor processes hold the device sockets) connect and publish one valid QoS 1 reading every 30 s; measured: the connect rate,
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
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DeviceKind } from '../ingest/index.js';
import { cpuSecondsOf, spawnProc, type Proc } from './procs/ipc.js';
import { latencyResult, type GcPauses, type LatencyResult, type Stall } from './latency.js';
import { freePort } from './influxd.js';
import { EmbeddedWriter } from '../ingest/writers/embedded.js';
import type { LapsResult } from '../core/laps.js';

/** Not elevators: their readings cannot raise the elevator alerts the latency probe waits for. */
const KINDS: DeviceKind[] = ['fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
/** The recommended device back-off (docs/performance.md): first retry within 1 s, doubling, capped at 60 s. */
export const BACKOFF: Backoff = { baseMs: 1000, capMs: 60_000, jitter: true };
/**
 * How long a device waits for its CONNACK before it gives up on the login (docs/performance.md,
 * "Recommended device back-off"): mqtt.js's default, above the 25 s a login may wait its turn
 * behind its address's others in a storm (`mqtt.limits.loginQueueTimeoutMs`).
 */
export const CONNACK_WAIT_MS = 30_000;
export interface Backoff { baseMs: number; capMs: number; jitter: boolean }

export interface ScaleResult {
  devices: number;
  addresses: number;
  /** Fleet processes the devices were spread over (undefined: results from before the option). */
  fleets?: number;
  /** The gateway's `mqtt.acceptors` (0: the gateway process holds the device sockets itself). */
  acceptors?: number;
  /** The fleet processes' nice value (undefined or 0: the gateway's own priority). */
  fleetNice?: number;
  intervalMs: number;
  connectSeconds: number;
  connectRate: number;
  /** Logins abandoned by their device during the first connection: no CONNACK within CONNACK_WAIT_MS of the CONNECT. */
  connackTimeouts: number;
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
  /** The gateway's own account of its close and of its start again, step by step (ms; `Gateway.close`, `Gateway.startup`). */
  closeSteps?: LapsResult;
  startSteps?: LapsResult;
  /** How long the gateway was kept down between its exit and the new process's spawn. */
  downSeconds: number;
  /** Spawn of the new process to its MQTT port answering (registry loaded). */
  startSeconds: number;
  /** First dropped connection to the last device back (undefined: not all came back within the wait). */
  backSeconds?: number;
  /**
   * The SIGTERM to the last device back: the whole restart. With acceptors the devices' sockets are
   * held to the end of the stop, so the first drop comes seconds after the SIGTERM.
   */
  sigtermToBackSeconds?: number;
  stillDown: number;
  refusals: Record<string, number>;
  /** Devices back in each 10 s after the first drop. */
  backPer10s: number[];
  /** Logins that waited, unread, for their address's turn (`mqtt.limits.loginQueueTimeoutMs`) instead of being refused. */
  loginsQueued: number;
  connacks: Record<string, number>;
  attempts: number;
  /** Connections that were up and were lost, during the storm (N when each device lost its connection once). */
  dropped: number;
  /** Connections closed before their CONNACK (refused by the operating system while the gateway was down, or by its guards). */
  closedBeforeConnack: number;
  /** Logins abandoned by their device: no CONNACK within CONNACK_WAIT_MS of the CONNECT. */
  connackTimeouts: number;
  retries: number;
  maxBackoffMs: number;
  acknowledged: number;
  missing: number;
  missingDevices: number;
  unacknowledgedAtEnd: number;
  queueDropped: number;
  offlineAlerts: number;
  /** CPU seconds from the SIGTERM to the last device back (or the wait's end): who had the machine during the storm. */
  cpuSeconds?: { gateway: number; acceptors: number; fleets: number; wall: number };
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
  /** Fleet processes the devices are spread over, round-robin (default 1). */
  fleets?: number;
  /** The gateway's `mqtt.acceptors`: child processes holding the device sockets (default 0: none). */
  acceptors?: number;
  /** The fleet processes' nice value (0: the gateway's priority; 10: they yield the cores to it, as devices on their own hardware would). */
  fleetNice?: number;
  /**
   * CPU profiles of the gateway: over the latency probe (`scale`), of its close on SIGTERM (`close`),
   * and from the restarted process's spawn to the last device back (`storm`).
   */
  profile?: { scale: string; close: string; storm: string } | undefined;
  log: (l: string) => void;
}

export type Dev = { id: string; secret: string; kind: DeviceKind };
/** How long a SIGTERM'd gateway may take to close before it is killed (systemd's default is 90 s). */
export const STOP_GRACE_MS = 60_000;

/** A gateway's start or close, step by step: the steps of 50 ms or more, and the total. */
function stepsText(s: LapsResult): string {
  const long = Object.entries(s.steps).filter(([, ms]) => ms >= 50).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)}`);
  const total = `${(s.totalMs / 1000).toFixed(1)} s`;
  return long.length > 0 ? `${long.join(', ')} of ${total}` : `${total}, no step of 50 ms`;
}

/** What one fleet process saw of a storm (bench/procs/fleet.ts `waitStorm`). */
export type StormWait = { back: boolean; stillDown: number; seconds?: number; lastBackEpochMs?: number; retries: number; maxBackoffMs: number; attempts: number; dropped: number; closedBeforeConnack: number; connackTimeouts: number; connacks: Record<string, number>; backPerSecond: number[] };

export function addCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}

/** Several fleets' storms as one: back when every fleet is, after the slowest one; the counts summed. */
export function mergeStormWaits(waits: readonly StormWait[]) {
  const sum = (f: (w: StormWait) => number) => waits.reduce((a, w) => a + f(w), 0);
  const seconds = Math.max(...waits.map((w) => w.seconds ?? Infinity));
  return {
    back: waits.every((w) => w.back) && Number.isFinite(seconds),
    seconds,
    /** When the last device of all fleets came back (epoch ms). */
    lastBackEpochMs: Math.max(...waits.map((w) => w.lastBackEpochMs ?? Infinity)),
    perFleet: waits.map((w) => w.seconds?.toFixed(1)).join(' / '),
    stillDown: sum((w) => w.stillDown),
    dropped: sum((w) => w.dropped),
    attempts: sum((w) => w.attempts),
    closedBeforeConnack: sum((w) => w.closedBeforeConnack),
    connackTimeouts: sum((w) => w.connackTimeouts),
    retries: sum((w) => w.retries),
    maxBackoffMs: Math.max(...waits.map((w) => w.maxBackoffMs)),
    connacks: waits.reduce((a, w) => addCounts(a, w.connacks), {} as Record<string, number>),
    backPer10s: per10s(waits.map((w) => w.backPerSecond)),
  };
}

/** Devices back in each 10 s after the first drop, the fleets' counts per second summed: whether the gateway or the back-off set the pace. */
function per10s(perSecond: readonly number[][]): number[] {
  const out: number[] = [];
  for (const counts of perSecond) counts.forEach((n, second) => { const k = Math.floor(second / 10); out[k] = (out[k] ?? 0) + n; });
  return Array.from(out, (n) => n ?? 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureCity(o: CityOptions): Promise<{ scale: ScaleResult; storm?: StormResult }> {
  const nFleets = Math.max(1, Math.floor(o.fleets ?? 1));
  const acceptors = Math.max(0, Math.floor(o.acceptors ?? 0));
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-city-'));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const overrides = { mqtt: { port: mqttPort, host: '127.0.0.1', ...(acceptors > 0 ? { acceptors } : {}) }, http: { port: httpPort, host: '127.0.0.1' } };
  const addresses = Array.from({ length: o.addresses }, (_, i) => `127.0.0.${i + 2}`);
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const closeStepsFile = join(dataDir, 'close-steps.json');
  let startSteps: LapsResult | undefined;
  const startGateway = async (profiled = false) => {
    const gw = await spawnProc(o.gatewayScript, o.execArgv, { BENCH_DATA_DIR: dataDir, BENCH_CLOSE_STEPS: closeStepsFile, ...(o.profile ? { BENCH_CLOSE_PROFILE: o.profile.close } : {}) });
    if (profiled) await gw.call('profileStart');
    startSteps = (await gw.call<{ startup: LapsResult }>('start', overrides)).startup;
    return gw;
  };
  const spread = [nFleets > 1 ? `${nFleets} fleet processes` : '', acceptors > 0 ? `a gateway with ${acceptors} acceptor processes` : ''].filter(Boolean).join(', ');
  let gw: Proc | undefined;
  const fleets: Proc[] = [];
  let probe: Proc | undefined;
  try {
    o.log(`scale: ${o.devices} devices over ${o.addresses} source addresses${spread ? ` (${spread})` : ''}, one QoS 1 reading each every ${o.intervalMs / 1000} s${o.fleetNice ? `; fleets at nice ${o.fleetNice}` : ''}`);
    gw = await startGateway();
    const t0 = performance.now();
    const devices = await gw.call<Dev[]>('register', { prefix: 'city', count: o.devices, kinds: KINDS, sites: 100 });
    o.log(`   registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const rss0 = await gw.call<number>('rss');
    // round-robin: fleet k gets devices k, k + n, k + 2n, ...; each fleet uses every source address
    const shares = Array.from({ length: nFleets }, (_, k) => devices.filter((_d, i) => i % nFleets === k));
    for (let k = 0; k < nFleets; k++) {
      const fleet = await spawnProc(o.fleetScript, ['--expose-gc', '--max-old-space-size=4096']);
      // the devices stand for hardware elsewhere: niced, they take the cores the gateway leaves rather than half of them
      if (o.fleetNice) os.setPriority(fleet.child.pid!, o.fleetNice);
      fleets.push(fleet);
    }
    const starts = await Promise.all(fleets.map((fleet, k) => fleet.call<{ ms: number; connacks: Record<string, number>; connackTimeouts: number }>('start', {
      host: '127.0.0.1', port: mqttPort, devices: shares[k], addresses, intervalMs: o.intervalMs, ...(o.backoff ?? BACKOFF), connackTimeoutMs: CONNACK_WAIT_MS,
      initialConcurrency: Math.max(100, Math.floor((100 * o.addresses) / nFleets)),
    })));
    // the connect time is the slowest fleet's
    const connectMs = Math.max(...starts.map((c) => c.ms));
    const connacks = starts.reduce((a, c) => addCounts(a, c.connacks), {} as Record<string, number>);
    const connectRate = Math.round((o.devices * 1000) / connectMs);
    const connackTimeouts = starts.reduce((a, c) => a + c.connackTimeouts, 0);
    o.log(`   ${o.devices} connected in ${(connectMs / 1000).toFixed(1)} s (${connectRate}/s${nFleets > 1 ? `; per fleet ${starts.map((c) => (c.ms / 1000).toFixed(1)).join(' / ')} s` : ''}; CONNACKs ${JSON.stringify(connacks)}; ${connackTimeouts} without a CONNACK in ${CONNACK_WAIT_MS / 1000} s); waiting one interval so each has published`);
    if (acceptors > 0) {
      const st = await gw.call<{ held: number[]; full: number; handedOver: number; acceptedThere: number } | null>('acceptorStats');
      if (st) o.log(`   connections per acceptor ${st.held.join(' / ')} (${st.acceptedThere} accepted by them, ${st.handedOver} by the gateway before they had the port; ${st.full} closed by a full acceptor)`);
    }
    await sleep(o.intervalMs + 5000);
    const rss1 = await gw.call<number>('rss');
    const gatewayBytesPerDevice = (rss1 - rss0) / o.devices;
    o.log(`   gateway RSS ${(rss1 / 2 ** 20).toFixed(0)} MB${acceptors > 0 ? ` (with its ${acceptors} acceptor processes)` : ''}, ${(gatewayBytesPerDevice / 1024).toFixed(1)} KB per connected publishing device`);

    // the trapped-passenger probe under the fleets' load
    const samples = 200;
    const elevators = await gw.call<Array<{ id: string; secret: string }>>('register', { prefix: 'city-lift', count: samples, kinds: ['elevator'], sites: 10 });
    const token = await gw.call<string>('account', { id: 'city-msb', role: 'market-supervision' });
    probe = await spawnProc(o.probeScript);
    const ackOf = async () => (await Promise.all(fleets.map((f) => f.call<{ acknowledged: number }>('status')))).reduce((a, st) => a + st.acknowledged, 0);
    const before = await ackOf();
    const tl = performance.now();
    if (o.profile) await gw.call('profileStart');
    // after the profiler's start, which holds the event loop for about a second at this heap size
    await gw.call('loopDelay', { reset: true });
    // meanwhile: a probe login from 127.0.0.1 still unanswered after 3 s is described as the gateway sees it
    let probing = true;
    const gwNow = gw;
    const watch = (async () => {
      while (probing) {
        await sleep(3000);
        const seen = await gwNow.call<{ pending: number; stuck: unknown[]; acceptors: unknown }>('stuckLogins', { address: '127.0.0.1', sinceMs: 3000 }).catch(() => undefined);
        if (seen && seen.stuck.length > 0) o.log(`   a probe login unanswered for 3 s or more, as the gateway sees it: ${JSON.stringify(seen)}`);
      }
    })();
    const { latencies, lost, stalls } = await probe.call<{ latencies: number[]; lost: number; stalls: Array<{ id: string; localPort?: number; why: string; at: number }> }>('latency', { url, agency: { id: 'city-msb', token }, elevators, intervalMs: 50 })
      .finally(() => { probing = false; });
    await watch;
    if (stalls.length > 0) o.log(`   probe logins tried again: ${JSON.stringify(stalls)}`);
    const after = await ackOf();
    if (o.profile) o.log(`   CPU profile of the gateway over the probe: ${await gw.call<string>('profileStop', { file: o.profile.scale })}`);
    const loopDelay = await gw.call<{ p50: number; p99: number; max: number; gc: GcPauses; stalls: Stall[] }>('loopDelay');
    const backgroundRate = Math.round(((after - before) * 1000) / (performance.now() - tl));
    const latency = { ...latencyResult(latencies, { rate: Math.round(o.devices / (o.intervalMs / 1000)), lost, backgroundRate, loopDelay }), probeLoginsRetried: stalls.length };
    o.log(`   trapped alert latency p50 ${latency.p50?.toFixed(1)} / p95 ${latency.p95?.toFixed(1)} / p99 ${latency.p99?.toFixed(1)} ms (${lost} lost; background ${backgroundRate} readings/s; event-loop delay p99 ${loopDelay.p99.toFixed(1)} ms, max ${loopDelay.max.toFixed(0)} ms; GC pauses ${loopDelay.gc.count}, longest ${loopDelay.gc.maxMs.toFixed(0)} ms (${loopDelay.gc.maxKind || '—'}), ${loopDelay.gc.over50} over 50 ms)`);
    const when = (list: Stall[] | undefined) => (list ?? []).map((x) => `${x.ms} ms at ${x.atS} s`).join(', ') || 'none';
    o.log(`   the longest event-loop stalls: ${when(loopDelay.stalls)}; the longest GC pauses: ${when(loopDelay.gc.longest)} (s after the probe began)`);
    await probe.stop();
    probe = undefined;
    const scale: ScaleResult = {
      devices: o.devices, addresses: o.addresses, fleets: nFleets, acceptors, fleetNice: o.fleetNice ?? 0, intervalMs: o.intervalMs, connectSeconds: connectMs / 1000, connectRate, connackTimeouts, gatewayBytesPerDevice, gatewayRssBytes: rss1, latency,
      limitedBy: acceptors > 0
        ? `the hard limit of open files per process on this machine (ulimit -Hn): the device sockets are held by the gateway's ${acceptors} acceptor processes and by ${nFleets} fleet process${nFleets > 1 ? 'es' : ''} (≤ ~15,000 each), all sharing this machine's cores with the one gateway process`
        : nFleets > 1
          ? `the hard limit of open files per process on this machine (ulimit -Hn); one gateway process holds one socket per device (the ${nFleets} fleet processes ≤ ~15,000 each)`
          : 'the hard limit of open files per process on this machine (ulimit -Hn); one gateway process and one generator process each hold one socket per device',
    };

    let storm: StormResult | undefined;
    if (o.storm) {
      const downMs = o.downMs ?? 0;
      o.log(`storm: ${o.kill ? 'SIGKILL' : 'SIGTERM'} to the gateway${acceptors > 0 ? ` (${acceptors} acceptors)` : ''} with ${o.devices} devices connected${nFleets > 1 ? ` from ${nFleets} fleets` : ''}, then started again${downMs > 0 ? ` ${downMs / 1000} s after it exited` : ''} on the same data directory and ports`);
      await Promise.all(fleets.map((f) => f.call('armStorm')));
      const fleetsCpu = () => fleets.reduce((a, f) => a + cpuSecondsOf(f.child.pid), 0);
      const fleetsCpu0 = fleetsCpu();
      const tc = performance.now();
      const sigtermAt = Date.now();
      if (o.kill) {
        const child = gw.child;
        await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
      } else {
        // as a service manager stops it (systemd waits 90 s before its SIGKILL): the close is measured whole
        await gw.stop(STOP_GRACE_MS);
      }
      const closeSeconds = (performance.now() - tc) / 1000;
      await sleep(downMs);
      const ts = performance.now();
      gw = await startGateway(o.profile !== undefined);
      const startSeconds = (performance.now() - ts) / 1000;
      const startCpu = await gw.call<{ gateway: number }>('cpu');
      // none when the close did not finish within the grace (then it was killed)
      const closeSteps = o.kill || !existsSync(closeStepsFile) ? undefined : JSON.parse(readFileSync(closeStepsFile, 'utf8')) as LapsResult;
      o.log(`   closed in ${closeSeconds.toFixed(1)} s${closeSteps ? ` (${stepsText(closeSteps)})` : o.kill ? '' : ` (killed: not closed within ${STOP_GRACE_MS / 1000} s)`}, started again in ${startSeconds.toFixed(1)} s (in the gateway ${stepsText(startSteps!)}; its CPU meanwhile ${startCpu.gateway.toFixed(1)} s; the fleets' since the SIGTERM ${(fleetsCpu() - fleetsCpu0).toFixed(1)} s)`);
      const waits = await Promise.all(fleets.map((f) => f.call<StormWait>('waitStorm', { timeoutMs: 240_000 })));
      if (o.profile) o.log(`   CPU profile of the restarted gateway, spawn to the last device back: ${await gw.call<string>('profileStop', { file: o.profile.storm })}`);
      const wall = (performance.now() - tc) / 1000;
      const cpu = { ...await gw.call<{ gateway: number; acceptors: number }>('cpu'), fleets: fleetsCpu() - fleetsCpu0 };
      const refusals = await gw.call<Record<string, number>>('refusals');
      const loginsQueued = await gw.call<number>('loginsQueued');
      const m = mergeStormWaits(waits);
      const sigtermToBackSeconds = (m.lastBackEpochMs - sigtermAt) / 1000;
      o.log(`   CPU from the SIGTERM to the last device back (${wall.toFixed(1)} s, ${os.cpus().length} cores): restarted gateway ${cpu.gateway.toFixed(1)} s${acceptors > 0 ? ` and its acceptors ${cpu.acceptors.toFixed(1)} s` : ''}, the fleets ${cpu.fleets.toFixed(1)} s`);
      o.log(`   ${m.back ? `all back ${m.seconds.toFixed(1)} s after the first drop, ${sigtermToBackSeconds.toFixed(1)} s after the SIGTERM${nFleets > 1 ? ` (per fleet ${m.perFleet} s)` : ''}` : `${m.stillDown} still down after 240 s`}; ${m.dropped} connections dropped, ${m.attempts} attempts (${m.closedBeforeConnack} closed before CONNACK, ${m.connackTimeouts} without a CONNACK in ${CONNACK_WAIT_MS / 1000} s), ${m.retries} back-off waits (longest ${(m.maxBackoffMs / 1000).toFixed(1)} s); CONNACKs ${JSON.stringify(m.connacks)}; ${loginsQueued} logins waited their turn; refused ${JSON.stringify(refusals)}`);
      o.log(`   devices back per 10 s after the first drop: ${m.backPer10s.join(' / ')}`);
      o.log('   one more interval of readings after the restart');
      await sleep(o.intervalMs + 5000);
      storm = {
        devices: o.devices, signal: o.kill ? 'SIGKILL' : 'SIGTERM', backoff: o.backoff ?? BACKOFF, closeSeconds, downSeconds: downMs / 1000, startSeconds,
        ...(closeSteps ? { closeSteps } : {}), startSteps: startSteps!, ...(m.back ? { backSeconds: m.seconds, sigtermToBackSeconds } : {}), stillDown: m.stillDown, refusals, loginsQueued, backPer10s: m.backPer10s, connacks: m.connacks,
        attempts: m.attempts, dropped: m.dropped, closedBeforeConnack: m.closedBeforeConnack, connackTimeouts: m.connackTimeouts, retries: m.retries, maxBackoffMs: m.maxBackoffMs,
        cpuSeconds: { ...cpu, wall },
        acknowledged: 0, missing: 0, missingDevices: 0, unacknowledgedAtEnd: 0, queueDropped: 0, offlineAlerts: 0,
      };
    }

    const ends = await Promise.all(fleets.map((f) => f.call<{ acked: Record<string, number[]>; unacknowledged: number; queueDropped: number; acknowledged: number }>('stop', { drainMs: 15_000 })));
    await Promise.all(fleets.map((f) => f.stop()));
    fleets.length = 0;
    // the fleets' devices are disjoint: their acknowledged readings merge into one map
    const acked = ends.reduce((a, e) => Object.assign(a, e.acked), {} as Record<string, number[]>);
    const unacknowledged = ends.reduce((a, e) => a + e.unacknowledged, 0);
    const queueDropped = ends.reduce((a, e) => a + e.queueDropped, 0);
    await gw.call('close');
    await gw.stop();
    gw = undefined;
    // every acknowledged reading must be in the store, and no device should have been declared offline
    const { acknowledged, missing, missingDevices } = await missingReadings(dataDir, acked);
    const main = new Database(join(dataDir, 'gateway.sqlite'), { readonly: true });
    const offlineAlerts = (main.prepare("SELECT count(*) FROM alerts WHERE type = 'device.offline' AND device_id LIKE 'city-%'").pluck().get() as number);
    main.close();
    o.log(`   store check: ${acknowledged} acknowledged readings, ${missing} missing (${missingDevices} devices); ${unacknowledged} unacknowledged at the end; ${offlineAlerts} device.offline alerts`);
    if (storm) Object.assign(storm, { acknowledged, missing, missingDevices, unacknowledgedAtEnd: unacknowledged, queueDropped, offlineAlerts });
    return { scale, ...(storm ? { storm } : {}) };
  } finally {
    await probe?.stop();
    await Promise.all(fleets.map((f) => f.stop()));
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
