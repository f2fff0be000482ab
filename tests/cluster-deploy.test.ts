/**
 * The cluster deployment: docker-compose.yml's `cluster` profile and the shipped load balancer,
 * deploy/haproxy.cfg, checked without Docker.
 *
 * 1. The compose file: the cluster's services exist only under the `cluster` profile and are wired
 *    the way cluster mode needs (PostgreSQL, Redis, distinct nodes, no ports but HAProxy's); the
 *    default services are what they were; Prometheus finds the nodes.
 * 2. deploy/haproxy.cfg: its servers are the compose services, and Debian's real `haproxy -c`
 *    accepts it although the gateway names do not resolve here (init-addr ... none).
 * 3. The real HAProxy running that configuration (tests/harness/haproxy.ts) in front of two tiny
 *    local nodes: connections are spread over both, and a node whose /readyz answers 503 stops
 *    getting connections (and loses its open ones) once the health checks have seen it, then
 *    comes back when it is ready again.
 */
import { spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envOf, interpolateDeep, mountsOf, readEnvFile, type Json } from './harness/compose.js';
import { ProxyProtocol, readProxyHeaders } from '../gateway/proxy-protocol.js';
import { haproxyBinary, renderHaproxyConfig, runHaproxy, startHaproxy, type HaproxyHandle, type ServerState } from './harness/haproxy.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HAPROXY_CFG = join(ROOT, 'deploy/haproxy.cfg');


// --- docker-compose.yml as compose reads it ----------------------------------------------------

/** Published ports as { host address, host port, container port } (short syntax). */
function portsOf(service: Json): Array<{ ip?: string; host: number; container: number }> {
  return (service.ports ?? []).map((p: Json) => {
    const parts = String(p).split(':');
    const container = Number(parts.pop());
    const host = Number(parts.pop());
    return { host, container, ...(parts.length ? { ip: parts.join(':') } : {}) };
  });
}

function dependsOn(service: Json): Record<string, string> {
  const d = service.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n: string) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, (v as Json)?.condition ?? 'service_started']));
}

const COMPOSE_TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const ENV_EXAMPLE = readEnvFile(join(ROOT, '.env.example'));
const RAW = parseYaml(COMPOSE_TEXT, { merge: true });
const compose = interpolateDeep(RAW, ENV_EXAMPLE);
const services = compose.services as Record<string, Json>;
const rawServices = RAW.services as Record<string, Json>;

const CLUSTER = ['postgres', 'redis', 'gateway-1', 'gateway-2', 'haproxy'];
const NODES = ['gateway-1', 'gateway-2'];
const DEFAULT = ['gateway', 'influxdb', 'prometheus', 'grafana'];

// --- deploy/haproxy.cfg ------------------------------------------------------------------------

interface CfgSection { kind: string; name: string; lines: string[] }
function haproxySections(text: string): CfgSection[] {
  const sections: CfgSection[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$|^#.*$/, '');
    if (!line.trim()) continue;
    const head = /^(\S+)\s*(\S*)/.exec(line);
    if (head && !/^\s/.test(line)) sections.push({ kind: head[1]!, name: head[2]!, lines: [] });
    else sections[sections.length - 1]?.lines.push(line.trim());
  }
  return sections;
}

const CFG_TEXT = readFileSync(HAPROXY_CFG, 'utf8');
const SECTIONS = haproxySections(CFG_TEXT);
const proxies = SECTIONS.filter((s) => ['listen', 'backend', 'frontend'].includes(s.kind));
const serversOf = (s: CfgSection) => s.lines.filter((l) => l.startsWith('server ')).map((l) => {
  const [, name, address, ...options] = l.split(/\s+/);
  return { name: name!, host: address!.replace(/:\d+$/, ''), port: Number(/:(\d+)$/.exec(address!)?.[1]), options: options.join(' ') };
});

function duration(s: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new Error(`not a HAProxy duration: ${s}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
}
const setting = (section: CfgSection, key: string) => section.lines.find((l) => l.startsWith(key + ' '))?.slice(key.length + 1);

describe('docker-compose.yml: the cluster profile', () => {
  it('adds PostgreSQL, Redis, two gateway nodes and HAProxy, only under the `cluster` profile', () => {
    for (const name of CLUSTER) expect(services[name]?.profiles, name).toEqual(['cluster']);
    // nothing else is in that profile, and the default set is what it was
    const inCluster = Object.entries(services).filter(([, s]) => s.profiles?.includes('cluster')).map(([n]) => n);
    expect(inCluster.sort()).toEqual([...CLUSTER].sort());
    const byDefault = Object.entries(services).filter(([, s]) => !s.profiles).map(([n]) => n);
    expect(byDefault.sort()).toEqual([...DEFAULT].sort());
    // a default service never waits for a cluster one (`docker compose up` must work without them)
    for (const name of DEFAULT) for (const dep of Object.keys(dependsOn(services[name]))) expect(CLUSTER, `${name} depends on ${dep}`).not.toContain(dep);
  });

  it('keeps the single-node gateway exactly as it was', () => {
    const gw = rawServices.gateway;
    expect(gw.profiles).toBeUndefined();
    expect(gw.ports).toEqual(['${MQTT_HOST_PORT:-1883}:1883', '${HTTP_HOST_PORT:-8080}:8080']);
    expect(gw.volumes).toEqual(['gateway-data:/data']);
    expect(gw.environment).toEqual({
      DATA_DIR: '/data',
      ADMIN_TOKEN: '${ADMIN_TOKEN:?set ADMIN_TOKEN in .env (see .env.example)}',
      INFLUX_URL: 'http://influxdb:8086',
      INFLUX_VERSION: '2',
      INFLUX_TOKEN: '${INFLUX_TOKEN:?set INFLUX_TOKEN in .env (see .env.example)}',
      INFLUX_ORG: '${INFLUX_ORG:-community}',
      INFLUX_BUCKET: '${INFLUX_BUCKET:-iot}',
      LOG_LEVEL: '${LOG_LEVEL:-info}',
    });
    expect(dependsOn(gw)).toEqual({ influxdb: 'service_started' });
    expect(gw.build).toEqual({ context: '.' });
    expect(gw.image).toBe('community-iot-gateway:local');
    expect(gw.restart).toBe('unless-stopped');
    expect(gw.stop_grace_period).toBe('30s');
  });

  it('runs each node from the gateway image with DATABASE_URL, REDIS_URL, its own NODE_ID and its own data volume', () => {
    const gwEnv = envOf(services.gateway);
    const nodeIds = new Set<string>();
    const volumes = new Set<string>();
    for (const name of NODES) {
      const s = services[name];
      expect(s.build, name).toEqual(services.gateway.build);
      expect(s.image, name).toBe(services.gateway.image);
      const env = envOf(s);
      const db = new URL(env.DATABASE_URL!);
      expect(db.protocol, name).toBe('postgres:');
      expect(db.hostname).toBe('postgres');
      expect(db.port || '5432').toBe('5432');
      const redis = new URL(env.REDIS_URL!);
      expect(redis.protocol).toBe('redis:');
      expect(redis.hostname).toBe('redis');
      expect(redis.port || '6379').toBe('6379');
      // the nodes log in with the user, password and database PostgreSQL is set up with
      const pg = envOf(services.postgres);
      expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER);
      expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD);
      expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
      // the NODE_ID is the service name: Prometheus labels the node with it, HAProxy names it so
      expect(env.NODE_ID).toBe(name);
      nodeIds.add(env.NODE_ID!);
      // the same time-series settings and admin token as the single gateway
      for (const key of ['INFLUX_URL', 'INFLUX_VERSION', 'INFLUX_TOKEN', 'INFLUX_ORG', 'INFLUX_BUCKET', 'ADMIN_TOKEN']) expect(env[key], `${name} ${key}`).toBe(gwEnv[key]);
      // DATA_DIR (the node's outage buffer) on a named volume of its own
      const data = mountsOf(s).filter((m) => m.target === env.DATA_DIR);
      expect(data, `${name}: DATA_DIR on a volume`).toHaveLength(1);
      expect(data[0]!.bind).toBe(false);
      expect(Object.keys(compose.volumes)).toContain(data[0]!.source);
      volumes.add(data[0]!.source);
      expect(dependsOn(s)).toMatchObject({ postgres: 'service_healthy', redis: 'service_healthy' });
      expect(s.ports, `${name} is reached through haproxy only`).toBeUndefined();
      expect(s.healthcheck?.test).toBeDefined();
    }
    expect(nodeIds.size).toBe(NODES.length);
    expect(volumes.size).toBe(NODES.length);
    expect(volumes.has('gateway-data'), 'a node never shares the single gateway\'s data').toBe(false);
  });

  it('runs PostgreSQL and Redis from pinned official images, with health checks and volumes, unpublished', () => {
    const pg = services.postgres;
    expect(pg.image).toMatch(/^postgres:\d+$/);
    expect(pg.healthcheck.test.join(' ')).toMatch(/pg_isready/);
    expect(mountsOf(pg).some((m) => !m.bind && m.target === '/var/lib/postgresql/data')).toBe(true);
    expect(pg.ports).toBeUndefined();
    // its password comes from .env, like every secret (the dashboards test checks the whole list)
    expect(rawServices.postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(ENV_EXAMPLE.POSTGRES_PASSWORD).toMatch(/^change-me/);

    const redis = services.redis;
    expect(redis.image).toMatch(/^redis:\d+\.\d+$/);
    expect(redis.command.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.healthcheck.test.join(' ')).toMatch(/redis-cli ping/);
    expect(mountsOf(redis).some((m) => !m.bind && m.target === '/data')).toBe(true);
    expect(redis.ports).toBeUndefined();
  });

  it('runs HAProxy 2.x LTS with deploy/haproxy.cfg mounted read-only, on host ports that do not collide with the single gateway', () => {
    const hap = services.haproxy;
    expect(hap.image).toMatch(/^haproxy:2\.(6|8)(-|$)/);
    const cfg = mountsOf(hap).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg');
    expect(cfg).toMatchObject({ source: './deploy/haproxy.cfg', bind: true, mode: 'ro' });
    expect(hap.healthcheck?.test).toBeDefined();

    const ports = portsOf(hap);
    const containerPorts = ports.map((p) => p.container).sort();
    // what HAProxy publishes, it listens on
    const binds = new Set(proxies.flatMap((s) => s.lines.filter((l) => l.startsWith('bind ')).map((l) => Number(/:(\d+)/.exec(l)![1]))));
    for (const p of containerPorts) expect(binds.has(p), `published ${p} is bound in haproxy.cfg`).toBe(true);
    expect(containerPorts).toEqual(expect.arrayContaining([1883, 8080]));
    // the stats page only on the host's loopback
    const stats = ports.find((p) => p.container === 8404);
    expect(stats?.ip).toBe('127.0.0.1');
    // with .env.example's values and with the defaults alike, no host port is taken twice
    for (const env of [ENV_EXAMPLE, Object.fromEntries(Object.entries(ENV_EXAMPLE).filter(([k]) => !/_HOST_PORT$/.test(k)))]) {
      const all = Object.values(interpolateDeep(RAW, env).services as Record<string, Json>).flatMap((s) => portsOf(s).map((p) => p.host));
      expect(new Set(all).size, `host ports ${all.join(', ')}`).toBe(all.length);
    }
  });

  it('has Prometheus discover both nodes under their node name, without targets that are always down in the default profile', () => {
    const cfgRef = services.prometheus.configs[0];
    const cfg = parseYaml(compose.configs[cfgRef.source].content);
    const jobs = cfg.scrape_configs as Json[];
    // the single gateway stays a static target
    expect(jobs.find((j) => j.job_name === 'gateway')?.static_configs?.[0]?.targets).toEqual(['gateway:8080']);
    const cluster = jobs.find((j) => (j.dns_sd_configs ?? []).length > 0);
    expect(cluster, 'a DNS-discovered job for the nodes').toBeDefined();
    expect(cluster.static_configs).toBeUndefined();
    const sd = cluster.dns_sd_configs[0];
    expect([...sd.names].sort()).toEqual([...NODES].sort());
    expect(sd.type).toBe('A');
    expect(sd.port).toBe(8080);
    expect(cluster.metrics_path ?? '/metrics').toBe('/metrics');
    // instance = the DNS name = the node's NODE_ID (what the health dashboard's per-node panels show)
    expect(cluster.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], target_label: 'instance' });
  });
});

describe('deploy/haproxy.cfg', () => {
  it('balances only over the cluster\'s gateway nodes, on the gateway\'s ports, checking /readyz on the HTTP port', () => {
    const withServers = proxies.filter((p) => serversOf(p).length > 0);
    expect(withServers.map((p) => p.name).sort()).toEqual(['http', 'mqtt', 'mqtt-tls']);
    const exposed = /^EXPOSE (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1]!.split(/\s+/).map(Number);
    for (const p of withServers) {
      const servers = serversOf(p);
      expect(servers.map((s) => s.name), p.name).toEqual(NODES);
      for (const s of servers) {
        expect(services[s.name]?.profiles, `${p.name}/${s.name} is a compose service of the cluster profile`).toEqual(['cluster']);
        expect(s.host, 'the address is the service name (Docker DNS)').toBe(s.name);
        expect(exposed, `${p.name}/${s.name} port`).toContain(s.port);
        expect(s.options).toMatch(/\bcheck port 8080\b/);
      }
      expect(setting(p, 'balance')).toBe('leastconn');
      expect(setting(p, 'option')).toBe('httpchk GET /readyz');
      expect(p.lines).toContain('http-check expect status 200');
      // MQTT and the HTTP port carry more than HTTP (TLS, WebSocket, event streams): TCP pass-through
      expect(setting(p, 'mode') ?? setting(SECTIONS.find((s) => s.kind === 'defaults')!, 'mode')).toBe('tcp');
    }
  });

  it('sends each client\'s address in a PROXY v2 header, health checks included, which the nodes take from HAProxy\'s fixed address only', () => {
    for (const name of ['mqtt', 'mqtt-tls', 'http']) {
      for (const server of serversOf(proxies.find((p) => p.name === name)!)) {
        expect(server.options, `${name}/${server.name}`).toMatch(/\bsend-proxy-v2\b/);
        // the /readyz checks go to the HTTP port, which expects the header from HAProxy
        expect(server.options, `${name}/${server.name}`).toMatch(/\bcheck-send-proxy\b/);
      }
    }
    const haproxyAddress = (services.haproxy.networks as Json).default.ipv4_address as string;
    const subnet = ((compose.networks as Json).default.ipam.config as Json[])[0]!.subnet as string;
    expect(haproxyAddress.split('.').slice(0, 3).join('.')).toBe(subnet.split('.').slice(0, 3).join('.'));
    for (const node of NODES) {
      const env = envOf(services[node]);
      expect(env.MQTT_PROXY_PROTOCOL, node).toBe('v1v2');
      expect(env.MQTT_TRUSTED_PROXIES, node).toBe(haproxyAddress);
      expect(env.HTTP_PROXY_PROTOCOL, node).toBe('v1v2');
      expect(env.HTTP_TRUSTED_PROXIES, node).toBe(haproxyAddress);
    }
    // the single gateway, reached directly, reads no header
    expect(envOf(services.gateway).MQTT_PROXY_PROTOCOL).toBeUndefined();
    expect(envOf(services.gateway).HTTP_PROXY_PROTOCOL).toBeUndefined();
  });

  it('starts without the gateways (init-addr none, Docker\'s DNS) and keeps long-lived MQTT connections', () => {
    const defaults = SECTIONS.find((s) => s.kind === 'defaults')!;
    const defaultServer = setting(defaults, 'default-server')!;
    expect(defaultServer).toMatch(/\binit-addr last,libc,none\b/);
    expect(defaultServer).toMatch(/\bresolvers docker\b/);
    const resolvers = SECTIONS.find((s) => s.kind === 'resolvers' && s.name === 'docker')!;
    expect(resolvers.lines.some((l) => /^nameserver \S+ 127\.0\.0\.11:53$/.test(l))).toBe(true);
    // an idle MQTT connection is the gateway's to close (1.5 x keep-alive), not HAProxy's: well above
    // MQTT.js's 60 s keep-alive and above the gateway's HTTP idle timeouts (72 s keep-alive, 120 s idle)
    expect(duration(setting(defaults, 'timeout tunnel')!)).toBeGreaterThanOrEqual(10 * 60_000);
    expect(duration(setting(defaults, 'timeout client')!)).toBeGreaterThanOrEqual(30_000);
    expect(duration(setting(defaults, 'timeout server')!)).toBeGreaterThanOrEqual(30_000);
    // a stats page on its own port
    const stats = proxies.find((p) => p.lines.includes('stats enable'))!;
    expect(stats.lines).toContain('bind :8404');
    expect(stats.lines.some((l) => l.startsWith('stats admin'))).toBe(false);
  });

  it('is valid for the real HAProxy although gateway-1 and gateway-2 do not resolve here; without init-addr it is not', async () => {
    const binary = haproxyBinary();
    expect(binary, 'HAProxy is not installed: apt-get install --no-install-recommends haproxy (.ci/run does)').toBeDefined();
    const check = (file: string) => spawnSync(binary!, ['-c', '-f', file], { encoding: 'utf8' });
    const shipped = check(HAPROXY_CFG);
    expect(shipped.status, shipped.stderr).toBe(0);
    expect(shipped.stdout + shipped.stderr).toMatch(/Configuration file is valid/);

    // The proof that init-addr is what makes it start: the same file without it (and without the
    // resolvers, which also imply it) is refused, as long as the names really do not resolve here.
    const resolvable = await Promise.all(NODES.map((n) => lookup(n).then(() => true, () => false)));
    if (resolvable.some(Boolean)) return;
    expect(shipped.stderr).toMatch(/could not resolve address 'gateway-1'/);
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-cfg-'));
    try {
      const stripped = join(dir, 'no-init-addr.cfg');
      writeFileSync(stripped, CFG_TEXT.replace(/ init-addr \S+/, '').replace(/ resolvers docker/, ''));
      const refused = check(stripped);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/could not resolve address 'gateway-1'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('really starts and listens while no gateway exists (the names unresolved), with every node out of rotation', async () => {
    const source = CFG_TEXT;
    const hap = await runHaproxy({ roles: ['mqtt', 'mqttTls', 'http', 'stats'], render: (listen) => renderHaproxyConfig(source, { listen }) });
    try {
      const servers = await hap.servers();
      expect(servers.map((s) => `${s.proxy}/${s.server}`).sort()).toEqual(['http/gateway-1', 'http/gateway-2', 'mqtt-tls/gateway-1', 'mqtt-tls/gateway-2', 'mqtt/gateway-1', 'mqtt/gateway-2']);
      for (const s of servers) expect(s.status, `${s.proxy}/${s.server}`).not.toMatch(/^UP/);
      // the container's health check: HAProxy's own liveness on the stats port
      expect((await fetch(`http://127.0.0.1:${hap.statsPort}/healthz`)).status).toBe(200);
      // a device that connects meanwhile is closed, not left hanging
      const closed = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: hap.mqttPort });
        const timer = setTimeout(() => { socket.destroy(); resolve(false); }, 10_000);
        socket.on('error', () => undefined);
        socket.once('close', () => { clearTimeout(timer); resolve(true); });
      });
      expect(closed).toBe(true);
    } finally {
      await hap.stop();
    }
  });
});

// --- the real HAProxy in front of two tiny nodes ---------------------------------------------

interface FakeNode {
  name: string;
  mqttPort: number;
  httpPort: number;
  /** HTTP connections that came without a valid PROXY header. */
  proxyRefusals: number;
  /** Why each was refused (shown when a test finds refusals). */
  refusalReasons: string[];
  /** What /readyz answers: 200 when true, 503 when false. */
  ready: boolean;
  readyzHits: number;
  close(): Promise<void>;
}

/** A node: a TCP server that says its name and echoes (the MQTT port), and an HTTP server with /readyz. */
async function fakeNode(name: string): Promise<FakeNode> {
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  const node: FakeNode = {
    name, mqttPort: 0, httpPort: 0, ready: true, readyzHits: 0, proxyRefusals: 0, refusalReasons: [],
    async close() {
      for (const s of sockets) s.destroy();
      web.closeAllConnections();
      await Promise.all([new Promise((r) => tcp.close(r)), new Promise((r) => web.close(r))]);
    },
  };
  const web = http.createServer((req, res) => {
    if (req.url === '/readyz') {
      node.readyzHits++;
      res.writeHead(node.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: node.ready ? 'ready' : 'not ready' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  // as a node with HTTP_PROXY_PROTOCOL: HAProxy (on loopback here) must send the header, checks included
  readProxyHeaders(web, new ProxyProtocol({ trustedProxies: ['127.0.0.0/8'], timeoutMs: 3000, untrusted: 'direct', refused: (reason, address, why) => { node.proxyRefusals++; node.refusalReasons.push(`${reason} from ${address}: ${why}`); } }));
  const listen = (srv: net.Server) => new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)));
  node.mqttPort = await listen(tcp);
  node.httpPort = await listen(web);
  return node;
}

interface Via { node: string; socket: net.Socket; closed: Promise<void> }

/** A TCP connection through HAProxy's MQTT listener; resolves with the node that answered. */
function connectMqtt(port: number): Promise<Via> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let buf = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer through haproxy')); }, 5000);
    socket.on('error', () => undefined);
    socket.on('data', function first(d) {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', first);
      clearTimeout(timer);
      resolve({ node: buf.slice(0, nl), socket, closed });
    });
    socket.once('close', () => { clearTimeout(timer); reject(new Error('closed by haproxy before a node answered')); });
  });
}

/** One HTTP request on a new connection through HAProxy's HTTP listener; the node that answered. */
function httpVia(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function count(names: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return c;
}

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return { value, ms: Date.now() - start };
    if (Date.now() - start > deadlineMs) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the shipped HAProxy configuration in front of two nodes', () => {
  let a: FakeNode;
  let b: FakeNode;
  let hap: HaproxyHandle;
  const open: net.Socket[] = [];

  beforeAll(async () => {
    a = await fakeNode('gateway-1');
    b = await fakeNode('gateway-2');
    hap = await startHaproxy({ backends: { mqtt: [a.mqttPort, b.mqttPort], http: [a.httpPort, b.httpPort] } });
  });

  afterAll(async () => {
    for (const s of open) s.destroy();
    await hap?.stop();
    await a?.close();
    await b?.close();
  });

  const state = (servers: ServerState[], proxy: string, server: string) => servers.find((s) => s.proxy === proxy && s.server === server)?.status ?? '?';

  it('runs the shipped settings, with only the addresses replaced', () => {
    expect(hap.config).toMatch(/balance leastconn/);
    expect(hap.config).toMatch(/option httpchk GET \/readyz/);
    expect(hap.config).toMatch(/init-addr last,libc,none/);
    expect(hap.config).toContain(`server gateway-1 127.0.0.1:${a.mqttPort} check port ${a.httpPort}`);
    expect(hap.config).toContain(`server gateway-2 127.0.0.1:${b.mqttPort} check port ${b.httpPort}`);
    expect(hap.config).not.toMatch(/gateway-\d:\d+/);
  });

  it('spreads MQTT connections and HTTP requests over both ready nodes, both ways', async () => {
    await until('both nodes UP', 15_000, async () => {
      const s = await hap.servers();
      return ['mqtt', 'http'].every((p) => NODES.every((n) => state(s, p, n) === 'UP')) ? true : undefined;
    });
    const vias: Via[] = [];
    for (let i = 0; i < 8; i++) vias.push(await connectMqtt(hap.mqttPort));
    open.push(...vias.map((v) => v.socket));
    const mqtt = count(vias.map((v) => v.node));
    // leastconn over connections that stay open: each node gets half
    expect(mqtt).toEqual({ 'gateway-1': 4, 'gateway-2': 4 });
    // bytes go both ways through the tunnel
    const echo = await new Promise<string>((resolve) => {
      vias[0]!.socket.once('data', (d) => resolve(String(d)));
      vias[0]!.socket.write('PINGREQ\n');
    });
    expect(echo).toBe('PINGREQ\n');

    const answers: string[] = [];
    for (let i = 0; i < 8; i++) answers.push(await httpVia(hap.httpPort));
    const web = count(answers);
    expect(web['gateway-1'] ?? 0).toBeGreaterThan(0);
    expect(web['gateway-2'] ?? 0).toBeGreaterThan(0);
    // the health checks ask each node's HTTP port for /readyz
    expect(a.readyzHits).toBeGreaterThan(0);
    expect(b.readyzHits).toBeGreaterThan(0);
    // requests and checks alike came with a PROXY header (the nodes would refuse them otherwise)
    expect([a.proxyRefusals, b.proxyRefusals], [...a.refusalReasons, ...b.refusalReasons].join('; ')).toEqual([0, 0]);
  });

  it('takes a node whose /readyz answers 503 out of rotation (new and open connections), and back when it is ready', async () => {
    const onB = await connectMqtt(hap.mqttPort).then(async (v) => (v.node === 'gateway-2' ? v : connectMqtt(hap.mqttPort)));
    open.push(onB.socket);
    expect(onB.node).toBe('gateway-2');

    b.ready = false;
    const down = await until('gateway-2 marked DOWN by the health checks', 20_000, async () => {
      const s = await hap.servers();
      return state(s, 'mqtt', 'gateway-2') === 'DOWN' && state(s, 'http', 'gateway-2') === 'DOWN' ? true : undefined;
    });
    // fall 3 with fastinter 1s: it took at least two failed checks, and not much more than inter + 2 x fastinter
    expect(down.ms).toBeGreaterThanOrEqual(1000);
    // on-marked-down shutdown-sessions: its devices are disconnected, to reconnect to a ready node
    await expect(Promise.race([onB.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 5000))])).resolves.toBe('closed');

    // every new connection goes to gateway-1, although gateway-2 now has far fewer (leastconn would pick it)
    const vias: Via[] = [];
    for (let i = 0; i < 6; i++) vias.push(await connectMqtt(hap.mqttPort));
    open.push(...vias.map((v) => v.socket));
    expect(count(vias.map((v) => v.node))).toEqual({ 'gateway-1': 6 });
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await httpVia(hap.httpPort));
    expect(count(answers)).toEqual({ 'gateway-1': 6 });

    // ready again: back in rotation after `rise` good checks, and then it gets new connections
    b.ready = true;
    await until('gateway-2 UP again', 20_000, async () => {
      const s = await hap.servers();
      return state(s, 'mqtt', 'gateway-2') === 'UP' ? true : undefined;
    });
    const back = await until('a new connection on gateway-2', 20_000, async () => {
      const v = await connectMqtt(hap.mqttPort);
      open.push(v.socket);
      return v.node === 'gateway-2' ? v : undefined;
    });
    expect(back.value.node).toBe('gateway-2');
  });
});
