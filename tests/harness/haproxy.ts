/**
 * Debian's HAProxy (`apt-get install haproxy`) running the shipped load-balancer configuration,
 * deploy/haproxy.cfg, in front of local servers. Only two kinds of line are rewritten:
 *   - each `bind` becomes 127.0.0.1 on a free port (the MQTT, MQTT-TLS, HTTP and stats listeners);
 *   - the server lines of each listener become one line per local backend, `gateway-1`, `gateway-2`, …
 *     on 127.0.0.1, keeping the shipped server options and pointing `check port` at that backend's
 *     HTTP port (node i's MQTT server and HTTP server are `mqtt[i]` and `http[i]`).
 * Everything else (balancing, health checks, timeouts, resolvers, init-addr) is what ships, so a test
 * through this harness tests the real configuration. That includes `send-proxy-v2` on the MQTT and
 * MQTT-TLS server lines: those backends receive a PROXY v2 header before the client's first byte (a
 * gateway reads it with mqtt.proxyProtocol v1v2, tests/proxy-protocol.test.ts); the health checks go to
 * the HTTP port (`check port`) and carry none. A plain TCP backend sees the header as its first bytes:
 * cluster-deploy.test.ts's nodes write their name before they read anything and echo the rest, so the
 * name still comes first and the header's echo is gone before their echo check writes. HAProxy runs in the foreground (-db) and is
 * stopped (SIGTERM, then SIGKILL) by `stop()`, or killed when the test process exits.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, killOnExit } from '../../bench/influxd.js';

export const SHIPPED_HAPROXY_CFG = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy/haproxy.cfg');

/** The container ports of the shipped configuration (the gateway's own ports, and HAProxy's stats page). */
const ROLE_OF_PORT: Record<number, Role> = { 1883: 'mqtt', 8883: 'mqttTls', 8080: 'http', 8404: 'stats' };
type Role = 'mqtt' | 'mqttTls' | 'http' | 'stats';

export interface HaproxyBackends {
  /** MQTT ports of the nodes, in node order. */
  mqtt: number[];
  /** HTTP ports of the nodes (API and /readyz, the health-check port), in the same order. */
  http: number[];
  /** MQTT-over-TLS ports; without them the TLS listener is left out. */
  mqttTls?: number[];
}

export interface HaproxyOptions {
  backends: HaproxyBackends;
  /** The configuration to derive from; deploy/haproxy.cfg by default. */
  configFile?: string;
  binary?: string;
  /** How long to wait for the listeners after spawning. */
  startTimeoutMs?: number;
}

export interface ServerState {
  /** The listener (`mqtt`, `http`, …). */
  proxy: string;
  /** `gateway-1`, … */
  server: string;
  /** HAProxy's status column: UP, DOWN, `UP 1/3` (going down), `DOWN 1/2` (going up), MAINT, … */
  status: string;
  /** Sessions open right now. */
  sessions: number;
}

export interface HaproxyHandle {
  mqttPort: number;
  httpPort: number;
  statsPort: number;
  mqttTlsPort?: number;
  /** The configuration HAProxy runs. */
  config: string;
  /** What HAProxy logged (stdout and stderr). */
  output(): string;
  /** Every server's state, from the stats page's CSV export. */
  servers(): Promise<ServerState[]>;
  stop(): Promise<void>;
}

/** A section starts at a keyword in the first column; its body is indented. */
const SECTION = /^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|mailers|program|http-errors|ring|cache)\b/;

function splitSections(text: string): string[][] {
  const sections: string[][] = [[]];
  for (const line of text.split('\n')) {
    if (SECTION.test(line)) sections.push([]);
    sections[sections.length - 1]!.push(line);
  }
  return sections;
}

function portOf(address: string): number {
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in address ${address}`);
  return port;
}

function roleOf(port: number, what: string): Role {
  const role = ROLE_OF_PORT[port];
  if (!role) throw new Error(`haproxy harness: ${what} on port ${port}, which it does not know how to map; extend ROLE_OF_PORT`);
  return role;
}

export interface RenderOptions {
  /** The local port of each listener. */
  listen: Partial<Record<Role, number>>;
  /** Local backends; undefined keeps the shipped server lines (names resolved through DNS). */
  backends?: HaproxyBackends;
}

/** The shipped configuration with local bind addresses and (optionally) local servers. */
export function renderHaproxyConfig(source: string, opts: RenderOptions): string {
  const out: string[] = [];
  for (const section of splitSections(source)) {
    const roles = new Set<Role>();
    for (const line of section) {
      const bind = /^\s+bind\s+(\S+)/.exec(line);
      if (bind) roles.add(roleOf(portOf(bind[1]!), 'a bind'));
      const server = /^\s+server\s+\S+\s+(\S+)/.exec(line);
      if (server) roles.add(roleOf(portOf(server[1]!), 'a server'));
    }
    // a listener whose local port was not given (MQTT over TLS without TLS backends) is left out
    if ([...roles].some((r) => opts.listen[r] === undefined)) continue;

    let serversWritten = false;
    for (const line of section) {
      const bind = /^(\s+)bind\s+(\S+)(.*)$/.exec(line);
      if (bind) {
        const port = opts.listen[roleOf(portOf(bind[2]!), 'a bind')]!;
        out.push(`${bind[1]}bind 127.0.0.1:${port}${bind[3]}`);
        continue;
      }
      const server = /^(\s+)server\s+(\S+)\s+(\S+)(.*)$/.exec(line);
      if (server && opts.backends) {
        if (serversWritten) continue;
        serversWritten = true;
        const role = roleOf(portOf(server[3]!), 'a server');
        const ports = role === 'mqtt' ? opts.backends.mqtt : role === 'http' ? opts.backends.http : opts.backends.mqttTls ?? [];
        if (ports.length !== opts.backends.http.length) throw new Error(`haproxy harness: ${ports.length} ${role} backends but ${opts.backends.http.length} HTTP (health-check) ports`);
        // the first shipped server line is the template for every local one
        const options = server[4]!;
        ports.forEach((port, i) => {
          const checkPort = / port \d+/.test(options) ? options.replace(/ port \d+/, ` port ${opts.backends!.http[i]!}`) : `${options} port ${opts.backends!.http[i]!}`;
          out.push(`${server[1]}server gateway-${i + 1} 127.0.0.1:${port}${checkPort}`);
        });
        continue;
      }
      out.push(line);
    }
  }
  return out.join('\n');
}


export function haproxyBinary(): string | undefined {
  return ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs HAProxy on a configuration rendered for free local ports; retries on fresh ports if one was taken meanwhile. */
export async function runHaproxy(opts: { render: (listen: Record<Role, number>) => string; roles: Role[]; binary?: string; startTimeoutMs?: number }): Promise<HaproxyHandle> {
  const binary = opts.binary ?? haproxyBinary();
  if (!binary) throw new Error('HAProxy is not installed: apt-get install --no-install-recommends haproxy (.ci/run does)');
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;

  for (let attempt = 1; ; attempt++) {
    const listen = {} as Record<Role, number>;
    for (const role of opts.roles) listen[role] = await freePort();
    const config = opts.render(listen);
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-test-'));
    const cfgPath = join(dir, 'haproxy.cfg');
    writeFileSync(cfgPath, config);

    let out = '';
    const child = spawn(binary, ['-db', '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    child.once('error', (err) => { out += String(err); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const running = () => child.exitCode === null && child.signalCode === null;

    const stop = async () => {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (running()) child.kill('SIGKILL'); }, 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    };

    const deadline = Date.now() + startTimeoutMs;
    let up = false;
    while (Date.now() < deadline && running()) {
      const states = await Promise.all(opts.roles.map((r) => accepts(listen[r])));
      if (states.every(Boolean)) { up = true; break; }
      await sleep(50);
    }
    if (up && running()) {
      const statsPort = listen.stats;
      return {
        mqttPort: listen.mqtt,
        httpPort: listen.http,
        statsPort,
        ...(listen.mqttTls === undefined ? {} : { mqttTlsPort: listen.mqttTls }),
        config,
        output: () => out,
        async servers() {
          const csv = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`).then((r) => r.text());
          const [header, ...rows] = csv.trim().split('\n');
          const cols = header!.replace(/^# /, '').split(',');
          const at = (name: string) => cols.indexOf(name);
          return rows.map((r) => r.split(','))
            .filter((f) => f[at('svname')] !== 'FRONTEND' && f[at('svname')] !== 'BACKEND')
            .map((f) => ({ proxy: f[at('pxname')]!, server: f[at('svname')]!, status: f[at('status')]!, sessions: Number(f[at('scur')]) }));
        },
        stop,
      };
    }
    await stop();
    if (attempt < 3 && /address already in use|cannot bind/i.test(out)) continue;
    throw new Error(`haproxy did not start within ${startTimeoutMs} ms:\n${out.slice(-3000)}`);
  }
}

/** The shipped deploy/haproxy.cfg in front of local backends (see the file comment). */
export async function startHaproxy(opts: HaproxyOptions): Promise<HaproxyHandle> {
  const source = readFileSync(opts.configFile ?? SHIPPED_HAPROXY_CFG, 'utf8');
  const roles: Role[] = ['mqtt', 'http', 'stats', ...(opts.backends.mqttTls ? ['mqttTls' as const] : [])];
  return runHaproxy({
    roles,
    render: (listen) => renderHaproxyConfig(source, { listen, backends: opts.backends }),
    ...(opts.binary ? { binary: opts.binary } : {}),
    ...(opts.startTimeoutMs ? { startTimeoutMs: opts.startTimeoutMs } : {}),
  });
}
