/**
 * The `alerts` settings: the responsibility list ships with defaults and an installation overrides
 * it (validated at boot, every problem reported with its path); durations read as "45s" / "30m";
 * per-device rule overrides; the list in force is served by the API; an override changes routing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { AlertWatcher, addDevice, startAlertGateway, telemetry, NORMAL } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';

function problems(overrides: Record<string, unknown>): string[] {
  try {
    loadConfig({}, overrides);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
}

describe('alerts config', () => {
  it('ships the responsibility list: trapped passengers to market supervision and the maintenance unit at once, rescue within 30 min', () => {
    const c = loadConfig({}, {});
    const trapped = c.alerts.responsibilities['elevator.trapped'];
    expect(trapped).toMatchObject({ severity: 'critical', resolveWithinMs: 30 * 60_000, label: { zh: '电梯困人', en: 'Passengers trapped in elevator' } });
    expect(trapped.queues).toEqual(expect.arrayContaining(['market-supervision', 'maintenance']));
    expect(c.alerts.rules.elevator.stoppedOutsideDoorZoneAfter).toBe(45_000);
    expect(c.alerts.rules.water_pump.maxTurbidityNtu).toBe(1);
    expect(c.alerts.fire.verifyWindow).toBe(180_000);
  });

  it('merges an installation override per type and per kind, with durations as text', () => {
    const c = loadConfig({}, {
      alerts: {
        responsibilities: {
          'elevator.trapped': { resolveWithin: '1h', label: { zh: '困人', en: 'Trapped' } },
          'device.offline': { kinds: { water_pump: { severity: 'major' } } },
        },
        rules: { elevator: { trappedLevelledAfter: '90s' }, devices: { 'elev-9': { overspeedMps: 1.9, offlineAfter: '1h30m' } } },
      },
    });
    expect(c.alerts.responsibilities['elevator.trapped']).toMatchObject({ resolveWithinMs: 3_600_000, severity: 'critical', label: { zh: '困人' } });
    expect(c.alerts.responsibilities['device.offline'].kinds.water_pump).toMatchObject({ severity: 'major', queues: ['property'] });
    expect(c.alerts.responsibilities['device.offline'].kinds.elevator).toMatchObject({ queues: ['property', 'maintenance'] });
    expect(c.alerts.rules.elevator.trappedLevelledAfter).toBe(90_000);
    // a device override carries only what it sets: the kind's settings fill in the rest at run time
    expect(c.alerts.rules.devices['elev-9']).toEqual({ overspeedMps: 1.9, offlineAfter: 5_400_000 });
  });

  it('reports every bad setting with its path', () => {
    const p = problems({
      alerts: {
        responsibilities: { 'elevator.flying': { severity: 'major' }, 'fire.alarm': { severity: 'apocalyptic', queues: ['police'] } },
        rules: { fire_water: { lowPressureAfter: 'soon' }, devices: { x: { noSuchSetting: 1 } } },
        webhooks: [{ id: 'w', queue: 'everyone', url: 'not a url', secret: 'short' }],
      },
    });
    const text = p.join('\n');
    expect(text).toMatch(/alerts\.responsibilities/);
    expect(text).toMatch(/alerts\.responsibilities\.fire\.alarm\.severity/);
    expect(text).toMatch(/alerts\.responsibilities\.fire\.alarm\.queues\.0/);
    expect(text).toMatch(/alerts\.rules\.fire_water\.lowPressureAfter/);
    expect(text).toMatch(/alerts\.rules\.devices\.x/);
    expect(text).toMatch(/alerts\.webhooks\.0\.queue/);
    expect(text).toMatch(/alerts\.webhooks\.0\.url/);
    expect(text).toMatch(/alerts\.webhooks\.0\.secret/);
  });
});

describe('an overridden responsibility list at run time', () => {
  let t: TestGateway;
  let watcher: AlertWatcher;
  beforeAll(async () => {
    ({ t } = await startAlertGateway({ alerts: { responsibilities: { 'water.door_open': { severity: 'major', queues: ['property', 'fire-service'] } } } }));
    watcher = await AlertWatcher.start(t);
  });
  afterAll(async () => {
    await watcher.close();
    await t.dispose();
  });

  it('routes by it, and serves it', async () => {
    const d = await addDevice(t, 'water_pump');
    await telemetry(d, { ...NORMAL.water_pump, doorOpen: true });
    const raised = await watcher.waitFor(d.id, 'water.door_open', 'raised', [`property/${d.companyId}`, 'fire-service']);
    for (const m of raised) expect(m.alert.severity).toBe('major');
    const list = await t.api('GET', '/api/v1/alerts/responsibilities');
    expect(list.status).toBe(200);
    expect(list.body['water.door_open']).toMatchObject({ severity: 'major', queues: ['property', 'fire-service'] });
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_alerts_raised_total\{type="water.door_open",severity="major"\} 1/);
    expect(metrics).toMatch(/gateway_alert_queue_head\{queue="fire-service"\} 1/);
    const openapi = await t.api('GET', '/api/v1/openapi.json');
    expect(openapi.status).toBe(200);
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(['/api/v1/alerts', '/api/v1/alerts/{id}/{action}', '/api/v1/queues/{queue}/messages']));
    await d.client.endAsync();
  });
});
