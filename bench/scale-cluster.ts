/**
 * City scale over several processes (issue 18): the phases `scale` and `storm` with
 * `--scale-nodes N` (N ≥ 2). The devices are spread over N gateway node processes in cluster mode
 * (one private PostgreSQL and one private Redis, started as `bench/cluster.ts` does; readings in
 * each node's embedded store on its own DATA_DIR, no influxd) and over N fleet processes
 * (bench/procs/fleet.ts), fleet k's devices connecting straight to node k's MQTT port: no HAProxy,
 * each node ≤ ~15,000 sockets and each fleet ≤ ~15,000 (the hard limit of open files per process).
 *
 * scale: every device registered on node 1 (PostgreSQL; the other nodes learn them by its notices),
 * then connected and publishing one QoS 1 reading every interval; measured: the gateway RSS summed
 * over the nodes ÷ devices (total and growth since before the fleets connected), and the
 * trapped-passenger alert latency with the elevators on node 1 and the agency subscriber on node N
 * (the cross-node path, through Redis).
 *
 * storm: every node gets SIGTERM (or SIGKILL) at once and is started again on the same DATA_DIR,
 * ports and node id: the whole fleet reconnects at once, the worst case (a site-wide power cut or a
 * deploy that restarts everything); one node restarting is the same as the single-process storm on
 * 1/N of the fleet. Loss check: each device's acknowledged readings in the store of the node it
 * always connects to; `device.offline` alerts counted in PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DeviceKind } from '../ingest/index.js';
import { rssOf, spawnProc, type Proc } from './procs/ipc.js';
import { everyNodeKnows, latencyResult } from './latency.js';
import { freePort } from './influxd.js';
import { BACKOFF, CONNACK_WAIT_MS, STOP_GRACE_MS, addCounts, mergeStormWaits, missingReadings, type CityOptions, type Dev, type StormWait, type ScaleResult, type StormResult } from './scale.js';
import { startPostgres, type PostgresHandle } from '../tests/harness/postgres.js';
import { startRedis, type RedisHandle } from '../tests/harness/redis.js';

const KINDS: DeviceKind[] = ['fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
const BATCH = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Closes a node and waits for its exit. A node can die while closing (it did, of an unhandled ioredis
 * "Connection is closed", until gateway/broker/redis.ts handled the emitter's QUIT), so a closed IPC
 * channel is not an error.
 */
async function closeNode(p: Proc): Promise<void> {
  p.child.on('error', () => undefined);
  if (p.child.exitCode === null && p.child.signalCode === null && p.child.connected) {
    await Promise.race([p.call('close').catch(() => undefined), sleep(20_000)]);
  }
  await p.stop();
}

interface NodeSlot { id: string; dataDir: string; mqttPort: number; httpPort: number; url: string; proc?: Proc; lines: string[] }

export async function measureCityCluster(o: CityOptions & { nodes: number; agencyNode?: number }): Promise<{ scale: ScaleResult; storm?: StormResult }> {
  const n = o.nodes;
  const tBench = performance.now();
  const agencyNode = Math.min(n, Math.max(1, o.agencyNode ?? n));
  let pgh: PostgresHandle | undefined;
  let redis: RedisHandle | undefined;
  let pool: pg.Pool | undefined;
  const slots: NodeSlot[] = [];
  const fleets: Array<Proc | undefined> = [];
  let probe: Proc | undefined;
  const addresses = Array.from({ length: o.addresses }, (_, i) => `127.0.0.${i + 2}`);
  try {
    const acceptors = o.acceptors ?? 0;
    o.log(`scale (cluster): ${o.devices} devices over ${n} gateway nodes${acceptors ? ` (${acceptors} acceptor process${acceptors === 1 ? '' : 'es'} each)` : ''} and ${n} fleet processes, ${o.addresses} source addresses, one QoS 1 reading each every ${o.intervalMs / 1000} s${o.fleetNice ? `; fleets at nice ${o.fleetNice}` : ''}`);
    [pgh, redis] = await Promise.all([startPostgres(), startRedis()]);
    await pgh.pool.query('CREATE DATABASE bench_city');
    const databaseUrl = pgh.url.replace(/\/postgres$/, '/bench_city');
    pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    for (let i = 1; i <= n; i++) {
      slots.push({ id: `city-node-${i}`, dataDir: mkdtempSync(join(tmpdir(), 'bench-city-')), mqttPort: await freePort(), httpPort: await freePort(), url: '', lines: [] });
    }
    const startNode = async (s: NodeSlot) => {
      const onLine = (line: string) => { if (s.lines.length < 20) { s.lines.push(line); process.stderr.write(`[${s.id} +${((performance.now() - tBench) / 1000).toFixed(1)} s] ${line}\n`); } };
      const proc = await spawnProc(o.gatewayScript, o.execArgv, { BENCH_DATA_DIR: s.dataDir }, { onLine });
      s.proc = proc;
      await proc.call('start', {
        mqtt: { port: s.mqttPort, host: '127.0.0.1', acceptors }, http: { port: s.httpPort, host: '127.0.0.1' },
        cluster: { databaseUrl, redisUrl: redis!.url, nodeId: s.id },
      });
      s.url = `mqtt://127.0.0.1:${s.mqttPort}`;
    };
    const tn = performance.now();
    await startNode(slots[0]!);
    await Promise.all(slots.slice(1).map(startNode));
    o.log(`   ${n} nodes started in ${((performance.now() - tn) / 1000).toFixed(1)} s`);
    const nodes = () => slots.map((s) => ({ proc: s.proc!, url: s.url }));

    const t0 = performance.now();
    const devices: Dev[] = [];
    for (let b = 0; b * BATCH < o.devices; b++) {
      const count = Math.min(BATCH, o.devices - b * BATCH);
      devices.push(...await slots[0]!.proc!.call<Dev[]>('register', { prefix: `city-b${b}`, count, kinds: KINDS, sites: 20 }));
    }
    o.log(`   registered on node 1 in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const tk = performance.now();
    // the last of each batch: registrations reach the other nodes in order
    await everyNodeKnows(nodes(), { devices: devices.filter((_d, i) => (i + 1) % BATCH === 0 || i === devices.length - 1).map((d) => d.id) }, 300_000);
    await everyNodeKnows(nodes(), { devices: devices.map((d) => d.id) }, 300_000);
    o.log(`   known on every node ${((performance.now() - tk) / 1000).toFixed(1)} s later`);
    const rss0 = await Promise.all(slots.map((s) => s.proc!.call<number>('rss')));
    const shares = slots.map((_, k) => devices.filter((_d, i) => i % n === k));

    const tc = performance.now();
    const starts = await Promise.all(slots.map(async (s, k) => {
      const fleet = await spawnProc(o.fleetScript, ['--expose-gc', '--max-old-space-size=4096']);
      if (o.fleetNice) setPriority(fleet.child.pid!, o.fleetNice);
      fleets[k] = fleet;
      return fleet.call<{ ms: number; connacks: Record<string, number>; connackTimeouts: number }>('start', {
        host: '127.0.0.1', port: s.mqttPort, devices: shares[k], addresses, intervalMs: o.intervalMs, ...(o.backoff ?? BACKOFF), connackTimeoutMs: CONNACK_WAIT_MS,
        initialConcurrency: Math.max(50, Math.floor((100 * o.addresses) / n)),
      });
    }));
    const connectMs = performance.now() - tc;
    const connectRate = Math.round((o.devices * 1000) / connectMs);
    const connacks = starts.reduce((a, c) => addCounts(a, c.connacks), {} as Record<string, number>);
    const connackTimeouts = starts.reduce((a, c) => a + c.connackTimeouts, 0);
    o.log(`   ${o.devices} connected in ${(connectMs / 1000).toFixed(1)} s (${connectRate}/s; per fleet ${starts.map((c) => (c.ms / 1000).toFixed(1)).join(' / ')} s; CONNACKs ${JSON.stringify(connacks)}; ${connackTimeouts} without a CONNACK in ${CONNACK_WAIT_MS / 1000} s); waiting one interval so each has published`);
    await sleep(o.intervalMs + 5000);
    const rss1 = await Promise.all(slots.map((s) => s.proc!.call<number>('rss')));
    const total = rss1.reduce((a, b) => a + b, 0);
    const growth = total - rss0.reduce((a, b) => a + b, 0);
    const gatewayBytesPerDevice = growth / o.devices;
    o.log(`   gateway RSS per node ${rss1.map((r) => (r / 2 ** 20).toFixed(0)).join(' / ')} MB (sum ${(total / 2 ** 20).toFixed(0)} MB): ${(total / o.devices / 1024).toFixed(1)} KB per device in total, ${(gatewayBytesPerDevice / 1024).toFixed(1)} KB growth per connected publishing device; ` +
      `fleets ${fleets.map((f) => (rssOf(f!.child.pid) / 2 ** 20).toFixed(0)).join(' / ')} MB; PostgreSQL backends ${(await pool.query<{ c: string }>('SELECT count(*) AS c FROM pg_stat_activity')).rows[0]!.c}`);

    // the probe: elevators on node 1, the agency on node N (alerts cross through Redis) or --scale-agency-node
    const samples = 200;
    const elevators = await slots[0]!.proc!.call<Array<{ id: string; secret: string }>>('register', { prefix: 'city-lift', count: samples, kinds: ['elevator'], sites: 10 });
    const token = await slots[0]!.proc!.call<string>('account', { id: 'city-msb', role: 'market-supervision' });
    await everyNodeKnows(nodes(), { devices: elevators.map((d) => d.id), accounts: ['city-msb'] }, 60_000);
    probe = await spawnProc(o.probeScript);
    await Promise.all(slots.map((s) => s.proc!.call('loopDelay', { reset: true })));
    const ackOf = async () => (await Promise.all(fleets.map((f) => f!.call<{ acknowledged: number }>('status')))).reduce((a, s) => a + s.acknowledged, 0);
    const before = await ackOf();
    const tl = performance.now();
    const { latencies, lost } = await probe.call<{ latencies: number[]; lost: number }>('latency', { url: slots[0]!.url, agencyUrl: slots[agencyNode - 1]!.url, agency: { id: 'city-msb', token }, elevators, intervalMs: 50 });
    const backgroundRate = Math.round(((await ackOf()) - before) * 1000 / (performance.now() - tl));
    const delays = await Promise.all(slots.map((s) => s.proc!.call<{ p50: number; p99: number; max: number }>('loopDelay')));
    const loopDelay = delays.reduce((w, d) => (d.p99 > w.p99 ? d : w));
    const latency = latencyResult(latencies, { rate: Math.round(o.devices / (o.intervalMs / 1000)), lost, backgroundRate, loopDelay });
    o.log(`   trapped alert latency (elevators on node 1, agency on node ${agencyNode}) p50 ${latency.p50?.toFixed(1)} / p95 ${latency.p95?.toFixed(1)} / p99 ${latency.p99?.toFixed(1)} / max ${latency.max?.toFixed(1)} ms (${lost} lost; background ${backgroundRate} readings/s; worst node event-loop delay p99 ${loopDelay.p99.toFixed(1)} ms)`);
    await probe.stop();
    probe = undefined;
    const scale: ScaleResult = {
      devices: o.devices, addresses: o.addresses, fleets: n, acceptors, fleetNice: o.fleetNice ?? 0, intervalMs: o.intervalMs, connectSeconds: connectMs / 1000, connectRate, connackTimeouts, gatewayBytesPerDevice, gatewayRssBytes: total, latency,
      limitedBy: `${n} gateway node processes and ${n} fleet processes (≤ ~15,000 sockets each: the hard limit of open files per process) sharing this machine's cores with PostgreSQL and Redis`,
    };

    let storm: StormResult | undefined;
    if (o.storm) {
      o.log(`storm (cluster): ${o.kill ? 'SIGKILL' : 'SIGTERM'} to all ${n} nodes at once with ${o.devices} devices connected, each started again on its DATA_DIR, ports and node id`);
      await Promise.all(fleets.map((f) => f!.call('armStorm')));
      const tstop = performance.now();
      const sigtermAt = Date.now();
      await Promise.all(slots.map(async (s) => {
        const child = s.proc!.child;
        if (o.kill) await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
        else await s.proc!.stop(STOP_GRACE_MS);
        s.proc = undefined;
      }));
      const closeSeconds = (performance.now() - tstop) / 1000;
      const ts = performance.now();
      await Promise.all(slots.map(startNode));
      const startSeconds = (performance.now() - ts) / 1000;
      o.log(`   all closed in ${closeSeconds.toFixed(1)} s, all started again in ${startSeconds.toFixed(1)} s`);
      const waits = await Promise.all(fleets.map((f) => f!.call<StormWait>('waitStorm', { timeoutMs: 240_000 })));
      const refusals = (await Promise.all(slots.map((s) => s.proc!.call<Record<string, number>>('refusals')))).reduce((a, r) => addCounts(a, r), {} as Record<string, number>);
      const loginsQueued = (await Promise.all(slots.map((s) => s.proc!.call<number>('loginsQueued')))).reduce((a, n) => a + n, 0);
      const m = mergeStormWaits(waits);
      // with acceptors the sockets are held to the end of each node's stop: the SIGTERM is the stricter start
      const sigtermToBackSeconds = (m.lastBackEpochMs - sigtermAt) / 1000;
      o.log(`   ${m.back ? `all back ${m.seconds.toFixed(1)} s after the first drop, ${sigtermToBackSeconds.toFixed(1)} s after the SIGTERM (per fleet ${m.perFleet} s)` : `${m.stillDown} still down after 240 s`}; ${m.dropped} dropped, ${m.attempts} attempts (${m.closedBeforeConnack} closed before CONNACK, ${m.connackTimeouts} without a CONNACK in ${CONNACK_WAIT_MS / 1000} s), longest wait ${(m.maxBackoffMs / 1000).toFixed(1)} s; CONNACKs ${JSON.stringify(m.connacks)}; ${loginsQueued} logins waited their turn; refused ${JSON.stringify(refusals)}`);
      o.log('   one more interval of readings after the restart');
      await sleep(o.intervalMs + 5000);
      storm = {
        devices: o.devices, signal: o.kill ? 'SIGKILL' : 'SIGTERM', backoff: o.backoff ?? BACKOFF, closeSeconds, downSeconds: 0, startSeconds, ...(m.back ? { backSeconds: m.seconds, sigtermToBackSeconds } : {}), stillDown: m.stillDown, refusals, loginsQueued, backPer10s: m.backPer10s, connacks: m.connacks,
        attempts: m.attempts, dropped: m.dropped, closedBeforeConnack: m.closedBeforeConnack, connackTimeouts: m.connackTimeouts, retries: m.retries, maxBackoffMs: m.maxBackoffMs,
        acknowledged: 0, missing: 0, missingDevices: 0, unacknowledgedAtEnd: 0, queueDropped: 0, offlineAlerts: 0,
      };
    }

    const ends = await Promise.all(fleets.map((f) => f!.call<{ acked: Record<string, number[]>; unacknowledged: number; queueDropped: number }>('stop', { drainMs: 15_000 })));
    await Promise.all(fleets.map((f) => f!.stop()));
    fleets.length = 0;
    const offlineAlerts = Number((await pool.query<{ c: string }>("SELECT count(*) AS c FROM alerts WHERE type = 'device.offline' AND device_id LIKE 'city-%'")).rows[0]!.c);
    await Promise.all(slots.map(async (s) => { await closeNode(s.proc!); s.proc = undefined; }));
    let acknowledged = 0, missing = 0, missingDevices = 0;
    for (const [k, s] of slots.entries()) {
      const node = await missingReadings(s.dataDir, ends[k]!.acked);
      acknowledged += node.acknowledged;
      missing += node.missing;
      missingDevices += node.missingDevices;
    }
    const unacknowledged = ends.reduce((a, e) => a + e.unacknowledged, 0);
    o.log(`   store check: ${acknowledged} acknowledged readings, ${missing} missing (${missingDevices} devices); ${unacknowledged} unacknowledged at the end; ${offlineAlerts} device.offline alerts`);
    if (storm) Object.assign(storm, { acknowledged, missing, missingDevices, unacknowledgedAtEnd: unacknowledged, queueDropped: ends.reduce((a, e) => a + e.queueDropped, 0), offlineAlerts });
    return { scale, ...(storm ? { storm } : {}) };
  } finally {
    await probe?.stop();
    await Promise.all(fleets.map((f) => f?.stop()));
    await Promise.all(slots.map(async (s) => { if (s.proc) await closeNode(s.proc); }));
    for (const s of slots) rmSync(s.dataDir, { recursive: true, force: true });
    await pool?.end().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    await pgh?.stop().catch(() => undefined);
  }
}
