/**
 * `npm run bench`: throughput, alert latency and memory of the gateway, side by side with a raw
 * Aedes broker on the same machine in the same run. Broker / gateway, load generator and
 * subscriber run in separate processes, as deployed. Writes JSON, Markdown and an SVG chart to
 * bench/results/ (and, with --profile, CPU profiles and their summary). The ingest target is a share
 * of the acknowledge-only Aedes ceiling measured in the same run (issue 18).
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rssOf, spawnProc, type Proc } from './procs/ipc.js';
import type { LoadSummary } from '../simulators/load.js';
import type { DeviceKind } from '../ingest/index.js';
import { startInfluxd, type InfluxdHandle } from './influxd.js';
import { measureAlertLatency, type LatencyResult } from './latency.js';
import { measureCluster, type ClusterResults } from './cluster.js';
import { measureScorecards, type ScorecardsBench } from './scorecards.js';
import { chartSvg, type Panel } from './chart.js';
import { measureCityCluster } from './scale-cluster.js';
import { measureCity, BACKOFF, type Backoff, type ScaleResult, type StormResult } from './scale.js';
import { heapMarkdown, profileMarkdown, summarizeProfile, type CpuProfile, type HeapProfile } from './profile-summary.js';

const HELP = `Usage: npm run bench -- [options]

Measures, on this machine, in one run / 在本机一次运行中测量:
  0. the ceiling: a plain Aedes broker whose authorizePublish just calls back, no subscriber, no
     pipeline: QoS 1 JSON telemetry acknowledged and routed nowhere (every ingest figure is also
     given as a share of it; the target is ≥ 0.75 ×)
  1. raw Aedes relay: QoS 1 JSON telemetry relayed to one subscriber, no pipeline
  2. gateway ingest: QoS 1 telemetry validated, stored, evaluated (embedded store; InfluxDB 1.x if influxd is installed)
  3. alert latency p50/p95/p99: device publish → agency MQTT subscriber, at half the measured maximum
  4. resident memory per idle connected device, and the connect rate
  5. replay of the backlog of an InfluxDB outage, as a multiple of the ingest rate
  6. with --cluster: cluster mode (docs/cluster.md) with 1, 2 and 3 gateway node processes on one
     private PostgreSQL, Redis and influxd: ingest (publishers spread evenly over the nodes, each
     connected straight to one node), alert latency device on node 1 → agency on node N at half
     that throughput, and each node's RSS, next to the single-process ingest as the baseline.
     On a small machine the nodes share its cores with PostgreSQL, Redis, influxd and the load
     generator: the rows show what cluster mode costs there and that it works, not how it scales.
  7. scorecards: 10,000 elevators, 100,000 alerts and 70,000 maintenance visits of a quarter seeded
     into a temporary SQLite store; the unit and company scorecards and both rankings, cold and warm,
     each alone and the console page's four requests in a row
  8. scale (only with --only, it takes minutes): --scale-devices devices (default 15,000) connected
     over --scale-addresses loopback source addresses (127.0.0.2, ...), each publishing one QoS 1
     reading every 30 s (bench/procs/fleet.ts, one lean mqtt-packet socket per device): gateway RSS
     per device, connect rate, trapped-passenger alert latency p50/p95/p99 under that load
  9. storm (only with --only; implies the scale set-up): the gateway is sent SIGTERM with every
     device connected and started again on the same data and ports; devices reconnect with the
     recommended back-off (docs/performance.md): time until all are back, acknowledged readings
     missing from the store, device.offline alerts raised, refusals by reason. One process holds
     ≤ ~15,000 sockets here (the limit of open files per process): above that the devices are spread
     over fleet processes and the gateway's acceptor processes (--scale-fleets, --scale-acceptors).
     e.g. npm run bench -- --only scale,storm   (about 3 minutes at 15,000 devices)

Options:
  --quick              short phases (under 2 minutes in all)
  --cluster            measure cluster mode (phases ingest,influx,latency,cluster unless --only is
                       given; about 5 minutes, 2 with --quick); needs postgresql and redis-server
  --nodes <list>       node counts for --cluster (default 1,2,3)
  --duration <s>       seconds per throughput phase (default 20, quick 6)
  --publishers <n>     publishing devices (default 50)
  --idle <n>           idle devices for the memory phase (default 5000, quick 1000)
  --outage <s>         InfluxDB outage length (default 60, quick 10)
  --latency-rate <n>   background msg/s for the latency phase (default: half the measured ingest)
  --no-influx          skip the InfluxDB phases even if influxd is installed
  --only <list>        comma-separated phases: ceiling,raw,ingest,influx,latency,memory,outage,cluster,scorecards,scale,storm
  --scale-devices <n>  devices of the scale and storm phases (default 15000: what one process holds here)
  --scale-nodes <n>    spread the scale and storm devices over n gateway node processes in cluster
                       mode (private PostgreSQL + Redis) and n fleet processes, fleet k connecting
                       straight to node k (no HAProxy); every node is restarted in the storm
                       (default 1: one gateway process, no cluster), e.g. --scale-devices 30000 --scale-nodes 3
  --scale-agency-node <k> with --scale-nodes: the latency probe's agency subscribes on node k
                       (default n; the elevators are always on node 1)
  --scale-addresses <n> loopback source addresses they are spread over (default 8)
  --scale-fleets <n>   fleet processes (device generators) the devices are spread over, round-robin,
                       each ≤ ~15,000 sockets (default ceil(devices / 15000)); with --scale-nodes 1 only
  --scale-acceptors <n> the gateway's mqtt.acceptors: child processes holding the device sockets, so
                       the gateway process holds none (default 0 up to 15,000 devices, else
                       ceil(devices / 15000)), e.g. --scale-devices 100000 (7 fleets, 7 acceptors);
                       with --scale-nodes, per node (default 0)
  --scale-interval <s> seconds between one device's readings (default 30)
  --scale-fleet-nice <n> the fleet processes' nice value (default 0; 10: they yield the cores to the
                       gateway, as devices on their own hardware would)
  --storm-backoff <s>  the devices' back-off as "first,cap[,fixed]" in seconds (default "1,60": the
                       recommended exponential back-off with full jitter; "1,1,fixed" is a naive
                       client retrying every second, to see the gateway's guards refuse it)
  --storm-kill         the storm's gateway gets SIGKILL (a crash) instead of SIGTERM (a clean stop)
  --storm-down <s>     seconds the storm's gateway stays down before it starts again (default 0: at
                       once), e.g. 60 for an outage of a minute
  --out <dir>          results folder (default bench/results)
  --heap-profile       sample what the embedded-store ingest gateway allocates over its load window
                       (garbage included): bench-<time>-ingest.heapprofile, summarised in
                       bench-<time>-heap.md (use it instead of --profile: both at once skew each other)
  --chart <file.json>  only (re)draw the SVG of an earlier run's results, next to its JSON
  --gateway-flags=<s>  extra Node flags for the gateway processes, after those of \`npm start\` (the later
                       one wins, e.g. --gateway-flags=--max-semi-space-size=16: with "=", since the value
                       starts with a dash), to measure a runtime setting before the deployment adopts it
  --profile            sample the CPU of the ceiling broker and of the embedded-store ingest gateway
                       over their load windows, and of the city-scale gateway over its latency probe
                       and from its restart to the storm's last device back:
                       bench-<time>-{ceiling,ingest,scale,storm}.cpuprofile in the results folder,
                       summarised in bench-<time>-profile.md (bench/profile-summary.ts)
  -h, --help           this help
`;

const KINDS: DeviceKind[] = ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump'];
const here = dirname(fileURLToPath(import.meta.url));
const proc = (name: string) => join(here, 'procs', `${name}.js`);
/** Publishers send as fast as their in-flight windows allow: the rate is the broker's, not the generator's. */
const UNLIMITED = 1_000_000;
/**
 * Node flags of the gateway processes: those `npm start` runs it with (so the bench measures what is
 * deployed), --expose-gc (settled RSS), and what --gateway-flags adds.
 */
const gatewayArgv = ['--expose-gc', ...startFlags()];

/** The flags between `node` and the script in package.json's start command. */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).slice(1, -1);
}

interface Results {
  startedAt: string;
  /** loadAvg: the 1-minute load average at the start (other processes competing for the cores) and at the end (the benchmark's own load included). */
  machine: { cpus: number; node: string; loadAvg?: { start: number; end?: number }; otherCpuShare?: number };
  options: Record<string, unknown>;
  /** The acknowledge-only Aedes ceiling: msg/s acknowledged (each message is one reading). */
  ceiling?: { ackRate: number; summary: Partial<LoadSummary> };
  raw?: { relayRate: number; ackRate: number; summary: Partial<LoadSummary> };
  ingest?: { embedded?: IngestResult; influx?: IngestResult };
  latency?: LatencyResult;
  memory?: { devices: number; gatewayBytesPerDevice: number; rawBytesPerDevice: number; gatewayConnectRate: number; rawConnectRate: number };
  outage?: { outageSeconds: number; backlogPoints: number; replaySeconds: number; replayRate: number; ingestRate: number; multiple: number };
  cluster?: ClusterResults;
  scorecards?: ScorecardsBench;
  scale?: ScaleResult;
  storm?: StormResult;
  targets: Array<{ target: string; value: string; met: boolean | null }>;
}
interface IngestResult {
  storedRate: number; ackRate: number;
  /** storedRate as a share of the acknowledge-only ceiling measured in the same run (NaN without it). */
  ratioToCeiling: number;
  /** storedRate as a share of the raw relay (NaN without it). */
  ratioToRaw: number;
  rejected: number; summary: Partial<LoadSummary>; rssBytes?: number;
  /** Readings per durable group commit during the phase. */
  groupSize?: number;
}
/** The issue's targets (issue 18): ingest against the acknowledge-only ceiling, alert latency at half load. */
const INGEST_TARGET = 0.75;
const LATENCY_P99_TARGET_MS = 25;
/** Where a phase's CPU profile goes, when --profile is given. */
interface ProfileTarget { file: string; title: string }

/**
 * CPU time in clock ticks (Linux): the machine's busy and total time (/proc/stat, all cores) and this
 * process's own plus its waited-for children's (/proc/self/stat utime, stime, cutime, cstime).
 */
function cpuTicks(): { busy: number; total: number; own: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    const busy = user + nice + system + irq + softirq + steal;
    const self = readFileSync('/proc/self/stat', 'utf8');
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // after the name: state is field 3, utime..cstime are fields 14..17
    const own = f[11]! + f[12]! + f[13]! + f[14]!;
    return { busy, total: busy + idle + iowait, own };
  } catch {
    return undefined;
  }
}

function log(line: string): void { process.stderr.write(`[bench] ${line}\n`); }
const round = (x: number) => Math.round(x);
const round2 = (x: number) => Math.round(x * 100) / 100;
const ackRateOf = (s: LoadSummary) => (s.acknowledged * 1000) / (s.durationMs + s.drainMs);
function brief(s: LoadSummary): Partial<LoadSummary> {
  const { perDevice: _p, ...rest } = s;
  return rest;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false }, duration: { type: 'string' }, publishers: { type: 'string' }, idle: { type: 'string' },
      outage: { type: 'string' }, 'latency-rate': { type: 'string' }, 'no-influx': { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' },
      cluster: { type: 'boolean', default: false }, nodes: { type: 'string' }, profile: { type: 'boolean', default: false }, 'gateway-flags': { type: 'string' }, chart: { type: 'string' }, 'heap-profile': { type: 'boolean', default: false },
      'scale-devices': { type: 'string' }, 'scale-nodes': { type: 'string' }, 'scale-agency-node': { type: 'string' }, 'scale-addresses': { type: 'string' }, 'scale-fleets': { type: 'string' }, 'scale-acceptors': { type: 'string' }, 'scale-interval': { type: 'string' }, 'scale-fleet-nice': { type: 'string' }, 'storm-backoff': { type: 'string' }, 'storm-kill': { type: 'boolean', default: false }, 'storm-down': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) { process.stdout.write(HELP); return; }
  if (values.chart) {
    const file = values.chart.replace(/\.json$/, '.svg');
    writeFileSync(file, chart(JSON.parse(readFileSync(values.chart, 'utf8')) as Results));
    log(`chart written to ${file}`);
    return;
  }
  const quick = values.quick!;
  if (values['gateway-flags']) gatewayArgv.push(...values['gateway-flags'].split(/\s+/).filter(Boolean));
  const durationMs = Number(values.duration ?? (quick ? 6 : 20)) * 1000;
  const publishers = Number(values.publishers ?? 50);
  const idleDevices = Number(values.idle ?? (quick ? 1000 : 5000));
  const outageMs = Number(values.outage ?? (quick ? 10 : 60)) * 1000;
  const influxAvailable = !values['no-influx'] && existsSync('/usr/bin/influxd');
  const phases = new Set((values.only ?? (values.cluster ? 'ingest,influx,latency,cluster' : 'ceiling,raw,ingest,influx,latency,memory,outage,scorecards')).split(','));
  const nodeCounts = [...new Set((values.nodes ?? '1,2,3').split(',').map(Number))];
  if (nodeCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--nodes: expected a list of node counts, got "${values.nodes}"`);
  const outDir = values.out ?? join(here, '..', '..', 'bench', 'results');
  const os = await import('node:os');
  const cpus = os.cpus().length;
  const loadStart = os.loadavg()[0]!;
  const cpuStart = cpuTicks();
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[:.]/g, '-');
  const profileOf = (phase: string, title: string): ProfileTarget | undefined => (values.profile ? { file: join(outDir, `bench-${stamp}-${phase}.cpuprofile`), title } : undefined);
  const heapProfile = values['heap-profile'] ? { file: join(outDir, `bench-${stamp}-ingest.heapprofile`), title: 'gateway ingest, embedded store: allocations' } : undefined;
  if (values.profile || heapProfile) mkdirSync(outDir, { recursive: true });
  const results: Results = { startedAt, machine: { cpus, node: process.version, loadAvg: { start: round2(loadStart) } }, options: { quick, durationMs, publishers, idleDevices, outageMs, influxAvailable, phases: [...phases], ...(values['gateway-flags'] ? { gatewayFlags: values['gateway-flags'] } : {}), ...(phases.has('cluster') ? { nodeCounts } : {}) }, targets: [] };

  const loader = await spawnProc(proc('load'), ['--max-old-space-size=4096', '--expose-gc']);
  let influxd: InfluxdHandle | undefined;
  try {
    if (phases.has('ceiling')) results.ceiling = await ackCeiling(loader, publishers, durationMs, profileOf('ceiling', 'acknowledge-only Aedes (the ceiling)'));
    if (phases.has('raw')) results.raw = await rawCeiling(loader, publishers, durationMs);
    const ceiling = results.ceiling?.ackRate;
    if (phases.has('ingest')) {
      results.ingest = { embedded: await gatewayIngest(loader, {}, publishers, durationMs, results.raw?.relayRate, ceiling, profileOf('ingest', 'gateway ingest, embedded store'), heapProfile) };
    }
    if (influxAvailable && (phases.has('influx') || phases.has('outage') || phases.has('cluster'))) influxd = await startInfluxd();
    if (influxd && phases.has('influx')) {
      results.ingest = { ...results.ingest, influx: await gatewayIngest(loader, { influx: { url: influxd.url, database: 'bench' } }, publishers, durationMs, results.raw?.relayRate, ceiling) };
      // influxd compacts what it was just given for a while: stopped, it cannot steal the next phases' CPU
      await influxd.stop();
    }
    if (phases.has('cluster')) {
      results.cluster = await measureCluster({
        loader, gatewayScript: proc('gateway'), probeScript: proc('load'), execArgv: gatewayArgv, ...(influxd ? { influxd } : {}), nodeCounts, publishers, durationMs, cpus, log,
      });
      await influxd?.stop();
    }
    if (phases.has('latency')) {
      const max = results.ingest?.embedded?.storedRate ?? 10_000;
      const rate = values['latency-rate'] ? Number(values['latency-rate']) : Math.max(100, Math.round(max / 2));
      results.latency = await measureAlertLatency({ loader, gatewayScript: proc('gateway'), execArgv: gatewayArgv, rate, publishers, durationMs, log });
    }
    if (phases.has('memory')) results.memory = await idleMemory(loader, idleDevices);
    if (influxd && phases.has('outage')) {
      const rate = Math.round((results.ingest?.influx?.storedRate ?? results.ingest?.embedded?.storedRate ?? 10_000) / 2);
      results.outage = await outageReplay(loader, influxd, publishers, rate, outageMs);
    }
    if (phases.has('scorecards')) {
      log('6/6 scorecards: a quarter of a city (10,000 elevators, 100,000 alerts)');
      results.scorecards = await measureScorecards(log);
    }
    if (phases.has('scale') || phases.has('storm')) {
      const cityOpts = {
        gatewayScript: proc('gateway'), fleetScript: proc('fleet'), probeScript: proc('load'), execArgv: gatewayArgv, log,
        devices: Number(values['scale-devices'] ?? 15_000), addresses: Number(values['scale-addresses'] ?? 8),
        intervalMs: Number(values['scale-interval'] ?? 30) * 1000, storm: phases.has('storm'), backoff: parseBackoff(values['storm-backoff']), kill: values['storm-kill']!, downMs: Number(values['storm-down'] ?? 0) * 1000,
      };
      const scaleNodes = Number(values['scale-nodes'] ?? 1);
      if (scaleNodes > 1 && values['scale-fleets'] !== undefined) throw new Error('--scale-fleets is for --scale-nodes 1 (the cluster runs one fleet per node)');
      // one process holds ≤ ~15,000 sockets here (the hard limit of open files per process)
      const perProcess = Math.ceil(cityOpts.devices / 15_000);
      const fleets = Number(values['scale-fleets'] ?? perProcess);
      // per node in a cluster (each holds devices ÷ nodes sockets)
      const acceptors = Number(values['scale-acceptors'] ?? (scaleNodes > 1 || cityOpts.devices <= 15_000 ? 0 : perProcess));
      if (!Number.isInteger(fleets) || fleets < 1) throw new Error(`--scale-fleets: expected a whole number ≥ 1, got "${values['scale-fleets']}"`);
      const fleetNice = Number(values['scale-fleet-nice'] ?? 0);
      if (!Number.isInteger(fleetNice) || fleetNice < 0 || fleetNice > 19) throw new Error(`--scale-fleet-nice: expected a whole number from 0 to 19, got "${values['scale-fleet-nice']}"`);
      if (!Number.isInteger(acceptors) || acceptors < 0) throw new Error(`--scale-acceptors: expected a whole number ≥ 0, got "${values['scale-acceptors']}"`);
      const city = scaleNodes > 1 ? await measureCityCluster({ ...cityOpts, acceptors, fleetNice, nodes: scaleNodes, agencyNode: Number(values['scale-agency-node'] ?? scaleNodes) }) : await measureCity({
        ...cityOpts, fleets, acceptors, fleetNice,
        profile: values.profile ? { scale: join(outDir, `bench-${stamp}-scale.cpuprofile`), close: join(outDir, `bench-${stamp}-close.cpuprofile`), storm: join(outDir, `bench-${stamp}-storm.cpuprofile`) } : undefined,
      });
      results.scale = city.scale;
      if (city.storm) results.storm = city.storm;
    }
  } finally {
    await loader.stop();
    await influxd?.dispose();
  }

  results.machine.loadAvg!.end = round2(os.loadavg()[0]!);
  // every process of the run has exited and been waited for: its CPU time is in this process's own and children's times
  const cpuEnd = cpuTicks();
  if (cpuStart && cpuEnd) {
    const other = (cpuEnd.busy - cpuStart.busy - (cpuEnd.own - cpuStart.own)) / ((cpuEnd.total - cpuStart.total) || 1);
    results.machine.otherCpuShare = round2(Math.max(0, other));
    if (other > 0.1) log(`warning: processes outside the benchmark used ${Math.round(other * 100)} % of the machine's CPU during the run: its numbers are low and noisy`);
  }
  const ceiling = results.ceiling?.ackRate;
  const ingests = [results.ingest?.embedded, results.ingest?.influx].filter((i): i is IngestResult => i !== undefined);
  results.targets = [
    {
      target: `gateway ingest ≥ ${INGEST_TARGET} × acknowledge-only Aedes (same run)`,
      value: ceiling && ingests.length > 0 ? [results.ingest?.embedded && `${results.ingest.embedded.ratioToCeiling.toFixed(2)} × (embedded)`, results.ingest?.influx && `${results.ingest.influx.ratioToCeiling.toFixed(2)} × (InfluxDB)`].filter(Boolean).join(', ') : 'not measured',
      met: ceiling && ingests.length > 0 ? Math.min(...ingests.map((i) => i.ratioToCeiling)) >= INGEST_TARGET : null,
    },
    { target: `p99 alert latency ≤ ${LATENCY_P99_TARGET_MS} ms at half load`, value: results.latency?.p99 !== undefined ? `${results.latency.p99.toFixed(1)} ms` : 'not measured', met: results.latency?.p99 !== undefined ? results.latency.p99 <= LATENCY_P99_TARGET_MS : null },
    { target: '≤ 40 KB per idle connected device', value: results.memory ? `${(results.memory.gatewayBytesPerDevice / 1024).toFixed(1)} KB` : 'not measured', met: results.memory ? results.memory.gatewayBytesPerDevice <= 40 * 1024 : null },
    (() => {
      const sc = results.scorecards;
      const slowest = sc ? Math.max(sc.units.coldMs, sc.companies.coldMs, sc.unitRanking.coldMs, sc.companyRanking.coldMs) : undefined;
      return { target: 'scorecards and ranking of a quarter, 10,000 elevators / 100,000 alerts < 1 s each', value: slowest === undefined ? 'not measured' : `${slowest} ms (slowest, cold)`, met: slowest === undefined ? null : slowest < 1000 };
    })(),
    ...cityTargets(results),
    { target: 'outage backlog replayed ≥ 3 × ingest rate', value: results.outage ? `${results.outage.multiple.toFixed(1)} ×` : 'not measured', met: results.outage ? results.outage.multiple >= 3 : null },
  ];
  mkdirSync(outDir, { recursive: true });
  const md = markdown(results) + `\n\n![chart](bench-${stamp}.svg)\n`;
  writeFileSync(join(outDir, `bench-${stamp}.json`), JSON.stringify(results, null, 2));
  writeFileSync(join(outDir, `bench-${stamp}.md`), md);
  writeFileSync(join(outDir, `bench-${stamp}.svg`), chart(results));
  writeFileSync(join(outDir, 'latest.md'), md);
  process.stdout.write(md + '\n');
  log(`results written to ${join(outDir, `bench-${stamp}.{json,md,svg}`)}`);
  if (values.profile) {
    const parts = (['ceiling', 'ingest', 'scale', 'storm'] as const).map((phase) => join(outDir, `bench-${stamp}-${phase}.cpuprofile`)).filter((f) => existsSync(f));
    if (parts.length > 0) {
      const text = parts.map((f) => profileMarkdown(summarizeProfile(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile), 25, f.slice(outDir.length + 1))).join('\n\n');
      writeFileSync(join(outDir, `bench-${stamp}-profile.md`), text + '\n');
      log(`profiles: ${parts.join(', ')}; summary in ${join(outDir, `bench-${stamp}-profile.md`)}`);
    }
  }
  if (results.cluster) log(`cluster note: ${results.cluster.note}`);
  if (results.cluster?.error) {
    log(`cluster phase FAILED: ${results.cluster.error}`);
    process.exitCode = 1;
  }
}

/**
 * The ceiling the gateway is measured against: plain Aedes whose authorizePublish just calls back,
 * with no subscriber and no pipeline, under the same load generator, publishers, QoS and payloads
 * as the ingest phase. Each message is one reading, so msg/s and readings/s compare directly.
 */
async function ackCeiling(loader: Proc, publishers: number, durationMs: number, profile?: ProfileTarget): Promise<NonNullable<Results['ceiling']>> {
  log(`0/5 acknowledge-only Aedes ceiling: ${publishers} publishers, QoS 1, ${durationMs / 1000} s, no subscriber`);
  const broker = await spawnProc(proc('raw-broker'), ['--expose-gc'], { RAW_BROKER_MODE: 'ack' });
  try {
    const { mqtt } = await broker.call<{ mqtt: number }>('ports');
    const devices = Array.from({ length: publishers }, (_, i) => ({ id: `ack-${i}`, secret: 'x', kind: KINDS[i % KINDS.length]! }));
    if (profile) await broker.call('profileStart');
    const summary = await loader.call<LoadSummary>('load', { mqttUrl: `mqtt://127.0.0.1:${mqtt}`, devices, ratePerSecond: UNLIMITED, durationMs, qos: 1 });
    if (profile) await broker.call('profileStop', { file: profile.file });
    const ackRate = round(ackRateOf(summary));
    log(`   acknowledged ${summary.acknowledged} messages: ${ackRate} msg/s`);
    return { ackRate, summary: brief(summary) };
  } finally {
    await broker.stop();
  }
}

async function rawCeiling(loader: Proc, publishers: number, durationMs: number): Promise<NonNullable<Results['raw']>> {
  log(`1/5 raw Aedes relay: ${publishers} publishers, QoS 1, ${durationMs / 1000} s, 1 subscriber`);
  const broker = await spawnProc(proc('raw-broker'), ['--expose-gc']);
  // the subscriber gets a process of its own, so it does not steal the publishers' event loop
  const sub = await spawnProc(proc('load'));
  try {
    const { mqtt } = await broker.call<{ mqtt: number }>('ports');
    const url = `mqtt://127.0.0.1:${mqtt}`;
    await sub.call('subscribe', { url, topic: 'devices/+/telemetry' });
    const devices = Array.from({ length: publishers }, (_, i) => ({ id: `raw-${i}`, secret: 'x', kind: KINDS[i % KINDS.length]! }));
    const summary = await loader.call<LoadSummary>('load', { mqttUrl: url, devices, ratePerSecond: UNLIMITED, durationMs, qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    const received = await sub.call<number>('received');
    await sub.call('unsubscribe');
    const relayRate = round((received * 1000) / (summary.durationMs + summary.drainMs));
    log(`   relayed ${received} messages: ${relayRate} msg/s`);
    return { relayRate, ackRate: round(ackRateOf(summary)), summary: brief(summary) };
  } finally {
    await sub.stop();
    await broker.stop();
  }
}

async function gatewayIngest(loader: Proc, overrides: Record<string, unknown>, publishers: number, durationMs: number, rawRate: number | undefined,
  ceilingRate: number | undefined, profile?: ProfileTarget, heap?: ProfileTarget): Promise<IngestResult> {
  const backend = overrides.influx ? 'InfluxDB 1.x' : 'embedded store';
  log(`2/5 gateway ingest (${backend}): ${publishers} publishers, QoS 1, ${durationMs / 1000} s`);
  const gw = await spawnProc(proc('gateway'), gatewayArgv, {}, { dataDir: true });
  try {
    const { mqtt } = await gw.call<{ mqtt: number }>('start', overrides);
    const devices = await gw.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: 'ing', count: publishers, kinds: KINDS, sites: 10 });
    const before = await gw.call<{ valid: number; rejected: number; commits: number }>('counters');
    if (profile) await gw.call('profileStart');
    else if (heap) await gw.call('heapProfileStart');
    const summary = await loader.call<LoadSummary>('load', { mqttUrl: `mqtt://127.0.0.1:${mqtt}`, devices, ratePerSecond: UNLIMITED, durationMs, qos: 1 });
    if (profile) await gw.call('profileStop', { file: profile.file });
    else if (heap) await gw.call('heapProfileStop', { file: heap.file });
    const after = await gw.call<{ valid: number; rejected: number; commits: number }>('counters');
    const groupSize = (after.valid - before.valid) / Math.max(1, after.commits - before.commits);
    const rssBytes = rssOf(gw.child.pid);
    if (overrides.influx) await gw.call('flush', 60_000);
    const storedRate = round(((after.valid - before.valid) * 1000) / (summary.durationMs + summary.drainMs));
    const ratioToCeiling = ceilingRate ? storedRate / ceilingRate : NaN;
    if (heap && !profile) {
      const text = heapMarkdown(JSON.parse(readFileSync(heap.file, 'utf8')) as HeapProfile, 25, heap.title, { count: summary.acknowledged, unit: 'reading' });
      writeFileSync(heap.file.replace(/-ingest\.heapprofile$/, '-heap.md'), text + '\n');
    }
    log(`   stored ${after.valid - before.valid} readings: ${storedRate} readings/s${ceilingRate ? ` (${ratioToCeiling.toFixed(2)} × the acknowledge-only ceiling)` : ''}; ${groupSize.toFixed(0)} readings per group commit`);
    return { storedRate, ackRate: round(ackRateOf(summary)), groupSize: round2(groupSize), ratioToCeiling, ratioToRaw: rawRate ? storedRate / rawRate : NaN, rejected: after.rejected - before.rejected, summary: brief(summary), rssBytes };
  } finally {
    await gw.call('close').catch(() => undefined);
    await gw.stop();
  }
}

async function idleMemory(loader: Proc, count: number): Promise<NonNullable<Results['memory']>> {
  log(`4/5 memory: ${count} idle connected devices, gateway and raw Aedes`);
  const gw = await spawnProc(proc('gateway'), gatewayArgv, {}, { dataDir: true });
  let gatewayBytesPerDevice: number, gatewayConnectRate: number;
  try {
    const { mqtt } = await gw.call<{ mqtt: number }>('start', {});
    const devices = await gw.call<Array<{ id: string; secret: string }>>('register', { prefix: 'idle', count, kinds: KINDS, sites: 20 });
    // warm up: the first connections load code and grow pools that do not scale with devices
    await loader.call('connectIdle', { url: `mqtt://127.0.0.1:${mqtt}`, devices: devices.slice(0, 50), concurrency: 50 });
    await loader.call('disconnectIdle');
    await new Promise((r) => setTimeout(r, 500));
    const rss0 = await gw.call<number>('rss');
    const c = await loader.call<{ ms: number; connected: number; failed: number }>('connectIdle', { url: `mqtt://127.0.0.1:${mqtt}`, devices, concurrency: 100 });
    await new Promise((r) => setTimeout(r, 2000));
    const rss1 = await gw.call<number>('rss');
    gatewayBytesPerDevice = (rss1 - rss0) / c.connected;
    gatewayConnectRate = round((c.connected * 1000) / c.ms);
    log(`   gateway: ${c.connected} connected (${c.failed} failed) in ${round(c.ms)} ms, ${(gatewayBytesPerDevice / 1024).toFixed(1)} KB each`);
    await loader.call('disconnectIdle');
  } finally {
    await gw.call('close').catch(() => undefined);
    await gw.stop();
  }
  const raw = await spawnProc(proc('raw-broker'), ['--expose-gc']);
  let rawBytesPerDevice: number, rawConnectRate: number;
  try {
    const { mqtt } = await raw.call<{ mqtt: number }>('ports');
    const devices = Array.from({ length: count }, (_, i) => ({ id: `idle-raw-${i}`, secret: 'x' }));
    await loader.call('connectIdle', { url: `mqtt://127.0.0.1:${mqtt}`, devices: devices.slice(0, 50).map((d) => ({ ...d, id: d.id + 'w' })), concurrency: 50 });
    await loader.call('disconnectIdle');
    await new Promise((r) => setTimeout(r, 500));
    const rss0 = await raw.call<number>('rss');
    const c = await loader.call<{ ms: number; connected: number }>('connectIdle', { url: `mqtt://127.0.0.1:${mqtt}`, devices, concurrency: 100 });
    await new Promise((r) => setTimeout(r, 2000));
    const rss1 = await raw.call<number>('rss');
    rawBytesPerDevice = (rss1 - rss0) / c.connected;
    rawConnectRate = round((c.connected * 1000) / c.ms);
    log(`   raw Aedes: ${(rawBytesPerDevice / 1024).toFixed(1)} KB each`);
    await loader.call('disconnectIdle');
  } finally {
    await raw.stop();
  }
  return { devices: count, gatewayBytesPerDevice, rawBytesPerDevice, gatewayConnectRate, rawConnectRate };
}

async function outageReplay(loader: Proc, influxd: InfluxdHandle, publishers: number, rate: number, outageMs: number): Promise<NonNullable<Results['outage']>> {
  log(`5/5 outage: InfluxDB down for ${outageMs / 1000} s under ${rate} msg/s, then replay`);
  const gw = await spawnProc(proc('gateway'), gatewayArgv, {}, { dataDir: true });
  try {
    if (!influxd.running) await influxd.start();
    const { mqtt } = await gw.call<{ mqtt: number }>('start', { influx: { url: influxd.url, database: 'bench_outage' }, timeseries: { retry: { initialDelayMs: 100, maxDelayMs: 1000 } } });
    const devices = await gw.call<Array<{ id: string; secret: string; kind: DeviceKind }>>('register', { prefix: 'out', count: publishers, kinds: KINDS, sites: 10 });
    await influxd.stop();
    const summary = await loader.call<LoadSummary>('load', { mqttUrl: `mqtt://127.0.0.1:${mqtt}`, devices, ratePerSecond: rate, durationMs: outageMs, qos: 1 });
    const backlog = (await gw.call<{ pending: number }>('counters')).pending;
    await influxd.start();
    const started = performance.now();
    const ok = await gw.call<boolean>('flush', 600_000);
    const replaySeconds = (performance.now() - started) / 1000;
    const ingestRate = ackRateOf(summary);
    const replayRate = backlog / replaySeconds;
    log(`   backlog ${backlog} points replayed in ${replaySeconds.toFixed(1)} s (${round(replayRate)} points/s${ok ? '' : ', NOT complete'})`);
    return { outageSeconds: outageMs / 1000, backlogPoints: backlog, replaySeconds, replayRate: round(replayRate), ingestRate: round(ingestRate), multiple: replayRate / ingestRate };
  } finally {
    await gw.call('close').catch(() => undefined);
    await gw.stop();
  }
}

function markdown(r: Results): string {
  const n = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
  const lines = [
    `## Benchmark / 性能测试 — ${r.startedAt} (${r.machine.cpus} cores, Node ${r.machine.node}${r.machine.loadAvg ? `, load average ${r.machine.loadAvg.start} at the start, ${r.machine.loadAvg.end ?? '—'} at the end` : ''}${r.machine.otherCpuShare !== undefined ? `, ${Math.round(r.machine.otherCpuShare * 100)} % of the CPU used by other processes during the run` : ''})`,
    '',
    '| measure 指标 | value 数值 |',
    '|---|---|',
    `| acknowledge-only Aedes, QoS 1, no subscriber: the ceiling 上限 (msg/s) | ${n(r.ceiling?.ackRate)} |`,
    `| raw Aedes relay, QoS 1, 1 subscriber (msg/s) | ${n(r.raw?.relayRate)}${r.raw && r.ceiling ? ` (${(r.raw.relayRate / r.ceiling.ackRate).toFixed(2)} × ceiling)` : ''} |`,
    `| gateway ingest, embedded store (readings/s) | ${n(r.ingest?.embedded?.storedRate)}${ratios(r.ingest?.embedded)} |`,
    `| gateway ingest, InfluxDB 1.x (readings/s) | ${n(r.ingest?.influx?.storedRate)}${ratios(r.ingest?.influx)} |`,
    `| alert latency p50 / p95 / p99 (ms) at ${n(r.latency?.rate)} msg/s | ${r.latency?.p50 !== undefined ? `${r.latency.p50.toFixed(1)} / ${r.latency.p95!.toFixed(1)} / ${r.latency.p99!.toFixed(1)} (${r.latency.samples} alerts${r.latency.lost ? `, ${r.latency.lost} lost` : ''}; p99 target ≤ ${LATENCY_P99_TARGET_MS} ms${r.latency.loopDelay ? `; gateway event-loop delay p99 ${r.latency.loopDelay.p99.toFixed(1)} ms` : ''})` : (r.latency?.note ?? '—')} |`,
    `| memory per idle device: gateway / raw Aedes (KB) | ${r.memory ? `${(r.memory.gatewayBytesPerDevice / 1024).toFixed(1)} / ${(r.memory.rawBytesPerDevice / 1024).toFixed(1)} (${r.memory.devices} devices)` : '—'} |`,
    `| connect rate: gateway / raw Aedes (connections/s) | ${r.memory ? `${n(r.memory.gatewayConnectRate)} / ${n(r.memory.rawConnectRate)}` : '—'} |`,
    `| scorecards of a quarter (${r.scorecards ? `${n(r.scorecards.elevators)} elevators, ${n(r.scorecards.alerts)} alerts, ${n(r.scorecards.visits)} visits` : '—'}): units / companies / unit ranking / company ranking, cold · warm (ms) | ${r.scorecards ? [r.scorecards.units, r.scorecards.companies, r.scorecards.unitRanking, r.scorecards.companyRanking].map((x) => `${x.coldMs} · ${x.warmMs}`).join(' / ') : '—'} |`,
    `| the console's scorecards page: its four requests in a row, cold · warm (ms); longest event-loop wait meanwhile | ${r.scorecards ? `${r.scorecards.page.coldMs} · ${r.scorecards.page.warmMs}; ${r.scorecards.longestStallMs} ms` : '—'} |`,
    ...cityMarkdown(r),
    `| InfluxDB outage replay (points/s; × ingest rate) | ${r.outage ? `${n(r.outage.replayRate)} (${r.outage.multiple.toFixed(1)} × ${n(r.outage.ingestRate)}; ${n(r.outage.backlogPoints)} points after ${r.outage.outageSeconds} s)` : '—'} |`,
    '',
    '| target 目标 | measured 实测 | met 达标 |',
    '|---|---|---|',
    ...r.targets.map((t) => `| ${t.target} | ${t.value} | ${t.met === null ? '—' : t.met ? 'yes 是' : 'NO 否'} |`),
    ...(r.cluster ? ['', ...clusterMarkdown(r)] : []),
  ];
  return lines.join('\n');
}

/** `--storm-backoff first,cap[,fixed]` (seconds). */
function parseBackoff(arg: string | undefined): Backoff {
  if (!arg) return BACKOFF;
  const [first, cap, mode] = arg.split(',');
  const b = { baseMs: Number(first) * 1000, capMs: Number(cap ?? first) * 1000, jitter: mode !== 'fixed' };
  if (!(b.baseMs > 0 && b.capMs >= b.baseMs) || (mode !== undefined && mode !== 'fixed')) throw new Error(`--storm-backoff: expected "first,cap[,fixed]" in seconds, got "${arg}"`);
  return b;
}

/** Issue 18, city scale on one box: per-device memory, alert latency under that load, and the reconnect storm. */
const SCALE_KB_TARGET = 20;
const SCALE_LATENCY_P99_TARGET_MS = 50;
const STORM_BACK_TARGET_S = 60;

function cityTargets(r: Results): Results['targets'] {
  const sc = r.scale, st = r.storm;
  if (!sc) return [];
  const n = sc.devices.toLocaleString('en-US');
  const rows: Results['targets'] = [
    { target: `≤ ${SCALE_KB_TARGET} KB per connected device publishing every ${sc.intervalMs / 1000} s (${n} devices)`, value: `${(sc.gatewayBytesPerDevice / 1024).toFixed(1)} KB`, met: sc.gatewayBytesPerDevice <= SCALE_KB_TARGET * 1024 },
    { target: `p99 trapped-passenger alert latency ≤ ${SCALE_LATENCY_P99_TARGET_MS} ms with ${n} devices connected`, value: sc.latency.p99 !== undefined ? `${sc.latency.p99.toFixed(1)} ms` : (sc.latency.note ?? 'not measured'), met: sc.latency.p99 !== undefined ? sc.latency.p99 <= SCALE_LATENCY_P99_TARGET_MS && !sc.latency.lost : false },
  ];
  if (st) {
    rows.push(
      // from the first drop; after an outage (--storm-down), from when the gateway answered again
      stormBackTarget(st, n),
      { target: 'reconnect storm: no acknowledged reading lost', value: `${st.missing} of ${st.acknowledged.toLocaleString('en-US')} missing from the store`, met: st.acknowledged > 0 && st.missing === 0 },
      { target: 'reconnect storm: no device.offline alert for a device back within its timeout', value: `${st.offlineAlerts} raised`, met: st.offlineAlerts === 0 },
    );
  }
  return rows;
}

function stormBackTarget(st: StormResult, n: string): Results['targets'][number] {
  const outage = st.downSeconds > 0;
  // a restart is judged from its SIGTERM (the stricter measure: the devices' sockets may be held to
  // the end of the stop, so the first drop comes later); an outage from the gateway's return
  const back = st.backSeconds === undefined ? undefined
    : outage ? st.backSeconds - (st.closeSeconds + st.downSeconds + st.startSeconds) : (st.sigtermToBackSeconds ?? st.backSeconds);
  return {
    target: outage ? `reconnect storm after a ${st.downSeconds} s outage: all ${n} devices back ≤ ${STORM_BACK_TARGET_S} s after the gateway answers again` : `reconnect storm: all ${n} devices back ≤ ${STORM_BACK_TARGET_S} s after a gateway restart (its SIGTERM)`,
    value: back !== undefined ? `${back.toFixed(1)} s` : `${st.stillDown} still down`,
    met: back !== undefined && back <= STORM_BACK_TARGET_S,
  };
}

function cityMarkdown(r: Results): string[] {
  const sc = r.scale, st = r.storm;
  const lines: string[] = [];
  if (sc) {
    const l = sc.latency;
    lines.push(
      `| scale: ${sc.devices.toLocaleString('en-US')} devices over ${sc.addresses} source addresses${sc.fleets !== undefined ? ` from ${sc.fleets} fleet process${sc.fleets === 1 ? '' : 'es'}` : ''}${sc.acceptors !== undefined ? `, gateway ${sc.acceptors > 0 ? `with ${sc.acceptors} acceptor processes` : 'without acceptors'}` : ''}, 1 QoS 1 reading / ${sc.intervalMs / 1000} s each: gateway KB per device; RSS (MB); connect rate (connections/s) | ${(sc.gatewayBytesPerDevice / 1024).toFixed(1)}; ${Math.round(sc.gatewayRssBytes / 2 ** 20)}; ${sc.connectRate.toLocaleString('en-US')} (${sc.connectSeconds.toFixed(1)} s) |`,
      `| scale: trapped-passenger alert latency p50 / p95 / p99 (ms) under that load | ${l.p50 !== undefined ? `${l.p50.toFixed(1)} / ${l.p95!.toFixed(1)} / ${l.p99!.toFixed(1)} (${l.samples} alerts${l.lost ? `, ${l.lost} lost` : ''}; background ${l.backgroundRate ?? '—'} readings/s; event-loop delay p99 ${l.loopDelay?.p99.toFixed(1) ?? '—'} ms)` : (l.note ?? '—')} |`,
    );
  }
  if (st) {
    const refused = Object.entries(st.refusals).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    lines.push(
      `| storm: gateway ${st.signal ?? 'SIGTERM'} → exit; start again (s) | ${st.closeSeconds.toFixed(1)}; ${st.startSeconds.toFixed(1)} |`,
      `| storm${st.downSeconds > 0 ? ` (gateway down ${st.downSeconds} s)` : ''}: first drop → all ${st.devices.toLocaleString('en-US')} back (s)${st.sigtermToBackSeconds !== undefined ? ' (from the SIGTERM)' : ''}; attempts; back-off ${st.backoff.baseMs / 1000} s doubling to ${st.backoff.capMs / 1000} s, ${st.backoff.jitter ? 'full jitter' : 'no jitter'} | ${st.backSeconds !== undefined ? `${st.backSeconds.toFixed(1)}${st.sigtermToBackSeconds !== undefined ? ` (${st.sigtermToBackSeconds.toFixed(1)})` : ''}` : `${st.stillDown} still down`}; ${st.attempts.toLocaleString('en-US')} (longest wait ${(st.maxBackoffMs / 1000).toFixed(1)} s) |`,
      `| storm: logins that waited their turn; refusals by reason; CONNACK codes seen by devices | ${st.loginsQueued.toLocaleString('en-US')}; ${refused}; ${Object.entries(st.connacks).map(([k, v]) => `${k}: ${v}`).join(', ')} |`,
      `| storm: acknowledged readings missing from the store; device.offline alerts | ${st.missing} of ${st.acknowledged.toLocaleString('en-US')}; ${st.offlineAlerts} |`,
    );
  }
  return lines;
}

function ratios(i: IngestResult | undefined): string {
  if (!i) return '';
  const parts = [Number.isNaN(i.ratioToCeiling) ? '' : `${i.ratioToCeiling.toFixed(2)} × ceiling`, Number.isNaN(i.ratioToRaw) ? '' : `${i.ratioToRaw.toFixed(2)} × raw relay`].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** The SVG next to the Markdown: throughput with the ceiling and the target, latency percentiles, memory per device. */
function chart(r: Results): string {
  const ceiling = r.ceiling?.ackRate;
  const share = (x: number | undefined) => (ceiling && x !== undefined ? `${(x / ceiling).toFixed(2)} ×` : undefined);
  const withNote = (b: Panel['bars'][number], note: string | undefined) => (note ? { ...b, note } : b);
  const throughput: Panel = {
    title: 'Throughput', unit: `msg/s (= readings/s), QoS 1, ${String(r.options.publishers)} publishers; dashed: ${INGEST_TARGET} × the ceiling`,
    bars: [
      { label: 'Aedes, ack only (ceiling)', value: ceiling, color: '#7f8c8d' },
      withNote({ label: 'Aedes relay, 1 subscriber', value: r.raw?.relayRate, color: '#95a5a6' }, share(r.raw?.relayRate)),
      withNote({ label: 'gateway, embedded store', value: r.ingest?.embedded?.storedRate, color: '#2980b9' }, share(r.ingest?.embedded?.storedRate)),
      ...(r.ingest?.influx ? [withNote({ label: 'gateway, InfluxDB 1.x', value: r.ingest.influx.storedRate, color: '#16a085' }, share(r.ingest.influx.storedRate))] : []),
    ],
    lines: ceiling ? [{ label: `target ${INGEST_TARGET} × ceiling`, value: ceiling * INGEST_TARGET }] : [],
  };
  const l = r.latency;
  const latency: Panel = {
    title: 'Alert latency', unit: `ms, device → agency, at ${l ? Math.round(l.rate).toLocaleString('en-US') : '—'} msg/s (half the maximum)`,
    bars: [
      { label: 'p50', value: l?.p50, color: '#8e44ad' },
      { label: 'p95', value: l?.p95, color: '#8e44ad' },
      { label: 'p99', value: l?.p99, color: '#6c3483' },
      { label: 'max', value: l?.max, color: '#bbb' },
    ],
    lines: [{ label: `p99 target ${LATENCY_P99_TARGET_MS} ms`, value: LATENCY_P99_TARGET_MS }],
  };
  const m = r.memory;
  const memory: Panel = {
    title: 'Memory per idle device', unit: `KB of RSS per connected idle device${m ? ` (${m.devices.toLocaleString('en-US')} devices)` : ''}`,
    bars: [
      { label: 'gateway', value: m ? m.gatewayBytesPerDevice / 1024 : undefined, color: '#d35400' },
      { label: 'plain Aedes', value: m ? m.rawBytesPerDevice / 1024 : undefined, color: '#95a5a6' },
    ],
    lines: [{ label: 'target 40 KB', value: 40 }],
  };
  const sc = r.scale;
  const city: Panel[] = sc ? [
    {
      title: 'City scale: memory', unit: `KB of gateway RSS per device, ${sc.devices.toLocaleString('en-US')} connected, 1 reading / ${sc.intervalMs / 1000} s each`,
      bars: [{ label: 'gateway', value: sc.gatewayBytesPerDevice / 1024, color: '#d35400' }],
      lines: [{ label: `target ${SCALE_KB_TARGET} KB`, value: SCALE_KB_TARGET }],
    },
    {
      title: 'City scale: trapped alert', unit: `ms, elevator → agency, with ${sc.devices.toLocaleString('en-US')} devices connected`,
      bars: [
        { label: 'p50', value: sc.latency.p50, color: '#8e44ad' }, { label: 'p95', value: sc.latency.p95, color: '#8e44ad' }, { label: 'p99', value: sc.latency.p99, color: '#6c3483' },
      ],
      lines: [{ label: `p99 target ${SCALE_LATENCY_P99_TARGET_MS} ms`, value: SCALE_LATENCY_P99_TARGET_MS }],
    },
    ...(r.storm ? [{
      title: 'Reconnect storm', unit: `s from the first dropped connection to all ${sc.devices.toLocaleString('en-US')} devices back`,
      bars: [{ label: 'all back', value: r.storm.backSeconds, color: '#2c3e50', note: `${r.storm.missing} lost, ${r.storm.offlineAlerts} offline alerts` }],
      lines: [{ label: `target ${STORM_BACK_TARGET_S} s`, value: STORM_BACK_TARGET_S }],
    }] : []),
  ] : [];
  const load = r.machine.loadAvg ? `, load average ${r.machine.loadAvg.start} → ${r.machine.loadAvg.end ?? '—'}` : '';
  return chartSvg(`npm run bench — ${r.startedAt}`, `${r.machine.cpus} cores, Node ${r.machine.node}${load}${r.options.quick ? ', --quick' : ''}; phases: ${(r.options.phases as string[]).join(', ')}`, measured([throughput, latency, memory, ...city]));
}

/** The panels with something measured (all of them when nothing was, so the chart is never empty). */
function measured(panels: Panel[]): Panel[] {
  const some = panels.filter((p) => p.bars.some((b) => b.value !== undefined));
  return some.length > 0 ? some : panels;
}

function clusterMarkdown(r: Results): string[] {
  const c = r.cluster!;
  const n = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
  const mb = (b: number | undefined) => (b ? (b / (1024 * 1024)).toFixed(0) : '—');
  const base = r.ingest?.embedded?.storedRate;
  const times = (x: number) => (base ? `${(x / base).toFixed(2)} ×` : '—');
  const lat = (l: LatencyResult | undefined) => (l?.p50 !== undefined ? `${l.p50.toFixed(1)} / ${l.p95!.toFixed(1)} / ${l.p99!.toFixed(1)} at ${n(l.rate)} msg/s (${l.samples} alerts${l.lost ? `, ${l.lost} lost` : ''})` : (l?.note ?? '—'));
  const single = (label: string, i: IngestResult | undefined, latency?: LatencyResult) => (i
    ? [`| ${label} | 1 process | ${n(i.ackRate)} | ${n(i.storedRate)} | ${times(i.storedRate)} | ${lat(latency)} | ${mb(i.rssBytes)} |`] : []);
  const lines = [
    `### Cluster mode / 集群模式 — time series: ${c.timeseries}; ${c.publishers} publishers, QoS 1, ${c.durationMs / 1000} s per phase`,
    '',
    '| gateway 网关 | nodes 节点 | acknowledged 已确认 (msg/s) | stored 已存储 (readings/s) | × single process, embedded | alert latency p50 / p95 / p99 (ms), device on node 1 → agency on node N | RSS per node 内存 (MB) |',
    '|---|---|---|---|---|---|---|',
    ...single('single process, embedded store (baseline 基准)', r.ingest?.embedded, r.latency),
    ...single('single process, InfluxDB 1.x', r.ingest?.influx),
    ...c.runs.map((run) => `| cluster 集群, ${c.timeseries.startsWith('InfluxDB') ? 'InfluxDB 1.x' : 'embedded'} | ${run.nodes} | ${n(run.ackRate)} | ${n(run.storedRate)} | ${times(run.storedRate)} | ${lat(run.latency)} | ${run.perNode.map((p) => mb(p.rssBytes)).join(' / ')} |`),
    '',
    `Note 说明: ${c.note}`,
  ];
  const problems = c.runs.flatMap((run) => run.problems.map((p) => `${run.nodes} node(s): ${p}`));
  if (c.error) problems.push(`the cluster phase failed: ${c.error.split('\n')[0]}`);
  if (problems.length > 0) lines.push('', 'Problems seen 发现的问题:', ...problems.map((p) => `- ${p}`));
  return lines;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
