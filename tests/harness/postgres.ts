/**
 * A private PostgreSQL server for the tests (Debian's `postgresql` package): `initdb` into a temp
 * directory, the server on a free port on loopback with its socket in that directory, stopped and
 * removed afterwards. PostgreSQL refuses to run as root, so as root (CI) it runs as `postgres`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../bench/influxd.js';

export interface PostgresHandle {
  url: string;
  port: number;
  /** A pool on the test database; closed by `stop`. */
  pool: pg.Pool;
  /** Stops the server (fast shutdown: connections are ended), keeping its data, to start it again. */
  stopServer(): Promise<void>;
  /** Starts the stopped server again, on the same port and data. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

/** The directory of Debian's PostgreSQL server binaries, or undefined when the package is missing. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export async function startPostgres(): Promise<PostgresHandle> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'pg-test-'));
  const asRoot = process.getuid?.() === 0;
  const uid = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : undefined;
  const gid = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) : undefined;
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const run = (cmd: string, args: string[]) => execFileSync(join(bin, cmd), args, { stdio: 'pipe', ...(uid === undefined ? {} : { uid, gid }) });
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const launch = async () => {
    const server = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
      { stdio: 'ignore', ...(uid === undefined ? {} : { uid, gid }) });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const probe = new pg.Client({ connectionString: url });
      try {
        await probe.connect();
        await probe.end();
        return server;
      } catch (err) {
        await probe.end().catch(() => undefined);
        if (server.exitCode !== null || Date.now() > deadline) throw new Error(`PostgreSQL did not start: ${String(err)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const halt = async (server: ChildProcess, signal: NodeJS.Signals) => {
    const exited = new Promise<void>((resolve) => { if (server.exitCode !== null || server.signalCode !== null) resolve(); else server.once('exit', () => resolve()); });
    server.kill(signal);
    await exited;
  };
  let server = await launch();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // an idle connection the server ends (its shutdown, a test's pg_terminate_backend) is not a test failure
  pool.on('error', () => undefined);
  return {
    url, port, pool,
    async stopServer() { await halt(server, 'SIGINT'); },
    async startServer() { server = await launch(); },
    async stop() {
      await pool.end();
      await halt(server, 'SIGINT'); // fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
