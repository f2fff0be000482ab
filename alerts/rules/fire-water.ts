/**
 * Fire water supply (GB 50974): pipe network pressure below its minimum for a duration, fire
 * tank / pool below its minimum level, fire pump fault and pump power. A sprinkler flow switch
 * showing water flowing corroborates the site's fire alarms (corroboration.ts).
 */
import type { AlertType } from '../catalog.js';
import type { FireWaterRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { RuleState, below, flag, occur, setOff, type KindModule, type SlotHost } from './state.js';

const LOW_PRESSURE = 1, LOW_TANK = 2, PUMP_FAULT = 3, PUMP_POWER = 4;
const SLOTS: readonly AlertType[] = ['device.offline', 'fire_water.low_pressure', 'fire_water.low_tank', 'fire_water.pump_fault', 'fire_water.pump_power_lost'];

export const fireWater: KindModule<RuleState, FireWaterRules> = {
  slots: SLOTS,
  create: (device: DeviceInfo, params: FireWaterRules, host: SlotHost) => new RuleState(device, params, fireWater, host),

  telemetry(h, s, d, now) {
    const p = s.params;
    below(h, s, LOW_PRESSURE, d.pressure as number, p.minPressureMpa, p.pressureHysteresisMpa, now);
    below(h, s, LOW_TANK, d.tankLevel as number, p.minTankLevelM, p.tankHysteresisM, now);
    if (d.pumpFault !== undefined) flag(h, s, PUMP_FAULT, d.pumpFault === true, now);
    if (d.pumpPowerOk !== undefined) flag(h, s, PUMP_POWER, d.pumpPowerOk === false, now);
    s.last = d;
    if (d.flowSwitch === true) h.fireFlow(s, now);
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'pump_fault': occur(h, s, PUMP_FAULT, now); break;
      case 'pump_fault_cleared': setOff(h, s, PUMP_FAULT, now); break;
      case 'power_lost': occur(h, s, PUMP_POWER, now); break;
      case 'power_restored': setOff(h, s, PUMP_POWER, now); break;
      case 'flow_detected': h.fireFlow(s, now); break;
    }
  },

  hold(s, slot) {
    switch (slot) {
      case LOW_PRESSURE: return s.params.lowPressureAfter;
      case LOW_TANK: return s.params.lowTankAfter;
      case PUMP_FAULT: return s.params.pumpFaultAfter;
      default: return 0;
    }
  },

  details(s, slot) {
    const l = s.last;
    switch (slot) {
      case LOW_PRESSURE: return { pressure: l?.pressure, minPressureMpa: s.params.minPressureMpa, since: s.since[slot] };
      case LOW_TANK: return { tankLevel: l?.tankLevel, minTankLevelM: s.params.minTankLevelM, since: s.since[slot] };
      case PUMP_FAULT: return { pumpFault: l?.pumpFault, pumpRunning: l?.pumpRunning };
      default: return { pumpPowerOk: l?.pumpPowerOk };
    }
  },

  suppressed: () => false,
  save: () => ({}),
  restore: () => {},
};
