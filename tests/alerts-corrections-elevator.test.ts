/**
 * The practitioners' corrections to the elevator rules (DOMAIN.md, "Corrections and additions"), on
 * the real gateway with real MQTT devices and a manual clock:
 * - overspeed is relative to the registry's rated speed (× `overspeedRatio`, 1.15: the governor must
 *   trip at ≥ 115 %), with `overspeedMps` only as the fallback for a car registered without one;
 * - an alert suppressed in inspection / maintenance mode whose condition still holds when the mode
 *   ends goes to the authorities at that moment.
 * The queue log is final when a device's publish resolves (the rules run before the PUBACK), so what
 * was not sent is checked then, without sleeping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

const MS = 'market-supervision';
const OVERSPEED = 'elevator.overspeed';
const SAFETY = 'elevator.safety_circuit_open';

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({ alerts: { rules: { devices: { 'lift-ratio': { overspeedRatio: 1.05 } } } } }));
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

const lift = (extra: Record<string, unknown> = {}, id?: string) => addDevice(t, 'elevator', { ...(id ? { id } : {}), extra });
/** A reading of a car running down at `speed` (m/s), doors closed. */
const running = (d: TestDevice, speed: number, patch: Record<string, unknown> = {}) =>
  telemetry(d, { ...NORMAL.elevator, door: 'closed', running: true, direction: 'down', doorZone: false, speed, ...patch });
const raised = async (d: TestDevice, type: string) => (await logged(t, d.id, type)).filter((m) => m.event === 'raised');
const queuesOf = (d: TestDevice) => [MS, `maintenance/${d.unitId}`, `property/${d.companyId}`].sort();

/** The queue messages about a device's alerts of one type on one queue, with their times. */
async function sentTo(queue: string, d: TestDevice, type: string) {
  const q = t.gw.alerts.queues;
  const head = (await q.heads()).find((h) => h.queue === queue)?.cursor ?? 0;
  return (await q.read(queue, 0, head)).filter((m) => m.alert.deviceId === d.id && m.alert.type === type);
}

async function history(d: TestDevice, type: string): Promise<Array<{ at: number; action: string; detail?: Record<string, unknown> }>> {
  const list = await t.api('GET', `/api/v1/alerts?deviceId=${encodeURIComponent(d.id)}&type=${encodeURIComponent(type)}`);
  const items = list.body.items as Array<{ id: number }>;
  expect(items).toHaveLength(1);
  return (await t.api('GET', `/api/v1/alerts/${items[0]!.id}`)).body.history;
}

describe('overspeed by the rated speed', () => {
  it('a 1.0 m/s lift: not at 1.14 m/s, at 1.16 m/s (limit 1.15) to every queue; it ends at the limit less the hysteresis', async () => {
    const d = await lift({ ratedSpeed: 1 });
    await telemetry(d, NORMAL.elevator!);
    await running(d, 1.14);
    expect(await raised(d, OVERSPEED), '1.14 m/s is below 115 % of 1.0').toEqual([]);
    await running(d, 1.16);
    const got = await raised(d, OVERSPEED);
    expect(got.map((m) => m.queue).sort()).toEqual(queuesOf(d));
    expect(got[0]!.alert.details).toMatchObject({ speed: 1.16, limit: 1.15, limitFrom: 'rated_speed', ratedSpeed: 1, overspeedRatio: 1.15 });
    // back to its rated speed, above 1.15 - 0.2: the same overspeed, not a new one when it speeds up again
    await running(d, 1);
    expect((await logged(t, d.id, OVERSPEED)).filter((m) => m.event === 'closed')).toEqual([]);
    await running(d, 0.9);
    expect((await logged(t, d.id, OVERSPEED)).filter((m) => m.event === 'closed' && m.reason === 'condition_ended').map((m) => m.queue).sort()).toEqual(queuesOf(d));
    await watcher.waitFor(d.id, OVERSPEED, 'raised', queuesOf(d));
  });

  it('a 4.0 m/s lift: cruising at 4.5 m/s is no overspeed (the old fixed 2.5 m/s said it was); 4.7 m/s is', async () => {
    const d = await lift({ ratedSpeed: 4 });
    await telemetry(d, NORMAL.elevator!);
    await running(d, 4.5);
    expect(await raised(d, OVERSPEED)).toEqual([]);
    await running(d, 4.7);
    const got = await raised(d, OVERSPEED);
    expect(got.map((m) => m.queue).sort()).toEqual(queuesOf(d));
    expect(got[0]!.alert.details).toMatchObject({ limit: 4.6, limitFrom: 'rated_speed', ratedSpeed: 4 });
  });

  it('no rated speed registered: the fallback overspeedMps (2.5 m/s), and the details say so', async () => {
    const d = await lift();
    await telemetry(d, NORMAL.elevator!);
    await running(d, 2.4);
    expect(await raised(d, OVERSPEED)).toEqual([]);
    await running(d, 2.6);
    const got = await raised(d, OVERSPEED);
    expect(got.map((m) => m.queue).sort()).toEqual(queuesOf(d));
    expect(got[0]!.alert.details).toMatchObject({ speed: 2.6, limit: 2.5, limitFrom: 'fallback', ratedSpeed: null });
  });

  it('a per-device overspeedRatio: 1.05 on a 1.0 m/s lift alerts at 1.06 m/s', async () => {
    const d = await lift({ ratedSpeed: 1 }, 'lift-ratio');
    await telemetry(d, NORMAL.elevator!);
    await running(d, 1.04);
    expect(await raised(d, OVERSPEED)).toEqual([]);
    await running(d, 1.06);
    const got = await raised(d, OVERSPEED);
    expect(got.map((m) => m.queue).sort()).toEqual(queuesOf(d));
    expect(got[0]!.alert.details).toMatchObject({ limit: 1.05, limitFrom: 'rated_speed', overspeedRatio: 1.05 });
  });

  it('a rated speed changed in the registry applies from the next reading', async () => {
    const d = await lift({ ratedSpeed: 2.5 });
    await telemetry(d, NORMAL.elevator!);
    await running(d, 2.6);
    expect(await raised(d, OVERSPEED)).toEqual([]);
    expect((await t.api('PATCH', `/api/v1/devices/${d.id}`, { ratedSpeed: 1.75 })).status).toBe(200);
    await running(d, 2.1);
    expect((await raised(d, OVERSPEED))[0]?.alert.details).toMatchObject({ limit: 2.0125, ratedSpeed: 1.75 });
  });
});

describe('suppressed in inspection / maintenance mode, then the mode ends', () => {
  it('a condition that still holds reaches market supervision at the moment the mode returns to normal', async () => {
    const d = await lift();
    await telemetry(d, { ...NORMAL.elevator, mode: 'maintenance' });
    await telemetry(d, { ...NORMAL.elevator, mode: 'maintenance', safetyCircuit: 'open' });
    const before = await logged(t, d.id, SAFETY);
    expect(before.map((m) => [m.queue, m.event, m.alert.suppressed])).toEqual([[`property/${d.companyId}`, 'raised', true]]);
    // the technician leaves the circuit open for a while; nothing reaches the authorities meanwhile
    clock.advance(5 * 60_000);
    await telemetry(d, { ...NORMAL.elevator, mode: 'maintenance', safetyCircuit: 'open' });
    expect(await sentTo(MS, d, SAFETY)).toEqual([]);
    const back = clock.now();
    await telemetry(d, { ...NORMAL.elevator, safetyCircuit: 'open' });
    // decided before the PUBACK: market supervision and the maintenance unit have it as raised, now, unsuppressed
    for (const q of [MS, `maintenance/${d.unitId}`]) {
      const sent = await sentTo(q, d, SAFETY);
      expect(sent.map((m) => [m.event, m.reason, m.at, m.alert.suppressed]), q).toEqual([['raised', 'mode_ended', back, false]]);
    }
    const property = await sentTo(`property/${d.companyId}`, d, SAFETY);
    expect(property.map((m) => [m.event, m.reason ?? null, m.alert.suppressed])).toEqual([['raised', null, true], ['updated', 'mode_ended', false]]);
    const released = (await history(d, SAFETY)).filter((h) => h.action === 'released');
    expect(released).toMatchObject([{ at: back, detail: { previousMode: 'maintenance', mode: 'normal' } }]);
    await watcher.waitFor(d.id, SAFETY, 'raised', [MS]);
  });

  it('a condition that ended before the mode returned to normal does not reach them', async () => {
    const d = await lift();
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection', safetyCircuit: 'open' });
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection' });
    await telemetry(d, NORMAL.elevator!);
    expect(await sentTo(MS, d, SAFETY)).toEqual([]);
    expect(await sentTo(`maintenance/${d.unitId}`, d, SAFETY)).toEqual([]);
    expect((await history(d, SAFETY)).map((h) => h.action)).toEqual(['raised', 'auto_cleared']);
  });

  it('nor one that ends in the very reading that returns the mode to normal', async () => {
    const d = await lift();
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection', safetyCircuit: 'open' });
    await telemetry(d, NORMAL.elevator!);
    expect(await sentTo(MS, d, SAFETY)).toEqual([]);
    expect((await history(d, SAFETY)).map((h) => h.action)).toEqual(['raised', 'auto_cleared']);
  });

  it('a device fault report in the mode is one moment, not a condition that holds: it is not released', async () => {
    const d = await lift();
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection' });
    await event(d, { type: 'fault', fault: 'door_open_fault', code: 'E22' });
    await telemetry(d, NORMAL.elevator!);
    expect(await sentTo(`maintenance/${d.unitId}`, d, 'elevator.door_open_fault')).toEqual([]);
    expect((await history(d, 'elevator.door_open_fault')).map((h) => h.action)).toEqual(['raised']);
  });
});
