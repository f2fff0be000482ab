/**
 * Modbus TCP polling of pump-room controllers (PLCs): one connection and one loop per target
 * (host, port, unit), each polled at its model's interval, never two polls of one target at once.
 * Targets are independent: a controller that does not answer waits out its own timeouts and
 * backoff while the others keep their rhythm, and `maxConcurrentPolls` bounds the reads in flight
 * over all of them.
 *
 * Failures are counted (`poll_failed`, `poll_timeout`), logged at the first failure of a run, then
 * at most once per `logEveryMs`, then at the recovery, and never thrown: a poll that fails is
 * retried after the project's backoff (core/backoff.ts, full jitter), never sooner than the
 * target's interval. A Modbus exception is an answer (the link works, the request was refused), so
 * the connection stays and the next poll comes at the interval.
 *
 * Each poll becomes one telemetry object stamped with the time its last answer arrived and goes
 * through the gateway's pipeline (`DeviceIngress.submit`), which validates, stores and evaluates
 * it like any MQTT reading. The device's presence follows its data (no data for `offlineAfter`:
 * device.offline), not the TCP connection: a controller is polled, it does not hold a session.
 *
 * Run on one node only (the cluster's timer leader): two nodes polling one PLC would double its
 * load and its readings.
 */
import Modbus from 'modbus-serial';
import type { Logger } from '../../core/log.js';
import { backoffDelay } from '../../core/backoff.js';
import type { DeviceIngress, FieldDevice } from '../ingress.js';
import { missingFields, type ModbusModel, type ModbusSettings, type ModbusTarget } from './config.js';
import { decodePoll, planReads, type ReadRequest, type ReadResult } from './registers.js';

type Client = InstanceType<typeof Modbus.default>;

export interface ModbusPollerDeps {
  ingress: DeviceIngress;
  settings: ModbusSettings;
  log: Logger;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  /** Uniform in [0, 1), for the backoff's jitter and the first poll's spread. */
  random?: () => number;
}

export interface ModbusTargetStatus {
  device: string;
  host: string;
  port: number;
  unitId: number;
  model: string | undefined;
  connected: boolean;
  /** Epoch ms of the last poll that read every register. */
  lastOkAt: number | undefined;
  /** Why the last poll (or the target itself) failed; cleared by a successful poll. */
  lastError: string | undefined;
  consecutiveFailures: number;
}

/** What went wrong with one poll: the outcome counted, and whether the connection is still good. */
type Failure = { outcome: 'poll_failed' | 'poll_timeout'; message: string; keepConnection: boolean };

const TIMEOUT_ERRNO = 'ETIMEDOUT';
/** Our own deadline beyond the library's request timeout: a request it never settles (a destroyed socket) still ends. */
const BACKSTOP_MS = 1000;

class Aborted extends Error {}
class Deadline extends Error {}

/** A promise that rejects with `Deadline` after `ms` and with `Aborted` when `signal` fires; `onLate` cleans up after either. */
function bounded<T>(p: Promise<T>, ms: number, signal: AbortSignal, onLate?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) { onLate?.(); reject(new Aborted()); return; }
    const done = () => { clearTimeout(timer); signal.removeEventListener('abort', abort); };
    const abort = () => { done(); onLate?.(); reject(new Aborted()); };
    const timer = setTimeout(() => { done(); onLate?.(); reject(new Deadline()); }, ms);
    signal.addEventListener('abort', abort, { once: true });
    p.then((v) => { done(); resolve(v); }, (err: unknown) => { done(); reject(err); });
  });
}

/** A counting semaphore: at most `max` polls read at once; the others queue in arrival order. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(max: number) { this.free = max; }

  acquire(signal: AbortSignal): Promise<() => void> {
    const release = () => {
      const next = this.waiting.shift();
      if (next) next(); else this.free++;
    };
    if (this.free > 0) { this.free--; return Promise.resolve(release); }
    return new Promise((resolve, reject) => {
      const grant = () => { signal.removeEventListener('abort', abort); resolve(release); };
      const abort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Aborted());
      };
      signal.addEventListener('abort', abort, { once: true });
      this.waiting.push(grant);
    });
  }
}

/** What the loops share: settings, the gateway, the clock, the cached read plans. */
interface Shared {
  ingress: DeviceIngress;
  settings: ModbusSettings;
  log: Logger;
  now: () => number;
  random: () => number;
  slots: Slots;
  plans: Map<string, ReadRequest[]>;
  /** Stops every loop's in-flight work at once. */
  signal: AbortSignal;
}

/** One controller's loop: resolve its device and model, connect, read, decode, submit, schedule the next poll. */
class TargetLoop {
  private client: Client | undefined;
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private model: string | undefined;
  private lastOkAt: number | undefined;
  private lastError: string | undefined;
  private failures = 0;
  /** A configuration problem reported once (unknown device, no register map, a map that misses fields). */
  private problem: string | undefined;
  /** Rate-limited failure logs: when the last one was written and how many failures were not logged since. */
  private loggedAt = 0;
  private unlogged = 0;
  private failingSince = 0;
  /** Undecodable readings: a dead letter for the first of a run, then at most one per `logEveryMs`; every one counted. */
  private deadLetterAt = 0;

  constructor(private readonly s: Shared, readonly target: ModbusTarget) {}

  private get where(): string {
    return `${this.target.host}:${this.target.port} unit ${this.target.unitId}`;
  }

  start(firstDelayMs: number): void {
    this.schedule(firstDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropConnection();
    await this.running;
  }

  status(): ModbusTargetStatus {
    return {
      device: this.target.device, host: this.target.host, port: this.target.port, unitId: this.target.unitId, model: this.model,
      connected: this.connected, lastOkAt: this.lastOkAt, lastError: this.lastError, consecutiveFailures: this.failures,
    };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().finally(() => { this.running = undefined; });
    }, Math.max(0, delayMs));
  }

  private async tick(): Promise<void> {
    let next: number;
    try {
      next = await this.poll();
    } catch (err) {
      // poll() handles every failure it knows; this is a bug, and one target's bug must not stop the others
      if (this.stopped || err instanceof Aborted) return;
      this.s.log.error({ err, device: this.target.device }, 'Modbus 轮询内部错误 / Modbus poll failed unexpectedly');
      next = this.s.settings.reconnect.maxDelayMs;
    }
    this.schedule(next);
  }

  /** One poll; resolves with the delay before the next. */
  private async poll(): Promise<number> {
    const { ingress, settings } = this.s;
    const recheck = settings.reconnect.minDelayMs;
    const device = ingress.byId(this.target.device);
    if (!device) {
      this.dropConnection();
      this.report(`unknown:${this.target.device}`,
        `Modbus: 设备 ${this.target.device} 未登记或已停用，不轮询 ${this.where} / device ${this.target.device} is not registered or is disabled: ${this.where} is not polled`);
      return recheck;
    }
    const model = device.model === undefined ? undefined : settings.models[device.model];
    this.model = device.model;
    if (!model) {
      this.dropConnection();
      this.report(`model:${device.model ?? ''}`,
        `Modbus: 设备 ${device.id} 的型号 ${device.model ?? '(未填)'} 没有寄存器表，不轮询 / device ${device.id} has model ${device.model ?? '(none)'}, which has no register map (protocols.modbus.models): not polled`, device);
      return recheck;
    }
    const missing = missingFields(device.kind, model.registers);
    if (missing.length > 0) {
      this.dropConnection();
      this.report(`fields:${device.model}:${device.kind}`,
        `Modbus: 型号 ${device.model} 的寄存器表缺少 ${device.kind} 的必填字段 ${missing.join(', ')}，不轮询 / the register map of model ${device.model} lacks the ${device.kind} fields ${missing.join(', ')}: not polled`, device);
      return recheck;
    }
    if (this.problem !== undefined) {
      this.problem = undefined;
      this.lastError = undefined;
      this.s.log.info({ device: device.id, target: this.where }, 'Modbus 目标可以轮询了 / Modbus target can be polled now');
    }

    const started = this.s.now();
    const release = await this.s.slots.acquire(this.s.signal);
    let failure: Failure | undefined;
    let results: ReadResult[] | undefined;
    const plan = this.planOf(device.model!, model);
    try {
      failure = await this.connect(model);
      if (!failure) ({ results, failure } = await this.readAll(plan, model));
    } finally {
      release();
    }
    if (this.stopped || this.s.signal.aborted) return 0;
    if (failure || !results) return this.failed(failure ?? { outcome: 'poll_failed', message: 'no answer', keepConnection: false }, model, device);

    const at = this.s.now();
    const { object, issues } = decodePoll(model.registers, plan, results);
    this.s.ingress.count('modbus', 'poll_ok');
    this.succeeded(at);
    const missingNow = missingFields(device.kind, model.registers.filter((r) => r.field in object));
    if (issues.length > 0) {
      const text = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
      this.lastError = `undecodable: ${text}`;
      if (missingNow.length > 0) {
        // a reading without a required field would be refused by the schema anyway; say why in our terms, and once in a while
        this.undecodable(device, `Modbus: 寄存器值无法解码 / register values cannot be decoded: ${text}`, results);
        return this.nextAfter(started, model);
      }
      this.logLimited({ device: device.id, issues }, 'Modbus 部分字段无法解码，已略去 / some Modbus fields could not be decoded and were left out');
    }
    object.ts = at;
    try {
      await this.s.ingress.submit(device, 'telemetry', [object], 'modbus');
    } catch (err) {
      // the store did not take it: the next poll reads the controller again, nothing to resend
      this.s.ingress.count('modbus', 'store_failed');
      this.lastError = `store: ${String((err as Error)?.message ?? err)}`;
      this.logLimited({ err, device: device.id }, 'Modbus 读数未能保存 / a Modbus reading could not be stored');
    }
    return this.nextAfter(started, model);
  }

  private planOf(name: string, model: ModbusModel): ReadRequest[] {
    let plan = this.s.plans.get(name);
    if (!plan) {
      plan = planReads(model.registers, model.maxGap);
      this.s.plans.set(name, plan);
    }
    return plan;
  }

  /** Opens the connection if there is none; a failure to connect is a failed (or timed-out) poll. */
  private async connect(model: ModbusModel): Promise<Failure | undefined> {
    if (this.client?.isOpen) return undefined;
    this.dropConnection();
    const client = new Modbus.default();
    // socket errors surface through the pending request or the next isOpen; the emitter must not throw them
    client.on('error', () => {});
    client.on('close', () => { if (this.client === client) this.dropConnection(); });
    this.client = client;
    try {
      await bounded(client.connectTCP(this.target.host, { port: this.target.port }), model.timeoutMs, this.s.signal, () => destroy(client));
    } catch (err) {
      if (this.client === client) this.client = undefined;
      if (err instanceof Aborted) throw err;
      destroy(client);
      if (err instanceof Deadline || (err as { code?: string }).code === TIMEOUT_ERRNO) return { outcome: 'poll_timeout', message: `connect timed out after ${model.timeoutMs} ms`, keepConnection: false };
      return { outcome: 'poll_failed', message: `connect: ${describe(err)}`, keepConnection: false };
    }
    if (this.stopped || this.client !== client) { destroy(client); throw new Aborted(); }
    // set after connecting: connectTCP would make a set timeout the socket's idle timeout too
    client.setID(this.target.unitId);
    client.setTimeout(model.timeoutMs);
    this.connected = true;
    this.s.ingress.connections('modbus', 1);
    return undefined;
  }

  private async readAll(plan: readonly ReadRequest[], model: ModbusModel): Promise<{ results?: ReadResult[]; failure?: Failure }> {
    const results: ReadResult[] = [];
    for (const read of plan) {
      const client = this.client;
      if (!client) return { failure: { outcome: 'poll_failed', message: 'connection closed', keepConnection: false } };
      try {
        const answer = await bounded(request(client, read), model.timeoutMs + BACKSTOP_MS, this.s.signal);
        results.push(answer.data);
      } catch (err) {
        if (err instanceof Aborted) throw err;
        return { failure: classify(err, read, model) };
      }
    }
    return { results };
  }

  private failed(f: Failure, model: ModbusModel, device: FieldDevice): number {
    this.s.ingress.count('modbus', f.outcome);
    if (!f.keepConnection) this.dropConnection();
    this.failures++;
    this.lastError = f.message;
    const now = this.s.now();
    if (this.failures === 1) {
      this.failingSince = now;
      this.loggedAt = now;
      this.unlogged = 0;
      this.s.log.warn({ device: device.id, target: this.where, outcome: f.outcome, error: f.message },
        'Modbus 轮询失败 / Modbus poll failed');
    } else if (now - this.loggedAt >= this.s.settings.logEveryMs) {
      this.s.log.warn({ device: device.id, target: this.where, outcome: f.outcome, error: f.message, failures: this.failures, failingForMs: now - this.failingSince, sinceLastLog: this.unlogged + 1 },
        'Modbus 轮询仍然失败 / Modbus polls still failing');
      this.loggedAt = now;
      this.unlogged = 0;
    } else {
      this.unlogged++;
    }
    // a refused request (Modbus exception) comes back at the interval; a lost link backs off
    if (f.keepConnection) return model.intervalMs;
    const { minDelayMs, maxDelayMs } = this.s.settings.reconnect;
    return Math.max(model.intervalMs, backoffDelay(this.failures, { initialDelayMs: minDelayMs, maxDelayMs, random: this.s.random }));
  }

  private succeeded(at: number): void {
    if (this.failures > 0) {
      this.s.log.info({ device: this.target.device, target: this.where, failures: this.failures, failedForMs: at - this.failingSince },
        'Modbus 轮询恢复 / Modbus polls recovered');
    }
    this.failures = 0;
    this.lastOkAt = at;
    this.lastError = undefined;
  }

  private nextAfter(started: number, model: ModbusModel): number {
    // a fixed rhythm: the time the poll took counts towards the interval
    return Math.max(0, started + model.intervalMs - this.s.now());
  }

  /** A configuration problem: logged (and, for a known device, a dead letter) once until it changes. */
  private report(key: string, message: string, device?: FieldDevice): void {
    this.lastError = message;
    if (this.problem === key) return;
    this.problem = key;
    this.s.log.warn({ device: this.target.device, target: this.where }, message);
    if (device) {
      this.s.ingress.reject({ protocol: 'modbus', reason: 'undecodable', message, raw: '', deviceId: device.id, source: this.where });
    }
  }

  private undecodable(device: FieldDevice, message: string, results: readonly ReadResult[]): void {
    const now = this.s.now();
    if (this.deadLetterAt !== 0 && now - this.deadLetterAt < this.s.settings.logEveryMs) {
      this.s.ingress.count('modbus', 'undecodable');
      return;
    }
    this.deadLetterAt = now;
    this.s.ingress.reject({ protocol: 'modbus', reason: 'undecodable', message, raw: JSON.stringify(results), deviceId: device.id, source: this.where });
    this.s.log.warn({ device: device.id, target: this.where }, message);
  }

  private logLimited(obj: Record<string, unknown>, msg: string): void {
    const now = this.s.now();
    if (now - this.loggedAt < this.s.settings.logEveryMs && this.loggedAt !== 0) return;
    this.loggedAt = now;
    this.s.log.warn({ ...obj, target: this.where }, msg);
  }

  private dropConnection(): void {
    const client = this.client;
    this.client = undefined;
    if (client) destroy(client);
    if (this.connected) {
      this.connected = false;
      this.s.ingress.connections('modbus', -1);
    }
  }
}

function request(client: Client, read: ReadRequest): Promise<{ data: ReadResult }> {
  switch (read.area) {
    case 'holding': return client.readHoldingRegisters(read.address, read.length);
    case 'input': return client.readInputRegisters(read.address, read.length);
    case 'coil': return client.readCoils(read.address, read.length);
    case 'discrete': return client.readDiscreteInputs(read.address, read.length);
  }
}

function destroy(client: Client): void {
  try { client.destroy(() => {}); } catch { /* already gone */ }
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; errno?: string } | undefined;
  const code = e?.code ?? e?.errno;
  const message = e?.message ?? '';
  if (code && !message.includes(code)) return `${code} ${message}`.trim();
  return message || code || String(err);
}

/** The outcome of a failed read, by the error's type (never its text): a timeout, a Modbus exception, or a broken link. */
function classify(err: unknown, read: ReadRequest, model: ModbusModel): Failure {
  const e = err as { errno?: string; modbusCode?: number } | undefined;
  const what = `${read.area} ${read.address}+${read.length}`;
  if (err instanceof Deadline || e?.errno === TIMEOUT_ERRNO) {
    // the link may be half open (a PLC rebooted, a cable pulled): reconnect rather than wait on it
    return { outcome: 'poll_timeout', message: `${what}: no answer within ${model.timeoutMs} ms`, keepConnection: false };
  }
  if (typeof e?.modbusCode === 'number') {
    // modbus-serial's message names the code and its meaning: "Modbus exception 2: Illegal data address (…)"
    return { outcome: 'poll_failed', message: `${what}: ${describe(err)}`, keepConnection: true };
  }
  return { outcome: 'poll_failed', message: `${what}: ${describe(err)}`, keepConnection: false };
}

/**
 * Polls every configured target; start it on one node only (the cluster's timer leader). It may be
 * stopped and started again (the lead moving between nodes): each start begins fresh loops and
 * connections, and a stop still in progress only lets the old loops' reads end, never store.
 */
export class ModbusPoller {
  private loops: TargetLoop[] = [];
  private abort: AbortController | undefined;
  /** Read plans per model, kept across restarts (the settings do not change). */
  private readonly plans = new Map<string, ReadRequest[]>();
  private readonly slots: Slots;

  constructor(private readonly deps: ModbusPollerDeps) {
    this.slots = new Slots(deps.settings.maxConcurrentPolls);
  }

  /** Starts the loops, each at a random point of its first interval (up to 1 s: a thousand PLCs are not read in the same millisecond). */
  start(): void {
    if (this.abort) return;
    const { ingress, settings, log } = this.deps;
    const random = this.deps.random ?? Math.random;
    this.abort = new AbortController();
    const shared: Shared = {
      ingress, settings, log, now: this.deps.now ?? Date.now, random, slots: this.slots, plans: this.plans, signal: this.abort.signal,
    };
    this.loops = settings.targets.map((t) => new TargetLoop(shared, t));
    for (const loop of this.loops) {
      const device = ingress.byId(loop.target.device);
      const model = device?.model === undefined ? undefined : settings.models[device.model];
      loop.start(Math.floor(random() * Math.min(model?.intervalMs ?? 1000, 1000)));
    }
    if (this.loops.length > 0) log.info({ targets: this.loops.length }, 'Modbus 轮询已启动 / Modbus polling started');
  }

  /** Cancels every timer, closes every socket and waits for the polls in flight to end. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = undefined;
    abort.abort();
    await Promise.all(this.loops.map((l) => l.stop()));
  }

  /** Each target's link and last poll (the loops of the last start; empty before the first). */
  status(): ModbusTargetStatus[] {
    return this.loops.map((l) => l.status());
  }
}
