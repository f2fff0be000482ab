/**
 * One scenario per alert type of the built-in rules, against the real gateway with real
 * MQTT clients and a manual clock: the right queues get `raised` with the right severity within
 * 1 s of the condition (duration rules: once the duration has passed on the clock), and no other
 * queue gets it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

type Role = 'ms' | 'fs' | 'p' | 'm' | 's';
interface Scenario {
  type: string;
  kind: string;
  severity: string;
  queues: Role[];
  /** how long the condition must hold (advanced on the manual clock); 0: at once */
  hold?: number;
  id?: string;
  trigger(d: TestDevice): Promise<void>;
}

const tel = (patch: Record<string, unknown>, kind = 'elevator') => (d: TestDevice) => telemetry(d, { ...NORMAL[kind], ...patch });
const ev = (body: Record<string, unknown>) => (d: TestDevice) => event(d, body);
const seq = (...steps: Array<(d: TestDevice) => Promise<void>>) => async (d: TestDevice) => { for (const s of steps) await s(d); };

const lesserFault = (fault: string): Scenario => ({ type: `elevator.${fault}`, kind: 'elevator', severity: 'minor', queues: ['m', 'p'], trigger: ev({ type: 'fault', fault, code: 'E42' }) });

const SCENARIOS: Scenario[] = [
  // elevators
  { type: 'elevator.trapped', kind: 'elevator', severity: 'critical', queues: ['ms', 'm', 'p'], hold: 120_000,
    trigger: seq(tel({ occupied: true }), tel({ occupied: true, door: 'closed' })) },
  { type: 'elevator.trapped', kind: 'elevator', severity: 'critical', queues: ['ms', 'm', 'p'], hold: 60_000,
    trigger: seq(tel({ occupied: true }), tel({ occupied: true, door: 'closed', running: true, direction: 'up', doorZone: false }), tel({ occupied: true, door: 'closed', doorZone: false })) },
  { type: 'elevator.stopped_outside_door_zone', kind: 'elevator', severity: 'major', queues: ['m', 'p', 'ms'], hold: 45_000,
    trigger: seq(tel({ door: 'closed', running: true, direction: 'up', doorZone: false }), tel({ door: 'closed', doorZone: false })) },
  { type: 'elevator.door_open_while_running', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], hold: 30_000,
    trigger: seq(tel({ door: 'closed', running: true, direction: 'up', doorZone: false }), tel({ door: 'open', running: true, direction: 'up', doorZone: false })) },
  { type: 'elevator.moving_with_door_open', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], hold: 30_000,
    trigger: tel({ door: 'open', running: true, direction: 'down', doorZone: false }) },
  { type: 'elevator.overspeed', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'],
    trigger: tel({ door: 'closed', running: true, direction: 'down', doorZone: false, speed: 3.4 }) },
  { type: 'elevator.top_overrun', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], id: 'elev-top',
    trigger: tel({ door: 'closed', running: true, direction: 'up', doorZone: false, floor: 19 }) },
  { type: 'elevator.bottom_overrun', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], trigger: ev({ type: 'fault', fault: 'bottom_overrun' }) },
  { type: 'elevator.unintended_movement', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], trigger: tel({ doorZone: false }) },
  { type: 'elevator.safety_circuit_open', kind: 'elevator', severity: 'critical', queues: ['m', 'p', 'ms'], trigger: tel({ safetyCircuit: 'open' }) },
  { type: 'elevator.power_lost', kind: 'elevator', severity: 'major', queues: ['m', 'p'], trigger: ev({ type: 'power_lost' }) },
  { type: 'elevator.power_lost', kind: 'elevator', severity: 'major', queues: ['m', 'p'], trigger: tel({ powerOk: false }) },
  { type: 'elevator.alarm_button', kind: 'elevator', severity: 'major', queues: ['m', 'p'], trigger: ev({ type: 'alarm_button' }) },
  { type: 'elevator.ebike', kind: 'elevator', severity: 'warning', queues: ['p', 's'], trigger: ev({ type: 'ebike_detected', confidence: 0.93 }) },
  { type: 'elevator.special_mode', kind: 'elevator', severity: 'major', queues: ['m', 'p'], trigger: tel({ mode: 'earthquake' }) },
  lesserFault('door_open_fault'), lesserFault('door_close_fault'), lesserFault('repeated_door_cycling'),
  lesserFault('motor_runtime_limiter'), lesserFault('position_lost'), lesserFault('restart_blocked'),
  { type: 'elevator.trapped', kind: 'elevator', severity: 'critical', queues: ['ms', 'm', 'p'], trigger: ev({ type: 'fault', fault: 'trapped', levelled: false }) },
  // fire panels and smoke alarms (a single alarm is unconfirmed: the property company first)
  { type: 'fire.alarm', kind: 'fire_panel', severity: 'critical', queues: ['p'], trigger: ev({ type: 'fire_alarm', zone: 'Z3', point: '3-12' }) },
  { type: 'fire.alarm', kind: 'smoke_detector', severity: 'critical', queues: ['p'], trigger: ev({ type: 'alarm' }) },
  { type: 'fire.fault', kind: 'fire_panel', severity: 'major', queues: ['p'], trigger: ev({ type: 'fault', zone: 'Z1', component: 'detector', code: 17 }) },
  { type: 'fire.supervisory', kind: 'fire_panel', severity: 'major', queues: ['p'], trigger: ev({ type: 'supervisory', zone: 'Z2' }) },
  { type: 'fire.disabled', kind: 'fire_panel', severity: 'major', queues: ['p'], trigger: ev({ type: 'disabled', zone: 'Z4' }) },
  { type: 'fire.power_fault', kind: 'fire_panel', severity: 'major', queues: ['p'], trigger: tel({ backupPowerOk: false }, 'fire_panel') },
  { type: 'smoke.low_battery', kind: 'smoke_detector', severity: 'warning', queues: ['p'], trigger: tel({ battery: 12 }, 'smoke_detector') },
  { type: 'smoke.tamper', kind: 'smoke_detector', severity: 'minor', queues: ['p'], trigger: ev({ type: 'tamper' }) },
  // fire water
  { type: 'fire_water.low_pressure', kind: 'fire_water', severity: 'major', queues: ['p', 'fs'], hold: 60_000, trigger: tel({ pressure: 0.05 }, 'fire_water') },
  { type: 'fire_water.low_tank', kind: 'fire_water', severity: 'major', queues: ['p', 'fs'], hold: 60_000, trigger: tel({ tankLevel: 0.4 }, 'fire_water') },
  { type: 'fire_water.pump_fault', kind: 'fire_water', severity: 'major', queues: ['p', 'fs'], trigger: tel({ pumpFault: true }, 'fire_water') },
  { type: 'fire_water.pump_power_lost', kind: 'fire_water', severity: 'major', queues: ['p', 'fs'], trigger: ev({ type: 'power_lost', pump: 'P1' }) },
  // secondary water supply
  { type: 'water.outlet_pressure_low', kind: 'water_pump', severity: 'minor', queues: ['p'], hold: 60_000, trigger: tel({ outletPressure: 0.05 }, 'water_pump') },
  { type: 'water.outlet_pressure_high', kind: 'water_pump', severity: 'minor', queues: ['p'], hold: 60_000, trigger: tel({ outletPressure: 0.95 }, 'water_pump') },
  { type: 'water.tank_low', kind: 'water_pump', severity: 'minor', queues: ['p'], hold: 60_000, trigger: tel({ tankLevel: 0.2 }, 'water_pump') },
  { type: 'water.pump_fault', kind: 'water_pump', severity: 'major', queues: ['p'], trigger: ev({ type: 'pump_fault', pump: 'P2' }) },
  { type: 'water.pump_power_lost', kind: 'water_pump', severity: 'major', queues: ['p'], trigger: ev({ type: 'power_lost' }) },
  { type: 'water.flooded', kind: 'water_pump', severity: 'critical', queues: ['p'], trigger: tel({ flooded: true }, 'water_pump') },
  { type: 'water.turbidity_high', kind: 'water_pump', severity: 'major', queues: ['p', 'm'], hold: 60_000, trigger: tel({ turbidity: 1.6 }, 'water_pump') },
  { type: 'water.chlorine_low', kind: 'water_pump', severity: 'major', queues: ['p', 'm'], hold: 60_000, trigger: tel({ chlorine: 0.02 }, 'water_pump') },
  { type: 'water.chlorine_high', kind: 'water_pump', severity: 'major', queues: ['p', 'm'], hold: 60_000, trigger: tel({ chlorine: 2.6 }, 'water_pump') },
  { type: 'water.ph_abnormal', kind: 'water_pump', severity: 'major', queues: ['p', 'm'], hold: 60_000, trigger: tel({ ph: 9.1 }, 'water_pump') },
  { type: 'water.door_open', kind: 'water_pump', severity: 'warning', queues: ['p'], trigger: tel({ doorOpen: true }, 'water_pump') },
  // drainage: the property company only
  { type: 'drainage.high_level', kind: 'drainage', severity: 'major', queues: ['p'], hold: 60_000, trigger: tel({ level: 1.4, pumpsRunning: 2 }, 'drainage') },
  { type: 'drainage.high_level', kind: 'drainage', severity: 'major', queues: ['p'], trigger: ev({ type: 'high_level' }) },
  { type: 'drainage.pump_fault', kind: 'drainage', severity: 'major', queues: ['p'], trigger: ev({ type: 'pump_fault', pump: 'P1', code: 'OL' }) },
  { type: 'drainage.power_lost', kind: 'drainage', severity: 'major', queues: ['p'], trigger: tel({ powerOk: false, pumpsRunning: 0 }, 'drainage') },
  { type: 'drainage.flooded', kind: 'drainage', severity: 'critical', queues: ['p'], trigger: tel({ flooded: true }, 'drainage') },
  // silence: no valid data for the kind's timeout, and the device never comes back
  { type: 'device.offline', kind: 'fire_water', severity: 'major', queues: ['p'], hold: 10 * 60_000, trigger: async () => {} },
  { type: 'device.offline', kind: 'elevator', severity: 'minor', queues: ['p', 'm'], hold: 5 * 60_000, trigger: async () => {} },
  // long idle last: it moves the clock by a day
  { type: 'elevator.long_idle', kind: 'elevator', severity: 'warning', queues: ['p'], hold: 24 * 3_600_000, trigger: async () => {} },
];

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({ alerts: { rules: { devices: { 'elev-top': { topFloor: 18, bottomFloor: -2 } } } } }));
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

/** Every scenario's site is on this street, so alerts routed to the street reach a queue. */
const STREET = '南山街道';
const QUEUE: Record<Role, (d: TestDevice) => string> = {
  ms: () => 'market-supervision', fs: () => 'fire-service', p: (d) => `property/${d.companyId}`, m: (d) => `maintenance/${d.unitId}`, s: () => `street/${STREET}`,
};
function queueNames(d: TestDevice, roles: Role[]): string[] {
  return roles.map((r) => QUEUE[r](d)).sort();
}

describe('built-in rules: one scenario per alert type', () => {
  for (const [i, s] of SCENARIOS.entries()) {
    it(`${s.type} (${s.kind}${s.hold ? `, after ${s.hold / 1000} s` : ''}) #${i}`, async () => {
      const siteId = `site-rules-${i}`, unitId = `unit-rules-${i}`;
      const created = await t.api('POST', '/api/v1/sites', { id: siteId, name: `小区 ${siteId}`, companyId: `co-rules-${i}`, street: STREET });
      expect(created.status).toBe(201);
      // a pump room names the unit running the secondary water supply, as an elevator its maintenance unit
      const d = await addDevice(t, s.kind, { ...(s.id ? { id: s.id } : {}), siteId, companyId: `co-rules-${i}`, unitId, ...(s.kind === 'water_pump' ? { extra: { maintenanceUnitId: unitId } } : {}) });
      await telemetry(d, NORMAL[s.kind]!);
      await s.trigger(d);
      if (s.hold) {
        if (s.type === 'device.offline') {
          // offline means the device stopped sending, so the line goes quiet for good
          await d.client.endAsync();
        }
        // due timers run inside advance(): a second before the duration is up nothing is raised
        clock.advance(s.hold - 1000);
        expect((await logged(t, d.id, s.type)).filter((m) => m.event === 'raised'), 'raised before its duration').toEqual([]);
        clock.advance(1000);
      }
      const expected = queueNames(d, s.queues);
      // exactly the queues of the responsibility list, each once, decided by the time the PUBACK
      // or advance() returned; then every one of them reaches an MQTT subscriber
      const all = (await logged(t, d.id, s.type)).filter((m) => m.event === 'raised');
      expect(all.map((m) => m.queue).sort()).toEqual(expected);
      for (const m of all) expect(m.alert.severity).toBe(s.severity);
      await watcher.waitFor(d.id, s.type, 'raised', expected);
      if (d.client.connected) await d.client.endAsync();
    });
  }
});

