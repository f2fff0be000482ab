/**
 * Drainage (排水) against the real gateway, with real MQTT devices and a manual clock: each alert is
 * raised exactly when its hold time is up (checked 1 ms before and at that moment), goes to the
 * property company's queue only, and clears itself when its condition ends; the high level's two
 * sources (level transmitter and float switch) make one alert; a malformed drainage payload is a
 * dead letter with a coded reason and drives no rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL as NORMAL_OF, account, addDevice, event, startAlertGateway, telemetry, type ManualClock, type TestDevice } from './harness/alerts.js';
import { connectDevice, publish, type TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';
import { alertsConfigSchema } from '../alerts/config.js';

const NORMAL = NORMAL_OF.drainage!;
const DEFAULTS = alertsConfigSchema.parse({}).rules.drainage;

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  // one device with its own holds, to show a per-device override reaches the drainage rules
  ({ t, clock } = await startAlertGateway({ alerts: { rules: { devices: { 'sump-slow': { pumpFaultAfter: '30s', floodedAfter: '20s', maxLevelM: 1.5 } } } } }));
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

/** What the queue log holds for the device's alert of `type`, final once the publish or advance() returned. */
async function sent(d: TestDevice, type: string) {
  const all = await logged(t, d.id, type);
  return {
    raised: all.filter((m) => m.event === 'raised').map((m) => m.queue).sort(),
    cleared: all.filter((m) => m.event === 'closed' && m.reason === 'condition_ended').map((m) => m.queue).sort(),
    severity: all.find((m) => m.event === 'raised')?.alert.severity,
  };
}

async function sump(id?: string): Promise<{ d: TestDevice; property: string[] }> {
  const d = await addDevice(t, 'drainage', id ? { id } : {});
  await telemetry(d, NORMAL);
  return { d, property: [`property/${d.companyId}`] };
}

describe('drainage settings', () => {
  it('ship the documented defaults', () => {
    expect(DEFAULTS).toEqual({ offlineAfter: 600_000, maxLevelM: 1.2, levelHysteresisM: 0.05, highLevelAfter: 60_000, pumpFaultAfter: 0, floodedAfter: 0 });
  });
});

describe('drainage rules', () => {
  it('drainage.high_level: the level above maxLevelM for highLevelAfter, not 1 ms sooner; clears below the hysteresis band', async () => {
    const { d, property } = await sump();
    await telemetry(d, { ...NORMAL, level: 1.3, pumpsRunning: 2 });
    clock.advance(DEFAULTS.highLevelAfter - 1);
    expect((await sent(d, 'drainage.high_level')).raised).toEqual([]);
    clock.advance(1);
    expect(await sent(d, 'drainage.high_level')).toMatchObject({ raised: property, severity: 'major', cleared: [] });
    await watcher.waitFor(d.id, 'drainage.high_level', 'raised', property);
    // between maxLevelM - hysteresis and maxLevelM: still high
    await telemetry(d, { ...NORMAL, level: 1.17, pumpsRunning: 2 });
    expect((await sent(d, 'drainage.high_level')).cleared).toEqual([]);
    await telemetry(d, { ...NORMAL, level: 1.1, pumpsRunning: 2 });
    expect(await sent(d, 'drainage.high_level')).toMatchObject({ raised: property, cleared: property });
    await d.client.endAsync();
  });

  it('a level that drops back before highLevelAfter raises nothing', async () => {
    const { d } = await sump();
    await telemetry(d, { ...NORMAL, level: 1.25 });
    clock.advance(DEFAULTS.highLevelAfter - 1);
    await telemetry(d, { ...NORMAL, level: 1.1 });
    clock.advance(DEFAULTS.highLevelAfter);
    expect((await sent(d, 'drainage.high_level')).raised).toEqual([]);
    await d.client.endAsync();
  });

  it('the float switch raises at once, also while the level hold runs, and the alert stays while either source is high', async () => {
    const { d, property } = await sump();
    await telemetry(d, { ...NORMAL, level: 1.3 });
    clock.advance(20_000);
    await telemetry(d, { ...NORMAL, level: 1.3, highLevel: true });
    expect((await sent(d, 'drainage.high_level')).raised).toEqual(property);
    // the level's own hold passing later raises no second alert
    clock.advance(DEFAULTS.highLevelAfter);
    expect((await sent(d, 'drainage.high_level')).raised).toEqual(property);
    // the switch drops out, the level is still high: the alert stays
    await telemetry(d, { ...NORMAL, level: 1.3, highLevel: false });
    expect((await sent(d, 'drainage.high_level')).cleared).toEqual([]);
    await telemetry(d, { ...NORMAL, level: 0.5, highLevel: false });
    expect((await sent(d, 'drainage.high_level')).cleared).toEqual(property);
    await d.client.endAsync();
  });

  it('the high_level / high_level_cleared events are the float switch', async () => {
    const { d, property } = await sump();
    await event(d, { type: 'high_level' });
    expect((await sent(d, 'drainage.high_level')).raised).toEqual(property);
    // a reading without the switch field leaves the switch as the event set it
    const { highLevel: _omitted, ...withoutSwitch } = NORMAL;
    await telemetry(d, withoutSwitch);
    expect((await sent(d, 'drainage.high_level')).cleared).toEqual([]);
    await event(d, { type: 'high_level_cleared' });
    expect((await sent(d, 'drainage.high_level')).cleared).toEqual(property);
    await d.client.endAsync();
  });

  it('drainage.pump_fault, drainage.power_lost and drainage.flooded: at once by default, from telemetry or events; cleared when they end', async () => {
    const { d, property } = await sump();
    await telemetry(d, { ...NORMAL, pumpFault: true, powerOk: false, flooded: true });
    expect(await sent(d, 'drainage.pump_fault')).toMatchObject({ raised: property, severity: 'major', cleared: [] });
    expect(await sent(d, 'drainage.power_lost')).toMatchObject({ raised: property, severity: 'major', cleared: [] });
    expect(await sent(d, 'drainage.flooded')).toMatchObject({ raised: property, severity: 'critical', cleared: [] });
    await watcher.waitFor(d.id, 'drainage.flooded', 'raised', property);
    await telemetry(d, NORMAL);
    for (const type of ['drainage.pump_fault', 'drainage.power_lost', 'drainage.flooded']) expect((await sent(d, type)).cleared, type).toEqual(property);

    const e = (await sump()).d;
    for (const type of ['pump_fault', 'power_lost', 'flooded']) await event(e, { type, ...(type === 'pump_fault' ? { pump: 'P1', code: 'OL' } : {}) });
    for (const type of ['drainage.pump_fault', 'drainage.power_lost', 'drainage.flooded']) expect((await sent(e, type)).raised, type).toEqual([`property/${e.companyId}`]);
    for (const type of ['pump_fault_cleared', 'power_restored', 'flood_cleared']) await event(e, { type });
    for (const type of ['drainage.pump_fault', 'drainage.power_lost', 'drainage.flooded']) expect((await sent(e, type)).cleared, type).toEqual([`property/${e.companyId}`]);
    await d.client.endAsync();
    await e.client.endAsync();
  });

  it('an unacknowledged drainage.flooded escalates at its 10 min acknowledge deadline, not 1 ms sooner', async () => {
    const { d, property } = await sump();
    await telemetry(d, { ...NORMAL, flooded: true });
    const escalated = async () => (await logged(t, d.id, 'drainage.flooded')).filter((m) => m.event === 'escalated').map((m) => [m.queue, m.reason]);
    clock.advance(10 * 60_000 - 1);
    expect(await escalated()).toEqual([]);
    clock.advance(1);
    expect(await escalated()).toEqual(property.map((q) => [q, 'acknowledge_overdue']));
    await d.client.endAsync();
  });

  it('a per-device override sets the holds and the alarm level: each raised exactly at its hold', async () => {
    const { d, property } = await sump('sump-slow');
    // 1.3 m is below this pit's alarm level (1.5 m)
    await telemetry(d, { ...NORMAL, level: 1.3, pumpFault: true, flooded: true });
    clock.advance(20_000 - 1);
    expect((await sent(d, 'drainage.flooded')).raised).toEqual([]);
    clock.advance(1);
    expect((await sent(d, 'drainage.flooded')).raised).toEqual(property);
    clock.advance(10_000 - 1);
    expect((await sent(d, 'drainage.pump_fault')).raised).toEqual([]);
    clock.advance(1);
    expect((await sent(d, 'drainage.pump_fault')).raised).toEqual(property);
    clock.advance(DEFAULTS.highLevelAfter);
    expect((await sent(d, 'drainage.high_level')).raised).toEqual([]);
    await d.client.endAsync();
  });

  it('device.offline after offlineAfter of silence (the property company, water domain: not the fire service); clears when data resumes', async () => {
    const { d, property } = await sump();
    await d.client.endAsync();
    clock.advance(DEFAULTS.offlineAfter - 1);
    expect((await sent(d, 'device.offline')).raised).toEqual([]);
    clock.advance(1);
    expect(await sent(d, 'device.offline')).toMatchObject({ raised: property, severity: 'minor', cleared: [] });
    const ledger = await t.api('GET', `/api/v1/alerts?deviceId=${d.id}&type=device.offline`);
    expect(ledger.body.items[0]).toMatchObject({ domain: 'water' });
    const back = await connectDevice(t, d.id, d.secret);
    await publish(back, `devices/${d.id}/telemetry`, NORMAL);
    expect((await sent(d, 'device.offline')).cleared).toEqual(property);
    await back.endAsync();
  });
});

describe('who sees a drainage device and its alerts', () => {
  it('its property company and the admin; not market supervision, not the fire service', async () => {
    const { d } = await sump();
    await telemetry(d, { ...NORMAL, flooded: true });
    const alertId = (await t.api('GET', `/api/v1/alerts?deviceId=${d.id}&type=drainage.flooded`)).body.items[0].id as number;
    const tokens = {
      property: await account(t, `dr-p-${d.id}`, 'property', d.companyId),
      other: await account(t, `dr-o-${d.id}`, 'property', 'co-elsewhere'),
      market: await account(t, `dr-ms-${d.id}`, 'market-supervision'),
      fire: await account(t, `dr-fs-${d.id}`, 'fire-service'),
    };
    const status = async (token: string, path: string) => (await fetch(`${t.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
    const seen: Record<string, number[]> = {};
    for (const [who, token] of Object.entries(tokens)) seen[who] = [await status(token, `/api/v1/devices/${d.id}`), await status(token, `/api/v1/alerts/${alertId}`)];
    expect(seen).toEqual({ property: [200, 200], other: [404, 404], market: [404, 404], fire: [404, 404] });
    await d.client.endAsync();
  });
});

describe('malformed drainage payloads', () => {
  it('are dead letters with a coded reason and field path, and drive no rule', async () => {
    const { d } = await sump();
    // a high level in a reading that fails the schema (pumpsRunning must be an integer) is not evaluated
    await telemetry(d, { ...NORMAL, level: 1.9, pumpsRunning: 1.5 });
    const { flooded: _missing, ...noFlooded } = NORMAL;
    await telemetry(d, noFlooded);
    await event(d, { type: 'overflow' });
    const letters = (await t.api('GET', `/api/v1/dead-letters?deviceId=${d.id}&limit=10`)).body.items as Array<{ reason: string; topic: string; issues: Array<{ path: string }> }>;
    expect(letters.map((l) => [l.topic.split('/').pop(), l.reason, l.issues.map((i) => i.path)]).sort()).toEqual([
      ['events', 'schema', ['type']],
      ['telemetry', 'schema', ['flooded']],
      ['telemetry', 'schema', ['pumpsRunning']],
    ]);
    clock.advance(DEFAULTS.highLevelAfter);
    expect((await sent(d, 'drainage.high_level')).raised).toEqual([]);
    expect((await logged(t, d.id)).filter((m) => m.event === 'raised')).toEqual([]);
    await d.client.endAsync();
  });
});
