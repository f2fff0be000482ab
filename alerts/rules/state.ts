/**
 * Per-device rule state and the condition "slots" every rule is built from. A slot is one alert
 * condition of a device: `since` is when the condition started to hold (0: it does not), `active`
 * whether its alert has been raised. A condition that must hold for a duration schedules one heap
 * entry; the entry re-checks the slot when it pops, so a condition that ended or restarted in the
 * meantime costs nothing to cancel. Everything here is O(1) and allocates nothing per message.
 */
import type { TimerTarget } from '../heap.js';
import type { AlertType } from '../catalog.js';
import type { DeviceInfo } from '../model.js';

/** What a slot needs from the engine. */
export interface SlotHost {
  schedule(s: RuleState, slot: number, due: number): void;
  raiseSlot(s: RuleState, slot: number, now: number): void;
  endSlot(s: RuleState, slot: number, now: number): void;
  /**
   * The slot's alert was raised suppressed (recorded, withheld from the authorities) and its condition
   * still holds now that the reason for suppressing it is gone: the alert goes to them now. `why` is
   * kept in its history.
   */
  releaseSlot(s: RuleState, slot: number, now: number, why: Record<string, unknown>): void;
  markDirty(s: RuleState): void;
  onSlotTimer(s: RuleState, slot: number, now: number): void;
  raiseEvent(s: RuleState, type: AlertType, subject: string, details: Record<string, unknown>, now: number): void;
  endEvent(s: RuleState, type: AlertType, subject: string, now: number): void;
  endEventAll(s: RuleState, type: AlertType, now: number): void;
  fireFlow(s: RuleState, now: number): void;
  /** The calendar date of `now` (YYYY-MM-DD) in the schedules' time zone, the form of registry dates. */
  today(now: number): string;
  /** When the device's last valid maintenance visit ended, by supervision's maintenance record (undefined: none). */
  lastValidVisitAt(deviceId: string): number | undefined;
}

/** The rules of one device kind: module-level functions, so no closure is made per device or message. */
export interface KindModule<S extends RuleState = RuleState, P = unknown> {
  /** Alert type of each slot; slot 0 is always `device.offline`. */
  readonly slots: readonly AlertType[];
  create(device: DeviceInfo, params: P, host: SlotHost): S;
  telemetry(host: SlotHost, s: S, data: Record<string, unknown>, now: number): void;
  event(host: SlotHost, s: S, data: Record<string, unknown>, now: number): void;
  /** How long the slot's condition must hold before its alert is raised. */
  hold(s: S, slot: number): number;
  details(s: S, slot: number): Record<string, unknown>;
  /** The alert's subject for a slot (a pump room's supply zone); without it, every slot's is empty. */
  subjects?: readonly string[];
  /** Whether alerts raised now are recorded only (elevator inspection / maintenance mode); `slot` when a slot's alert is raised. */
  suppressed(s: S, slot?: number): boolean;
  /** Kind-specific fields to keep across a restart. */
  save(s: S): Record<string, unknown>;
  restore(s: S, saved: Record<string, unknown>): void;
  /** Turns the kind's settings into what `s.params` holds (once per device); without it, the settings as they are. */
  params?(rules: unknown): P;
  /** The daily checks (`schedules.cron`), for the kinds that have any; the engine runs them for every enabled device of the kind. */
  daily?(host: SlotHost, s: S, now: number): void;
  /** The device's registry entry changed; `s.device` and `s.params` are the new ones already, `before` the old entry. */
  deviceChanged?(host: SlotHost, s: S, before: DeviceInfo, now: number): void;
}

export const OFFLINE = 0;

export class RuleState implements TimerTarget {
  readonly since: Float64Array;
  /** Due time of the heap entry pending for a slot (0: none), so a slot is queued at most once. */
  readonly queued: Float64Array;
  readonly active: Uint8Array;
  /** Device timestamp of the last telemetry evaluated: older readings (replays) are stored but not evaluated. */
  lastTs = 0;
  /**
   * The device says it is being tested (fire panels and smoke alarms: the `test` flag of its last
   * reading, or of the event being evaluated): what it raises is recorded, not sent to the fire service.
   */
  selfTest = false;
  /** When the gateway first saw this device (baseline for schedule checks). */
  firstSeenAt = 0;
  /** Latest telemetry object, for the details of an alert. */
  last: Record<string, unknown> | null = null;
  dirty = false;

  constructor(public device: DeviceInfo, public params: any, public readonly mod: KindModule<any, any>, private readonly host: SlotHost) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const n = mod.slots.length;
    this.since = new Float64Array(n);
    this.queued = new Float64Array(n);
    this.active = new Uint8Array(n);
  }

  onTimer(slot: number, now: number): void { this.host.onSlotTimer(this, slot, now); }
}

/** The condition holds (from `since`, default now). Raises at once if its hold is 0. */
export function setOn(h: SlotHost, s: RuleState, slot: number, now: number, since: number = now): void {
  if (s.since[slot] !== 0) return;
  s.since[slot] = since > 0 ? since : now;
  h.markDirty(s);
  const due = s.since[slot]! + s.mod.hold(s, slot);
  if (due <= now) {
    s.active[slot] = 1;
    h.raiseSlot(s, slot, now);
  } else {
    h.schedule(s, slot, due);
  }
}

/** The condition does not hold (any more). Ends its alert if it was raised. */
export function setOff(h: SlotHost, s: RuleState, slot: number, now: number): void {
  if (s.since[slot] === 0) return;
  s.since[slot] = 0;
  h.markDirty(s);
  if (s.active[slot] === 1) {
    s.active[slot] = 0;
    h.endSlot(s, slot, now);
  }
}

/** A discrete report of the condition (a device's own event): raises at once, or counts a repeat. */
export function occur(h: SlotHost, s: RuleState, slot: number, now: number): void {
  if (s.since[slot] === 0) {
    s.since[slot] = now;
    h.markDirty(s);
  }
  s.active[slot] = 1;
  h.raiseSlot(s, slot, now);
}

/** Low threshold with hysteresis: on below `min`, off at `min + hyst` or above, unchanged between. */
export function below(h: SlotHost, s: RuleState, slot: number, value: number, min: number, hyst: number, now: number): void {
  if (value < min) setOn(h, s, slot, now);
  else if (value >= min + hyst) setOff(h, s, slot, now);
}

/** High threshold with hysteresis: on above `max`, off at `max - hyst` or below. */
export function above(h: SlotHost, s: RuleState, slot: number, value: number, max: number, hyst: number, now: number): void {
  if (value > max) setOn(h, s, slot, now);
  else if (value <= max - hyst) setOff(h, s, slot, now);
}

/** A boolean condition. */
export function flag(h: SlotHost, s: RuleState, slot: number, on: boolean, now: number): void {
  if (on) setOn(h, s, slot, now);
  else setOff(h, s, slot, now);
}
