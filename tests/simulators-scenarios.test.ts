/**
 * Every scenario, run against a real gateway with real mqtt.js devices, produces the readings,
 * events, dead letters or silence it declares, checked through the HTTP API. Scenarios run eight
 * at a time, each compressed to about 2.5 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './harness/gateway.js';
import { GatewayApi } from '../simulators/api.js';
import { SCENARIOS, validateScenario } from '../simulators/scenarios/catalogue.js';
import { runScenarioStandalone, type StandaloneResult } from '../simulators/scenarios/standalone.js';

let t: TestGateway;
let api: GatewayApi;
const outcomes = new Map<string, StandaloneResult>();
const REAL_MS = 2500;
const CONCURRENT = 8;

beforeAll(async () => {
  t = await startTestGateway();
  api = new GatewayApi(t.httpUrl, ADMIN_TOKEN);
  // a few at a time: compressed 100 times, a scenario's readings are milliseconds apart, and with
  // every scenario at once a busy machine delays them past the scenario's end
  const queue = SCENARIOS.map((s, i) => [s, i] as const);
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [s, i] = next;
      const r = await runScenarioStandalone(s, { mqttUrl: t.mqttUrl, api, prefix: `t${i}`, timeScale: s.durationMs / REAL_MS, verify: true });
      outcomes.set(s.name, r);
      if (process.env.SIM_TEST_VERBOSE) for (const x of r.results ?? []) console.log(`${x.ok ? 'ok ' : 'BAD'} ${s.name} ${x.detail}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, worker));
});
afterAll(async () => { await t?.dispose(); });

describe('scenario catalogue', () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s is well formed', (_name, s) => {
    expect(validateScenario(s)).toEqual([]);
    expect(s.expect.length).toBeGreaterThan(0);
    expect(s.title.zh.length).toBeGreaterThan(0);
  });

  it('names are unique and cover the issue\'s list', () => {
    const names = SCENARIOS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    const alerts = new Set(SCENARIOS.flatMap((s) => s.alerts.map((a) => a.type)));
    for (const a of ['elevator.trapped', 'fire.alarm', 'fire_water.low_pressure', 'water.turbidity_high', 'device.offline']) expect(alerts.has(a), a).toBe(true);
  });
});

// the alert catalogue is written separately; when it is there, scenario metadata must not drift from it
const catalog = await import('../alerts/catalog.js').catch(() => undefined) as { ALERT_TYPE_NAMES?: readonly string[] } | undefined;

describe('alert intents', () => {
  it.skipIf(!catalog?.ALERT_TYPE_NAMES)('name alert types of the catalogue, or say they are proposals', () => {
    const known = new Set(catalog!.ALERT_TYPE_NAMES);
    const unknown = SCENARIOS.flatMap((s) => s.alerts.filter((a) => !known.has(a.type) && !a.note?.startsWith('proposed')).map((a) => `${s.name}: ${a.type}`));
    expect(unknown).toEqual([]);
  });
});

describe('scenarios against the real gateway', () => {
  it.each(SCENARIOS.map((s) => [s.name] as const))('%s produces what it declares', (name) => {
    const r = outcomes.get(name)!;
    expect(r, 'scenario did not run').toBeDefined();
    expect(r.run.errors).toEqual([]);
    const failed = r.results!.filter((x) => !x.ok).map((x) => x.detail);
    expect(failed).toEqual([]);
  });
});
