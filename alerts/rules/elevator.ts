/**
 * Elevator rules, as they work in practice:
 * - trapped: passenger present AND door closed AND car stopped, held (levelled and not levelled are
 *   two durations) since the door closed / the car stopped; it clears only when a door opens with
 *   the car levelled. The presence sensor is debounced: in a closed car a change counts only once
 *   it has held `presenceDebounce` (a person cannot appear or disappear in a closed car).
 * - stopped outside the door zone: 45 s by default (30 s raised false alarms).
 * - door open while running / moving with doors open: 30 s of debounce (bad door switches); which
 *   one it is depends on what came first, the run or the open door.
 * - overspeed above the registry's rated speed × `overspeedRatio` (the governor must trip at ≥ 115 %),
 *   or above `overspeedMps` for a car registered without a rated speed, with hysteresis; the alert's
 *   details say which limit and why. Top / bottom overrun beyond the configured floors; unintended
 *   movement (the car leaves the landing with doors open while not running); safety circuit open;
 *   main power lost; long idle; the device's own fault events; alarm button; e-bike.
 * - in inspection / maintenance mode everything is recorded but suppressed (technicians trigger
 *   faults on purpose). When the car leaves those modes, each condition raised there that still holds
 *   goes to the authorities at that moment (`releaseSlot`): the technician is gone and the fault is not.
 *   A device's own fault report is one moment, not a condition known to hold, so it is not released
 *   (a repeat outside the mode makes it real, as any repeat does). The car left in such a mode for
 *   `inspectionModeMaxDuration` raises elevator.inspection_mode_long, which is not suppressed (it is about the mode hiding the rest) and
 *   ends when the car leaves those modes; fire return, firefighter, emergency power and earthquake
 *   modes raise elevator.special_mode while they last.
 * - the daily checks (`daily`): the annual inspection due within `inspectionReminder` or overdue
 *   (by the registry's `nextInspectionDue`, checked again at once when that date changes), and no
 *   valid maintenance visit for `maintenanceInterval` (counted from registration when there never was
 *   one). Only supervision's maintenance record says what a valid visit is (signed in and out, and the
 *   telemetry shows the mode for long enough): a mode switched on for a moment is not a visit.
 */
import { ELEVATOR_FAULTS } from '../../ingest/index.js';
import type { AlertType } from '../catalog.js';
import type { ElevatorRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { OFFLINE, RuleState, above, flag, occur, setOff, setOn, type KindModule, type SlotHost } from './state.js';

export const TRAPPED = 1, STOPPED_OUTSIDE = 2, DOOR_OPEN_RUNNING = 3, MOVING_DOOR_OPEN = 4, OVERSPEED = 5, TOP_OVERRUN = 6,
  BOTTOM_OVERRUN = 7, SAFETY_CIRCUIT = 8, POWER_LOST = 9, IDLE = 10, INSPECTION_DUE = 11, INSPECTION_OVERDUE = 12, MAINTENANCE_OVERDUE = 13,
  SPECIAL_MODE = 14, INSPECTION_LONG = 15;

const DAY = 86_400_000;

const SLOTS: readonly AlertType[] = [
  'device.offline', 'elevator.trapped', 'elevator.stopped_outside_door_zone', 'elevator.door_open_while_running',
  'elevator.moving_with_door_open', 'elevator.overspeed', 'elevator.top_overrun', 'elevator.bottom_overrun',
  'elevator.safety_circuit_open', 'elevator.power_lost', 'elevator.long_idle', 'elevator.inspection_due',
  'elevator.inspection_overdue', 'elevator.maintenance_overdue', 'elevator.special_mode', 'elevator.inspection_mode_long',
];

/** Device fault codes that are their own alert type (`elevator.<fault>`), except trapped, which has a slot. */
const FAULT_TYPES: Readonly<Record<string, AlertType>> = Object.fromEntries(
  ELEVATOR_FAULTS.map((f) => [f, `elevator.${f}` as AlertType]),
);

/** Resolved once per device: the config plus sets for the per-message mode checks. */
export interface ElevatorParams extends ElevatorRules {
  suppress: ReadonlySet<string>;
  /** The inspection and maintenance modes (`suppressInModes` and `maintenanceModes`): left on too long is an alert. */
  service: ReadonlySet<string>;
  special: ReadonlySet<string>;
}

export function elevatorParams(r: ElevatorRules): ElevatorParams {
  return {
    ...r, suppress: new Set(r.suppressInModes), service: new Set([...r.suppressInModes, ...r.maintenanceModes]), special: new Set(r.alertModes),
  };
}

export class ElevatorState extends RuleState {
  declare params: ElevatorParams;
  hasTelemetry = false;
  mode = 'unknown';
  running = false;
  door = 'closed';
  doorZone = true;
  floor = 0;
  /** debounced presence */
  occupied = false;
  occupiedPendingSince = 0;
  doorClosedAt = 0;
  stoppedAt = 0;
  /** The last valid maintenance visit as the daily check read it (0: none), for the alert's details; not saved. */
  lastVisitAt = 0;
  speed = 0;
}

export const elevator: KindModule<ElevatorState, ElevatorParams> = {
  slots: SLOTS,

  create(device: DeviceInfo, params: ElevatorParams, host: SlotHost): ElevatorState {
    return new ElevatorState(device, params, elevator, host);
  },

  telemetry(h, s, d, now) {
    const p = s.params;
    const mode = d.mode as string, running = d.running as boolean, door = d.door as string, doorZone = d.doorZone as boolean;
    const floor = d.floor as number, occupiedRaw = d.occupied as boolean;
    const first = !s.hasTelemetry;
    const previousMode = s.mode;
    // the mode of this reading decides whether what it raises is suppressed
    s.mode = mode;

    flag(h, s, SPECIAL_MODE, p.special.has(mode), now);
    // held continuously across a switch between two such modes; raised by the timer after the hold
    flag(h, s, INSPECTION_LONG, p.service.has(mode), now);
    if (first || running !== s.running) {
      if (!running) s.stoppedAt = now;
      h.markDirty(s);
    }
    if (door === 'closed' && (first || s.door !== 'closed')) {
      s.doorClosedAt = now;
      h.markDirty(s);
    }

    // unintended movement: not running, doors open on both readings, yet the car left the landing
    if (!first && !running && !s.running && door !== 'closed' && s.door !== 'closed' && ((s.doorZone && !doorZone) || floor !== s.floor)) {
      h.raiseEvent(s, 'elevator.unintended_movement', '', { floor, previousFloor: s.floor, doorZone, door }, now);
    }

    // presence debounce
    if (occupiedRaw === s.occupied) s.occupiedPendingSince = 0;
    else if (first || door !== 'closed') { s.occupied = occupiedRaw; s.occupiedPendingSince = 0; }
    else if (s.occupiedPendingSince === 0) s.occupiedPendingSince = now;
    else if (now - s.occupiedPendingSince >= p.presenceDebounce) { s.occupied = occupiedRaw; s.occupiedPendingSince = 0; }

    // door open while running (the door opened during a run) / moving with door open (it started with the door open)
    if (running && door !== 'closed') {
      if (s.since[DOOR_OPEN_RUNNING] === 0 && s.since[MOVING_DOOR_OPEN] === 0) {
        setOn(h, s, !first && s.running && s.door === 'closed' ? DOOR_OPEN_RUNNING : MOVING_DOOR_OPEN, now);
      }
    } else {
      setOff(h, s, DOOR_OPEN_RUNNING, now);
      setOff(h, s, MOVING_DOOR_OPEN, now);
    }

    flag(h, s, STOPPED_OUTSIDE, !running && !doorZone, now);

    // trapped: once raised it clears only when a door opens with the car levelled
    if (s.active[TRAPPED] === 1) {
      if (door === 'open' && doorZone) setOff(h, s, TRAPPED, now);
    } else if (s.occupied && door === 'closed' && !running) {
      setOn(h, s, TRAPPED, now, Math.max(s.doorClosedAt, s.stoppedAt));
    } else {
      setOff(h, s, TRAPPED, now);
    }

    const speed = d.speed;
    if (typeof speed === 'number') {
      s.speed = speed;
      above(h, s, OVERSPEED, speed, overspeedLimit(s), p.overspeedHysteresisMps, now);
    }
    if (p.topFloor !== undefined) flag(h, s, TOP_OVERRUN, floor > p.topFloor, now);
    if (p.bottomFloor !== undefined) flag(h, s, BOTTOM_OVERRUN, floor < p.bottomFloor, now);
    const safety = d.safetyCircuit;
    if (safety !== undefined) flag(h, s, SAFETY_CIRCUIT, safety === 'open', now);
    const powerOk = d.powerOk;
    if (powerOk !== undefined) flag(h, s, POWER_LOST, powerOk === false, now);
    if (running) setOff(h, s, IDLE, now);
    else setOn(h, s, IDLE, now, s.stoppedAt);

    if (mode !== previousMode) h.markDirty(s);
    // after this reading's conditions, so one that ended in the same reading is not sent
    if (p.suppress.has(previousMode) && !p.suppress.has(mode)) releaseHeld(h, s, previousMode, now);
    s.running = running; s.door = door; s.doorZone = doorZone; s.floor = floor;
    // the reading itself is not kept: elevators are the most numerous devices, their state stays a few scalars
    s.hasTelemetry = true;
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'alarm_button': h.raiseEvent(s, 'elevator.alarm_button', '', { floor: s.floor, mode: s.mode }, now); break;
      case 'ebike_detected': h.raiseEvent(s, 'elevator.ebike', '', d.confidence === undefined ? {} : { confidence: d.confidence }, now); break;
      case 'power_lost': occur(h, s, POWER_LOST, now); break;
      case 'power_restored': setOff(h, s, POWER_LOST, now); break;
      case 'fault': {
        const fault = d.fault as string;
        if (fault === 'trapped') {
          if (typeof d.levelled === 'boolean') s.doorZone = d.levelled;
          occur(h, s, TRAPPED, now);
        } else {
          const type = FAULT_TYPES[fault];
          if (type) h.raiseEvent(s, type, '', { fault, ...(d.code === undefined ? {} : { code: d.code }), ...(d.levelled === undefined ? {} : { levelled: d.levelled }), floor: s.floor, mode: s.mode }, now);
        }
        break;
      }
    }
  },

  hold(s, slot) {
    const p = s.params;
    switch (slot) {
      case TRAPPED: return s.doorZone ? p.trappedLevelledAfter : p.trappedNotLevelledAfter;
      case STOPPED_OUTSIDE: return p.stoppedOutsideDoorZoneAfter;
      case DOOR_OPEN_RUNNING: return p.doorOpenWhileRunningAfter;
      case MOVING_DOOR_OPEN: return p.movingWithDoorOpenAfter;
      case SAFETY_CIRCUIT: return p.safetyCircuitOpenAfter;
      case POWER_LOST: return p.powerLostAfter;
      case IDLE: return p.idleAfter;
      case INSPECTION_LONG: return p.inspectionModeMaxDuration;
      default: return 0;
    }
  },

  details(s, slot) {
    const base = { floor: s.floor, mode: s.mode, door: s.door, doorZone: s.doorZone, running: s.running };
    switch (slot) {
      case TRAPPED: return { ...base, levelled: s.doorZone, occupied: s.occupied, since: s.since[TRAPPED] };
      case OVERSPEED: return { ...base, speed: s.speed, ...overspeedBasis(s) };
      case TOP_OVERRUN: return { ...base, topFloor: s.params.topFloor };
      case BOTTOM_OVERRUN: return { ...base, bottomFloor: s.params.bottomFloor };
      case IDLE: return { idleSince: s.since[IDLE] };
      case INSPECTION_DUE: case INSPECTION_OVERDUE: return { nextInspectionDue: s.device.nextInspectionDue };
      case MAINTENANCE_OVERDUE: return { lastVisitAt: s.lastVisitAt || null, since: maintainedSince(s) };
      case SPECIAL_MODE: return { ...base, since: s.since[SPECIAL_MODE] };
      case INSPECTION_LONG: return { ...base, since: s.since[INSPECTION_LONG], maxDurationMs: s.params.inspectionModeMaxDuration };
      default: return { ...base, since: s.since[slot] };
    }
  },

  // the long-mode alert is about the mode itself: suppressing it by that mode would hide it for good
  suppressed(s, slot) { return slot !== INSPECTION_LONG && s.params.suppress.has(s.mode); },

  save(s) {
    return {
      hasTelemetry: s.hasTelemetry, mode: s.mode, running: s.running, door: s.door, doorZone: s.doorZone, floor: s.floor,
      occupied: s.occupied, doorClosedAt: s.doorClosedAt, stoppedAt: s.stoppedAt,
    };
  },

  restore(s, v) {
    s.hasTelemetry = v.hasTelemetry === true;
    if (typeof v.mode === 'string') s.mode = v.mode;
    s.running = v.running === true;
    if (typeof v.door === 'string') s.door = v.door;
    s.doorZone = v.doorZone !== false;
    if (typeof v.floor === 'number') s.floor = v.floor;
    s.occupied = v.occupied === true;
    s.doorClosedAt = Number(v.doorClosedAt) || 0;
    s.stoppedAt = Number(v.stoppedAt) || 0;
    // states saved before visits came from the maintenance record also hold `lastMaintenanceAt` (a mode
    // entry, not a valid visit): it is left unread
  },

  params: (r) => elevatorParams(r as ElevatorRules),

  daily(h, s, now) {
    checkInspection(h, s, now);
    s.lastVisitAt = h.lastValidVisitAt(s.device.id) ?? 0;
    if (now - maintainedSince(s) > s.params.maintenanceInterval) setOn(h, s, MAINTENANCE_OVERDUE, now);
    else setOff(h, s, MAINTENANCE_OVERDUE, now);
  },

  deviceChanged(h, s, before, now) {
    // a new inspection date (the inspection was done, or rescheduled) is checked at once, not at the next daily run
    if (before.nextInspectionDue !== s.device.nextInspectionDue) checkInspection(h, s, now);
  },
};

/**
 * The overspeed limit in force (m/s): the registry's rated speed × `overspeedRatio`, or the fallback
 * `overspeedMps` for a car registered without a rated speed.
 */
function overspeedLimit(s: ElevatorState): number {
  const rated = s.device.ratedSpeed;
  // rounded to µm/s so that 1.75 × 1.15 is the 2.0125 people compute, not 2.0124999999999997
  return rated ? Math.round(rated * s.params.overspeedRatio * 1e6) / 1e6 : s.params.overspeedMps;
}

/** The limit an overspeed alert was raised against, and where it came from, for the people reading it. */
function overspeedBasis(s: ElevatorState): Record<string, unknown> {
  const rated = s.device.ratedSpeed;
  return rated
    ? { limit: overspeedLimit(s), limitFrom: 'rated_speed', ratedSpeed: rated, overspeedRatio: s.params.overspeedRatio }
    : { limit: s.params.overspeedMps, limitFrom: 'fallback', ratedSpeed: null };
}

/** The car left inspection / maintenance mode: every condition raised (suppressed) there that still holds goes to the authorities. */
function releaseHeld(h: SlotHost, s: ElevatorState, from: string, now: number): void {
  for (let slot = OFFLINE + 1; slot < SLOTS.length; slot++) {
    if (s.active[slot] === 1) h.releaseSlot(s, slot, now, { previousMode: from, mode: s.mode });
  }
}

/** Since when the interval counts: the last valid visit, or, never visited, registration (or when this gateway first saw it, if earlier). */
function maintainedSince(s: ElevatorState): number {
  return s.lastVisitAt || Math.min(s.firstSeenAt, s.device.createdAt ?? s.firstSeenAt);
}

/** The annual inspection by the registry's date: a reminder within `inspectionReminder`, overdue after it. */
function checkInspection(h: SlotHost, s: ElevatorState, now: number): void {
  const due = s.device.nextInspectionDue;
  if (!due) {
    setOff(h, s, INSPECTION_DUE, now);
    setOff(h, s, INSPECTION_OVERDUE, now);
    return;
  }
  const left = (Date.parse(due) - Date.parse(h.today(now))) / DAY;
  if (left < 0) {
    setOff(h, s, INSPECTION_DUE, now);
    setOn(h, s, INSPECTION_OVERDUE, now);
  } else if (left * DAY <= s.params.inspectionReminder) {
    setOff(h, s, INSPECTION_OVERDUE, now);
    setOn(h, s, INSPECTION_DUE, now);
  } else {
    setOff(h, s, INSPECTION_DUE, now);
    setOff(h, s, INSPECTION_OVERDUE, now);
  }
}
