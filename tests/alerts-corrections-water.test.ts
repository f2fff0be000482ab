/**
 * The practitioner review's fire-water and water-supply rules (DOMAIN.md, "Corrections and additions"),
 * against the real gateway with real MQTT devices and a manual clock: each new alert is raised exactly
 * when its hold time has passed and not 1 ms before (the queue log is final when `advance` returns, so
 * the negative check is made at that moment), reaches exactly the queues of the responsibility list,
 * and ends as documented. A reading without the new optional fields raises nothing new, and the low
 * fire-water pressure default is 0.15 MPa (the most unfavourable point, GB 50974).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged, type Logged } from './harness/queue-log.js';

const SEC = 1000;
const MIN = 60 * SEC;

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({
    alerts: {
      rules: {
        // the high zone's own limit; the low and mid zones keep the outlet's (0.1–0.8 MPa)
        water_pump: { zonePressure: { high: { minMpa: 0.5 } } },
        devices: { 'fw-level': { tankHighLevelM: 4.1 } },
      },
    },
  }));
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

const fw = (patch: Record<string, unknown>) => ({ ...NORMAL.fire_water, ...patch });
const wp = (patch: Record<string, unknown>) => ({ ...NORMAL.water_pump, ...patch });

function queuesOf(d: TestDevice, roles: ReadonlyArray<'p' | 'fs'>): string[] {
  return roles.map((r) => (r === 'fs' ? 'fire-service' : `property/${d.companyId}`)).sort();
}

async function messages(d: TestDevice, type: string, evt: string, subject = ''): Promise<Logged[]> {
  return (await logged(t, d.id, type)).filter((m) => m.event === evt && m.alert.subject === subject);
}

interface HoldCase {
  name: string;
  type: string;
  kind: 'fire_water' | 'water_pump';
  id?: string;
  subject?: string;
  hold: number;
  severity: string;
  queues: ReadonlyArray<'p' | 'fs'>;
  on: Record<string, unknown>;
  /** A reading inside the hysteresis band: the alert stays. */
  still?: Record<string, unknown>;
  off: Record<string, unknown>;
}

const CASES: HoldCase[] = [
  { name: 'low pressure at the 0.15 MPa default', type: 'fire_water.low_pressure', kind: 'fire_water', hold: MIN, severity: 'major', queues: ['p', 'fs'],
    on: fw({ pressure: 0.14 }), still: fw({ pressure: 0.16 }), off: fw({ pressure: 0.17 }) },
  { name: 'tank high-level switch', type: 'fire_water.high_tank', kind: 'fire_water', hold: MIN, severity: 'minor', queues: ['p'],
    on: fw({ tankHigh: true }), off: fw({ tankHigh: false }) },
  { name: 'tank above tankHighLevelM', type: 'fire_water.high_tank', kind: 'fire_water', id: 'fw-level', hold: MIN, severity: 'minor', queues: ['p'],
    on: fw({ tankLevel: 4.15 }), still: fw({ tankLevel: 4.08 }), off: fw({ tankLevel: 4.05 }) },
  { name: 'pump cabinet in manual', type: 'fire_water.pump_manual', kind: 'fire_water', hold: 10 * MIN, severity: 'major', queues: ['p', 'fs'],
    on: fw({ pumpAuto: false }), off: fw({ pumpAuto: true }) },
  { name: 'signal valve closed', type: 'fire_water.valve_closed', kind: 'fire_water', hold: MIN, severity: 'major', queues: ['p', 'fs'],
    on: fw({ signalValveOpen: false }), off: fw({ signalValveOpen: true }) },
  { name: 'high zone below its own 0.5 MPa', type: 'water.zone_pressure_low', kind: 'water_pump', subject: 'high', hold: MIN, severity: 'minor', queues: ['p'],
    on: wp({ outletPressureLow: 0.3, outletPressureMid: 0.45, outletPressureHigh: 0.45 }),
    still: wp({ outletPressureLow: 0.3, outletPressureMid: 0.45, outletPressureHigh: 0.51 }),
    off: wp({ outletPressureLow: 0.3, outletPressureMid: 0.45, outletPressureHigh: 0.6 }) },
  { name: 'low zone above the outlet maximum', type: 'water.zone_pressure_high', kind: 'water_pump', subject: 'low', hold: MIN, severity: 'minor', queues: ['p'],
    on: wp({ outletPressureLow: 0.85 }), still: wp({ outletPressureLow: 0.79 }), off: wp({ outletPressureLow: 0.7 }) },
  { name: 'municipal inlet low', type: 'water.inlet_pressure_low', kind: 'water_pump', hold: 5 * MIN, severity: 'minor', queues: ['p'],
    on: wp({ inletPressure: 0.06 }), still: wp({ inletPressure: 0.11 }), off: wp({ inletPressure: 0.15 }) },
  { name: 'pump-room smoke', type: 'water.smoke', kind: 'water_pump', hold: 0, severity: 'critical', queues: ['p'],
    on: wp({ smoke: true }), off: wp({ smoke: false }) },
  { name: 'pump room too cold', type: 'water.temperature_abnormal', kind: 'water_pump', hold: 10 * MIN, severity: 'minor', queues: ['p'],
    on: wp({ temperature: 3 }), still: wp({ temperature: 5.5 }), off: wp({ temperature: 12 }) },
  { name: 'pump room too hot', type: 'water.temperature_abnormal', kind: 'water_pump', hold: 10 * MIN, severity: 'minor', queues: ['p'],
    on: wp({ temperature: 43 }), still: wp({ temperature: 39.5 }), off: wp({ temperature: 30 }) },
  { name: 'pump room humid', type: 'water.humidity_high', kind: 'water_pump', hold: 10 * MIN, severity: 'warning', queues: ['p'],
    on: wp({ humidity: 93 }), still: wp({ humidity: 82 }), off: wp({ humidity: 70 }) },
];

describe('new fire-water and water-supply alerts: raised at their hold time, cleared when the condition ends', () => {
  for (const c of CASES) {
    it(`${c.type}: ${c.name}${c.hold ? ` (after ${c.hold / SEC} s)` : ''}`, async () => {
      const d = await addDevice(t, c.kind, c.id ? { id: c.id } : {});
      await telemetry(d, NORMAL[c.kind]!);
      await telemetry(d, c.on);
      const subject = c.subject ?? '';
      if (c.hold > 0) {
        clock.advance(c.hold - 1);
        expect(await messages(d, c.type, 'raised', subject), '1 ms before the hold time').toEqual([]);
        clock.advance(1);
      }
      const raised = await messages(d, c.type, 'raised', subject);
      expect(raised.map((m) => m.queue).sort()).toEqual(queuesOf(d, c.queues));
      for (const m of raised) expect(m.alert.severity).toBe(c.severity);
      // only the one zone (or the device as a whole) is in alarm
      expect((await logged(t, d.id, c.type)).filter((m) => m.event === 'raised' && m.alert.subject !== subject)).toEqual([]);
      if (c.still) {
        await telemetry(d, c.still);
        expect(await messages(d, c.type, 'closed', subject), 'inside the hysteresis band').toEqual([]);
      }
      await telemetry(d, c.off);
      const closed = await messages(d, c.type, 'closed', subject);
      expect(closed.map((m) => m.queue).sort()).toEqual(queuesOf(d, c.queues));
      for (const m of closed) {
        expect(m.reason).toBe('condition_ended');
        expect(m.alert.state).toBe('cleared');
      }
      await d.client.endAsync();
    });
  }

  it('a condition that ends before its hold time raises nothing', async () => {
    const d = await addDevice(t, 'fire_water');
    await telemetry(d, fw({ pumpAuto: false }));
    clock.advance(10 * MIN - 1);
    await telemetry(d, fw({ pumpAuto: true }));
    clock.advance(20 * MIN);
    expect(await logged(t, d.id, 'fire_water.pump_manual')).toEqual([]);
    await d.client.endAsync();
  });
});

describe('fire_water.pump_started: the main fire pump', () => {
  it('raised at once to the property company and the fire service when it starts, once while it runs, and kept open when it stops', async () => {
    const d = await addDevice(t, 'fire_water');
    await telemetry(d, fw({ firePumpRunning: false }));
    expect(await logged(t, d.id, 'fire_water.pump_started')).toEqual([]);
    await telemetry(d, fw({ firePumpRunning: true, pumpRunning: true, pressure: 0.2 }));
    const expected = queuesOf(d, ['p', 'fs']);
    const raised = await messages(d, 'fire_water.pump_started', 'raised');
    expect(raised.map((m) => m.queue).sort()).toEqual(expected);
    for (const m of raised) expect(m.alert.severity).toBe('major');
    // still running: not a new start
    await telemetry(d, fw({ firePumpRunning: true, pumpRunning: true, pressure: 0.3 }));
    expect((await logged(t, d.id, 'fire_water.pump_started')).filter((m) => m.event !== 'raised')).toEqual([]);
    // stopped: recorded on the alert, which stays open until someone has looked (autoClear: false)
    await telemetry(d, fw({ firePumpRunning: false }));
    const after = await logged(t, d.id, 'fire_water.pump_started');
    expect(after.filter((m) => m.event === 'closed')).toEqual([]);
    const ended = after.filter((m) => m.event === 'updated' && m.reason === 'condition_ended');
    expect(ended.map((m) => m.queue).sort()).toEqual(expected);
    for (const m of ended) expect(m.alert.state).toBe('open');
    await watcher.waitFor(d.id, 'fire_water.pump_started', 'raised', expected);
    await d.client.endAsync();
  });

  it('raised by a pump_started event marked firePump, never by a jockey pump\'s', async () => {
    const d = await addDevice(t, 'fire_water');
    await telemetry(d, NORMAL.fire_water!);
    await event(d, { type: 'pump_started', pump: 'P1' });
    await event(d, { type: 'pump_stopped', pump: 'P1' });
    expect(await logged(t, d.id, 'fire_water.pump_started')).toEqual([]);
    await event(d, { type: 'pump_started', pump: 'P2', firePump: true });
    expect((await messages(d, 'fire_water.pump_started', 'raised')).map((m) => m.queue).sort()).toEqual(queuesOf(d, ['p', 'fs']));
    await d.client.endAsync();
  });
});

describe('water.smoke: the property company first, the fire service when nobody acknowledges', () => {
  it('reaches the fire service exactly at the 5 min acknowledge deadline', async () => {
    const d = await addDevice(t, 'water_pump');
    await telemetry(d, wp({ smoke: true }));
    expect((await messages(d, 'water.smoke', 'raised')).map((m) => m.queue)).toEqual([`property/${d.companyId}`]);
    clock.advance(5 * MIN - 1);
    expect((await logged(t, d.id, 'water.smoke')).filter((m) => m.queue === 'fire-service')).toEqual([]);
    clock.advance(1);
    const fs = (await logged(t, d.id, 'water.smoke')).filter((m) => m.queue === 'fire-service');
    expect(fs.length).toBeGreaterThan(0);
    expect(fs[0]!.alert.state).toBe('open');
    await d.client.endAsync();
  });
});

describe('defaults and old devices', () => {
  it('low fire-water pressure: 0.15 MPa is the minimum, 0.149 is below it', async () => {
    const at = await addDevice(t, 'fire_water');
    const under = await addDevice(t, 'fire_water');
    await telemetry(at, fw({ pressure: 0.15 }));
    await telemetry(under, fw({ pressure: 0.149 }));
    clock.advance(MIN);
    expect(await logged(t, at.id, 'fire_water.low_pressure')).toEqual([]);
    expect((await messages(under, 'fire_water.low_pressure', 'raised')).length).toBeGreaterThan(0);
    await at.client.endAsync();
    await under.client.endAsync();
  });

  it('readings and events without the new optional fields raise nothing new', async () => {
    const fire = await addDevice(t, 'fire_water');
    const room = await addDevice(t, 'water_pump');
    // NORMAL is the old contract: no firePumpRunning, pumpAuto, signalValveOpen, tankHigh, zones, smoke, temperature, humidity
    for (const k of ['firePumpRunning', 'pumpAuto', 'signalValveOpen', 'tankHigh']) expect(NORMAL.fire_water).not.toHaveProperty(k);
    for (const k of ['outletPressureLow', 'outletPressureMid', 'outletPressureHigh', 'smoke', 'temperature', 'humidity']) expect(NORMAL.water_pump).not.toHaveProperty(k);
    // an hour of reports every 5 min, longer than every new hold time, the jockey pump cycling
    for (let i = 0; i < 12; i++) {
      await telemetry(fire, fw({ pumpRunning: i % 2 === 1 }));
      await event(fire, { type: i % 2 === 1 ? 'pump_started' : 'pump_stopped', pump: 'P1' });
      await telemetry(room, NORMAL.water_pump!);
      clock.advance(5 * MIN);
    }
    expect(await logged(t, fire.id)).toEqual([]);
    expect(await logged(t, room.id)).toEqual([]);
    await fire.client.endAsync();
    await room.client.endAsync();
  });
});
