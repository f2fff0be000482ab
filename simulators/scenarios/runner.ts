/**
 * Plays a scenario script on devices that are already connected and reporting (a fleet's, or the
 * few a standalone run created). Steps at the same offset run in the order written; after every
 * step that changes the state the device reports at once, as a terminal does on a status change,
 * so a transient is never lost between two periodic readings. When the script ends the devices go
 * back to normal service: pins released, silence lifted, their own interval restored.
 */
import type { SimDevice, SentEvent } from '../device.js';
import type { Scenario, Step } from './types.js';

export interface RunScenarioOptions {
  /** Simulated ms per real ms (a test uses 100 or more). */
  timeScale?: number;
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
}

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
      } else {
        pending.push(reconnectLoop(d, step.reconnect.times, step.reconnect.everyMs / scale, opts.signal).catch((err) => { run.errors.push(`${d.id}: ${(err as Error).message}`); }));
      }
    } catch (err) {
      run.errors.push(`${d.id}: ${what}: ${(err as Error).message}`);
    }
  };

  // one timer per distinct offset; steps sharing an offset keep their written order
  const byOffset = new Map<number, Step[]>();
  for (const step of scenario.steps) {
    const list = byOffset.get(step.at) ?? [];
    list.push(step);
    byOffset.set(step.at, list);
  }
  const timers: NodeJS.Timeout[] = [];
  await new Promise<void>((resolve) => {
    const end = () => { for (const t of timers) clearTimeout(t); opts.signal?.removeEventListener('abort', onAbort); resolve(); };
    const onAbort = () => { run.aborted = true; end(); };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    for (const [offset, steps] of byOffset) timers.push(setTimeout(() => { for (const s of steps) execute(s); }, offset / scale));
    timers.push(setTimeout(end, scenario.durationMs / scale));
  });
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

async function reconnectLoop(d: SimDevice, times: number, everyMs: number, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < times && !signal?.aborted; i++) {
    await d.reconnect();
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
