/**
 * A fleet of simulated devices on one simulated clock. One scheduler timer serves every device:
 * each turn it reports the devices whose next reading is due, so a thousand devices cost one timer,
 * not a thousand. Scenarios are injected into a running fleet on free devices of one site.
 */
import type { DeviceKind } from '../ingest/index.js';
import { SimDevice, type SimClock, type SimDeviceSpec } from './device.js';
import { Rng } from './random.js';
import { SimError } from './errors.js';
import { runScenario, type ScenarioRun, type RunScenarioOptions, type StepClock } from './scenarios/runner.js';
import type { Scenario } from './scenarios/types.js';

export interface FleetOptions {
  mqttUrl: string;
  devices: SimDeviceSpec[];
  /** Simulated ms between two readings of a device (default 10 s). */
  intervalMs?: number;
  /** ± fraction of the interval, at random per reading (default 0.2). */
  jitter?: number;
  qos?: 0 | 1;
  /** Readings per telemetry message (default 1: one object per message). */
  batchSize?: number;
  /** Simulated seconds per real second (default 1). */
  timeScale?: number;
  /** Seed for the models and the jitter, for a fleet that behaves the same on every run. */
  seed?: number | string;
  /** Simulated time to start at (default now): e.g. 07:00 to watch the morning peak. */
  startSimAt?: number;
  /**
   * Stepped time (a test on a gateway's ManualClock): the models run on this clock, the fleet does
   * not report on a wall-clock timer, and scenarios are played step by step on it.
   */
  clock?: StepClock;
}

export interface FleetStats {
  devices: number;
  connected: number;
  readings: number;
  events: number;
  malformed: number;
  acked: number;
  errors: number;
  connects: number;
  /** Readings and events dropped because a device's buffer was full. */
  dropped: number;
  /** Devices whose login the broker refused (wrong secret, disabled). */
  refused: number;
  busy: number;
}

export class Fleet implements SimClock {
  readonly devices: SimDevice[];
  readonly timeScale: number;
  private readonly rng: Rng;
  private readonly random = () => this.rng.next();
  private realStart = Date.now();
  private simStart: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;
  private readonly running = new Set<Promise<ScenarioRun>>();
  private readonly stopping = new AbortController();

  constructor(private readonly opts: FleetOptions) {
    this.timeScale = opts.clock?.timeScale ?? opts.timeScale ?? 1;
    if (!(this.timeScale > 0)) throw new SimError('SIM_BAD_ARGS', 'timeScale must be > 0');
    this.rng = new Rng(opts.seed ?? Date.now());
    this.simStart = opts.startSimAt ?? this.realStart;
    const intervalMs = opts.intervalMs ?? 10_000;
    this.devices = opts.devices.map((spec) => new SimDevice(spec, {
      mqttUrl: opts.mqttUrl, intervalMs, jitter: opts.jitter ?? 0.2, qos: opts.qos ?? 1, batchSize: opts.batchSize ?? 1, seed: opts.seed,
    }, this));
    // fine enough for a scenario's 1-2 s reports at this time scale, coarse enough not to spin
    this.tickMs = Math.min(250, Math.max(2, Math.min(intervalMs, 1000) / this.timeScale / 4));
  }

  simNow(): number { return this.opts.clock ? this.opts.clock.simNow() : this.simStart + (Date.now() - this.realStart) * this.timeScale; }

  /** Connects every device (100 at a time) and starts reporting; returns how many connected in time. */
  async start(connectTimeoutMs = 10_000): Promise<number> {
    this.realStart = Date.now();
    this.simStart = this.opts.startSimAt ?? this.realStart;
    let connected = 0;
    for (let i = 0; i < this.devices.length; i += 100) {
      const wave = await Promise.all(this.devices.slice(i, i + 100).map((d) => d.connected(connectTimeoutMs)));
      connected += wave.filter(Boolean).length;
    }
    const now = Date.now();
    // spread the first readings over one interval so the fleet does not report in lockstep
    for (const d of this.devices) d.nextDue = now + this.random() * d.nextGap(this.random);
    if (!this.opts.clock) this.timer = setInterval(() => this.tick(), this.tickMs);
    return connected;
  }

  private tick(): void {
    const now = Date.now();
    for (const d of this.devices) {
      if (now < d.nextDue) continue;
      d.report();
      d.nextDue = Math.max(d.nextDue + d.nextGap(this.random), now);
    }
  }

  byKind(kind: DeviceKind): SimDevice[] { return this.devices.filter((d) => d.kind === kind); }
  get(id: string): SimDevice | undefined { return this.devices.find((d) => d.id === id); }

  /**
   * Picks free devices for a scenario's roles, all on one site and, where the site has them, in one
   * building (a corroborating detector or flow switch must be in the alarm's building: the gateway's
   * `alerts.fire.corroborateWithin`), preferring `siteId` when given.
   */
  pickDevices(scenario: Scenario, siteId?: string): Record<string, SimDevice> {
    const sites = [...new Set(this.devices.map((d) => d.spec.siteId ?? ''))];
    const order = siteId ? [siteId, ...sites.filter((s) => s !== siteId)] : sites.sort(() => this.random() - 0.5);
    const roles = Object.entries(scenario.devices);
    const pick = (pool: readonly SimDevice[]): Record<string, SimDevice> | undefined => {
      const taken = new Set<SimDevice>();
      const picked: Record<string, SimDevice> = {};
      for (const [role, kind] of roles) {
        const d = pool.find((x) => x.kind === kind && !taken.has(x));
        if (!d) return undefined;
        picked[role] = d;
        taken.add(d);
      }
      return picked;
    };
    for (const site of order) {
      const free = this.devices.filter((x) => (x.spec.siteId ?? '') === site && !x.busy);
      const buildings = [...new Set(free.map((x) => x.spec.building ?? ''))];
      for (const pool of [...buildings.map((b) => free.filter((x) => (x.spec.building ?? '') === b)), free]) {
        const picked = pick(pool);
        if (picked) return picked;
      }
    }
    const need = Object.values(scenario.devices).join(', ');
    throw new SimError('SIM_NO_DEVICES', `no site has free devices for ${scenario.name} (needs ${need}) / 没有可用于该场景的空闲设备`);
  }

  /** Runs a scenario on free devices of this fleet while the rest keeps reporting. */
  inject(scenario: Scenario, opts: Omit<RunScenarioOptions, 'timeScale'> & { siteId?: string; devices?: Record<string, SimDevice> } = {}): Promise<ScenarioRun> {
    const devices = opts.devices ?? this.pickDevices(scenario, opts.siteId);
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
    const run = runScenario(scenario, devices, { ...opts, signal, timeScale: this.timeScale, random: this.random, ...(this.opts.clock ? { clock: this.opts.clock } : {}) });
    this.running.add(run);
    void run.finally(() => this.running.delete(run)).catch(() => undefined);
    return run;
  }

  stats(): FleetStats {
    const s: FleetStats = { devices: this.devices.length, connected: 0, readings: 0, events: 0, malformed: 0, acked: 0, errors: 0, connects: 0, dropped: 0, refused: 0, busy: 0 };
    for (const d of this.devices) {
      if (d.client?.connected) s.connected++;
      if (d.refused) s.refused++;
      s.dropped += d.stats.dropped;
      if (d.busy) s.busy++;
      s.readings += d.stats.readings; s.events += d.stats.events; s.malformed += d.stats.malformed;
      s.acked += d.stats.acked; s.errors += d.stats.errors; s.connects += d.stats.connects;
    }
    return s;
  }

  /** Stops reporting, ends running scenarios, flushes batches and disconnects. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopping.signal.aborted) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopping.abort();
    await Promise.allSettled([...this.running]);
    await Promise.all(this.devices.map((d) => d.close(graceMs)));
  }
}
