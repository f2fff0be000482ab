/**
 * A private InfluxDB 1.x (`/usr/bin/influxd`) for integration tests: its own temp directory, its
 * own free ports (HTTP and the RPC bind-address, since 8088 may be taken), nothing else enabled.
 * `stop()` / `start()` simulate an outage on the SAME port and data; `kill()` simulates a crash.
 * Safe with several vitest files in parallel: ports come from listening on port 0, and a start that
 * loses a port race is retried on fresh ports (first start only; a restart must keep its port).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InfluxdOptions {
  binary?: string;
  /** How long to wait for /ping after spawning. */
  startTimeoutMs?: number;
  /** influxd log level (its logs are kept in memory for error messages only). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface InfluxdHandle {
  readonly url: string;
  readonly port: number;
  /** The temp directory holding meta/data/wal and the config file. */
  readonly dir: string;
  readonly running: boolean;
  /** Restart after stop()/kill(): same port, same data. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves when the process is gone. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL (a crash); resolves when the process is gone. */
  kill(): Promise<void>;
  /** Stops the process and deletes the temp directory. */
  dispose(): Promise<void>;
}

/** Server processes still running (influxd, the tests' HAProxy), killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills `child` when this process exits, unless it exited first. */
export function killOnExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        try { c.kill('SIGKILL'); } catch { /* already gone */ }
      }
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** A port nobody listens on right now (the OS picks it). Another process may still take it before influxd does. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function configText(dir: string, httpPort: number, rpcPort: number, logLevel: string): string {
  // Only what a test needs: the HTTP API. Monitoring, CQs, subscribers and all other listeners are
  // off so parallel test files cannot collide on ports and the server starts fast.
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  write-timeout = "10s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = false
  log-enabled = false
  write-tracing = false
  pprof-enabled = false
  https-enabled = false
  unix-socket-enabled = false
  max-body-size = 25000000

[logging]
  format = "logfmt"
  level = "${logLevel}"
  suppress-logo = true

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
`;
}

function ping(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startInfluxd(options: InfluxdOptions = {}): Promise<InfluxdHandle> {
  const binary = options.binary ?? '/usr/bin/influxd';
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const logLevel = options.logLevel ?? 'warn';
  const dir = mkdtempSync(join(tmpdir(), 'influxd-test-'));
  const confPath = join(dir, 'influxdb.conf');
  let httpPort = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let disposed = false;

  async function spawnOnce(): Promise<{ ok: true } | { ok: false; reason: string; portInUse: boolean }> {
    const output: string[] = [];
    const proc = spawn(binary, ['-config', confPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // No INFLUXDB_* overrides from the developer's environment.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    });
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 50) output.shift();
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let exitCode: number | null | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : 0);
        resolve();
      });
    });
    proc.once('error', (err) => output.push(String(err)));
    killOnExit(proc);
    child = proc;
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) break;
      if ((await ping(httpPort)) === 204) return { ok: true };
      await sleep(50);
    }
    const text = output.join('');
    if (exitCode === undefined) {
      proc.kill('SIGKILL');
      await exited;
    }
    child = null;
    return { ok: false, reason: text.slice(-2000) || `exit code ${String(exitCode)}`, portInUse: /address already in use/i.test(text) };
  }

  async function firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      httpPort = await freePort();
      const rpcPort = await freePort();
      writeFileSync(confPath, configText(dir, httpPort, rpcPort, logLevel));
      const result = await spawnOnce();
      if (result.ok) return;
      if (!result.portInUse || attempt >= 5) throw new Error(`influxd did not start: ${result.reason}`);
    }
  }

  async function restart(): Promise<void> {
    if (disposed) throw new Error('influxd harness already disposed');
    if (child) return;
    // Same port: the writer under test keeps its URL. A lingering socket can make the bind fail
    // for a moment, so retry a few times before giving up.
    for (let attempt = 1; ; attempt++) {
      const result = await spawnOnce();
      if (result.ok) return;
      if (!result.portInUse || attempt >= 10) throw new Error(`influxd did not restart: ${result.reason}`);
      await sleep(200);
    }
  }

  async function terminate(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = null;
    proc.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
    // Stopped means stopped: wait until the port refuses connections, so a test's "outage" is real.
    while ((await ping(httpPort)) !== 0) await sleep(20);
  }

  try {
    await firstStart();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    get url() { return `http://127.0.0.1:${httpPort}`; },
    get port() { return httpPort; },
    dir,
    get running() { return child !== null; },
    start: restart,
    stop: (timeoutMs = 10_000) => terminate('SIGTERM', timeoutMs),
    kill: () => terminate('SIGKILL', 0),
    async dispose() {
      if (disposed) return;
      await terminate('SIGTERM', 5_000);
      disposed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
