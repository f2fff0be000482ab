/** Device models: every reading of a simulated day fits the kind's schema and behaves physically. */
import { describe, expect, it } from 'vitest';
import { DEVICE_KINDS, KIND_SCHEMAS } from '../ingest/schemas/kinds.js';
import { createModel, DrainageModel, ElevatorModel, FireWaterModel, SmokeDetectorModel, WaterPumpModel, type DeviceModel } from '../simulators/models/index.js';

const DAY0 = Date.parse('2025-03-03T00:00:00+08:00');

function run(model: DeviceModel, hours: number, everyS: number, from = DAY0) {
  const readings: Array<Record<string, unknown>> = [];
  const events: Array<Record<string, unknown>> = [];
  for (let t = from; t <= from + hours * 3600_000; t += everyS * 1000) {
    const out = model.step(t);
    readings.push(out.telemetry);
    events.push(...out.events);
  }
  return { readings, events };
}

function expectValid(kind: (typeof DEVICE_KINDS)[number], readings: Array<Record<string, unknown>>, events: Array<Record<string, unknown>>) {
  for (const r of readings) {
    const res = KIND_SCHEMAS[kind].telemetry.safeParse(r);
    if (!res.success) throw new Error(`${kind} reading ${JSON.stringify(r)}: ${res.error.message}`);
  }
  for (const e of events) {
    const res = KIND_SCHEMAS[kind].event.safeParse(e);
    if (!res.success) throw new Error(`${kind} event ${JSON.stringify(e)}: ${res.error.message}`);
  }
}

describe('device models', () => {
  it.each(DEVICE_KINDS)('%s: a simulated day fits the schema, with every action applied', (kind) => {
    const model = createModel(kind, `m-${kind}`);
    const first = run(model, 12, 5);
    const t0 = DAY0 + 12 * 3600_000;
    const actionEvents: Array<Record<string, unknown>> = [];
    let t = t0;
    for (const name of Object.keys(model.actions)) {
      model.act(name, {});
      const r = run(model, 0.2, 2, (t += 1000));
      t += 0.2 * 3600_000;
      expectValid(kind, r.readings, r.events);
      actionEvents.push(...r.events);
    }
    expectValid(kind, first.readings, first.events);
    if (kind !== 'fire_panel') expect(new Set(first.readings.map((r) => JSON.stringify(r))).size).toBeGreaterThan(10);
  });

  it('elevator: travels between floors, levels, cycles its doors, carries passengers, counts runs', () => {
    const m = new ElevatorModel('e1', { callsPerHour: 60 });
    const { readings } = run(m, 3, 0.5, DAY0 + 7 * 3600_000);
    const floors = new Set(readings.map((r) => r.floor));
    expect(floors.size).toBeGreaterThan(5);
    for (const door of ['open', 'opening', 'closing', 'closed']) expect(readings.some((r) => r.door === door)).toBe(true);
    // doors only open at a landing, and never while the car runs
    for (const r of readings) {
      if (r.door !== 'closed') expect(r.doorZone, JSON.stringify(r)).toBe(true);
      if (r.running) expect(r.door, JSON.stringify(r)).toBe('closed');
    }
    expect(readings.some((r) => r.occupied)).toBe(true);
    expect(readings.some((r) => (r.speed as number) >= 1.7)).toBe(true);
    expect((readings.at(-1)!.runCount as number)).toBeGreaterThan(readings[0]!.runCount as number);
    expect((readings.at(-1)!.runHours as number)).toBeGreaterThan(readings[0]!.runHours as number);
  });

  it('elevator: trapped between floors stays put with passengers and closed doors until rescued', () => {
    const m = new ElevatorModel('e2');
    run(m, 0.1, 1, DAY0);
    m.act('trap', { levelled: false });
    const t = DAY0 + 3600_000;
    const held = run(m, 0.05, 1, t).readings;
    for (const r of held) expect(r).toMatchObject({ running: false, door: 'closed', occupied: true, doorZone: false });
    m.act('recover');
    const after = run(m, 0.02, 0.5, t + 0.05 * 3600_000 + 500).readings;
    expect(after.some((r) => r.door === 'open' && r.doorZone === true)).toBe(true);
    expect(after.at(-1)!.occupied).toBe(false);
  });

  it('smoke detector: alarms above the threshold, clears with hysteresis, reports low battery once', () => {
    const m = new SmokeDetectorModel('s1', { battery: 60 });
    m.act('drainBattery');
    m.act('smoke', { level: 0.5, rampS: 30 });
    const a = run(m, 0.05, 1);
    expect(a.events.map((e) => e.type)).toContain('alarm');
    expect(Math.max(...a.readings.map((r) => r.smoke as number))).toBeGreaterThan(0.4);
    m.act('clearSmoke');
    const b = run(m, 0.1, 1, DAY0 + 3600_000);
    expect(b.events.map((e) => e.type)).toContain('alarm_cleared');
    const lows = [...a.events, ...b.events].filter((e) => e.type === 'low_battery');
    expect(lows.length).toBe(1);
  });

  it('fire water: the jockey pump holds the pressure band; a leak drags it down', () => {
    const m = new FireWaterModel('w1');
    const normal = run(m, 6, 10);
    const p = normal.readings.map((r) => r.pressure as number);
    expect(Math.min(...p)).toBeGreaterThan(0.27);
    expect(Math.max(...p)).toBeLessThan(0.41);
    expect(normal.events.some((e) => e.type === 'pump_started')).toBe(true);
    m.act('leak', { mpaPerMin: 0.05 });
    const leak = run(m, 0.1, 5, DAY0 + 7 * 3600_000);
    expect(leak.readings.at(-1)!.pressure as number).toBeLessThan(0.15);
  });

  it('fire water: in standby the cabinet is in automatic, the valve open, the main pump off; in manual the flow switch cannot start it', () => {
    const m = new FireWaterModel('w2');
    const standby = run(m, 2, 10);
    for (const r of standby.readings) {
      expect(r).toMatchObject({ pumpAuto: true, signalValveOpen: true, tankHigh: false, firePumpRunning: false });
    }
    // the jockey pump's starts are not the fire pump's
    expect(standby.events.filter((e) => e.type === 'pump_started').every((e) => e.firePump === undefined)).toBe(true);
    m.act('manual');
    m.act('sprinklerFlow', { mpaPerMin: 0.3 });
    const manual = run(m, 0.1, 5, DAY0 + 3 * 3600_000);
    expect(manual.readings.every((r) => r.firePumpRunning === false && r.pumpAuto === false)).toBe(true);
    m.act('automatic');
    const auto = run(m, 0.05, 5, DAY0 + 4 * 3600_000);
    expect(auto.events).toContainEqual(expect.objectContaining({ type: 'pump_started', pump: 'P2', firePump: true }));
    expect(auto.readings.at(-1)!.firePumpRunning).toBe(true);
    expectValid('fire_water', [...manual.readings, ...auto.readings], auto.events);
  });

  it('fire water: a float valve stuck open fills the tank to the high-level switch, and the repair brings it back', () => {
    const m = new FireWaterModel('w3');
    m.act('overfill');
    const over = run(m, 0.1, 10);
    expect(over.readings.at(-1)!.tankHigh).toBe(true);
    m.act('repair');
    const after = run(m, 0.2, 10, DAY0 + 3600_000);
    expect(after.readings.at(-1)!.tankHigh).toBe(false);
  });

  it('pump room: one zone\'s pumps trip and only that zone falls; smoke and a stopped fan show in the readings', () => {
    const m = new WaterPumpModel('p2');
    const normal = run(m, 1, 30, DAY0 + 10 * 3600_000).readings;
    for (const r of normal) {
      expect(r.smoke).toBe(false);
      expect(r.temperature as number).toBeGreaterThan(5);
      expect(r.temperature as number).toBeLessThan(40);
      expect(r.humidity as number).toBeLessThan(85);
      expect(r.inletPressure as number).toBeGreaterThan(0.1);
    }
    m.act('zonePumpsFail', { zone: 'high' });
    m.act('mainsLow', { by: 0.14 });
    m.act('smoke');
    m.act('ventilationFail', { heat: 25, damp: 35 });
    const bad = run(m, 0.5, 30, DAY0 + 12 * 3600_000).readings;
    const last = bad.at(-1)!;
    expect(last.outletPressureHigh as number).toBeLessThan(0.1);
    expect(last.outletPressureMid as number).toBeGreaterThan(0.3);
    expect(last.inletPressure as number).toBeLessThan(0.1);
    expect(last.smoke).toBe(true);
    expect(last.temperature as number).toBeGreaterThan(40);
    expect(last.humidity as number).toBeGreaterThan(85);
    expectValid('water_pump', bad, []);
  });

  it('pump room: more pumps at the morning peak than at night; a fault sags the outlet pressure', () => {
    const m = new WaterPumpModel('p1');
    const night = run(m, 1, 30, DAY0 + 2 * 3600_000).readings;
    const peak = run(m, 1, 30, DAY0 + 7 * 3600_000).readings;
    const avg = (rs: Array<Record<string, unknown>>, f: string) => rs.reduce((a, r) => a + (r[f] as number), 0) / rs.length;
    expect(avg(peak, 'pumpsRunning')).toBeGreaterThan(avg(night, 'pumpsRunning'));
    for (const r of [...night, ...peak]) {
      expect(r.turbidity as number).toBeLessThan(1);
      expect(r.chlorine as number).toBeGreaterThan(0.05);
    }
    m.act('allPumpsFail');
    const failed = run(m, 0.1, 10, DAY0 + 8 * 3600_000).readings;
    expect(failed.at(-1)!.outletPressure as number).toBeLessThan(0.3);
    expect(failed.at(-1)!.pumpsRunning).toBe(0);
  });

  it('drainage: on a normal day the pumps cycle the pit below the alarm level, alternating the lead', () => {
    const m = new DrainageModel('d1');
    const { readings, events } = run(m, 24, 10);
    // 1.2 m: the drainage.high_level default
    for (const r of readings) {
      expect(r.level as number, JSON.stringify(r)).toBeLessThan(1.2);
      expect(r).toMatchObject({ highLevel: false, flooded: false, pumpFault: false, powerOk: true });
    }
    const starts = events.filter((e) => e.type === 'pump_started');
    expect(starts.length).toBeGreaterThan(10);
    expect(new Set(starts.map((e) => e.pump))).toEqual(new Set(['P1', 'P2']));
    expectValid('drainage', readings, events);
  });

  it('drainage: a cloudburst with the pumps out of power trips the float switch and floods the floor; power back drains it', () => {
    const m = new DrainageModel('d2');
    const t0 = DAY0 + 15 * 3600_000;
    m.act('powerLost');
    m.act('rain', { mmPerHour: 150 });
    const storm = run(m, 10 / 60, 5, t0);
    expect(storm.readings.every((r) => r.pumpsRunning === 0 && r.powerOk === false)).toBe(true);
    expect(storm.events.map((e) => e.type)).toEqual(expect.arrayContaining(['power_lost', 'high_level', 'flooded']));
    expect(storm.readings.at(-1)).toMatchObject({ highLevel: true, flooded: true });
    m.act('repair');
    m.act('stopRain');
    const after = run(m, 15 / 60, 5, t0 + 10 * 60_000 + 5000);
    expect(after.events.map((e) => e.type)).toEqual(expect.arrayContaining(['power_restored', 'pump_started', 'flood_cleared', 'high_level_cleared']));
    expect(after.readings.some((r) => r.pumpsRunning === 2)).toBe(true);
    expect(after.readings.at(-1)).toMatchObject({ highLevel: false, flooded: false });
    expect(after.readings.at(-1)!.level as number).toBeLessThan(1.2);
  });
});
