/** One model class per device kind, and a factory for fleets and scenarios. */
import type { DeviceKind } from '../../ingest/index.js';
import { ElevatorModel, type ElevatorOptions } from './elevator.js';
import { FirePanelModel, type FirePanelOptions } from './fire-panel.js';
import { SmokeDetectorModel, type SmokeDetectorOptions } from './smoke-detector.js';
import { FireWaterModel, type FireWaterOptions } from './fire-water.js';
import { WaterPumpModel, type WaterPumpOptions } from './water-pump.js';
import { DrainageModel, type DrainageOptions } from './drainage.js';
import type { DeviceModel } from './model.js';

export { DeviceModel, type StepOutput, type Reading, type DeviceEvent, type Action } from './model.js';
export { ElevatorModel, FirePanelModel, SmokeDetectorModel, FireWaterModel, WaterPumpModel, DrainageModel };
export type { ElevatorOptions, FirePanelOptions, SmokeDetectorOptions, FireWaterOptions, WaterPumpOptions, DrainageOptions };

/** `spec`: what the registry says of the device that the model must match (an elevator's rated speed). */
export function createModel(kind: DeviceKind, id: string, seed?: number | string, spec: { ratedSpeed?: number | undefined } = {}): DeviceModel {
  const opts = seed === undefined ? {} : { seed };
  switch (kind) {
    case 'elevator': return new ElevatorModel(id, spec.ratedSpeed === undefined ? opts : { ...opts, ratedSpeed: spec.ratedSpeed });
    case 'fire_panel': return new FirePanelModel(id, opts);
    case 'smoke_detector': return new SmokeDetectorModel(id, opts);
    case 'fire_water': return new FireWaterModel(id, opts);
    case 'water_pump': return new WaterPumpModel(id, opts);
    case 'drainage': return new DrainageModel(id, opts);
  }
}
