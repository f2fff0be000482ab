/** The simulated GB/T 26875.3 transmission device and its one-shot scenarios (`npm run simulate`). */
export {
  Gb26875Device, runGb26875Simulator, GB26875_SCENARIOS,
  type Gb26875DeviceOptions, type Gb26875SimulatorOptions, type Gb26875Scenario, type ComponentStateSpec, type SystemStateSpec, type OperationSpec,
} from './device.js';
