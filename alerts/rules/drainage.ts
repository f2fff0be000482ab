/**
 * Drainage (排水): sump pits and sewage-lift pumps in basements and garages. The pit level held above
 * its alarm level, or the high-level float switch, is `drainage.high_level`; a pump fault, the pump
 * cabinet's power and water on the basement floor are alerts of their own.
 *
 * The high level has two sources for one alert: the level transmitter (with hysteresis, held
 * `highLevelAfter`, since the surface waves over the alarm level when the inflow surges or a pump
 * starts) and the float switch (at once: it is the backup for a transmitter that failed or clogged).
 * The alert holds while either does, and clears when both are back.
 */
import type { AlertType } from '../catalog.js';
import type { DrainageRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { RuleState, flag, occur, setOff, setOn, type KindModule, type SlotHost } from './state.js';

const HIGH_LEVEL = 1, PUMP_FAULT = 2, POWER_LOST = 3, FLOODED = 4;
const SLOTS: readonly AlertType[] = ['device.offline', 'drainage.high_level', 'drainage.pump_fault', 'drainage.power_lost', 'drainage.flooded'];

export class DrainageState extends RuleState {
  declare params: DrainageRules;
  /** The transmitter's level is above the alarm level (with hysteresis). */
  levelHigh = false;
  /** The float switch (telemetry `highLevel` or the `high_level` / `high_level_cleared` events). */
  switchHigh = false;
}

/** Applies the two sources of the high level to its slot; a float switch tripping shortens a hold already running. */
function highLevel(h: SlotHost, s: DrainageState, now: number): void {
  if (!s.levelHigh && !s.switchHigh) return setOff(h, s, HIGH_LEVEL, now);
  if (s.since[HIGH_LEVEL] === 0) return setOn(h, s, HIGH_LEVEL, now);
  if (s.active[HIGH_LEVEL] === 1) return;
  const due = s.since[HIGH_LEVEL]! + drainage.hold(s, HIGH_LEVEL);
  if (due > now) return h.schedule(s, HIGH_LEVEL, due);
  s.active[HIGH_LEVEL] = 1;
  h.markDirty(s);
  h.raiseSlot(s, HIGH_LEVEL, now);
}

export const drainage: KindModule<DrainageState, DrainageRules> = {
  slots: SLOTS,
  create: (device: DeviceInfo, params: DrainageRules, host: SlotHost) => new DrainageState(device, params, drainage, host),

  telemetry(h, s, d, now) {
    const p = s.params;
    const level = d.level as number;
    if (level > p.maxLevelM) s.levelHigh = true;
    else if (level <= p.maxLevelM - p.levelHysteresisM) s.levelHigh = false;
    if (d.highLevel !== undefined) s.switchHigh = d.highLevel === true;
    s.last = d;
    highLevel(h, s, now);
    flag(h, s, PUMP_FAULT, d.pumpFault === true, now);
    if (d.powerOk !== undefined) flag(h, s, POWER_LOST, d.powerOk === false, now);
    flag(h, s, FLOODED, d.flooded === true, now);
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'high_level': s.switchHigh = true; highLevel(h, s, now); break;
      case 'high_level_cleared': s.switchHigh = false; highLevel(h, s, now); break;
      case 'pump_fault': occur(h, s, PUMP_FAULT, now); break;
      case 'pump_fault_cleared': setOff(h, s, PUMP_FAULT, now); break;
      case 'power_lost': occur(h, s, POWER_LOST, now); break;
      case 'power_restored': setOff(h, s, POWER_LOST, now); break;
      case 'flooded': occur(h, s, FLOODED, now); break;
      case 'flood_cleared': setOff(h, s, FLOODED, now); break;
    }
  },

  hold(s, slot) {
    const p = s.params;
    switch (slot) {
      case HIGH_LEVEL: return s.switchHigh ? 0 : p.highLevelAfter;
      case PUMP_FAULT: return p.pumpFaultAfter;
      case FLOODED: return p.floodedAfter;
      default: return 0;
    }
  },

  details(s, slot) {
    const l = s.last;
    switch (slot) {
      case HIGH_LEVEL: return { level: l?.level, highLevel: s.switchHigh, maxLevelM: s.params.maxLevelM, pumpsRunning: l?.pumpsRunning, since: s.since[slot] };
      case PUMP_FAULT: return { pumpFault: l?.pumpFault, pumpsRunning: l?.pumpsRunning };
      case POWER_LOST: return { powerOk: l?.powerOk };
      case FLOODED: return { flooded: l?.flooded, level: l?.level };
      default: return {};
    }
  },

  suppressed: () => false,
  // the transmitter's hysteresis state and the float switch decide the high level's hold after a restart
  save: (s) => ({ levelHigh: s.levelHigh, switchHigh: s.switchHigh }),
  restore(s, v) {
    s.levelHigh = v.levelHigh === true;
    s.switchHigh = v.switchHigh === true;
  },
};
