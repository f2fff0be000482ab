/**
 * Plays a scenario script on devices that are already connected and reporting (a fleet's, or the
 * few a standalone run created). Steps at the same offset run in the order written; after every
 * step that changes the state the device reports at once, as a terminal does on a status change,
 * so a transient is never lost between two periodic readings. When the script ends the devices go
 * back to normal service: pins released, silence lifted, their own interval restored.
 *
 * Stepped mode (`clock`): instead of sleeping, the runner moves simulated time itself from one
 * point of the script to the next with `clock.advance(delta)` (a test moves a gateway's ManualClock
 * with it, so alert rule timers see the scenario's own durations), and at every point publishes what
 * the models produce: the steps due, and every device's reading at each multiple of its interval.
 * Before moving on it waits until the gateway has acknowledged everything sent (QoS 1), so each
 * message is evaluated at the simulated time it belongs to.
 */
import type { SimClock, SimDevice, SentEvent } from '../device.js';
import type { Scenario, Step } from './types.js';

/** Simulated time that moves only when the runner says so (the devices' models run on it too). */
export interface StepClock extends SimClock {
  /** Moves simulated time on by `deltaMs`; resolves once whatever was due by then has run. */
  advance(deltaMs: number): Promise<void>;
}

export interface RunScenarioOptions {
  /** Simulated ms per real ms (a test uses 100 or more). */
  timeScale?: number;
  /** Stepped mode: play the script on this clock instead of the wall clock (timeScale is then unused). */
  clock?: StepClock;
  signal?: AbortSignal;
  /** One line per step, for a person watching. */
  onStep?: (line: string) => void;
  random?: () => number;
}

export interface StepRecord {
  /** Wall-clock time the step ran. */
  at: number;
  role: string;
  deviceId: string;
  what: string;
}

export interface ScenarioRun {
  scenario: string;
  /** Role → device id. */
  devices: Record<string, string>;
  timeScale: number;
  startedAt: number;
  endedAt: number;
  aborted: boolean;
  steps: StepRecord[];
  /** Events the devices sent during the run, by role. */
  events: Record<string, SentEvent[]>;
  /** Wall-clock windows in which a role was silenced by the script. */
  silences: Record<string, Array<{ from: number; to: number }>>;
  /** Errors raised by steps (an unknown action, a failed reconnect); the run goes on. */
  errors: string[];
  /** Stepped runs: the wall-clock time at which each simulated offset was reached, in order. */
  timeline?: Array<{ offset: number; at: number }>;
}

/** Wall-clock time at which a simulated offset of the run was reached. */
export function wallTimeOf(run: ScenarioRun, offset: number): number {
  if (!run.timeline) return run.startedAt + offset / run.timeScale;
  if (offset <= 0) return run.startedAt;
  const mark = run.timeline.find((m) => m.offset >= offset);
  return mark ? mark.at : run.endedAt;
}

/** Stepped mode: longest wait for the gateway's acknowledgements (or a reconnect) at one point. */
const SETTLE_TIMEOUT_MS = 10_000;

export function describeStep(step: Step): string {
  if ('do' in step) return `${step.do}(${step.with ? JSON.stringify(step.with) : ''})`;
  if ('force' in step) return `force ${JSON.stringify(step.force)}`;
  if ('release' in step) return `release ${step.release === true ? 'all' : step.release.join(',')}`;
  if ('event' in step) return `event ${JSON.stringify(step.event)}`;
  if ('malformed' in step) return `malformed ${step.malformed} ×${step.count ?? 1}`;
  if ('silence' in step) return step.silence ? 'silence' : 'resume';
  return `reconnect ×${step.reconnect.times} every ${step.reconnect.everyMs} ms`;
}

export async function runScenario(scenario: Scenario, devices: Record<string, SimDevice>, opts: RunScenarioOptions = {}): Promise<ScenarioRun> {
  const scale = opts.timeScale ?? 1;
  const roles = Object.keys(scenario.devices);
  const mainRole = roles[0]!;
  for (const role of roles) {
    const d = devices[role];
    if (!d) throw new Error(`scenario ${scenario.name}: no device for role ${role}`);
    if (d.kind !== scenario.devices[role]) throw new Error(`scenario ${scenario.name}: role ${role} needs a ${scenario.devices[role]}, got ${d.kind}`);
  }
  const run: ScenarioRun = {
    scenario: scenario.name,
    devices: Object.fromEntries(roles.map((r) => [r, devices[r]!.id])),
    timeScale: scale, startedAt: Date.now(), endedAt: 0, aborted: false,
    steps: [], events: Object.fromEntries(roles.map((r) => [r, []])), silences: Object.fromEntries(roles.map((r) => [r, []])), errors: [],
  };
  const eventMark = new Map(roles.map((r) => [r, devices[r]!.sentEvents.length ? devices[r]!.sentEvents[devices[r]!.sentEvents.length - 1]!.seq : -1]));
  for (const role of roles) {
    const d = devices[role]!;
    d.busy = scenario.name;
    if (scenario.reportIntervalMs) {
      d.intervalOverride = scenario.reportIntervalMs;
      d.nextDue = Math.min(d.nextDue, Date.now() + d.nextGap(opts.random ?? Math.random));
    }
    // the state before anything happens, so every run shows the change
    d.report();
  }

  const pending: Array<Promise<void>> = [];
  const silencedSince = new Map<string, number>();
  const execute = (step: Step) => {
    const role = step.device ?? mainRole;
    const d = devices[role]!;
    const what = describeStep(step);
    run.steps.push({ at: Date.now(), role, deviceId: d.id, what });
    opts.onStep?.(`${scenario.name} ${d.id} (${role}): ${what}`);
    try {
      if ('do' in step) {
        if (!d.model.act(step.do, step.with ?? {})) throw new Error(`${d.kind} has no action ${step.do}`);
        d.report();
      } else if ('force' in step) {
        d.model.force(step.force);
        d.report();
      } else if ('release' in step) {
        d.model.release(step.release === true ? undefined : step.release);
        d.report();
      } else if ('event' in step) {
        d.sendEvent(step.event);
      } else if ('malformed' in step) {
        for (let i = 0; i < (step.count ?? 1); i++) d.sendMalformed(step.malformed);
      } else if ('silence' in step) {
        if (step.silence && !d.silent) {
          d.flush();
          d.silent = true;
          silencedSince.set(role, Date.now());
        } else if (!step.silence && d.silent) {
          d.silent = false;
          run.silences[role]!.push({ from: silencedSince.get(role)!, to: Date.now() });
          silencedSince.delete(role);
          d.report();
        }
      } else if (!opts.clock) {
        pending.push(reconnectLoop(d, step.reconnect.times, step.reconnect.everyMs / scale, opts.signal).catch((err) => { run.errors.push(`${d.id}: ${(err as Error).message}`); }));
      } else {
        // stepped: one reconnect per point; the next point waits until the device is back
        pending.push(d.reconnect().then(() => d.connected(SETTLE_TIMEOUT_MS)).then((ok) => { if (!ok) run.errors.push(`${d.id}: not reconnected`); },
          (err: unknown) => { run.errors.push(`${d.id}: ${(err as Error).message}`); }));
      }
    } catch (err) {
      run.errors.push(`${d.id}: ${what}: ${(err as Error).message}`);
    }
  };

  // one timer (stepped: one point) per distinct offset; steps sharing an offset keep their written order
  const byOffset = new Map<number, Step[]>();
  const add = (step: Step) => {
    const list = byOffset.get(step.at) ?? [];
    list.push(step);
    byOffset.set(step.at, list);
  };
  for (const step of scenario.steps) {
    // stepped: each reconnect of a storm is a point of its own on the simulated timeline
    if (opts.clock && 'reconnect' in step) {
      for (let i = 0; i < step.reconnect.times; i++) add({ ...step, at: step.at + i * step.reconnect.everyMs, reconnect: { times: 1, everyMs: step.reconnect.everyMs } });
    } else add(step);
  }
  if (opts.clock) {
    const all = roles.map((r) => devices[r]!);
    // everything sent so far acknowledged, i.e. stored and evaluated by the gateway at the current time
    const settle = async () => {
      // reconnects first: a device reports its state once it is back
      const done = Promise.all(pending).then(() => Promise.all(all.map((d) => d.settled()))).then(() => true);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), SETTLE_TIMEOUT_MS); });
      if (!await Promise.race([done, late])) run.errors.push(`messages not acknowledged within ${SETTLE_TIMEOUT_MS} ms`);
      clearTimeout(timer);
    };
    await playStepped(scenario, all, opts.clock, byOffset, execute, settle, run, opts.signal);
  } else {
    await playRealTime(scenario, byOffset, execute, run, scale, opts.signal);
  }
  await Promise.all(pending);

  for (const role of roles) {
    const d = devices[role]!;
    const since = silencedSince.get(role);
    if (since !== undefined) run.silences[role]!.push({ from: since, to: Date.now() });
    d.silent = false;
    d.model.release();
    d.intervalOverride = undefined;
    d.busy = undefined;
    d.flush();
    const mark = eventMark.get(role)!;
    run.events[role] = d.sentEvents.filter((e) => e.seq > mark);
  }
  run.endedAt = Date.now();
  return run;
}

function playRealTime(scenario: Scenario, byOffset: Map<number, Step[]>, execute: (s: Step) => void, run: ScenarioRun, scale: number, signal?: AbortSignal): Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  return new Promise<void>((resolve) => {
    const end = () => { for (const t of timers) clearTimeout(t); signal?.removeEventListener('abort', onAbort); resolve(); };
    const onAbort = () => { run.aborted = true; end(); };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const [offset, steps] of byOffset) timers.push(setTimeout(() => { for (const s of steps) execute(s); }, offset / scale));
    timers.push(setTimeout(end, scenario.durationMs / scale));
  });
}

/**
 * Moves the clock from one point of the script to the next: the steps' offsets, every multiple of
 * each device's reading interval, and the end. At each point the steps run in written order, then
 * every device whose reading is due reports, so the rules see the state at least once per interval.
 */
async function playStepped(scenario: Scenario, devices: SimDevice[], clock: StepClock, byOffset: Map<number, Step[]>,
  execute: (s: Step) => void, settle: () => Promise<void>, run: ScenarioRun, signal?: AbortSignal): Promise<void> {
  const points = new Set<number>([...byOffset.keys(), scenario.durationMs]);
  const nextDue = new Map<SimDevice, number>();
  for (const d of devices) {
    nextDue.set(d, d.intervalMs);
    for (let t = d.intervalMs; t <= scenario.durationMs; t += d.intervalMs) points.add(t);
  }
  run.timeline = [{ offset: 0, at: Date.now() }];
  let now = 0;
  for (const offset of [...points].sort((a, b) => a - b)) {
    if (signal?.aborted) { run.aborted = true; break; }
    await settle();
    if (offset > now) {
      await clock.advance(offset - now);
      now = offset;
      run.timeline.push({ offset, at: Date.now() });
    }
    for (const s of byOffset.get(offset) ?? []) execute(s);
    for (const d of devices) {
      if (nextDue.get(d)! > offset) continue;
      d.report();
      nextDue.set(d, offset + d.intervalMs);
    }
  }
  await settle();
}

async function reconnectLoop(d: SimDevice, times: number, everyMs: number, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < times && !signal?.aborted; i++) {
    await d.reconnect();
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
