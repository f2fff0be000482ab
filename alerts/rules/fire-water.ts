/**
 * Fire water supply (GB 50974): pipe network pressure below its minimum for a duration, fire
 * tank / pool below its minimum level or above its high level, fire pump fault and pump power, the
 * main fire pump starting, the pump control cabinet out of automatic (手动状态) and the signal valve
 * closed. A sprinkler flow switch showing water flowing corroborates the site's fire alarms
 * (corroboration.ts).
 *
 * The newer fields (`firePumpRunning`, `pumpAuto`, `signalValveOpen`, `tankHigh`) are optional: a
 * device that does not send one is not judged on it, so older monitors raise nothing new.
 */
import type { AlertType } from '../catalog.js';
import type { FireWaterRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { RuleState, above, below, flag, occur, setOff, type KindModule, type SlotHost } from './state.js';

const LOW_PRESSURE = 1, LOW_TANK = 2, PUMP_FAULT = 3, PUMP_POWER = 4, HIGH_TANK = 5, PUMP_STARTED = 6, PUMP_MANUAL = 7, VALVE_CLOSED = 8;
const SLOTS: readonly AlertType[] = [
  'device.offline', 'fire_water.low_pressure', 'fire_water.low_tank', 'fire_water.pump_fault', 'fire_water.pump_power_lost',
  'fire_water.high_tank', 'fire_water.pump_started', 'fire_water.pump_manual', 'fire_water.valve_closed',
];

export const fireWater: KindModule<RuleState, FireWaterRules> = {
  slots: SLOTS,
  create: (device: DeviceInfo, params: FireWaterRules, host: SlotHost) => new RuleState(device, params, fireWater, host),

  telemetry(h, s, d, now) {
    const p = s.params;
    const level = d.tankLevel as number;
    below(h, s, LOW_PRESSURE, d.pressure as number, p.minPressureMpa, p.pressureHysteresisMpa, now);
    below(h, s, LOW_TANK, level, p.minTankLevelM, p.tankHysteresisM, now);
    // the tank's own high-level switch, when it has one, is the truth; otherwise the configured level
    if (typeof d.tankHigh === 'boolean') flag(h, s, HIGH_TANK, d.tankHigh, now);
    else if (p.tankHighLevelM !== undefined) above(h, s, HIGH_TANK, level, p.tankHighLevelM, p.tankHysteresisM, now);
    if (d.pumpFault !== undefined) flag(h, s, PUMP_FAULT, d.pumpFault === true, now);
    if (d.pumpPowerOk !== undefined) flag(h, s, PUMP_POWER, d.pumpPowerOk === false, now);
    // a condition slot gives the rising edge: raised when the pump starts, not again while it runs
    if (d.firePumpRunning !== undefined) flag(h, s, PUMP_STARTED, d.firePumpRunning === true, now);
    if (d.pumpAuto !== undefined) flag(h, s, PUMP_MANUAL, d.pumpAuto === false, now);
    if (d.signalValveOpen !== undefined) flag(h, s, VALVE_CLOSED, d.signalValveOpen === false, now);
    s.last = d;
    if (d.flowSwitch === true) h.fireFlow(s, now);
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'pump_fault': occur(h, s, PUMP_FAULT, now); break;
      case 'pump_fault_cleared': setOff(h, s, PUMP_FAULT, now); break;
      case 'power_lost': occur(h, s, PUMP_POWER, now); break;
      case 'power_restored': setOff(h, s, PUMP_POWER, now); break;
      // only the main fire pump's: the jockey pump starts several times an hour in standby
      case 'pump_started': if (d.firePump === true) occur(h, s, PUMP_STARTED, now); break;
      case 'pump_stopped': if (d.firePump === true) setOff(h, s, PUMP_STARTED, now); break;
      case 'flow_detected': h.fireFlow(s, now); break;
    }
  },

  hold(s, slot) {
    switch (slot) {
      case LOW_PRESSURE: return s.params.lowPressureAfter;
      case LOW_TANK: return s.params.lowTankAfter;
      case HIGH_TANK: return s.params.highTankAfter;
      case PUMP_FAULT: return s.params.pumpFaultAfter;
      case PUMP_MANUAL: return s.params.pumpManualAfter;
      case VALVE_CLOSED: return s.params.valveClosedAfter;
      default: return 0;
    }
  },

  details(s, slot) {
    const l = s.last;
    switch (slot) {
      case LOW_PRESSURE: return { pressure: l?.pressure, minPressureMpa: s.params.minPressureMpa, since: s.since[slot] };
      case LOW_TANK: return { tankLevel: l?.tankLevel, minTankLevelM: s.params.minTankLevelM, since: s.since[slot] };
      case HIGH_TANK: return { tankLevel: l?.tankLevel, tankHigh: l?.tankHigh, tankHighLevelM: s.params.tankHighLevelM ?? null, since: s.since[slot] };
      case PUMP_FAULT: return { pumpFault: l?.pumpFault, pumpRunning: l?.pumpRunning };
      case PUMP_STARTED: return { firePumpRunning: l?.firePumpRunning, pressure: l?.pressure, flowSwitch: l?.flowSwitch };
      case PUMP_MANUAL: return { pumpAuto: l?.pumpAuto, since: s.since[slot] };
      case VALVE_CLOSED: return { signalValveOpen: l?.signalValveOpen, since: s.since[slot] };
      default: return { pumpPowerOk: l?.pumpPowerOk };
    }
  },

  suppressed: () => false,
  save: () => ({}),
  restore: () => {},
};
