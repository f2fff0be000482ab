/**
 * Helpers for the alert tests: a gateway on a ManualClock, devices on their own company / site /
 * maintenance unit (so each scenario has its own property and maintenance queues), and a watcher
 * that records every queue message over a real MQTT subscription.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../../core/clock.js';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './gateway.js';
import type { AlertType } from '../../alerts/catalog.js';

export { ManualClock };

export interface Received {
  topic: string;
  queue: string;
  cursor: number;
  event: string;
  at: number;
  reason?: string;
  alert: { id: number; type: string; severity: string; state: string; deviceId: string; count: number; suppressed: boolean; confirmation: string | null; queues: string[]; details: Record<string, unknown> };
}

export async function startAlertGateway(overrides: Record<string, unknown> = {}): Promise<{ t: TestGateway; clock: ManualClock }> {
  const clock = new ManualClock(Date.parse('2025-06-02T00:00:00Z'));
  // the tick runs on its own too, but the manual clock runs due timers at once when it moves
  const t = await startTestGateway({ ...overrides, alerts: { schedules: { runAtStart: false }, ...(overrides.alerts as object) } }, {}, { clock });
  return { t, clock };
}

/** Records everything on `alerts/#` (an admin account may subscribe to every queue). */
export class AlertWatcher {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {}

  static async start(t: TestGateway, clientId = `watcher-${Math.random().toString(36).slice(2, 8)}`): Promise<AlertWatcher> {
    const token = await account(t, clientId, 'admin');
    const client = await connect(t.mqttUrl, { clientId, username: clientId, password: token, clean: true });
    const w = new AlertWatcher(client);
    client.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString()) as Received;
      w.messages.push({ ...m, topic });
    });
    await client.subscribeAsync('alerts/#', { qos: 1 });
    return w;
  }

  of(deviceId: string, type?: string): Received[] {
    return this.messages.filter((m) => m.alert.deviceId === deviceId && (type === undefined || m.alert.type === type));
  }

  /** Waits until every queue in `queues` got `event` for (device, type); returns those messages. */
  async waitFor(deviceId: string, type: string, event: string, queues: string[], timeoutMs = 3000): Promise<Received[]> {
    return waitFor(() => {
      const got = this.of(deviceId, type).filter((m) => m.event === event);
      return queues.every((q) => got.some((m) => m.queue === q)) ? got : undefined;
    }, timeoutMs, 10);
  }

  async close(): Promise<void> { await this.client.endAsync(); }
}

let seq = 0;

export interface TestDevice { id: string; kind: string; companyId: string; siteId: string; unitId: string; client: MqttClient; secret: string }

/** Registers a device on its own site / company / unit (unless given) and connects it. */
export async function addDevice(t: TestGateway, kind: string, opts: { id?: string; companyId?: string; siteId?: string; unitId?: string; extra?: Record<string, unknown> } = {}): Promise<TestDevice> {
  const n = ++seq;
  const id = opts.id ?? `${kind.replace('_', '-')}-${n}`;
  const companyId = opts.companyId ?? `co-${n}`;
  const siteId = opts.siteId ?? `site-${n}`;
  const unitId = opts.unitId ?? `unit-${n}`;
  const secret = await registerDevice(t, { id, kind, siteId, companyId, ...(kind === 'elevator' ? { maintenanceUnitId: unitId } : {}), ...opts.extra });
  const client = await connectDevice(t, id, secret);
  return { id, kind, companyId, siteId, unitId, client, secret };
}

export const telemetry = (d: TestDevice, body: Record<string, unknown>) => publish(d.client, `devices/${d.id}/telemetry`, body);
export const event = (d: TestDevice, body: Record<string, unknown>) => publish(d.client, `devices/${d.id}/events`, body);

/** Readings with nothing wrong, per kind. */
export const NORMAL: Record<string, Record<string, unknown>> = {
  elevator: { mode: 'normal', running: false, direction: 'none', floor: 3, doorZone: true, door: 'open', occupied: false, speed: 0, safetyCircuit: 'closed', powerOk: true },
  fire_panel: { mainPowerOk: true, backupPowerOk: true },
  smoke_detector: { smoke: 0.02, temperature: 24.5, battery: 87 },
  fire_water: { pressure: 0.32, tankLevel: 3.8, pumpRunning: false, pumpFault: false, pumpPowerOk: true, flowSwitch: false },
  water_pump: { inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false, turbidity: 0.3, chlorine: 0.4, ph: 7.2 },
  drainage: { level: 0.6, highLevel: false, pumpsRunning: 1, pumpFault: false, powerOk: true, flooded: false },
};

let direct = 0;

/**
 * Raises an alert straight through the alert service, on a device that exists only in the alert
 * (no registry entry, no MQTT): for tests about acting on alerts, which need many fresh ones fast.
 * Each call is a new device, so each call opens a new alert; give each fire alarm its own site, or
 * alarms on one site corroborate each other.
 */
export function raiseAlert(t: TestGateway, type: AlertType, device: { kind: string; companyId: string; siteId: string; maintenanceUnitId?: string }): number {
  const id = `direct-${device.kind.replace('_', '-')}-${++direct}`;
  return t.gw.alerts.service.raise({ device: { id, ...device }, type, subject: '', details: {}, suppressed: false, at: t.gw.alerts.clock.now() }).id;
}

/** Creates an API / MQTT account and returns its token. */
export async function account(t: TestGateway, id: string, role: string, scope?: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  if (res.status !== 201) throw new Error(`account create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

/** An agency with a persistent session (clean: false), listening before CONNACK so nothing queued is missed. */
export function persistentAgency<T>(t: TestGateway, id: string, token: string, received: T[]): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(t.mqttUrl, { clientId: `${id}:client`, username: id, password: token, clean: false, reconnectPeriod: 0 });
    c.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString()) as T));
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}
