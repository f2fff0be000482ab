/**
 * A tiny request/response protocol over the fork() IPC channel, so the benchmark can drive a broker,
 * a gateway and a load generator in separate processes (as they would be deployed) and ask each for
 * numbers (RSS, counters) without sharing an event loop with them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Handler = (args: any) => Promise<unknown> | unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** In a child: answer requests with the given handlers. */
export function serve(handlers: Record<string, Handler>): void {
  process.on('message', async (msg: { id: number; cmd: string; args: unknown }) => {
    try {
      const handler = handlers[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg.args);
      process.send!({ id: msg.id, result });
    } catch (err) {
      process.send!({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  // the benchmark is gone (crashed, killed): do not outlive it
  process.once('disconnect', () => process.exit(1));
  process.send!({ id: 0, result: 'ready' });
}

export interface Proc {
  call<T = unknown>(cmd: string, args?: unknown): Promise<T>;
  child: ChildProcess;
  /** SIGTERM, and SIGKILL if it has not exited after `graceMs` (5 s). */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** Each line the child prints (stdout and stderr) goes here instead of to this process's output. */
  onLine?: (line: string) => void;
  /** A fresh temp directory, passed as BENCH_DATA_DIR, removed when the child has exited. */
  dataDir?: boolean;
}

/** In the parent: start a child script and wait until it is ready. */
export function spawnProc(script: string, execArgv: string[] = [], env: NodeJS.ProcessEnv = {}, opts: SpawnOptions = {}): Promise<Proc> {
  const dataDir = opts.dataDir ? mkdtempSync(join(tmpdir(), 'bench-gw-')) : undefined;
  const child = fork(script, [], {
    execArgv, env: { ...process.env, ...env, ...(dataDir ? { BENCH_DATA_DIR: dataDir } : {}) },
    stdio: ['ignore', opts.onLine ? 'pipe' : 'inherit', opts.onLine ? 'pipe' : 'inherit', 'ipc'],
  });
  if (dataDir) child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  if (opts.onLine) {
    const onLine = opts.onLine;
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop()!;
        for (const l of lines) if (l) onLine(l);
      });
      stream.on('end', () => { if (rest) onLine(rest); rest = ''; });
    }
  }
  let next = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    child.on('message', (msg: { id: number; result?: unknown; error?: string }) => {
      if (msg.id === 0) {
        resolve({
          child,
          call: (cmd, args) => new Promise((res, rej) => {
            const id = next++;
            pending.set(id, { resolve: res, reject: rej });
            child.send({ id, cmd, args });
          }),
          stop: (graceMs = 5000) => new Promise<void>((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            child.once('exit', () => res());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
          }),
        });
        return;
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
    child.once('exit', (code, signal) => {
      const how = signal ? `signal ${signal}` : `code ${code}`;
      reject(new Error(`${script} exited with ${how} before it was ready`));
      for (const p of pending.values()) p.reject(new Error(`${script} exited with ${how}`));
    });
  });
}

/** `p`, or a rejection naming `what` after `ms`: a step that cannot go on says so instead of waiting forever. */
export function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Resident memory of a process, from /proc (Linux); 0 when it is gone. */
export function rssOf(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  } catch {
    return 0;
  }
}

/** CPU seconds a process has used so far, all its threads, user and system (Linux; 0 when it is gone). */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    // the fields after the command's closing parenthesis: utime and stime are the 12th and 13th
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** Linux's USER_HZ, the unit of /proc/<pid>/stat times: 100 on every architecture Node runs on here. */
const CLOCK_TICKS = 100;

/** Resident set size after a full garbage collection (the child runs with --expose-gc). */
export function settledRss(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) { gc(); gc(); }
  return process.memoryUsage().rss;
}

/**
 * Handlers that sample this process's CPU (V8's profiler, through the inspector) between
 * `profileStart` and `profileStop`, so a profile covers the measured window only, not the start-up:
 * `profileStop` writes a `.cpuprofile` (Chrome DevTools' format; bench/profile-summary.ts reads it).
 */
export function profilerHandlers(): Record<string, Handler> {
  let session: Session | undefined;
  /** Ends the sampling `session` runs and writes what it gathered to `file`. */
  const stop = async (method: 'Profiler.stop' | 'HeapProfiler.stopSampling', unstarted: string, file: string) => {
    if (!session) throw new Error(unstarted);
    // both answer { profile }: the CPU profile or the sampled heap profile
    const { profile } = (await session.post(method as 'Profiler.stop')) as { profile: unknown };
    session.disconnect();
    session = undefined;
    writeFileSync(file, JSON.stringify(profile));
    return file;
  };
  return {
    async profileStart(args: { intervalUs?: number } = {}) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: args.intervalUs ?? 500 });
      await session.post('Profiler.start');
      return true;
    },
    /** Allocation sampling (V8's sampling heap profiler): where the garbage comes from. */
    async heapProfileStart() {
      session = new Session();
      session.connect();
      await session.post('HeapProfiler.enable');
      await session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return true;
    },
    heapProfileStop: (args: { file: string }) => stop('HeapProfiler.stopSampling', 'heapProfileStop without heapProfileStart', args.file),
    profileStop: (args: { file: string }) => stop('Profiler.stop', 'profileStop without profileStart', args.file),
  };
}
