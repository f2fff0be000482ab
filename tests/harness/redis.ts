/**
 * A private Redis server for the tests (Debian's `redis-server` package): on a free port on
 * loopback, no password, its working directory a fresh temp directory, nothing saved to disk
 * (`--save ''`, `--appendonly no`: what a test writes is thrown away with it), stopped with SIGTERM
 * and removed afterwards. `restart` stops it and starts it again on the same port, empty, which is
 * what a Redis crash looks like to its clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/influxd.js';

export interface RedisHandle {
  /** `redis://127.0.0.1:{port}` */
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops the server and starts a fresh one on the same port (its data is gone: nothing is saved). */
  restart(): Promise<void>;
  /** Stops the server process (SIGSTOP): connections stay open and nothing is answered until `thaw`. */
  freeze(): void;
  thaw(): void;
}

/** Debian's binary, or the one on PATH. */
const REDIS_SERVER = 'redis-server';

/** One PING over a fresh socket: resolves true on `+PONG`, false on anything else (refused, loading, timeout). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startRedis(): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  let port = 0;
  let server: ChildProcess | undefined;
  let out = '';

  const spawnServer = async (): Promise<void> => {
    out = '';
    const child = spawn(REDIS_SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      // a test server: no protected mode dance, no daemon, logs to stdout (kept for the error message)
      '--protected-mode', 'no', '--daemonize', 'no', '--logfile', '',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => reject(new Error(`redis-server did not start (apt-get install redis-server; .ci/run does): ${err.message}`, { cause: err })));
    });
    await spawned;
    const deadline = Date.now() + 20_000;
    while (!(await ping(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited(child);
        throw new Error(`redis-server did not start on port ${port}:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stopServer = async (): Promise<void> => {
    const child = server;
    server = undefined;
    if (!child) return;
    const gone = exited(child);
    child.kill('SIGTERM');
    await gone;
  };

  // a free port can be taken between the probe and the bind (parallel test files): try another
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await spawnServer();
      break;
    } catch (err) {
      if (attempt < 5 && out.includes('Address already in use')) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await stopServer();
      await spawnServer();
    },
    freeze() {
      server?.kill('SIGSTOP');
    },
    thaw() {
      server?.kill('SIGCONT');
    },
    async stop() {
      // a frozen server does not act on SIGTERM
      server?.kill('SIGCONT');
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
