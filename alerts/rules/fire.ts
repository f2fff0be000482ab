/**
 * Fire alarm control panels and standalone smoke alarms. Panel states are per zone (the alert's
 * subject): fire alarm, fault, supervisory, disabled (屏蔽); `restored` ends a zone's fault,
 * supervisory and disabled states, `reset` ends its alarm and supervisory state (the whole panel
 * when no zone is given). A fire alarm does not clear itself (see the responsibility list): it
 * stays until someone resolves or dismisses it. Confirmation (corroboration) is corroboration.ts.
 */
import type { AlertType } from '../catalog.js';
import type { FirePanelRules, SmokeDetectorRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { RuleState, below, flag, occur, type KindModule, type SlotHost } from './state.js';

const POWER_FAULT = 1;
const PANEL_SLOTS: readonly AlertType[] = ['device.offline', 'fire.power_fault'];

function zoneDetails(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { zone: d.zone };
  if (d.point !== undefined) out.point = d.point;
  if (d.component !== undefined) out.component = d.component;
  if (d.code !== undefined) out.code = d.code;
  return out;
}

export const firePanel: KindModule<RuleState, FirePanelRules> = {
  slots: PANEL_SLOTS,
  create: (device: DeviceInfo, params: FirePanelRules, host: SlotHost) => new RuleState(device, params, firePanel, host),

  telemetry(h, s, d, now) {
    flag(h, s, POWER_FAULT, d.mainPowerOk === false || d.backupPowerOk === false, now);
    s.last = d;
  },

  event(h, s, d, now) {
    const zone = typeof d.zone === 'string' ? d.zone : '';
    switch (d.type) {
      case 'fire_alarm': h.raiseEvent(s, 'fire.alarm', zone, { ...zoneDetails(d), source: 'fire_panel' }, now); break;
      case 'fault': h.raiseEvent(s, 'fire.fault', zone, zoneDetails(d), now); break;
      case 'supervisory': h.raiseEvent(s, 'fire.supervisory', zone, zoneDetails(d), now); break;
      case 'disabled': h.raiseEvent(s, 'fire.disabled', zone, zoneDetails(d), now); break;
      case 'restored':
        h.endEvent(s, 'fire.fault', zone, now);
        h.endEvent(s, 'fire.supervisory', zone, now);
        h.endEvent(s, 'fire.disabled', zone, now);
        break;
      case 'reset':
        if (zone) {
          h.endEvent(s, 'fire.alarm', zone, now);
          h.endEvent(s, 'fire.supervisory', zone, now);
        } else {
          h.endEventAll(s, 'fire.alarm', now);
          h.endEventAll(s, 'fire.supervisory', now);
        }
        break;
    }
  },

  hold: (s, slot) => (slot === POWER_FAULT ? s.params.powerFaultAfter : 0),
  details: (s) => ({ mainPowerOk: s.last?.mainPowerOk, backupPowerOk: s.last?.backupPowerOk }),
  suppressed: () => false,
  save: () => ({}),
  restore: () => {},
};

const LOW_BATTERY = 1;
const SMOKE_SLOTS: readonly AlertType[] = ['device.offline', 'smoke.low_battery'];

export const smokeDetector: KindModule<RuleState, SmokeDetectorRules> = {
  slots: SMOKE_SLOTS,
  create: (device: DeviceInfo, params: SmokeDetectorRules, host: SlotHost) => new RuleState(device, params, smokeDetector, host),

  telemetry(h, s, d, now) {
    below(h, s, LOW_BATTERY, d.battery as number, s.params.lowBatteryPercent, s.params.batteryHysteresisPercent, now);
    s.last = d;
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'alarm': h.raiseEvent(s, 'fire.alarm', '', { source: 'smoke_detector', ...(s.last ? { smoke: s.last.smoke, temperature: s.last.temperature } : {}) }, now); break;
      case 'alarm_cleared': h.endEvent(s, 'fire.alarm', '', now); break;
      case 'low_battery': occur(h, s, LOW_BATTERY, now); break;
      case 'tamper': h.raiseEvent(s, 'smoke.tamper', '', {}, now); break;
    }
  },

  hold: () => 0,
  details: (s) => ({ battery: s.last?.battery, threshold: s.params.lowBatteryPercent }),
  suppressed: () => false,
  save: () => ({}),
  restore: () => {},
};
