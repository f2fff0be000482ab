/**
 * The public elevator notice served by a real gateway: found by registration code (also after the
 * code changes), its state from the elevator's own data, no login, nothing of other devices.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addDevice, NORMAL, startAlertGateway, telemetry, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';

let t: TestGateway;
let lift: TestDevice;

beforeAll(async () => {
  ({ t } = await startAlertGateway());
  lift = await addDevice(t, 'elevator', { extra: { registrationCode: '31104403002015070001', location: '3号楼 东梯' } });
});
afterAll(async () => {
  await lift?.client.endAsync();
  await t?.dispose();
});

const notice = (code: string) => fetch(`${t.httpUrl}/public/elevators/${code}`, { headers: { accept: 'application/json' } });

it('answers without a token, with the unit\'s name and 24 h phone and the state from the elevator\'s own data', async () => {
  const unit = await t.api('PATCH', `/api/v1/maintenance-units/${lift.unitId}`, { name: '安顺电梯维保有限公司', phone: '0755-88886666' });
  expect(unit.status).toBe(200);
  await telemetry(lift, NORMAL.elevator!);
  const res = await notice('31104403002015070001');
  expect(res.status).toBe(200);
  const body = await res.json() as Record<string, unknown>;
  expect(body).toMatchObject({
    registrationCode: '31104403002015070001', location: '3号楼 东梯', state: 'in_service', lastMaintenanceVisit: null,
    maintenanceUnit: { name: '安顺电梯维保有限公司', phone: '0755-88886666' },
  });
  expect(JSON.stringify(body)).not.toContain(lift.id);
});

it('follows a changed registration code: the old one is unknown, the new one answers', async () => {
  const patched = await t.api('PATCH', `/api/v1/devices/${lift.id}`, { registrationCode: '31104403002015070002' });
  expect(patched.status).toBe(200);
  expect((await notice('31104403002015070001')).status).toBe(404);
  expect((await notice('31104403002015070002')).status).toBe(200);
});

it('a disabled elevator, and a device that is not an elevator, read like unknown codes', async () => {
  const pump = await addDevice(t, 'water_pump', { extra: { registrationCode: 'PUMP-0001' } });
  expect((await notice('PUMP-0001')).status).toBe(404);
  await pump.client.endAsync();
  await t.api('PATCH', `/api/v1/devices/${lift.id}`, { disabled: true });
  expect((await notice('31104403002015070002')).status).toBe(404);
});
