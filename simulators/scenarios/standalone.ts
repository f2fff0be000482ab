/**
 * A scenario on its own: registers one device per role on a scenario site, connects them, lets
 * them report normally, plays the script, and (optionally) checks the expectations through the API.
 */
import type { GatewayApi } from '../api.js';
import { Fleet } from '../fleet.js';
import { provision, renewRefusedSecrets, type DeviceInput, type SecretsFile } from '../provision.js';
import { SimError } from '../errors.js';
import { DEFAULT_RATED_SPEED } from '../models/elevator.js';
import type { ScenarioRun, StepClock } from './runner.js';
import type { Scenario } from './types.js';
import { verifyScenario, type ExpectationResult } from './verify.js';
import type { SimDeviceSpec } from '../device.js';

export interface StandaloneOptions {
  mqttUrl: string;
  api: GatewayApi;
  /** Id prefix; the devices are `${prefix}-scn-${scenario}-${role}` on site `${prefix}-scn`. */
  prefix?: string;
  timeScale?: number;
  /** Stepped time instead of the wall clock (see runner.ts); needs QoS 1. */
  clock?: StepClock;
  qos?: 0 | 1;
  verify?: boolean;
  secrets?: SecretsFile | undefined;
  signal?: AbortSignal;
  onStep?: (line: string) => void;
  /** Called with the devices once provisioned (e.g. to save their secrets). */
  onProvisioned?: (devices: SimDeviceSpec[]) => void;
}

export interface StandaloneResult {
  run: ScenarioRun;
  results?: ExpectationResult[];
  ok: boolean;
}

/** The street of the standalone scenarios' site. */
export const SCENARIO_STREET = '场景街道';

export function scenarioDeviceIds(scenario: Scenario, prefix = 'sim'): Record<string, string> {
  return Object.fromEntries(Object.keys(scenario.devices).map((role) => [role, `${prefix}-scn-${scenario.name}-${role}`]));
}

export async function runScenarioStandalone(scenario: Scenario, opts: StandaloneOptions): Promise<StandaloneResult> {
  const prefix = opts.prefix ?? 'sim';
  const siteId = `${prefix}-scn`;
  const ids = scenarioDeviceIds(scenario, prefix);
  const devices: DeviceInput[] = Object.entries(scenario.devices).map(([role, kind]) => ({
    id: ids[role]!, kind, siteId, building: '1号楼', location: `scenario ${scenario.name} (${role})`,
    // an elevator is registered with the rated speed its model runs at (the gateway's overspeed limit is a ratio of it);
    // the same unit runs the pump room (二次供水管理单位), so water-quality alerts reach a maintenance queue as well
    ...(kind === 'elevator' ? { maintenanceUnitId: `${prefix}-mu`, ratedSpeed: DEFAULT_RATED_SPEED } : {}),
    ...(kind === 'water_pump' ? { maintenanceUnitId: `${prefix}-mu` } : {}),
    // last: what the scenario depends on (a rated speed, another building, a device model) wins over the defaults
    ...scenario.deviceFields?.[role],
  }));
  const provisioned = await provision(opts.api, {
    // on a street: e-bikes in lifts are routed to the street's queue (street/{name})
    sites: [{ id: siteId, name: `场景测试小区 / Scenario site`, companyId: `${prefix}-co`, street: SCENARIO_STREET }],
    devices,
  }, { secrets: opts.secrets });
  opts.onProvisioned?.(provisioned.devices);
  const fleet = new Fleet({ mqttUrl: opts.mqttUrl, devices: provisioned.devices, timeScale: opts.timeScale ?? 1, qos: opts.qos ?? 1, intervalMs: scenario.reportIntervalMs ?? 10_000, ...(opts.clock ? { clock: opts.clock } : {}) });
  try {
    let connected = await fleet.start();
    if (connected < provisioned.devices.length) {
      const renewed = await renewRefusedSecrets(opts.api, fleet.devices);
      if (renewed.length > 0) opts.onProvisioned?.(fleet.devices.map((d) => d.spec));
      connected = fleet.stats().connected;
    }
    if (connected < provisioned.devices.length) throw new SimError('SIM_CONNECT', `only ${connected} of ${provisioned.devices.length} devices connected to ${opts.mqttUrl} / 设备未能连接到 MQTT`);
    const byRole = Object.fromEntries(Object.entries(ids).map(([role, id]) => [role, fleet.get(id)!]));
    const run = await fleet.inject(scenario, { devices: byRole, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    // waits for the last PUBACKs, so everything sent is stored before it is checked
    await fleet.stop();
    if (!opts.verify) return { run, ok: run.errors.length === 0 };
    const results = await verifyScenario(scenario, run, opts.api);
    return { run, results, ok: run.errors.length === 0 && results.every((r) => r.ok) };
  } finally {
    await fleet.stop();
  }
}
