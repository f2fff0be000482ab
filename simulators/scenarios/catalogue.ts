/**
 * The scripted scenarios. Each one is what happens at a real installation, told as steps on the
 * device models, with what the gateway should store and the alert it is meant to raise. Timings
 * follow field practice: "stopped outside the door zone" is held past the 45 s practice timer, "door
 * open while running" past the 30 s debounce, a trapped car long enough for any trapped rule.
 * Alert type names are the intent for the alert rules; the rules own the final names.
 */
import { createModel } from '../models/index.js';
import type { Scenario } from './types.js';

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

/** Elevator terminals report status about every 2 s while something is happening. */
const ELEVATOR_REPORT = 2 * S;

export const SCENARIOS: readonly Scenario[] = [
  // ---------------------------------------------------------------- elevators
  {
    name: 'elevator.trapped-levelled',
    title: { en: 'Passengers trapped, car levelled', zh: '困人（平层）' },
    description: 'The car stops at a landing with passengers inside and the doors will not open; after 45 s a passenger presses the alarm button; after 4 min the maintenance unit opens the doors.',
    devices: { car: 'elevator' },
    durationMs: 4 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'trap', with: { levelled: true } },
      { at: 45 * S, do: 'alarmButton' },
      { at: 4 * MIN, do: 'recover' },
    ],
    expect: [
      { telemetry: { running: false, door: 'closed', occupied: true, doorZone: true }, note: 'trapped, levelled' },
      { event: { type: 'alarm_button' }, after: 45 * S },
      { telemetry: { door: 'open', doorZone: true, occupied: false }, after: 4 * MIN, note: 'released at a landing' },
    ],
    alerts: [{ type: 'elevator.trapped', expect: 'raised', note: 'levelled variant; clears when the doors open at the landing' }],
  },
  {
    name: 'elevator.trapped-not-levelled',
    title: { en: 'Passengers trapped between floors', zh: '困人（非平层）' },
    description: 'The car stops between floors with passengers inside; they press the alarm button twice; after 4 min the car is moved to a landing at rescue speed and the doors open.',
    devices: { car: 'elevator' },
    durationMs: 4 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'trap', with: { levelled: false } },
      { at: 30 * S, do: 'alarmButton' },
      { at: 90 * S, do: 'alarmButton' },
      { at: 4 * MIN, do: 'recover' },
    ],
    expect: [
      { telemetry: { running: false, door: 'closed', occupied: true, doorZone: false }, note: 'trapped outside the door zone' },
      { event: { type: 'alarm_button' } },
      { telemetry: { door: 'open', doorZone: true, occupied: false }, after: 4 * MIN, note: 'rescued at a landing' },
    ],
    alerts: [{ type: 'elevator.trapped', expect: 'raised', note: 'not-levelled variant (more serious)' }],
  },
  {
    name: 'elevator.stopped-outside-door-zone',
    title: { en: 'Car stopped outside the door zone', zh: '门区外停梯' },
    description: 'An empty car stops between floors; the terminal reports the fault after its own 45 s timer; the car is relevelled after 2 min.',
    devices: { car: 'elevator' },
    durationMs: 2 * MIN + 20 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'halt', with: { levelled: false, occupied: false } },
      { at: 50 * S, do: 'fault', with: { fault: 'stopped_outside_door_zone', levelled: false, code: 'E07' } },
      { at: 2 * MIN, do: 'recover' },
    ],
    expect: [
      { telemetry: { running: false, doorZone: false, occupied: false, door: 'closed' } },
      { event: { type: 'fault', fault: 'stopped_outside_door_zone' }, after: 50 * S },
    ],
    alerts: [{ type: 'elevator.stopped_outside_door_zone', expect: 'raised', note: 'needs the condition held ≥ 45 s' }],
  },
  {
    name: 'elevator.door-open-while-running',
    title: { en: 'Door open while running', zh: '运行中开门' },
    description: 'A faulty door contact: during a trip up from the ground floor the door starts to read open while the car keeps travelling, for 90 s; the terminal reports the fault after its 30 s debounce.',
    devices: { car: 'elevator' },
    durationMs: 2 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      // the car must be running with its doors closed first: a car that starts with the door open is "moving with door open"
      { at: 0, do: 'call', with: { floor: 1, to: 18, people: 1 } },
      { at: 25 * S, do: 'doorOpenWhileRunning' },
      { at: 60 * S, do: 'fault', with: { fault: 'door_open_while_running', code: 'E19' } },
      { at: 115 * S, do: 'recover' },
    ],
    expect: [
      { telemetry: { running: true, door: 'closed' }, note: 'travelling normally first' },
      { telemetry: { running: true, door: 'open' }, after: 25 * S },
      { event: { type: 'fault', fault: 'door_open_while_running' }, after: 60 * S },
    ],
    alerts: [{ type: 'elevator.door_open_while_running', expect: 'raised', note: 'the gateway\'s 30 s debounce, then the terminal\'s own fault report' }],
  },
  {
    name: 'elevator.overspeed',
    title: { en: 'Overspeed: governor and safety gear trip', zh: '超速（限速器动作）' },
    description: 'The car overspeeds downwards to 2.7 m/s (rated 1.75), the governor trips, the safety gear stops the car between floors with the safety circuit open; released after 2 min.',
    devices: { car: 'elevator' },
    durationMs: 2 * MIN + 20 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 5 * S, do: 'overspeed', with: { speed: 2.7 } },
      { at: 2 * MIN, do: 'recover' },
    ],
    expect: [
      { telemetry: { running: true, speed: { gt: 2.5 } }, note: 'above the governor tripping speed and the alert limit (115 % of the rated 1.75 m/s: 2.01 m/s), and above the 2.5 m/s fallback' },
      { event: { type: 'fault', fault: 'overspeed' } },
      { telemetry: { running: false, safetyCircuit: 'open', doorZone: false } },
    ],
    alerts: [{ type: 'elevator.overspeed', expect: 'raised' }],
  },
  {
    name: 'elevator.top-overrun',
    title: { en: 'Top overrun', zh: '冲顶' },
    description: 'The car travels up from the ground floor, passes the top landing and stops on the final limit switch.',
    devices: { car: 'elevator' },
    durationMs: 2 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'call', with: { floor: 1, to: 18 } },
      { at: 40 * S, do: 'overrun', with: { end: 'top' } },
      { at: 2 * MIN + 10 * S, do: 'recover' },
    ],
    expect: [
      { event: { type: 'fault', fault: 'top_overrun' }, after: 40 * S },
      { telemetry: { running: false, doorZone: false, safetyCircuit: 'open' } },
    ],
    alerts: [{ type: 'elevator.top_overrun', expect: 'raised' }],
  },
  {
    name: 'elevator.bottom-overrun',
    title: { en: 'Bottom overrun', zh: '蹲底' },
    description: 'The car travels down, passes the lowest landing and lands on the buffer.',
    devices: { car: 'elevator' },
    durationMs: 2 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'call', with: { floor: 12, to: -1 } },
      { at: 40 * S, do: 'overrun', with: { end: 'bottom' } },
      { at: 2 * MIN + 10 * S, do: 'recover' },
    ],
    expect: [
      { event: { type: 'fault', fault: 'bottom_overrun' }, after: 40 * S },
      { telemetry: { running: false, doorZone: false, safetyCircuit: 'open' } },
    ],
    alerts: [{ type: 'elevator.bottom_overrun', expect: 'raised' }],
  },
  {
    name: 'elevator.alarm-button',
    title: { en: 'Alarm button pressed', zh: '轿厢报警按钮' },
    description: 'A passenger travelling up presses the alarm button (the platform cannot tell a prank from a real call: someone must call back).',
    devices: { car: 'elevator' },
    durationMs: 40 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'call', with: { floor: 1, to: 9, people: 1 } },
      { at: 12 * S, do: 'alarmButton' },
    ],
    expect: [{ event: { type: 'alarm_button' } }],
    alerts: [{ type: 'elevator.alarm_button', expect: 'raised' }],
  },
  {
    name: 'elevator.ebike',
    title: { en: 'E-bike carried into the car', zh: '电动车入梯' },
    description: 'At the ground floor the car camera recognises an e-bike being wheeled in (banned in high-rise residential buildings).',
    devices: { car: 'elevator' },
    durationMs: 40 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'call', with: { floor: 1, to: 12, people: 1 } },
      { at: 10 * S, do: 'ebike', with: { confidence: 0.94 } },
    ],
    expect: [{ event: { type: 'ebike_detected', confidence: { gte: 0.9 } } }],
    alerts: [{ type: 'elevator.ebike', expect: 'raised', note: 'goes to the property company and the street; the fire service only if unresolved at the resolve deadline' }],
  },
  {
    name: 'elevator.power-lost',
    title: { en: 'Main power lost', zh: '主电源断电' },
    description: 'Main power fails while the car travels; the rescue device levels it on battery and lets passengers out; power returns after 3 min.',
    devices: { car: 'elevator' },
    durationMs: 3 * MIN + 30 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'call', with: { floor: 1, to: 15, people: 2 } },
      { at: 10 * S, do: 'powerLost' },
      { at: 3 * MIN + 10 * S, do: 'powerRestored' },
    ],
    expect: [
      { event: { type: 'power_lost' } },
      { telemetry: { powerOk: false, running: false } },
      { telemetry: { powerOk: false, mode: 'emergency_power' }, note: 'levelled by the rescue device' },
      { event: { type: 'power_restored' }, after: 3 * MIN },
      { telemetry: { powerOk: true, mode: 'normal' }, after: 3 * MIN + 10 * S, note: 'back in service' },
    ],
    alerts: [{ type: 'elevator.power_lost', expect: 'raised', note: 'clears on power_restored' }],
  },
  {
    name: 'elevator.maintenance-visit',
    title: { en: 'Maintenance visit: faults in inspection mode', zh: '维保作业（检修模式下的故障）' },
    description: 'A technician switches the car to inspection, opens the pit stop switch, tests a door, leaves the car between floors, then returns it to normal. The faults are recorded but must not alert the authorities.',
    devices: { car: 'elevator' },
    durationMs: 4 * MIN,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'setMode', with: { mode: 'inspection' } },
      { at: 30 * S, do: 'openSafetyCircuit' },
      { at: 30 * S, do: 'fault', with: { fault: 'safety_circuit_open', code: 'E01' } },
      { at: 60 * S, do: 'fault', with: { fault: 'door_open_fault', code: 'E22' } },
      { at: 90 * S, do: 'halt', with: { levelled: false } },
      { at: 2 * MIN + 30 * S, do: 'fault', with: { fault: 'stopped_outside_door_zone', levelled: false, code: 'E07' } },
      { at: 3 * MIN + 20 * S, do: 'recover' },
      { at: 3 * MIN + 40 * S, do: 'setMode', with: { mode: 'normal' } },
    ],
    expect: [
      { telemetry: { mode: 'inspection' } },
      { telemetry: { mode: 'inspection', safetyCircuit: 'open' } },
      { event: { type: 'fault', fault: 'safety_circuit_open' } },
      { event: { type: 'fault', fault: 'door_open_fault' }, after: 60 * S },
      { telemetry: { mode: 'inspection', doorZone: false, running: false }, after: 90 * S },
      { event: { type: 'fault', fault: 'stopped_outside_door_zone' }, after: 2 * MIN + 30 * S },
      { telemetry: { mode: 'normal' }, after: 3 * MIN + 40 * S, note: 'back in service' },
    ],
    alerts: [
      { type: 'elevator.safety_circuit_open', expect: 'suppressed', note: 'inspection mode' },
      { type: 'elevator.door_open_fault', expect: 'suppressed', note: 'inspection mode' },
      { type: 'elevator.stopped_outside_door_zone', expect: 'suppressed', note: 'inspection mode' },
    ],
  },
  {
    name: 'elevator.fault-after-maintenance',
    title: { en: 'Fault still there when maintenance ends', zh: '维保结束时故障仍在' },
    description: 'A technician switches the car to maintenance and opens the safety circuit (recorded, withheld from the authorities); after 1 min the car is switched back to normal with the circuit still open, so the alert goes to market supervision and the maintenance unit at that moment. The circuit is closed 1.5 min later.',
    devices: { car: 'elevator' },
    durationMs: 3 * MIN,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 0, do: 'setMode', with: { mode: 'maintenance' } },
      { at: 20 * S, do: 'openSafetyCircuit' },
      { at: MIN, do: 'setMode', with: { mode: 'normal' } },
      { at: 2 * MIN + 30 * S, do: 'recover' },
    ],
    expect: [
      { telemetry: { mode: 'maintenance', safetyCircuit: 'open' } },
      { telemetry: { mode: 'normal', safetyCircuit: 'open' }, after: MIN, note: 'back in normal mode, the circuit still open' },
    ],
    alerts: [{ type: 'elevator.safety_circuit_open', expect: 'released', note: 'suppressed in maintenance mode; sent on when the mode returned to normal with the circuit still open' }],
  },
  {
    name: 'elevator.overspeed-rated',
    title: { en: 'Overspeed of a slow lift, by its rated speed', zh: '低速电梯超速（按额定速度判定）' },
    description: 'A car rated 1.0 m/s runs down at 1.2 m/s: 120 % of rated, past the 115 % at which the governor must trip, yet far below the old fixed 2.5 m/s limit. The terminal reports only its speed, no fault of its own, so the gateway\'s rated-speed rule is what raises the alert. Normal again after 30 s. On a fleet\'s car it runs at 120 % of that car\'s rated speed.',
    devices: { car: 'elevator' },
    deviceFields: { car: { ratedSpeed: 1 } },
    durationMs: 60 * S,
    reportIntervalMs: ELEVATOR_REPORT,
    steps: [
      { at: 10 * S, do: 'runFast', with: { ratio: 1.2 } },
      { at: 40 * S, release: true },
    ],
    expect: [{ telemetry: { running: true, speed: { gt: 1.15, lt: 2.5 } }, note: 'above 115 % of the rated 1.0 m/s, below the old fixed limit' }],
    alerts: [{ type: 'elevator.overspeed', expect: 'raised', note: 'limit 1.0 m/s × overspeedRatio 1.15 = 1.15 m/s' }],
  },

  // ---------------------------------------------------------------- fire
  {
    name: 'fire.alarm-corroborated',
    title: { en: 'Fire alarm from one detector, corroborated by a second', zh: '火警（单探测器报警，第二个探测器确认）' },
    description: 'Smoke reaches one standalone detector (an unconfirmed alarm); a minute later a second detector on the same site alarms too, which confirms it; the smoke clears after 5 min.',
    devices: { first: 'smoke_detector', second: 'smoke_detector' },
    durationMs: 7 * MIN,
    reportIntervalMs: 5 * S,
    steps: [
      { at: 0, device: 'first', do: 'smoke', with: { level: 0.6, rampS: 40 } },
      { at: 60 * S, device: 'second', do: 'smoke', with: { level: 0.4, rampS: 40 } },
      { at: 5 * MIN, device: 'first', do: 'clearSmoke', with: { rampS: 30 } },
      { at: 5 * MIN, device: 'second', do: 'clearSmoke', with: { rampS: 30 } },
    ],
    expect: [
      { device: 'first', event: { type: 'alarm' } },
      { device: 'first', telemetry: { smoke: { gte: 0.15 } } },
      { device: 'second', event: { type: 'alarm' }, after: 60 * S, note: 'corroboration' },
      { device: 'first', event: { type: 'alarm_cleared' }, after: 5 * MIN },
    ],
    alerts: [{ type: 'fire.alarm', expect: 'raised', note: 'unconfirmed after the first detector (property verifies), confirmed by the second (fire service at once)' }],
  },
  {
    name: 'fire.other-building',
    title: { en: 'Fire alarms in two buildings of one site: not corroborated', zh: '同小区不同楼栋的烟感报警（不互相确认）' },
    description: 'Smoke reaches a standalone detector in building 1; a minute later a detector in building 2 of the same site alarms too (a burnt pan in each, say). A detector in another building says nothing about this one, so neither alarm is confirmed: the property company verifies each, and the fire service hears of it only when the 3 min verify window passes without a verdict. The smoke clears after 5 min.',
    devices: { first: 'smoke_detector', second: 'smoke_detector' },
    deviceFields: { first: { building: '1号楼' }, second: { building: '2号楼' } },
    durationMs: 6 * MIN,
    reportIntervalMs: 5 * S,
    steps: [
      { at: 0, device: 'first', do: 'smoke', with: { level: 0.6, rampS: 40 } },
      { at: 60 * S, device: 'second', do: 'smoke', with: { level: 0.4, rampS: 40 } },
      { at: 5 * MIN, device: 'first', do: 'clearSmoke', with: { rampS: 30 } },
      { at: 5 * MIN, device: 'second', do: 'clearSmoke', with: { rampS: 30 } },
    ],
    expect: [
      { device: 'first', event: { type: 'alarm' } },
      { device: 'second', event: { type: 'alarm' }, after: 60 * S, note: 'within the 10 min corroboration window, but in another building' },
      { device: 'first', event: { type: 'alarm_cleared' }, after: 5 * MIN },
    ],
    alerts: [{ type: 'fire.alarm', expect: 'unconfirmed', note: 'no corroboration across buildings (alerts.fire.corroborateWithin: building); forwarded to the fire service when the verify window passed' }],
  },
  {
    name: 'fire.panel-alarm',
    title: { en: 'Fire alarm on the panel, second point in the same zone', zh: '火灾报警控制器火警（同区第二点位确认）' },
    description: 'Detector 3-12 of zone Z3 alarms on the fire panel; 30 s later detector 3-14 of the same zone; the panel is reset after 5 min.',
    devices: { panel: 'fire_panel' },
    durationMs: 5 * MIN + 20 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'fireAlarm', with: { zone: 'Z3', point: '3-12' } },
      { at: 30 * S, do: 'fireAlarm', with: { zone: 'Z3', point: '3-14' } },
      { at: 5 * MIN, do: 'reset' },
    ],
    expect: [
      { event: { type: 'fire_alarm', zone: 'Z3', point: '3-12' } },
      { event: { type: 'fire_alarm', zone: 'Z3', point: '3-14' }, after: 30 * S },
      { event: { type: 'reset' }, after: 5 * MIN },
    ],
    alerts: [{ type: 'fire.alarm', expect: 'raised', note: 'one alert per zone: the second point in the zone confirms it, and the fire service gets it at once' }],
  },
  {
    name: 'fire.panel-fault',
    title: { en: 'Fire panel fault left unrepaired', zh: '火灾报警控制器故障（未及时修复）' },
    description: 'A detector loop fault in zone Z2, then the backup battery fails; nothing is repaired for 5 min.',
    devices: { panel: 'fire_panel' },
    durationMs: 5 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'fault', with: { zone: 'Z2', point: '2-07', component: 'smoke_detector', code: 'F12' } },
      { at: 20 * S, do: 'backupPowerFault' },
    ],
    expect: [
      { event: { type: 'fault', zone: 'Z2', point: '2-07' } },
      { event: { type: 'fault', component: 'backup_battery' } },
      { telemetry: { backupPowerOk: false, mainPowerOk: true } },
    ],
    alerts: [
      { type: 'fire.fault', expect: 'raised', note: 'a fire-facility fault left unrepaired is a fire hazard' },
      { type: 'fire.power_fault', expect: 'raised', note: 'backup power' },
    ],
  },
  {
    name: 'fire.detector-low-battery',
    title: { en: 'Smoke alarm battery low', zh: '独立式烟感电量低' },
    description: 'A standalone smoke alarm reaches the end of its battery and reports it.',
    devices: { detector: 'smoke_detector' },
    durationMs: 60 * S,
    reportIntervalMs: 10 * S,
    steps: [{ at: 5 * S, do: 'drainBattery' }],
    expect: [
      { event: { type: 'low_battery' } },
      { telemetry: { battery: { lt: 20 } } },
    ],
    alerts: [{ type: 'smoke.low_battery', expect: 'raised' }],
  },
  {
    name: 'fire.alarm-sprinkler-flow',
    title: { en: 'Fire alarm confirmed by sprinkler water flow', zh: '火警（喷淋水流指示器确认）' },
    description: 'A smoke alarm sounds (unconfirmed); 40 s later a sprinkler head opens in branch B2 on the same site: the flow switch closes, the network pressure drops and the main fire pump starts, which confirms the fire.',
    devices: { detector: 'smoke_detector', monitor: 'fire_water' },
    durationMs: 3 * MIN,
    reportIntervalMs: 5 * S,
    steps: [
      { at: 0, device: 'detector', do: 'smoke', with: { level: 0.8, rampS: 30 } },
      { at: 40 * S, device: 'monitor', do: 'sprinklerFlow', with: { branch: 'B2', mpaPerMin: 0.1 } },
      { at: 2 * MIN + 30 * S, device: 'monitor', do: 'repair' },
      { at: 2 * MIN + 30 * S, device: 'detector', do: 'clearSmoke', with: { rampS: 20 } },
    ],
    expect: [
      { device: 'detector', event: { type: 'alarm' } },
      { device: 'monitor', event: { type: 'flow_detected', branch: 'B2' }, after: 40 * S },
      { device: 'monitor', telemetry: { flowSwitch: true } },
      { device: 'monitor', event: { type: 'pump_started', pump: 'P2' }, after: 40 * S, note: 'the main fire pump, started by the pressure switch' },
    ],
    alerts: [{ type: 'fire.alarm', expect: 'raised', note: 'unconfirmed from the detector, confirmed by the flow switch (corroboration window)' }],
  },
  {
    name: 'fire.test-mode',
    title: { en: 'Monthly smoke alarm test (the device\'s test flag)', zh: '独立式烟感月度测试（设备测试标志）' },
    description: 'The property company presses the test button of a standalone smoke alarm: the alarm and its clearing carry the device\'s test flag. The alarm is recorded for the property company, and the fire service is not sent out, not even when the 3 min verify window passes without a verdict.',
    devices: { detector: 'smoke_detector' },
    durationMs: 4 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 5 * S, event: { type: 'alarm', test: true } },
      { at: 30 * S, event: { type: 'alarm_cleared', test: true } },
    ],
    expect: [
      { event: { type: 'alarm', test: true } },
      { event: { type: 'alarm_cleared', test: true }, after: 30 * S },
    ],
    alerts: [{ type: 'fire.alarm', expect: 'suppressed', note: 'test mode: recorded for the property company, never forwarded to the fire service (the run passes the verify window)' }],
  },

  {
    name: 'fire_water.low-pressure',
    title: { en: 'Low fire-water pressure', zh: '消防管网压力低' },
    description: 'A pipe leak bigger than the jockey pump can make up: the network pressure falls below the 0.15 MPa minimum (and on to below 0.1 MPa) within about 3.5 min and stays there until the repair at 6 min.',
    devices: { monitor: 'fire_water' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'leak', with: { mpaPerMin: 0.08 } },
      { at: 6 * MIN, do: 'repair' },
    ],
    expect: [
      { telemetry: { pressure: { lt: 0.1 } } },
      { telemetry: { pumpRunning: true }, note: 'the jockey pump starts but cannot keep up' },
      { telemetry: { pressure: { gt: 0.28 } }, after: 6 * MIN, note: 'back to normal after the repair' },
    ],
    alerts: [{ type: 'fire_water.low_pressure', expect: 'raised', note: 'goes to the fire service' }],
  },
  {
    name: 'fire_water.tank-low',
    title: { en: 'Fire water tank low', zh: '消防水箱水位低' },
    description: 'The tank inlet valve sticks shut while water is drawn off: the level falls from about 4 m to 0.8 m.',
    devices: { monitor: 'fire_water' },
    durationMs: 7 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'drainTank', with: { to: 0.8, mPerMin: 0.6 } },
      { at: 6 * MIN + 30 * S, do: 'repair' },
    ],
    expect: [{ telemetry: { tankLevel: { lt: 1 } } }],
    alerts: [{ type: 'fire_water.low_tank', expect: 'raised', note: 'goes to the fire service' }],
  },
  {
    name: 'fire_water.pump-failure',
    title: { en: 'Fire pump fault', zh: '消防泵故障' },
    description: 'The jockey pump trips on overload and stays faulted for 4 min while the network slowly loses pressure.',
    devices: { monitor: 'fire_water' },
    durationMs: 4 * MIN + 20 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'pumpFault', with: { pump: 'P1', code: 'OL' } },
      { at: 4 * MIN, do: 'repair' },
    ],
    expect: [
      { event: { type: 'pump_fault', pump: 'P1' } },
      { telemetry: { pumpFault: true, pumpRunning: false } },
      { event: { type: 'pump_fault_cleared' }, after: 4 * MIN },
    ],
    alerts: [{ type: 'fire_water.pump_fault', expect: 'raised' }],
  },
  {
    name: 'fire_water.pump-power-lost',
    title: { en: 'Fire pump power lost', zh: '消防泵主电源故障' },
    description: 'The fire pump control cabinet loses its power supply for 3 min.',
    devices: { monitor: 'fire_water' },
    durationMs: 3 * MIN + 20 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'pumpPowerLost' },
      { at: 3 * MIN, do: 'repair' },
    ],
    expect: [
      { event: { type: 'power_lost' } },
      { telemetry: { pumpPowerOk: false } },
      { event: { type: 'power_restored' }, after: 3 * MIN },
    ],
    alerts: [{ type: 'fire_water.pump_power_lost', expect: 'raised' }],
  },
  {
    name: 'fire_water.pump-manual',
    title: { en: 'Fire pump cabinet left in manual', zh: '消防泵控制柜处于手动状态' },
    description: 'After the monthly test run a technician leaves the pump control cabinet in manual: in a fire the main pump would not start by itself. It is switched back to automatic after 14 min.',
    devices: { monitor: 'fire_water' },
    durationMs: 15 * MIN,
    reportIntervalMs: 30 * S,
    steps: [
      { at: 0, do: 'manual' },
      { at: 14 * MIN, do: 'automatic' },
    ],
    expect: [
      { telemetry: { pumpAuto: false } },
      { telemetry: { pumpAuto: true }, after: 14 * MIN },
    ],
    alerts: [{ type: 'fire_water.pump_manual', expect: 'raised', note: 'after 10 min in manual (pumpManualAfter); to the fire service too' }],
  },
  {
    name: 'fire_water.valve-closed',
    title: { en: 'Signal valve closed', zh: '消防信号阀关闭' },
    description: 'A signal valve on the sprinkler supply main is shut for work on a branch and reopened after 4 min.',
    devices: { monitor: 'fire_water' },
    durationMs: 5 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'closeValve' },
      { at: 4 * MIN, do: 'openValve' },
    ],
    expect: [
      { telemetry: { signalValveOpen: false } },
      { telemetry: { signalValveOpen: true }, after: 4 * MIN },
    ],
    alerts: [{ type: 'fire_water.valve_closed', expect: 'raised', note: 'after 60 s closed (valveClosedAfter)' }],
  },
  {
    name: 'fire_water.pump-started',
    title: { en: 'Fire pump started', zh: '消防泵启动' },
    description: 'The main fire pump is started by hand for its monthly test run and stopped after 3 min; the jockey pump keeps cycling as usual.',
    devices: { monitor: 'fire_water' },
    durationMs: 4 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 30 * S, do: 'startFirePump' },
      { at: 3 * MIN + 30 * S, do: 'stopFirePump' },
    ],
    expect: [
      { event: { type: 'pump_started', pump: 'P2', firePump: true }, after: 30 * S },
      { telemetry: { firePumpRunning: true } },
      { event: { type: 'pump_stopped', pump: 'P2', firePump: true }, after: 3 * MIN + 30 * S },
    ],
    alerts: [{ type: 'fire_water.pump_started', expect: 'raised', note: 'the fire service sees every start; it stays open after the stop (someone must look)' }],
  },
  {
    name: 'fire_water.tank-high',
    title: { en: 'Fire water tank overfilling', zh: '消防水池（水箱）水位高' },
    description: 'The tank\'s float valve sticks open: the level rises past full to the high-level switch and on to the overflow; repaired after 6 min.',
    devices: { monitor: 'fire_water' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'overfill' },
      { at: 6 * MIN, do: 'repair' },
    ],
    expect: [{ telemetry: { tankHigh: true } }],
    alerts: [{ type: 'fire_water.high_tank', expect: 'raised', note: 'from the tank\'s own high-level switch, after 60 s' }],
  },
  // ---------------------------------------------------------------- water supply
  {
    name: 'water.pump-failure',
    title: { en: 'Domestic water pumps fail', zh: '二次供水水泵故障' },
    description: 'The pump room\'s variable-speed drives trip: no pump runs, the outlet pressure falls to what the mains gives.',
    devices: { room: 'water_pump' },
    durationMs: 4 * MIN + 20 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'allPumpsFail', with: { code: 'VFD-OC' } },
      { at: 4 * MIN, do: 'repair' },
    ],
    expect: [
      { event: { type: 'pump_fault' } },
      { telemetry: { pumpFault: true, pumpsRunning: 0 } },
      { telemetry: { outletPressure: { lt: 0.3 } } },
      { event: { type: 'pump_fault_cleared' }, after: 4 * MIN },
    ],
    alerts: [{ type: 'water.pump_fault', expect: 'raised', note: 'the outlet falls to mains pressure (about 0.18 MPa): below the zone set points, above the default 0.1 MPa low-pressure limit' }],
  },
  {
    name: 'water.flooding',
    title: { en: 'Pump room flooding', zh: '泵房水淹' },
    description: 'A burst pipe floods the pump room within a minute; it is drained after 5 min.',
    devices: { room: 'water_pump' },
    durationMs: 7 * MIN + 30 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'flood', with: { rampS: 60 } },
      { at: 5 * MIN, do: 'drain' },
    ],
    expect: [
      { event: { type: 'flooded' } },
      { telemetry: { flooded: true } },
      { event: { type: 'flood_cleared' }, after: 5 * MIN },
    ],
    alerts: [{ type: 'water.flooded', expect: 'raised' }],
  },
  {
    name: 'water.turbidity-high',
    title: { en: 'Turbidity above the limit', zh: '浊度超标' },
    description: 'Sediment stirred up after a mains burst: turbidity rises to about 3 NTU (GB 5749 limit: 1 NTU) and settles after 6 min.',
    devices: { room: 'water_pump' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'turbidity', with: { to: 3, rampS: 120 } },
      { at: 6 * MIN, do: 'restoreQuality', with: { rampS: 60 } },
    ],
    expect: [{ telemetry: { turbidity: { gt: 1 } } }],
    alerts: [{ type: 'water.turbidity_high', expect: 'raised' }],
  },
  {
    name: 'water.chlorine-low',
    title: { en: 'Free chlorine too low', zh: '游离氯过低' },
    description: 'Water stands too long in the tank: free chlorine falls to 0.02 mg/L (GB 5749: at least 0.05 mg/L).',
    devices: { room: 'water_pump' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'chlorine', with: { to: 0.02, rampS: 120 } },
      { at: 6 * MIN, do: 'restoreQuality', with: { rampS: 60 } },
    ],
    expect: [{ telemetry: { chlorine: { lt: 0.05 } } }],
    alerts: [{ type: 'water.chlorine_low', expect: 'raised' }],
  },
  {
    name: 'water.chlorine-high',
    title: { en: 'Free chlorine too high', zh: '游离氯过高' },
    description: 'A dosing pump overdoses: free chlorine rises to 2.6 mg/L (GB 5749: at most 2 mg/L).',
    devices: { room: 'water_pump' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'chlorine', with: { to: 2.6, rampS: 120 } },
      { at: 6 * MIN, do: 'restoreQuality', with: { rampS: 60 } },
    ],
    expect: [{ telemetry: { chlorine: { gt: 2 } } }],
    alerts: [{ type: 'water.chlorine_high', expect: 'raised' }],
  },
  {
    name: 'water.ph-out-of-range',
    title: { en: 'pH out of range', zh: 'pH 超标' },
    description: 'pH drifts up to 9 (GB 5749: 6.5 to 8.5).',
    devices: { room: 'water_pump' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'ph', with: { to: 9, rampS: 120 } },
      { at: 6 * MIN, do: 'restoreQuality', with: { rampS: 60 } },
    ],
    expect: [{ telemetry: { ph: { gt: 8.5 } } }],
    alerts: [{ type: 'water.ph_abnormal', expect: 'raised' }],
  },
  {
    name: 'water.zone-pressure-low',
    title: { en: 'High supply zone loses pressure', zh: '高区供水压力低' },
    description: 'The high zone\'s pump set trips: its header falls to the tank\'s head (about 0.03 MPa) while the low and mid zones keep their pressure; repaired after 4 min.',
    devices: { room: 'water_pump' },
    durationMs: 5 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'zonePumpsFail', with: { zone: 'high' } },
      { at: 4 * MIN, do: 'repair' },
    ],
    expect: [
      { event: { type: 'pump_fault', pump: 'HIGH-P1' } },
      { telemetry: { outletPressureHigh: { lt: 0.1 }, outletPressureMid: { gt: 0.3 } } },
    ],
    alerts: [{ type: 'water.zone_pressure_low', expect: 'raised', note: 'subject: high; the zone\'s limits default to the outlet\'s (0.1 MPa)' }],
  },
  {
    name: 'water.inlet-pressure-low',
    title: { en: 'Municipal inlet pressure low', zh: '市政进水压力低' },
    description: 'A burst main upstream pulls the municipal pressure down by 0.14 MPa for 8 min.',
    devices: { room: 'water_pump' },
    durationMs: 9 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'mainsLow', with: { by: 0.14 } },
      { at: 8 * MIN, do: 'mainsRestored' },
    ],
    expect: [{ telemetry: { inletPressure: { lt: 0.1 } } }],
    alerts: [{ type: 'water.inlet_pressure_low', expect: 'raised', note: 'after 5 min below 0.1 MPa (inletPressureAfter)' }],
  },
  {
    name: 'water.room-smoke',
    title: { en: 'Smoke in the pump room', zh: '泵房烟雾报警' },
    description: 'A drive cabinet overheats and smoke reaches the pump room\'s detector; it clears after 3 min.',
    devices: { room: 'water_pump' },
    durationMs: 4 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 10 * S, do: 'smoke' },
      { at: 3 * MIN + 10 * S, do: 'clearSmoke' },
    ],
    expect: [
      { telemetry: { smoke: true }, after: 10 * S },
      { telemetry: { smoke: false }, after: 3 * MIN + 10 * S },
    ],
    alerts: [{ type: 'water.smoke', expect: 'raised', note: 'the property company at once; the fire service if not acknowledged within 5 min' }],
  },
  {
    name: 'water.room-climate',
    title: { en: 'Pump-room ventilation fails', zh: '泵房通风故障（温湿度超限）' },
    description: 'The extract fan stops on a summer day: the drives\' heat and the damp stay in the room, which passes 40 °C and 85 % relative humidity within about 15 min; the fan is restarted after 28 min.',
    devices: { room: 'water_pump' },
    durationMs: 30 * MIN,
    reportIntervalMs: 30 * S,
    steps: [
      { at: 0, do: 'ventilationFail', with: { heat: 25, damp: 35 } },
      { at: 28 * MIN, do: 'ventilationRestored' },
    ],
    expect: [
      { telemetry: { temperature: { gt: 40 } } },
      { telemetry: { humidity: { gt: 85 } } },
    ],
    alerts: [
      { type: 'water.temperature_abnormal', expect: 'raised', note: 'after 10 min above 40 °C (climateAfter)' },
      { type: 'water.humidity_high', expect: 'raised', note: 'after 10 min above 85 %' },
    ],
  },

  // ---------------------------------------------------------------- drainage
  {
    name: 'drainage.high-level',
    title: { en: 'Sump pit level high in a cloudburst', zh: '暴雨致集水坑高水位' },
    description: 'A cloudburst of 150 mm/h drains from the garage ramps into the sump: twice what both pumps move. The pit rises past the alarm level and trips the float switch; the rain eases after 4 min and the pumps bring the pit down.',
    devices: { sump: 'drainage' },
    durationMs: 8 * MIN + 30 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'rain', with: { mmPerHour: 150 } },
      { at: 4 * MIN, do: 'stopRain' },
    ],
    expect: [
      { telemetry: { pumpsRunning: 2 }, note: 'the lag pump joins the lead' },
      { telemetry: { level: { gt: 1.2 } } },
      { event: { type: 'high_level' }, note: 'the float switch' },
      { event: { type: 'high_level_cleared' }, after: 4 * MIN },
    ],
    alerts: [{ type: 'drainage.high_level', expect: 'raised', note: 'the float switch raises at once; the level alone after 60 s above 1.2 m; clears when both are back' }],
  },
  {
    name: 'drainage.pump-fault',
    title: { en: 'Drainage pump fault', zh: '排水泵故障' },
    description: 'The lead sump pump\'s motor protection trips (a rag in the impeller); the lag pump takes over; the pump is repaired after 4 min.',
    devices: { sump: 'drainage' },
    durationMs: 4 * MIN + 20 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'pumpFault', with: { pump: 'P1', code: 'OL' } },
      { at: 4 * MIN, do: 'repair' },
    ],
    expect: [
      { event: { type: 'pump_fault', pump: 'P1' } },
      { telemetry: { pumpFault: true } },
      { event: { type: 'pump_fault_cleared' }, after: 4 * MIN },
    ],
    alerts: [{ type: 'drainage.pump_fault', expect: 'raised' }],
  },
  {
    name: 'drainage.flooded',
    title: { en: 'Basement flooded: cloudburst with the pumps out of power', zh: '地下室水淹（暴雨停电）' },
    description: 'The storm cuts the pump cabinet\'s supply while 150 mm/h of rain runs into the sump: the pit overflows within minutes and water spreads over the garage floor. Power returns and the rain eases after 5 min; the pumps empty the pit and the floor dries.',
    devices: { sump: 'drainage' },
    durationMs: 8 * MIN,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, do: 'powerLost' },
      { at: 0, do: 'rain', with: { mmPerHour: 150 } },
      { at: 5 * MIN, do: 'repair' },
      { at: 5 * MIN, do: 'stopRain' },
    ],
    expect: [
      { event: { type: 'power_lost' } },
      { telemetry: { powerOk: false, pumpsRunning: 0 } },
      { event: { type: 'flooded' } },
      { telemetry: { flooded: true } },
      { event: { type: 'flood_cleared' }, after: 5 * MIN },
    ],
    alerts: [
      { type: 'drainage.flooded', expect: 'raised', note: 'critical: water on the floor is already the incident' },
      { type: 'drainage.power_lost', expect: 'raised' },
    ],
  },

  // ---------------------------------------------------------------- any device
  {
    name: 'device.silent',
    title: { en: 'Device goes silent', zh: '设备失联（静默）' },
    description: 'A fire-water pressure monitor stops sending for 15 min while its MQTT connection stays up (keepalives only): offline must be seen from missing data, not from a disconnect. Then it resumes.',
    devices: { device: 'fire_water' },
    durationMs: 16 * MIN,
    reportIntervalMs: 30 * S,
    steps: [
      { at: 30 * S, silence: true },
      { at: 15 * MIN + 30 * S, silence: false },
    ],
    expect: [
      { readings: { min: 1 }, note: 'a reading before the silence' },
      { readings: { min: 1 }, after: 15 * MIN + 30 * S, note: 'readings again after it' },
      { silence: true },
    ],
    alerts: [{ type: 'device.offline', expect: 'raised', note: 'from the per-kind data timeout; clears when readings resume' }],
  },
  {
    name: 'device.silent-battery-smoke',
    title: { en: 'Battery smoke alarm goes silent', zh: '电池供电 NB-IoT 烟感失联' },
    description: 'A battery NB-IoT smoke alarm (model NB-SD) sends its heartbeat and then nothing more (a dead cell, or the NB-IoT module failing). Such alarms send a heartbeat only every 12 to 24 h, so 24 h of silence is still normal; at 25 h (one missed heartbeat of the slowest) it is offline. The run lasts 26 simulated hours.',
    devices: { detector: 'smoke_detector' },
    // the registry model, as installed; without an entry in alerts.rules.models it gets the smoke detectors' 25 h
    deviceFields: { detector: { model: 'NB-SD' } },
    durationMs: 26 * HOUR,
    // its heartbeat; a stepped run then looks at 12 h and 24 h, before the offline timeout, and at the end
    reportIntervalMs: 12 * HOUR,
    // an hour after its heartbeat, well clear of it: compressed for a test, both would otherwise fall in one instant
    steps: [{ at: HOUR, silence: true }],
    expect: [
      { readings: { min: 1 }, note: 'the heartbeat before the silence' },
      { silence: true },
    ],
    alerts: [{ type: 'device.offline', expect: 'raised', notBefore: 25 * HOUR, note: 'the smoke detectors\' offlineAfter 25 h, counted from the last heartbeat: not at 24 h' }],
  },
  {
    name: 'device.malformed-storm',
    title: { en: 'Storm of malformed payloads', zh: '畸形报文风暴' },
    description: 'A pump-room terminal with broken firmware sends garbage, payloads that fail the schema, out-of-range values, timestamps a day ahead, batches with one bad object, and messages on a topic it may not use. Nothing of it may be stored; the good objects of mixed batches must be.',
    devices: { device: 'water_pump' },
    durationMs: 30 * S,
    reportIntervalMs: 10 * S,
    steps: [
      { at: 0, malformed: 'not_json', count: 20 },
      { at: 2 * S, malformed: 'schema', count: 10 },
      { at: 4 * S, malformed: 'out_of_range', count: 10 },
      { at: 6 * S, malformed: 'future_timestamp', count: 5 },
      { at: 8 * S, malformed: 'mixed_batch', count: 5 },
      { at: 10 * S, malformed: 'wrong_topic', count: 3 },
      { at: 12 * S, malformed: 'not_object', count: 3 },
    ],
    expect: [
      { deadLetter: { reason: 'not_json', min: 20 } },
      { deadLetter: { reason: 'schema', min: 25 }, note: 'schema + out of range + the bad object of each mixed batch' },
      { deadLetter: { reason: 'future_timestamp', min: 5 } },
      { deadLetter: { reason: 'topic_not_allowed', min: 3 } },
      { deadLetter: { reason: 'not_object', min: 3 } },
      { readings: { min: 10 }, note: 'the good objects of the mixed batches are stored' },
    ],
    // no alert type covers rejected data (see alerts/catalog.ts): what it shows is the dead letters
    alerts: [],
  },
  {
    name: 'device.reconnect-storm',
    title: { en: 'Reconnect storm', zh: '重连风暴' },
    description: 'Three devices of one site on a failing 4G router drop and re-open their connections 10 times each, 3 s apart; each reconnect sends the will (offline), then online and a full reading.',
    devices: { car: 'elevator', detector: 'smoke_detector', monitor: 'fire_water' },
    durationMs: 40 * S,
    reportIntervalMs: 60 * S,
    steps: [
      { at: 0, device: 'car', reconnect: { times: 10, everyMs: 3 * S } },
      { at: 0, device: 'detector', reconnect: { times: 10, everyMs: 3 * S } },
      { at: 0, device: 'monitor', reconnect: { times: 10, everyMs: 3 * S } },
    ],
    expect: [
      { device: 'car', readings: { min: 10 }, note: 'a reading after every reconnect' },
      { device: 'detector', readings: { min: 10 } },
      { device: 'monitor', readings: { min: 10 } },
    ],
    // no alert type covers a flapping connection (see alerts/catalog.ts): what it shows is the reconnects
    alerts: [],
  },
];

const BY_NAME = new Map(SCENARIOS.map((s) => [s.name, s]));

export function getScenario(name: string): Scenario | undefined { return BY_NAME.get(name); }

/** Problems in a scenario definition (unknown roles, unknown actions, expectations on unknown roles). */
export function validateScenario(s: Scenario): string[] {
  const problems: string[] = [];
  const roles = Object.keys(s.devices);
  if (roles.length === 0) problems.push('no devices');
  for (const step of s.steps) {
    const role = step.device ?? roles[0]!;
    const kind = s.devices[role];
    if (!kind) { problems.push(`step at ${step.at}: unknown role ${role}`); continue; }
    if (step.at < 0 || step.at > s.durationMs) problems.push(`step at ${step.at}: outside 0..${s.durationMs}`);
    if ('do' in step && !(step.do in createModel(kind, 'check').actions)) problems.push(`step at ${step.at}: ${kind} has no action ${step.do}`);
  }
  for (const e of s.expect) if (!s.devices[e.device ?? roles[0]!]) problems.push(`expectation on unknown role ${e.device}`);
  return problems;
}
