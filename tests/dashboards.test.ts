/**
 * The Grafana dashboards and the docker compose deployment, checked without Grafana or Docker.
 *
 * 1. Every InfluxDB query of every dashboard (panel targets and template variables) runs against a
 *    real InfluxDB 1.x that the real gateway filled: the load generator's telemetry for every kind,
 *    plus events and a few readings published directly so the event and fault panels have data.
 *    Grafana's macros and variables are substituted the way Grafana does it with "All" selected;
 *    every query must succeed and return at least one row.
 * 2. Every Prometheus panel (gateway health) names metrics that a real gateway's /metrics exposes.
 * 3. docker-compose.yml, the Dockerfile, the provisioning files and .env.example agree with each
 *    other and with the repository (mounted paths exist, names and ports line up, no secret in git).
 */
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InfluxDB } from 'influx';
import type { MqttClient } from 'mqtt';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, publish, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { runLoad, type LoadDevice } from '../simulators/load.js';
import { DEVICE_KINDS } from '../ingest/schemas/kinds.js';
import { parseCli } from '../simulators/cli.js';
import { envOf, interpolateDeep, mountsOf, readEnvFile } from './harness/compose.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DASHBOARD_DIR = join(ROOT, 'dashboards/grafana/dashboards');
const PROVISIONING_DIR = join(ROOT, 'dashboards/grafana/provisioning');

// --- the dashboards as Grafana reads them -----------------------------------------------------

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

interface Datasource { name: string; uid: string; type: string; url?: string; jsonData?: Json; secureJsonData?: Json; user?: string }

function readYaml(path: string): Json {
  // merge keys (<<: *anchor) are YAML 1.1, which docker compose supports
  return parseYaml(readFileSync(path, 'utf8'), { merge: true });
}

function provisionedDatasources(): Datasource[] {
  const dir = join(PROVISIONING_DIR, 'datasources');
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).flatMap((f) => (readYaml(join(dir, f)).datasources ?? []) as Datasource[]);
}

const DATASOURCES = provisionedDatasources();
const DS_TYPE = new Map(DATASOURCES.map((d) => [d.uid, d.type]));

interface DashboardFile { file: string; json: Json }
const DASHBOARDS: DashboardFile[] = readdirSync(DASHBOARD_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) }));

/** Panels, including those nested in collapsed rows. */
function panelsOf(dash: Json): Json[] {
  return (dash.panels ?? []).flatMap((p: Json) => [p, ...(p.panels ?? [])]);
}

interface Target { dashboard: string; panel: string; refId: string; dsType: string; query: string; variables: Record<string, string> }

/** Template variables with "All" selected: Grafana substitutes the variable's allValue (.*) into the regex. */
function allValues(dash: Json): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const v of dash.templating?.list ?? []) {
    if (v.type === 'query' || v.type === 'custom') vars[v.name] = v.includeAll ? (v.allValue ?? '.*') : String(v.current?.value ?? '');
  }
  return vars;
}

function targetsOf(d: DashboardFile): Target[] {
  const variables = allValues(d.json);
  const out: Target[] = [];
  for (const panel of panelsOf(d.json)) {
    for (const t of panel.targets ?? []) {
      const uid = t.datasource?.uid ?? panel.datasource?.uid;
      out.push({
        dashboard: d.json.title, panel: panel.title, refId: t.refId, dsType: DS_TYPE.get(uid) ?? `unknown datasource uid ${uid}`,
        query: DS_TYPE.get(uid) === 'prometheus' ? t.expr : t.query, variables,
      });
    }
  }
  return out;
}

const TARGETS = DASHBOARDS.flatMap(targetsOf);
const INFLUX_TARGETS = TARGETS.filter((t) => t.dsType === 'influxdb');
const PROM_TARGETS = TARGETS.filter((t) => t.dsType === 'prometheus');
const INFLUX_VARIABLES = DASHBOARDS.flatMap((d) => (d.json.templating?.list ?? [])
  .filter((v: Json) => v.type === 'query' && DS_TYPE.get(v.datasource?.uid) === 'influxdb')
  .map((v: Json) => ({ dashboard: d.json.title as string, name: v.name as string, query: (typeof v.query === 'string' ? v.query : v.query.query) as string, variables: allValues(d.json) })));
const PROM_VARIABLES = DASHBOARDS.flatMap((d) => (d.json.templating?.list ?? [])
  .filter((v: Json) => v.type === 'query' && DS_TYPE.get(v.datasource?.uid) === 'prometheus')
  .map((v: Json) => ({ dashboard: d.json.title as string, name: v.name as string, query: (typeof v.query === 'string' ? v.query : v.query.query) as string })));

/** What Grafana sends for an InfluxQL query: $timeFilter and $__interval expanded, variables replaced. */
function renderInfluxQL(query: string, vars: Record<string, string>, range: { from: number; to: number }, intervalMs = 10_000): string {
  const rendered = query
    .replaceAll('$timeFilter', `time >= ${range.from}ms and time <= ${range.to}ms`)
    .replace(/\$__interval_ms\b/g, String(intervalMs))
    .replace(/\$__interval\b/g, `${intervalMs / 1000}s`)
    .replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (_m, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      const value = vars[name];
      if (value === undefined) throw new Error(`unknown variable $${name} in: ${query}`);
      return value;
    });
  return rendered;
}

// --- data: the real gateway writes into a real InfluxDB 1.x --------------------------------------

const DATABASE = 'iot';
let influxd: InfluxdHandle;
let t: TestGateway;
let influx: InfluxDB;
let range: { from: number; to: number };

function device(kind: string, n: number) { return `${kind.replace('_', '-')}-${n}`; }

async function withDevice(id: string, secret: string, fn: (c: MqttClient) => Promise<void>): Promise<void> {
  const c = await connectDevice(t, id, secret);
  try { await fn(c); } finally { await c.endAsync(); }
}

describe('dashboards against a real InfluxDB 1.x filled by the real gateway', () => {
  beforeAll(async () => {
    const start = Date.now();
    influxd = await startInfluxd();
    t = await startTestGateway({ influx: { url: influxd.url, database: DATABASE }, timeseries: { flushIntervalMs: 50 } });
    influx = new InfluxDB({ host: '127.0.0.1', port: influxd.port, database: DATABASE });

    // two devices of every kind: one per company, so the company / site variables have two values
    const devices: LoadDevice[] = [];
    const secrets = new Map<string, string>();
    for (const kind of DEVICE_KINDS) {
      for (const n of [1, 2]) {
        const id = device(kind, n);
        const secret = await registerDevice(t, { id, kind, siteId: n === 1 ? 'site-a' : 'site-b', companyId: n === 1 ? 'company-a' : 'company-b', building: `B${n}` });
        secrets.set(id, secret);
        devices.push({ id, kind, secret });
      }
    }
    const secretOf = (id: string) => secrets.get(id)!;
    const now = Date.now();

    // an elevator whose run counter rises over three 10 s intervals, so "runs per interval" has a difference
    await withDevice('elevator-1', secretOf('elevator-1'), async (c) => {
      for (const [ago, runCount] of [[55_000, 4000], [35_000, 4012], [15_000, 4030]] as const) {
        await publish(c, 'devices/elevator-1/telemetry', { ts: now - ago, mode: 'normal', running: false, direction: 'none', floor: 1, doorZone: true, door: 'closed', occupied: false, runCount, runHours: 100 });
      }
    });

    // normal telemetry of every kind, the way devices send it
    const summary = await runLoad({ mqttUrl: t.mqttUrl, devices, ratePerSecond: 100, durationMs: 2500, qos: 1 });
    expect(summary.errors).toBe(0);
    expect(summary.unacknowledged).toBe(0);

    // incidents and latest states published after the load, so they are each device's newest reading
    const later = Date.now() + 1000;
    await withDevice('elevator-1', secretOf('elevator-1'), async (c) => {
      await publish(c, 'devices/elevator-1/events', [
        { ts: later, type: 'fault', fault: 'trapped', levelled: false },
        { ts: later + 1, type: 'fault', fault: 'door_close_fault', code: 'E23' },
        { ts: later + 2, type: 'alarm_button' },
        { ts: later + 3, type: 'ebike_detected', confidence: 0.93 },
      ]);
      // a bad payload, so gateway_rejected_total{reason} has a sample for the label check
      await publish(c, 'devices/elevator-1/telemetry', 'not json');
    });
    await withDevice('elevator-2', secretOf('elevator-2'), (c) => publish(c, 'devices/elevator-2/telemetry', { ts: later, mode: 'inspection', running: false, direction: 'none', floor: 3, doorZone: true, door: 'open', occupied: false, runCount: 1200 }));
    await withDevice('fire-panel-1', secretOf('fire-panel-1'), (c) => publish(c, 'devices/fire-panel-1/events', [
      { ts: later, type: 'fire_alarm', zone: 'Z3', point: '3-12' },
      { ts: later + 1, type: 'fault', zone: 'Z1', component: 'loop 1', code: 'E01' },
    ]));
    await withDevice('smoke-detector-1', secretOf('smoke-detector-1'), (c) => publish(c, 'devices/smoke-detector-1/events', [
      { ts: later, type: 'alarm' }, { ts: later + 1, type: 'low_battery', battery: 12 },
    ]));
    await withDevice('fire-water-1', secretOf('fire-water-1'), async (c) => {
      await publish(c, 'devices/fire-water-1/events', { ts: later, type: 'pump_fault', pump: 'P1' });
      await publish(c, 'devices/fire-water-1/telemetry', { ts: later, pressure: 0.08, tankLevel: 0.9, pumpRunning: false, pumpFault: true, pumpPowerOk: true, flowSwitch: false, pumpAuto: false, signalValveOpen: false });
    });
    // the other monitor: its main pump on a test run while the float valve overfills the tank
    await withDevice('fire-water-2', secretOf('fire-water-2'), (c) => publish(c, 'devices/fire-water-2/telemetry', {
      ts: later, pressure: 0.5, tankLevel: 4.2, pumpRunning: true, pumpFault: false, pumpPowerOk: true, flowSwitch: false, firePumpRunning: true, pumpAuto: true, signalValveOpen: true, tankHigh: true,
    }));
    await withDevice('water-pump-1', secretOf('water-pump-1'), async (c) => {
      await publish(c, 'devices/water-pump-1/events', { ts: later, type: 'flooded' });
      await publish(c, 'devices/water-pump-1/telemetry', {
        ts: later, inletPressure: 0.17, outletPressure: 0.42, outletPressureLow: 0.3, outletPressureMid: 0.45, outletPressureHigh: 0.6,
        tankLevel: 2.4, pumpsRunning: 1, pumpFault: true, flooded: true, doorOpen: true, turbidity: 1.4, chlorine: 0.03, ph: 8.7, temperature: 28, humidity: 91, smoke: true,
      });
    });

    // a sump overflowing with its pumps out of power: the drainage stats count it
    await withDevice('drainage-1', secretOf('drainage-1'), async (c) => {
      await publish(c, 'devices/drainage-1/events', [{ ts: later, type: 'power_lost' }, { ts: later + 1, type: 'high_level' }, { ts: later + 2, type: 'flooded' }]);
      await publish(c, 'devices/drainage-1/telemetry', { ts: later, level: 1.9, highLevel: true, pumpsRunning: 0, pumpFault: true, powerOk: false, flooded: true });
    });

    // acknowledged means spooled; wait until the spool has reached InfluxDB
    expect(await t.gw.writer.flush(20_000)).toBe(true);
    range = { from: start - 5 * 60_000, to: Date.now() + 5 * 60_000 };
  });

  afterAll(async () => {
    await t?.dispose();
    await influxd?.dispose();
  });

  it('finds InfluxDB panels and variables to check in every InfluxDB dashboard', () => {
    expect(DASHBOARDS.length).toBeGreaterThanOrEqual(4);
    expect(INFLUX_TARGETS.length).toBeGreaterThan(30);
    expect(INFLUX_VARIABLES.length).toBeGreaterThan(5);
    for (const t of INFLUX_TARGETS) expect(t.query, `${t.dashboard} / ${t.panel}`).toMatch(/\$timeFilter/);
  });

  async function rows(query: string): Promise<number> {
    const raw = await influx.queryRaw(query, { database: DATABASE, precision: 'ms' });
    let n = 0;
    for (const result of raw.results ?? []) {
      if (result.error) throw new Error(`InfluxDB error: ${result.error} in: ${query}`);
      for (const s of result.series ?? []) n += (s.values ?? []).length;
    }
    return n;
  }

  it.each(INFLUX_TARGETS.map((x) => [`${x.dashboard} / ${x.panel} [${x.refId}]`, x] as const))('panel %s returns rows', async (name, target) => {
    const q = renderInfluxQL(target.query, target.variables, range);
    expect(q, `${name}: unsubstituted macro`).not.toMatch(/\$[\w{]|\[\[/);
    expect(await rows(q), `${name}: no rows for\n  ${q}`).toBeGreaterThan(0);
  });

  it.each(INFLUX_VARIABLES.map((v) => [`${v.dashboard} / $${v.name}`, v] as const))('variable %s has values', async (name, v) => {
    const q = renderInfluxQL(v.query, v.variables, range);
    expect(await rows(q), `${name}: no values for\n  ${q}`).toBeGreaterThan(0);
  });

  it('every Prometheus panel and variable names metrics that the gateway exposes at /metrics (with the labels it groups by)', async () => {
    expect(PROM_TARGETS.length).toBeGreaterThan(10);
    const text = await fetch(`${t.httpUrl}/metrics`).then((r) => r.text());
    const families = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!);
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    const exposed = (name: string) => families.has(name) ||
      ['_bucket', '_sum', '_count'].some((s) => name.endsWith(s) && ['histogram', 'summary'].includes(families.get(name.slice(0, -s.length)) ?? ''));

    const problems: string[] = [];
    const exprs: Array<{ where: string; expr: string }> = [
      ...PROM_TARGETS.map((p) => ({ where: `${p.dashboard} / ${p.panel} [${p.refId}]`, expr: p.query })),
      ...PROM_VARIABLES.map((v) => ({ where: `${v.dashboard} / $${v.name}`, expr: v.query })),
    ];
    for (const { where, expr } of exprs) {
      const names = [...new Set<string>(expr.match(/\b(?:gateway|nodejs|process)_[a-zA-Z0-9_]+/g) ?? [])];
      // `up` (and the instance and job labels) are written by Prometheus for each scraped target, not by the gateway
      if (names.length === 0 && !/\bup\{job=~?"gateway/.test(expr)) problems.push(`${where}: no gateway metric in ${expr}`);
      for (const name of names) if (!exposed(name)) problems.push(`${where}: ${name} is not in /metrics`);
      // labels in `by (...)` must be labels the metric really has (checked where it has samples)
      for (const by of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of by[1]!.split(',').map((s) => s.trim()).filter((l) => l && l !== 'instance' && l !== 'job')) {
          for (const name of names) {
            const own = samples.filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
            if (own.length > 0 && !own.some((l) => l.includes(`${label}="`))) problems.push(`${where}: ${name} has no label ${label}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

// --- docker compose, Dockerfile, provisioning --------------------------------------------------

/** The host path behind a container path, through the service's bind mounts (undefined if not mounted). */
function hostPath(service: Json, containerPath: string): string | undefined {
  const mounts = mountsOf(service).filter((m) => m.bind).sort((a, b) => b.target.length - a.target.length);
  for (const m of mounts) {
    if (containerPath === m.target || containerPath.startsWith(m.target + '/')) return join(ROOT, m.source, posix.relative(m.target, containerPath));
  }
  return undefined;
}

const COMPOSE_TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const ENV_EXAMPLE = readEnvFile(join(ROOT, '.env.example'));
const compose = interpolateDeep(parseYaml(COMPOSE_TEXT, { merge: true }), ENV_EXAMPLE);
const services = compose.services as Record<string, Json>;

describe('docker-compose.yml, Dockerfile and Grafana provisioning', () => {
  it('has the gateway, InfluxDB, Prometheus and Grafana, and the simulators only under their profile', () => {
    for (const name of ['gateway', 'influxdb', 'prometheus', 'grafana']) {
      expect(services[name], name).toBeDefined();
      expect(services[name].profiles, `${name} must start by default`).toBeUndefined();
    }
    expect(services.simulators?.profiles).toEqual(['simulators']);
    expect(services.influxdb.image).toMatch(/^influxdb:2\.7/);
    expect(services.gateway.build).toBeDefined();
    expect(services.simulators.image, 'simulators run the gateway image').toBe(services.gateway.image);
    for (const [name, s] of Object.entries(services)) {
      if (name !== 'simulators') expect(s.healthcheck?.test, `${name} healthcheck`).toBeDefined();
    }
  });

  it('needs every secret from the environment: none has a default in the repository', () => {
    const code = COMPOSE_TEXT.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    const required = [...new Set([...code.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]!))];
    expect(new Set(required)).toEqual(new Set(['ADMIN_TOKEN', 'INFLUX_TOKEN', 'INFLUX_ADMIN_PASSWORD', 'GRAFANA_ADMIN_PASSWORD', 'GRAFANA_INFLUX_PASSWORD', 'POSTGRES_PASSWORD']));
    for (const name of required) {
      const { [name]: _dropped, ...rest } = ENV_EXAMPLE;
      expect(() => interpolateDeep(parseYaml(COMPOSE_TEXT, { merge: true }), rest), `${name} unset must stop compose`).toThrow(name);
      // .env.example documents it with a placeholder, not a usable secret
      expect(ENV_EXAMPLE[name], `.env.example ${name}`).toMatch(/^change-me/);
    }
    expect(services.gateway.environment.ADMIN_TOKEN.length).toBeGreaterThanOrEqual(16);
  });

  it('declares every named volume and keeps the state of each service in one', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(services)) {
      for (const m of mountsOf(s)) if (!m.bind) expect(declared.has(m.source), `${name}: volume ${m.source} is not declared`).toBe(true);
    }
    const named = (svc: string, target: string) => mountsOf(services[svc]).some((m) => !m.bind && m.target === target);
    expect(named('gateway', envOf(services.gateway).DATA_DIR!), 'gateway DATA_DIR on a volume').toBe(true);
    expect(named('influxdb', '/var/lib/influxdb2')).toBe(true);
    expect(named('grafana', '/var/lib/grafana')).toBe(true);
    expect(named('prometheus', '/prometheus')).toBe(true);
  });

  it('bind-mounts only paths that exist in the repository', () => {
    const mounts = Object.entries(services).flatMap(([name, s]) => mountsOf(s).filter((m) => m.bind).map((m) => ({ name, ...m })));
    expect(mounts.length).toBeGreaterThanOrEqual(4);
    for (const m of mounts) expect(existsSync(join(ROOT, m.source)), `${m.name}: ${m.source}`).toBe(true);
  });

  it('runs the DBRP and Grafana-reader scripts from the InfluxDB entrypoint (mounted as executable .sh, in order)', () => {
    const mounts = mountsOf(services.influxdb).filter((m) => m.target.startsWith('/docker-entrypoint-initdb.d/'));
    expect(mounts.map((m) => m.target)).toEqual([...mounts.map((m) => m.target)].sort());
    const scripts = mounts.map((m) => {
      expect(m.target).toMatch(/\.sh$/);
      const script = join(ROOT, m.source);
      expect(() => accessSync(script, constants.X_OK), 'run-parts skips files that are not executable').not.toThrow();
      return readFileSync(script, 'utf8');
    });
    expect(scripts.some((s) => /influx v1 dbrp create/.test(s))).toBe(true);
    // Grafana's credential may read the readings bucket and nothing else
    const reader = scripts.find((s) => /influx v1 auth create/.test(s));
    expect(reader).toBeDefined();
    const create = /influx v1 auth create[^\n]*(?:\\\n[^\n]*)*/.exec(reader!)![0];
    expect(create).toMatch(/--read-bucket "\$bucket_id"/);
    expect(create).not.toMatch(/--write-bucket|--operator|--all-access/);
  });

  it('gives Grafana its provisioning and every dashboard file through its mounts', () => {
    const grafana = services.grafana;
    const dsDir = hostPath(grafana, '/etc/grafana/provisioning/datasources');
    const provDir = hostPath(grafana, '/etc/grafana/provisioning/dashboards');
    expect(dsDir && readdirSync(dsDir).some((f) => f.endsWith('.yml'))).toBe(true);
    expect(provDir && readdirSync(provDir).some((f) => f.endsWith('.yml'))).toBe(true);
    const providers = readdirSync(provDir!).filter((f) => f.endsWith('.yml')).flatMap((f) => readYaml(join(provDir!, f)).providers ?? []);
    expect(providers.length).toBeGreaterThan(0);
    for (const p of providers) {
      expect(p.type).toBe('file');
      const dir = hostPath(grafana, p.options.path);
      expect(dir, `provider path ${p.options.path} is not mounted`).toBeDefined();
      for (const d of DASHBOARDS) expect(existsSync(join(dir!, d.file)), d.file).toBe(true);
    }
    const home = hostPath(grafana, envOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!);
    expect(home && statSync(home).isFile(), 'home dashboard').toBe(true);
  });

  it('points the InfluxDB data source at the bucket, org and token the gateway and InfluxDB use', () => {
    const ds = DATASOURCES.filter((d) => d.type === 'influxdb');
    expect(ds).toHaveLength(1);
    const influxDs = interpolateDeep(ds[0], envOf(services.grafana)) as Datasource;
    const gw = envOf(services.gateway);
    const db = envOf(services.influxdb);
    expect(influxDs.jsonData.version).toBe('InfluxQL');
    expect(influxDs.jsonData.dbName).toBe(gw.INFLUX_BUCKET);
    expect(influxDs.jsonData.dbName).toBe(db.DOCKER_INFLUXDB_INIT_BUCKET);
    expect(gw.INFLUX_VERSION).toBe('2');
    expect(gw.INFLUX_ORG).toBe(db.DOCKER_INFLUXDB_INIT_ORG);
    expect(gw.INFLUX_TOKEN).toBe(db.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    // Grafana reads with the read-only user the init script creates, never with the operator token
    expect(JSON.stringify(influxDs)).not.toContain(db.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    expect(envOf(services.grafana).INFLUX_TOKEN).toBeUndefined();
    expect(influxDs.user).toBe(db.GRAFANA_INFLUX_USER);
    expect(influxDs.secureJsonData.password).toBe(db.GRAFANA_INFLUX_PASSWORD);
    expect(influxDs.jsonData.httpHeaderName1).toBeUndefined();
    // the DBRP script maps the database named after the bucket (unless INFLUXQL_DATABASE says otherwise)
    expect(db.INFLUXQL_DATABASE ?? db.DOCKER_INFLUXDB_INIT_BUCKET).toBe(influxDs.jsonData.dbName);
    const url = new URL(influxDs.url!);
    expect(services[url.hostname], `${url.hostname} is a compose service`).toBeDefined();
    expect(new URL(gw.INFLUX_URL!).host).toBe(url.host);
  });

  it('scrapes the gateway with Prometheus and points the Prometheus data source at it', () => {
    const prom = DATASOURCES.find((d) => d.type === 'prometheus');
    expect(prom).toBeDefined();
    expect(services[new URL(prom!.url!).hostname]).toBeDefined();
    const cfgRef = services.prometheus.configs?.[0];
    const cfg = parseYaml(compose.configs[cfgRef.source].content);
    expect(cfgRef.target).toBe('/etc/prometheus/prometheus.yml');
    const targets: string[] = cfg.scrape_configs.flatMap((s: Json) => (s.static_configs ?? []).flatMap((c: Json) => c.targets));
    expect(targets).toContain('gateway:8080');
    expect(services.gateway.ports.some((p: string) => String(p).endsWith(':8080'))).toBe(true);
  });

  it('every dashboard: unique uid, bilingual title, and only provisioned data sources', () => {
    const uids = DASHBOARDS.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const d of DASHBOARDS) {
      expect(d.json.title, d.file).toMatch(/[\u4e00-\u9fff].* \/ [A-Za-z]/);
      expect(d.json.id ?? null, `${d.file}: provisioned dashboards carry no numeric id`).toBeNull();
      for (const p of panelsOf(d.json)) {
        if (p.type === 'row') continue;
        expect(p.title, `${d.file}: panel ${p.id}`).toMatch(/[\u4e00-\u9fff]/);
        for (const target of p.targets ?? []) {
          const uid = target.datasource?.uid ?? p.datasource?.uid;
          expect(DS_TYPE.has(uid), `${d.json.title} / ${p.title}: datasource ${uid}`).toBe(true);
        }
      }
    }
    expect(INFLUX_TARGETS.length + PROM_TARGETS.length).toBe(TARGETS.length);
  });

  it('builds an image whose CMD runs a file tsc emits, as a non-root user, with /data as a volume', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)![1]!) as string[];
    // the same command as `npm start`, runtime flags included (docs/performance.md: the young generation's size)
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(cmd).toEqual(start.split(' '));
    expect(cmd.at(-1)).toBe('dist/gateway/main.js');
    const user = /^USER (\S+)$/m.exec(finalStage)?.[1];
    expect(user, 'USER in the final stage').toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(finalStage).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(finalStage).toMatch(/DATA_DIR=\/data/);
    expect(finalStage).toMatch(/^EXPOSE 1883 8883 8080$/m);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);

    // dist/X.js comes from X.ts under rootDir, and X.ts must be a file tsconfig compiles
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
    const emitted = (js: string) => {
      const out = tsconfig.compilerOptions.outDir as string;
      expect(js.startsWith(out + '/'), `${js} is under outDir ${out}`).toBe(true);
      const source = posix.join(tsconfig.compilerOptions.rootDir ?? '.', js.slice(out.length + 1).replace(/\.js$/, '.ts'));
      expect(existsSync(join(ROOT, source)), `${source} (compiled to ${js}) exists`).toBe(true);
      const dir = source.split('/')[0];
      expect((tsconfig.include as string[]).some((g) => g.startsWith(`${dir}/`)), `${source} is in tsconfig include`).toBe(true);
    };
    emitted(cmd.at(-1)!);
    // the simulators service runs another compiled entry point from the same image
    const simCmd = services.simulators.command as string[];
    expect(simCmd[0]).toBe('node');
    emitted(simCmd[1]!);
  });

  it('starts the simulators with arguments the simulator CLI accepts, against the gateway service', () => {
    const simCmd = services.simulators.command as string[];
    const parsed = parseCli(simCmd.slice(2), envOf(services.simulators));
    expect(parsed.command).toBe('demo');
    if (parsed.command !== 'demo') return;
    expect(new URL(parsed.common.broker).hostname).toBe('gateway');
    expect(new URL(parsed.common.broker).port).toBe('1883');
    expect(new URL(parsed.common.api).host).toBe('gateway:8080');
    expect(parsed.common.token).toBe(envOf(services.gateway).ADMIN_TOKEN);
    // the secrets file lives on the simulators' own volume
    const secretsDir = posix.dirname(parsed.common.secrets!);
    expect(mountsOf(services.simulators).some((m) => !m.bind && m.target === secretsDir)).toBe(true);
  });

  it('keeps the build context small and free of local state and secrets (.dockerignore)', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', 'data', '.git', '.env']) expect(ignored, entry).toContain(entry);
  });
});
