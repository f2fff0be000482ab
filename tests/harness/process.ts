/**
 * The gateway as a real child process (`node dist/gateway/main.js`, what `npm start` runs), so a
 * test can SIGKILL it and start it again on the same data directory and ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/influxd.js';
import { ADMIN_TOKEN } from './gateway.js';

export interface GatewayProcess {
  dataDir: string;
  mqttUrl: string;
  httpUrl: string;
  /** Resident memory of the running process, from /proc (Linux). */
  rssBytes(): number;
  /** What the process printed on stdout and stderr (its logs), for assertions and failure messages. */
  output(): string;
  start(): Promise<void>;
  /** SIGKILL: no shutdown hook runs, nothing is flushed. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function gatewayProcess(env: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-proc-'));
  // a port found free can be taken before the gateway binds it (parallel test files): the first start
  // then tries others; later starts keep the ports (a restart comes back where its clients are)
  let mqttPort = await freePort();
  let httpPort = await freePort();
  let started = false;
  let child: ChildProcess | undefined;
  let out = '';

  const waitExit = (c: ChildProcess) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
  });

  const launch = async (): Promise<void> => {
    child = spawn(process.execPath, ['dist/gateway/main.js'], {
      env: { ...process.env, DATA_DIR: dataDir, MQTT_PORT: String(mqttPort), MQTT_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), HTTP_HOST: '127.0.0.1', ADMIN_TOKEN, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${out}`);
      const ok = await fetch(`${p.httpUrl}/readyz`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gateway not ready within 20 s:\n${out}`);
  };

  const p: GatewayProcess = {
    dataDir,
    get mqttUrl() { return `mqtt://127.0.0.1:${mqttPort}`; },
    get httpUrl() { return `http://127.0.0.1:${httpPort}`; },
    output: () => out,
    rssBytes() {
      const status = readFileSync(`/proc/${child!.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async start() {
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          started = true;
          return;
        } catch (err) {
          if (started || attempt >= 5 || !out.includes('EADDRINUSE')) throw err;
          out = '';
          [mqttPort, httpPort] = [await freePort(), await freePort()];
        }
      }
    },
    async kill() {
      if (!child) return;
      const c = child;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async stop() {
      if (!child) return;
      const c = child;
      c.kill('SIGTERM');
      await waitExit(c);
    },
    async dispose() {
      await p.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return p;
}
