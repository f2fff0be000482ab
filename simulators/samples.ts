/** One valid reading and one valid event per device kind: the smallest correct payloads of the device contract (ingest/schemas/kinds.ts). */
import type { DeviceKind } from '../ingest/index.js';

export function sampleTelemetry(kind: DeviceKind, seq = 0): Record<string, unknown> {
  switch (kind) {
    case 'elevator':
      return { seq, mode: 'normal', running: true, direction: 'up', floor: seq % 30, doorZone: false, door: 'closed', occupied: true, speed: 1.5, runCount: 1000 + seq, runHours: 12.5 };
    case 'fire_panel':
      return { seq, mainPowerOk: true, backupPowerOk: true };
    case 'smoke_detector':
      return { seq, smoke: 0.02, temperature: 24.5, battery: 87 };
    case 'fire_water':
      return { seq, pressure: 0.32, tankLevel: 3.8, pumpRunning: false, pumpFault: false, pumpPowerOk: true, flowSwitch: false };
    case 'water_pump':
      return { seq, inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false, turbidity: 0.3, chlorine: 0.4, ph: 7.2 };
    case 'drainage':
      return { seq, level: 0.6, highLevel: false, pumpsRunning: 1, pumpFault: false, powerOk: true, flooded: false };
  }
}

export function sampleEvent(kind: DeviceKind): Record<string, unknown> {
  switch (kind) {
    case 'elevator': return { type: 'fault', fault: 'door_close_fault', code: 'E23' };
    case 'fire_panel': return { type: 'fire_alarm', zone: 'Z3', point: '3-12' };
    case 'smoke_detector': return { type: 'alarm' };
    case 'fire_water': return { type: 'pump_fault', pump: 'P1' };
    case 'water_pump': return { type: 'flooded' };
    case 'drainage': return { type: 'high_level' };
  }
}
