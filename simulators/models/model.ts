/**
 * What every device model shares: simulated time advanced in small sub-steps (a 10 s report gap
 * must not let an elevator skip a door cycle), events queued by the physics, named actions that
 * scenarios call, and `force`: fields pinned to a value until released, for fault states a model
 * cannot reach by itself (a door switch that reads open while the car runs).
 */
import type { DeviceKind } from '../../ingest/index.js';
import { Rng } from '../random.js';

export type Reading = Record<string, unknown>;
export type DeviceEvent = { type: string } & Record<string, unknown>;

export interface StepOutput {
  telemetry: Reading;
  events: readonly DeviceEvent[];
}

export type Action = (params: Record<string, unknown>) => void;

/** Longest simulated gap integrated after a pause; beyond it the model just resumes. */
const MAX_CATCH_UP_S = 600;

export abstract class DeviceModel<R extends Reading = Reading> {
  abstract readonly kind: DeviceKind;
  /** Scenario-callable actions by name; each changes the state in a physically consistent way. */
  abstract readonly actions: Readonly<Record<string, Action>>;
  protected readonly rng: Rng;
  protected last: number | undefined;
  private forced: Partial<R> = {};
  private once: Partial<R> | undefined;
  private queued: DeviceEvent[] = [];

  constructor(readonly id: string, seed: number | string = id, protected readonly subStepS = 0.25) {
    this.rng = new Rng(seed);
  }

  /** Advances simulated time to `now` (epoch ms) and returns the reading and what happened since the last step. */
  step(now: number): StepOutput {
    if (this.last === undefined) this.last = now;
    let remaining = Math.min((now - this.last) / 1000, MAX_CATCH_UP_S);
    this.last = now;
    let t = now - remaining * 1000;
    while (remaining > 1e-9) {
      const dt = Math.min(this.subStepS, remaining);
      t += dt * 1000;
      this.advance(dt, t);
      remaining -= dt;
    }
    const telemetry = { ...this.reading(now), ...this.once, ...this.forced };
    this.once = undefined;
    return { telemetry, events: this.drainEvents() };
  }

  /** The current reading without advancing time. */
  peek(now: number): Reading {
    return { ...this.reading(now), ...this.forced };
  }

  /** Pins telemetry fields (merged over the model's own values) until `release`. */
  force(fields: Partial<R>): void { Object.assign(this.forced, fields); }

  /** Overrides fields in the next reading only: a transient the sampling would otherwise miss. */
  protected forceOnce(fields: Partial<R>): void { this.once = { ...this.once, ...fields }; }

  /** Unpins the given fields, or all. */
  release(fields?: ReadonlyArray<keyof R>): void {
    if (!fields) this.forced = {};
    else for (const f of fields) delete this.forced[f];
  }

  get isForced(): boolean { return Object.keys(this.forced).length > 0; }

  /** Runs a named action; false when this kind has no such action. */
  act(name: string, params: Record<string, unknown> = {}): boolean {
    const action = this.actions[name];
    if (!action) return false;
    action(params);
    return true;
  }

  protected emit(event: DeviceEvent): void { this.queued.push(event); }

  private drainEvents(): readonly DeviceEvent[] {
    if (this.queued.length === 0) return NO_EVENTS;
    const out = this.queued;
    this.queued = [];
    return out;
  }

  /** Physics for `dtS` simulated seconds ending at `now` (epoch ms). */
  protected abstract advance(dtS: number, now: number): void;
  protected abstract reading(now: number): R;
}

const NO_EVENTS: readonly DeviceEvent[] = Object.freeze([]);

/** Reads a typed parameter of an action, with a default. */
export function param<T>(params: Record<string, unknown>, name: string, fallback: T): T {
  const v = params[name];
  return v === undefined ? fallback : (v as T);
}
