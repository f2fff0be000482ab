/** One model class per device kind, and a factory for fleets and scenarios. */
import type { DeviceKind } from '../../ingest/index.js';
import { ElevatorModel, type ElevatorOptions } from './elevator.js';
import { FirePanelModel, type FirePanelOptions } from './fire-panel.js';
import { SmokeDetectorModel, type SmokeDetectorOptions } from './smoke-detector.js';
import { FireWaterModel, type FireWaterOptions } from './fire-water.js';
import { WaterPumpModel, type WaterPumpOptions } from './water-pump.js';
import type { DeviceModel } from './model.js';

export { DeviceModel, type StepOutput, type Reading, type DeviceEvent, type Action } from './model.js';
export { ElevatorModel, FirePanelModel, SmokeDetectorModel, FireWaterModel, WaterPumpModel };
export type { ElevatorOptions, FirePanelOptions, SmokeDetectorOptions, FireWaterOptions, WaterPumpOptions };

export function createModel(kind: DeviceKind, id: string, seed?: number | string): DeviceModel {
  const opts = seed === undefined ? {} : { seed };
  switch (kind) {
    case 'elevator': return new ElevatorModel(id, opts);
    case 'fire_panel': return new FirePanelModel(id, opts);
    case 'smoke_detector': return new SmokeDetectorModel(id, opts);
    case 'fire_water': return new FireWaterModel(id, opts);
    case 'water_pump': return new WaterPumpModel(id, opts);
  }
}
