/**
 * Time-driven behaviour on a manual clock: deadlines escalate to the escalation targets, the daily
 * inspection and maintenance checks, and rule state (condition start times, offline watch,
 * deadlines) surviving a gateway restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, addDevice, event, startAlertGateway, telemetry, type ManualClock } from './harness/alerts.js';
import { waitFor, type TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

const MIN = 60_000;
const DAY = 86_400_000;

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

/** YYYY-MM-DD of the manual clock plus `days`, in the gateway's time zone (UTC+8). */
const dateIn = (days: number) => new Date(clock.now() + 8 * 3_600_000 + days * DAY).toISOString().slice(0, 10);

describe('escalation', () => {
  it('trapped passengers: no acknowledgement in 3 min and no rescue in 30 min escalate to market supervision and the property company', async () => {
    const d = await addDevice(t, 'elevator');
    await event(d, { type: 'fault', fault: 'trapped', levelled: true });
    const raised = await watcher.waitFor(d.id, 'elevator.trapped', 'raised', ['market-supervision', `maintenance/${d.unitId}`, `property/${d.companyId}`]);
    const alert = raised[0]!.alert as unknown as { id: number; deadlines: { acknowledgeBy: number; resolveBy: number }; openedAt: number };
    expect(alert.deadlines.resolveBy - (raised[0]!.alert as unknown as { openedAt: number }).openedAt).toBe(30 * MIN);

    // due timers run inside advance(): one second before the deadline nothing has been escalated
    clock.advance(3 * MIN - 1000);
    expect((await logged(t, d.id, 'elevator.trapped')).filter((m) => m.event === 'escalated')).toEqual([]);
    clock.advance(1000);
    const esc = await watcher.waitFor(d.id, 'elevator.trapped', 'escalated', ['market-supervision', `property/${d.companyId}`]);
    expect(esc[0]!.reason).toBe('acknowledge_overdue');

    expect((await t.api('POST', `/api/v1/alerts/${alert.id}/acknowledge`, { note: 'rescue team on the way' })).status).toBe(200);
    clock.advance(27 * MIN - 1000);
    expect((await logged(t, d.id, 'elevator.trapped')).filter((m) => m.reason === 'resolve_overdue')).toEqual([]);
    clock.advance(1000);
    const overdue = await waitFor(() => {
      const got = watcher.of(d.id, 'elevator.trapped').filter((m) => m.event === 'escalated' && m.reason === 'resolve_overdue');
      return got.length === 3 ? got : undefined;
    }, 3000, 10);
    expect(overdue.map((m) => m.queue).sort()).toEqual(['maintenance/' + d.unitId, 'market-supervision', `property/${d.companyId}`].sort());
    const full = await t.api('GET', `/api/v1/alerts/${alert.id}`);
    // nobody recorded an arrival either: on an urban site its deadline is the same 30 min (alerts-rescue.test.ts)
    expect(full.body.escalations.map((e: { kind: string }) => e.kind).sort()).toEqual(['acknowledge_overdue', 'arrive_overdue', 'resolve_overdue']);
    await d.client.endAsync();
  });

  it('a lesser fault left unacknowledged reaches market supervision first as `escalated`', async () => {
    const d = await addDevice(t, 'elevator');
    await event(d, { type: 'fault', fault: 'door_close_fault', code: 'E23' });
    await watcher.waitFor(d.id, 'elevator.door_close_fault', 'raised', [`maintenance/${d.unitId}`, `property/${d.companyId}`]);
    clock.advance(30 * MIN);
    const [m] = (await watcher.waitFor(d.id, 'elevator.door_close_fault', 'escalated', ['market-supervision'])).filter((x) => x.queue === 'market-supervision');
    expect(m!.alert.queues).toContain('market-supervision');
    expect(watcher.of(d.id, 'elevator.door_close_fault').filter((x) => x.queue === 'market-supervision').map((x) => x.event)).toEqual(['escalated']);
    await d.client.endAsync();
  });

  it('an alert resolved in time is not escalated', async () => {
    const d = await addDevice(t, 'water_pump');
    await event(d, { type: 'pump_fault' });
    const [r] = await watcher.waitFor(d.id, 'water.pump_fault', 'raised', [`property/${d.companyId}`]);
    await t.api('POST', `/api/v1/alerts/${r!.alert.id}/resolve`, { note: 'reset the pump' });
    clock.advance(25 * 3_600_000);
    expect((await logged(t, d.id, 'water.pump_fault')).map((m) => m.event)).toEqual(['raised', 'resolved']);
    await d.client.endAsync();
  });
});

describe('schedules', () => {
  it('annual inspection: due within 30 days reminds the property company; overdue goes to market supervision', async () => {
    const soon = await addDevice(t, 'elevator', { extra: { nextInspectionDue: dateIn(20) } });
    const late = await addDevice(t, 'elevator', { extra: { nextInspectionDue: dateIn(-5) } });
    const fine = await addDevice(t, 'elevator', { extra: { nextInspectionDue: dateIn(60) } });
    t.gw.alerts.runSchedules();
    const [due] = await watcher.waitFor(soon.id, 'elevator.inspection_due', 'raised', [`property/${soon.companyId}`]);
    expect(due!.alert.severity).toBe('warning');
    const over = await watcher.waitFor(late.id, 'elevator.inspection_overdue', 'raised', ['market-supervision', `property/${late.companyId}`]);
    expect(over[0]!.alert.severity).toBe('major');
    // the checks ran inside runSchedules(): what they sent is in the queue log now
    expect((await logged(t, soon.id)).map((m) => m.queue)).toEqual([`property/${soon.companyId}`]);
    expect((await logged(t, fine.id))).toEqual([]);
    // running the checks again the next day does not repeat the reminder
    t.gw.alerts.runSchedules();
    expect((await logged(t, soon.id, 'elevator.inspection_due'))).toHaveLength(1);
    // the inspection was done: a new date clears the reminder
    expect((await t.api('PATCH', `/api/v1/devices/${soon.id}`, { nextInspectionDue: dateIn(365) })).status).toBe(200);
    const [cleared] = await watcher.waitFor(soon.id, 'elevator.inspection_due', 'closed', [`property/${soon.companyId}`]);
    expect(cleared!.alert.state).toBe('cleared');
    for (const d of [soon, late, fine]) await d.client.endAsync();
  });

  it('no valid maintenance visit in 15 days: maintenance overdue to market supervision', async () => {
    const idle = await addDevice(t, 'elevator');
    const kept = await addDevice(t, 'elevator');
    // what supervision's maintenance record says: the end of each elevator's last valid visit
    const visits = new Map<string, number>();
    t.gw.alerts.useMaintenanceRecord({ lastValidVisitAt: (deviceId) => visits.get(deviceId) });
    await telemetry(idle, NORMAL.elevator!);
    await telemetry(kept, NORMAL.elevator!);
    clock.advance(10 * DAY);
    visits.set(kept.id, clock.now());
    // a mode switched on without a valid visit counts for nothing
    await telemetry(idle, { ...NORMAL.elevator, mode: 'maintenance' });
    await telemetry(idle, NORMAL.elevator!);
    clock.advance(6 * DAY);
    t.gw.alerts.runSchedules();
    const raised = await watcher.waitFor(idle.id, 'elevator.maintenance_overdue', 'raised', ['market-supervision', `maintenance/${idle.unitId}`, `property/${idle.companyId}`]);
    expect(raised[0]!.alert.severity).toBe('major');
    expect((await logged(t, kept.id, 'elevator.maintenance_overdue'))).toEqual([]);
    // a valid visit recorded ends the condition at once
    visits.set(idle.id, clock.now());
    t.gw.alerts.maintenanceVisited(idle.id);
    await watcher.waitFor(idle.id, 'elevator.maintenance_overdue', 'closed', ['market-supervision']);
    await idle.client.endAsync();
    await kept.client.endAsync();
  });
});

describe('restart', () => {
  it('a 60 s condition does not restart from zero; deadlines and the offline watch survive a restart', async () => {
    const water = await addDevice(t, 'fire_water');
    const lift = await addDevice(t, 'elevator');
    await telemetry(water, { ...NORMAL.fire_water, pressure: 0.04 });
    await telemetry(lift, NORMAL.elevator!);
    await event(lift, { type: 'alarm_button' });
    const [button] = await watcher.waitFor(lift.id, 'elevator.alarm_button', 'raised', [`property/${lift.companyId}`]);
    clock.advance(40_000);
    await watcher.close();
    await t.stop();
    await t.restart();
    watcher = await AlertWatcher.start(t);

    clock.advance(19_000);
    expect((await logged(t, water.id, 'fire_water.low_pressure'))).toEqual([]);
    clock.advance(1000);
    const low = await watcher.waitFor(water.id, 'fire_water.low_pressure', 'raised', ['fire-service', `property/${water.companyId}`]);
    expect(low[0]!.alert.details.since).toBeLessThanOrEqual(clock.now() - 60_000);

    // the alarm button's 3 min acknowledgement deadline was set before the restart
    clock.advance(2 * MIN);
    const esc = await watcher.waitFor(lift.id, 'elevator.alarm_button', 'escalated', ['market-supervision']);
    expect(esc[0]!.alert.id).toBe(button!.alert.id);
    // the lift never came back after the restart: offline, counted from the restart
    clock.advance(3 * MIN);
    await watcher.waitFor(lift.id, 'device.offline', 'raised', [`property/${lift.companyId}`, `maintenance/${lift.unitId}`]);
  });
});
