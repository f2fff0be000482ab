/**
 * Provisioning and the fleet against a real gateway: idempotent provisioning (create, reuse from a
 * secrets file, rotate, renew a refused secret), normal readings from every kind, batches, and a
 * scenario injected into a running fleet.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './harness/gateway.js';
import { DEVICE_KINDS } from '../ingest/schemas/kinds.js';
import { GatewayApi } from '../simulators/api.js';
import { Fleet } from '../simulators/fleet.js';
import { planFleet, provision, readSecrets, renewRefusedSecrets, writeSecrets, parsePerKind } from '../simulators/provision.js';
import { getScenario } from '../simulators/scenarios/catalogue.js';
import { verifyScenario } from '../simulators/scenarios/verify.js';
import { SimError } from '../simulators/errors.js';

let t: TestGateway;
let api: GatewayApi;
let dir: string;
const perKind = { elevator: 2, fire_panel: 1, smoke_detector: 2, fire_water: 1, water_pump: 1, drainage: 1 };

beforeAll(async () => {
  t = await startTestGateway();
  api = new GatewayApi(t.httpUrl, ADMIN_TOKEN);
  dir = mkdtempSync(join(tmpdir(), 'sim-fleet-'));
});
afterAll(async () => {
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('provisioning', () => {
  it('plans ids from the prefix, with elevator registry fields', () => {
    const plan = planFleet({ prefix: 'p', sites: 2, perKind });
    expect(plan.sites.map((s) => s.id)).toEqual(['p-s01', 'p-s02']);
    expect(plan.devices).toHaveLength(16);
    const elev = plan.devices.find((d) => d.id === 'p-s01-elev01')!;
    expect(elev).toMatchObject({ kind: 'elevator', siteId: 'p-s01', maintenanceUnitId: 'p-mu' });
    expect(elev.registrationCode).toMatch(/^\d{20}$/);
    expect(elev.nextInspectionDue).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(parsePerKind('elevator=3,smoke=2')).toEqual({ elevator: 3, smoke_detector: 2 });
    expect(() => parsePerKind('lift=1')).toThrow(SimError);
  });

  it('creates, then reuses with a secrets file, then rotates without one; refuses a kind clash', async () => {
    const plan = planFleet({ prefix: 'idem', sites: 1, perKind: { elevator: 1, fire_water: 1 } });
    const first = await provision(api, plan);
    expect(first).toMatchObject({ sitesCreated: 1, devicesCreated: 2, devicesReused: 0, devicesRotated: 0 });
    const file = join(dir, 'secrets.json');
    writeSecrets(file, first.devices, t.httpUrl);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = await provision(api, plan, { secrets: readSecrets(file) });
    expect(second).toMatchObject({ sitesCreated: 0, devicesCreated: 0, devicesReused: 2, devicesRotated: 0 });
    expect(second.devices.map((d) => d.secret)).toEqual(first.devices.map((d) => d.secret));
    const third = await provision(api, plan);
    expect(third).toMatchObject({ devicesCreated: 0, devicesRotated: 2 });
    expect(third.devices[0]!.secret).not.toBe(first.devices[0]!.secret);
    const clash = { sites: plan.sites, devices: [{ ...plan.devices[0]!, kind: 'water_pump' as const }] };
    await expect(provision(api, clash)).rejects.toMatchObject({ code: 'SIM_PROVISION_CONFLICT' });
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);
  });

  it('renews the secret of a device the broker refuses (stale secrets file)', async () => {
    const plan = planFleet({ prefix: 'stale', sites: 1, perKind: { smoke_detector: 1 } });
    const { devices } = await provision(api, plan);
    const fleet = new Fleet({ mqttUrl: t.mqttUrl, devices: devices.map((d) => ({ ...d, secret: 'stale-secret-stale-secret' })), timeScale: 10 });
    try {
      expect(await fleet.start(3000)).toBe(0);
      expect(fleet.stats().refused).toBe(1);
      const renewed = await renewRefusedSecrets(api, fleet.devices);
      expect(renewed).toHaveLength(1);
      expect(fleet.stats().connected).toBe(1);
    } finally {
      await fleet.stop();
    }
  });
});

describe('fleet', () => {
  it('every device of every kind reports valid readings, batched when asked, and a scenario can be injected', async () => {
    const { devices } = await provision(api, planFleet({ prefix: 'fl', sites: 2, perKind }));
    // 10 s readings at ×100: one every ~100 ms of real time; batches of 3 readings
    const fleet = new Fleet({ mqttUrl: t.mqttUrl, devices, timeScale: 100, batchSize: 3, seed: 'fleet-test' });
    let run;
    try {
      expect(await fleet.start()).toBe(devices.length);
      const trapped = getScenario('elevator.trapped-levelled')!;
      run = await fleet.inject(trapped, { siteId: 'fl-s02' });
      expect(run.devices.car).toMatch(/^fl-s02-elev0[12]$/);
    } finally {
      await fleet.stop();
    }
    const stats = fleet.stats();
    expect(stats.errors).toBe(0);
    expect(stats.dropped).toBe(0);
    expect(stats.acked).toBeGreaterThan(0);
    for (const d of devices) {
      const rows = await api.telemetry(d.id, { from: 0 });
      expect(rows.length, d.id).toBeGreaterThanOrEqual(3);
      // seq strictly increases per device across both channels, so readings' seqs are increasing
      const seqs = rows.map((r) => r.seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    const kinds = new Set(devices.map((d) => d.kind));
    expect([...kinds].sort()).toEqual([...DEVICE_KINDS].sort());
    const letters = await api.call('GET', '/api/v1/dead-letters?limit=10');
    expect(letters.items).toEqual([]);
    const results = await verifyScenario(getScenario('elevator.trapped-levelled')!, run!, api);
    expect(results.filter((r) => !r.ok).map((r) => r.detail)).toEqual([]);
  });
});
