/**
 * Modbus TCP polling end to end: a real gateway polls simulated pump-room PLCs (modbus-serial's
 * ServerTCP) over real sockets with real timers at short intervals. Readings are stored and read
 * back over the API, a pump fault set on the PLC raises the alert, a closed port is counted as
 * failed polls without disturbing the other controller, a PLC that stops answering is counted as
 * timeouts and recovers, and a Modbus exception is counted while the link stays up.
 *
 * The second part drives the poller alone against a recording `DeviceIngress` (the seam it is
 * written against): unknown devices and missing maps reported once, stop and restart (the lead
 * moving between cluster nodes), sockets closed on stop.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import ModbusRTU from 'modbus-serial';
import { PumpController, runModbusSimulator } from '../simulators/modbus/pump-controller.js';
import { ModbusPoller, modbusSettingsSchema, type ModbusSettingsInput } from '../protocols/modbus/index.js';
import type { DeviceIngress, FieldDevice, ProtocolRejection } from '../protocols/ingress.js';

const FAST = { intervalMs: 150, timeoutMs: 250 };
const RECONNECT = { minDelayMs: 100, maxDelayMs: 400 };

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

describe('Modbus polling through the gateway', () => {
  let t: TestGateway;
  let sim: PumpController;

  async function metric(outcome: string): Promise<number> {
    const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
    const m = new RegExp(`gateway_protocol_messages_total\\{protocol="modbus",outcome="${outcome}"\\} (\\d+)`).exec(text);
    return Number(m?.[1] ?? 0);
  }
  async function readings(id: string): Promise<Array<Record<string, unknown>>> {
    const res = await t.api('GET', `/api/v1/devices/${id}/telemetry?limit=100000`);
    expect(res.status).toBe(200);
    return res.body.rows;
  }
  const status = (id: string) => t.gw.protocols.modbus.status().find((s) => s.device === id)!;

  beforeAll(async () => {
    sim = new PumpController();
    const port = await sim.start();
    const unreachable = await closedPort();
    t = await startTestGateway({
      protocols: {
        modbus: {
          models: { 'pump-plc-std': FAST },
          targets: [
            { device: 'pump-1', host: '127.0.0.1', port },
            { device: 'pump-2', host: '127.0.0.1', port: unreachable },
          ],
          reconnect: RECONNECT,
        },
      },
    });
    await registerDevice(t, { id: 'pump-1', kind: 'water_pump', model: 'pump-plc-std', siteId: 'site-m' });
    await registerDevice(t, { id: 'pump-2', kind: 'water_pump', model: 'pump-plc-std', siteId: 'site-m' });
  });
  afterAll(async () => {
    await t?.dispose();
    await sim?.close();
  });

  it('stores the controller\'s registers as water_pump readings', async () => {
    const rows = await waitFor(async () => { const r = await readings('pump-1'); return r.length >= 2 && r; });
    expect(rows.at(-1)).toMatchObject({
      inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false,
      turbidity: 0.3, chlorine: 0.4, ph: 7.2, temperature: 18.5, humidity: 55,
    });
    expect(await metric('poll_ok')).toBeGreaterThanOrEqual(2);
    expect(await metric('accepted')).toBeGreaterThanOrEqual(2);
    expect(status('pump-1')).toMatchObject({ connected: true, consecutiveFailures: 0, lastError: undefined, model: 'pump-plc-std' });
    const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(text).toMatch(/gateway_protocol_connections\{protocol="modbus"\} 1\b/);
  });

  it('a pump fault set on the controller raises water.pump_fault', async () => {
    sim.set({ pumpFault: true, pumpsRunning: 1 });
    const alert = await waitFor(async () => (await t.api('GET', '/api/v1/alerts?deviceId=pump-1&type=water.pump_fault')).body.items[0]);
    expect(alert).toMatchObject({ deviceId: 'pump-1', type: 'water.pump_fault' });
    const rows = await readings('pump-1');
    expect(rows.at(-1)).toMatchObject({ pumpFault: true, pumpsRunning: 1 });
    sim.set({ pumpFault: false, pumpsRunning: 2 });
  });

  it('an unreachable controller is counted as failed polls while the other keeps its rhythm', async () => {
    await waitFor(async () => (await metric('poll_failed')) >= 3);
    expect(status('pump-2')).toMatchObject({ connected: false, lastOkAt: undefined, lastError: expect.stringMatching(/ECONNREFUSED/) });
    expect(status('pump-2').consecutiveFailures).toBeGreaterThanOrEqual(3);
    // pump-1 goes on: new readings arrive after pump-2 had failed three times
    const before = (await readings('pump-1')).length;
    await waitFor(async () => (await readings('pump-1')).length >= before + 3);
    expect(status('pump-1').consecutiveFailures).toBe(0);
  });

  it('admins read each controller\'s state over the API, with the device\'s name; others may not', async () => {
    const res = await t.api('GET', '/api/v1/protocols/modbus');
    expect(res.status).toBe(200);
    expect(res.body.polling).toBe(true);
    const failing = res.body.targets.find((s: { device: string }) => s.device === 'pump-2');
    expect(failing).toMatchObject({ deviceName: 'pump-2', connected: false, lastError: expect.stringMatching(/ECONNREFUSED/) });
    const token = (await t.api('POST', '/api/v1/accounts', { id: 'modbus-prop', role: 'property', scope: 'company-1' })).body.token as string;
    expect((await t.api('GET', '/api/v1/protocols/modbus', undefined, token)).status).toBe(403);
    expect((await t.api('GET', '/api/v1/protocols/modbus', undefined, '')).status).toBe(401);
  });

  it('a controller that stops answering is counted as timeouts and recovers when it answers again', async () => {
    const timeoutsBefore = await metric('poll_timeout');
    sim.setSilent(true);
    await waitFor(async () => (await metric('poll_timeout')) >= timeoutsBefore + 2);
    expect(status('pump-1').lastError).toMatch(/no answer within 250 ms/);
    expect(status('pump-1').consecutiveFailures).toBeGreaterThanOrEqual(2);
    sim.setSilent(false);
    const resumed = Date.now();
    await waitFor(() => (status('pump-1').lastOkAt ?? 0) >= resumed && status('pump-1').consecutiveFailures === 0);
    await waitFor(async () => (await readings('pump-1')).some((r) => (r.ts as number) >= resumed));
    expect(status('pump-1')).toMatchObject({ connected: true, lastError: undefined });
  });

  it('a Modbus exception is a failed poll on a link that stays up', async () => {
    const failedBefore = await metric('poll_failed');
    sim.setException(4);
    await waitFor(() => /Modbus exception 4/.test(status('pump-1').lastError ?? ''));
    expect(status('pump-1').connected).toBe(true);
    expect(await metric('poll_failed')).toBeGreaterThan(failedBefore);
    sim.setException(undefined);
    const cleared = Date.now();
    await waitFor(() => (status('pump-1').lastOkAt ?? 0) >= cleared);
    expect(status('pump-1')).toMatchObject({ connected: true, consecutiveFailures: 0 });
  });
});

/** A DeviceIngress that records what the poller hands it (the seam the poller is written against). */
class RecordingIngress implements DeviceIngress {
  devices = new Map<string, FieldDevice>();
  submitted: Array<{ device: string; objects: readonly Record<string, unknown>[] }> = [];
  rejected: ProtocolRejection[] = [];
  counts = new Map<string, number>();
  open = 0;
  byId(id: string) { return this.devices.get(id); }
  byImei() { return undefined; }
  byUitdAddress() { return undefined; }
  async submit(device: FieldDevice, _channel: string, objects: readonly Record<string, unknown>[]) {
    this.submitted.push({ device: device.id, objects });
    return { accepted: objects.length, rejections: [] };
  }
  async submitPayload() { return { accepted: 0, rejections: [] }; }
  heartbeat() {}
  async connected() {}
  disconnected() {}
  reject(r: ProtocolRejection) { this.rejected.push(r); this.count(r.protocol, r.reason); }
  count(_p: string, outcome: string, n = 1) { this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + n); }
  connections(_p: string, delta: number) { this.open += delta; }
  n(outcome: string) { return this.counts.get(outcome) ?? 0; }
}

describe('the Modbus poller on its own', () => {
  let sim: PumpController;
  let port: number;
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    sim = new PumpController();
    port = await sim.start();
  });
  afterAll(async () => { await sim.close(); });

  function poller(ingress: RecordingIngress, settings: ModbusSettingsInput): ModbusPoller {
    return new ModbusPoller({ ingress, log, settings: modbusSettingsSchema.parse({ reconnect: RECONNECT, ...settings }) });
  }

  it('reports an unknown device and a device without a map once each, and polls it once it is registered', async () => {
    const ingress = new RecordingIngress();
    const p = poller(ingress, { models: { 'pump-plc-std': FAST }, targets: [{ device: 'late', host: '127.0.0.1', port }] });
    p.start();
    try {
      await waitFor(() => /not registered/.test(p.status()[0]!.lastError ?? ''));
      ingress.devices.set('late', { id: 'late', kind: 'water_pump', model: 'no-such-model' });
      await waitFor(() => ingress.rejected.length === 1);
      expect(ingress.rejected[0]).toMatchObject({ protocol: 'modbus', reason: 'undecodable', deviceId: 'late', message: expect.stringMatching(/no-such-model/) });
      // a device whose kind the map does not fill
      ingress.devices.set('late', { id: 'late', kind: 'fire_water', model: 'pump-plc-std' });
      await waitFor(() => ingress.rejected.length === 2);
      expect(ingress.rejected[1]!.message).toMatch(/pressure/);
      expect(ingress.submitted).toEqual([]);
      ingress.devices.set('late', { id: 'late', kind: 'water_pump', model: 'pump-plc-std' });
      await waitFor(() => ingress.submitted.length >= 2);
      // each problem was reported once, though the target was looked at again and again meanwhile
      expect(ingress.rejected).toHaveLength(2);
      expect(ingress.submitted[0]!.objects[0]).toMatchObject({ outletPressure: 0.45, ts: expect.any(Number) });
      expect(ingress.n('poll_ok')).toBeGreaterThanOrEqual(2);
    } finally {
      await p.stop();
    }
  });

  it('stop closes the sockets and cancels the timers; start polls again', async () => {
    const ingress = new RecordingIngress();
    ingress.devices.set('p', { id: 'p', kind: 'water_pump', model: 'pump-plc-std' });
    const p = poller(ingress, { models: { 'pump-plc-std': FAST }, targets: [{ device: 'p', host: '127.0.0.1', port }] });
    p.start();
    await waitFor(() => ingress.submitted.length >= 1 && ingress.open === 1);
    await p.stop();
    expect(ingress.open).toBe(0);
    expect(p.status()[0]!.connected).toBe(false);
    await waitFor(() => sim.connections === 0);
    const served = sim.requestsServed;
    p.start();
    await waitFor(() => sim.requestsServed > served && ingress.open === 1);
    await p.stop();
    expect(ingress.open).toBe(0);
  });

  it('an address the controller does not define is refused with exception 2 and counted, the rest of the fleet unaffected', async () => {
    const ingress = new RecordingIngress();
    ingress.devices.set('odd', { id: 'odd', kind: 'water_pump', model: 'odd-map' });
    ingress.devices.set('std', { id: 'std', kind: 'water_pump', model: 'pump-plc-std' });
    const builtin = modbusSettingsSchema.parse({}).models['pump-plc-std']!.registers;
    const other = new PumpController();
    const otherPort = await other.start();
    const p = poller(ingress, {
      models: {
        'pump-plc-std': FAST,
        'odd-map': { ...FAST, registers: [...builtin, { field: 'outletPressureHigh', area: 'input', address: 40 }] },
      },
      targets: [{ device: 'odd', host: '127.0.0.1', port }, { device: 'std', host: '127.0.0.1', port: otherPort }],
    });
    p.start();
    try {
      await waitFor(() => ingress.n('poll_failed') >= 2 && ingress.submitted.filter((s) => s.device === 'std').length >= 2);
      const odd = p.status().find((s) => s.device === 'odd')!;
      expect(odd.lastError).toMatch(/input 40\+1: Modbus exception 2/);
      expect(odd.connected).toBe(true);
      expect(ingress.submitted.filter((s) => s.device === 'odd')).toEqual([]);
    } finally {
      await p.stop();
      await other.close();
    }
  });

  it('a register value the map does not name: a required field makes the reading a dead letter, rate-limited', async () => {
    const ingress = new RecordingIngress();
    ingress.devices.set('m', { id: 'm', kind: 'water_pump', model: 'mapped' });
    const builtin = modbusSettingsSchema.parse({}).models['pump-plc-std']!.registers.filter((r) => r.field !== 'doorOpen');
    const p = poller(ingress, {
      models: { mapped: { ...FAST, kind: 'water_pump', registers: [...builtin, { field: 'doorOpen', address: 3, map: { 0: false, 1: true } }] } },
      targets: [{ device: 'm', host: '127.0.0.1', port }],
    });
    p.start();
    try {
      // pumpsRunning = 2 at address 3: not in the map
      await waitFor(() => ingress.n('undecodable') >= 3);
      expect(ingress.rejected).toHaveLength(1);
      expect(ingress.rejected[0]).toMatchObject({ reason: 'undecodable', deviceId: 'm', message: expect.stringMatching(/doorOpen: raw value 2 is not in the map/) });
      expect(ingress.submitted).toEqual([]);
      expect(ingress.n('poll_ok')).toBeGreaterThanOrEqual(3);
    } finally {
      await p.stop();
    }
  });

  it('logs a run of failures at its start, then at most once per logEveryMs, then its recovery', async () => {
    const lines: Array<{ msg: string; failures?: number }> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)); } });
    const ingress = new RecordingIngress();
    ingress.devices.set('flaky', { id: 'flaky', kind: 'water_pump', model: 'pump-plc-std' });
    const flaky = new PumpController();
    const flakyPort = await flaky.start();
    flaky.setException(6); // busy: refused at every poll, on a link that stays up
    const p = new ModbusPoller({
      ingress, log: capture,
      settings: modbusSettingsSchema.parse({ models: { 'pump-plc-std': { intervalMs: 100 } }, targets: [{ device: 'flaky', host: '127.0.0.1', port: flakyPort }], logEveryMs: 500 }),
    });
    p.start();
    try {
      await waitFor(() => lines.some((l) => /still failing/.test(l.msg)) && ingress.n('poll_failed') >= 10, 10_000);
      const failed = lines.filter((l) => /Modbus poll failed$/.test(l.msg));
      const still = lines.filter((l) => /still failing/.test(l.msg));
      expect(failed).toHaveLength(1);
      expect(still.length).toBeLessThan(ingress.n('poll_failed') / 3);
      flaky.setException(undefined);
      const recovered = await waitFor(() => lines.find((l) => /recovered/.test(l.msg)));
      expect(recovered.failures).toBeGreaterThanOrEqual(10);
    } finally {
      await p.stop();
      await flaky.close();
    }
  });

  it('a silent controller does not slow the others down', async () => {
    const ingress = new RecordingIngress();
    ingress.devices.set('quiet', { id: 'quiet', kind: 'water_pump', model: 'pump-plc-std' });
    ingress.devices.set('busy', { id: 'busy', kind: 'water_pump', model: 'pump-plc-std' });
    const quiet = new PumpController();
    const quietPort = await quiet.start();
    quiet.setSilent(true);
    const p = poller(ingress, {
      models: { 'pump-plc-std': { intervalMs: 100, timeoutMs: 3000 } },
      targets: [{ device: 'quiet', host: '127.0.0.1', port: quietPort }, { device: 'busy', host: '127.0.0.1', port }],
    });
    p.start();
    try {
      // while the quiet one waits out its first 3 s timeout, the busy one is read every 100 ms
      await waitFor(() => ingress.submitted.filter((x) => x.device === 'busy').length >= 5, 5000, 10);
      expect(ingress.n('poll_timeout')).toBe(0);
      await waitFor(() => ingress.n('poll_timeout') >= 1);
      expect(p.status().find((x) => x.device === 'quiet')!.lastError).toMatch(/no answer within 3000 ms/);
    } finally {
      await p.stop();
      await quiet.close();
    }
  });
});

describe('the simulator command', () => {
  it('serves the built-in map with a scenario until its signal stops it', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const running = runModbusSimulator({ port: 0, host: '127.0.0.1', scenario: 'pump-fault', signal: stop.signal }, (l) => lines.push(l));
    const first = await waitFor(() => lines[0]);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(first)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/holding 4 bit 0 \(bool\) pumpFault = true/);
    const client = new ModbusRTU.default();
    await client.connectTCP('127.0.0.1', { port });
    client.setID(1);
    client.setTimeout(1000);
    try {
      const { data } = await client.readHoldingRegisters(0, 10);
      expect(data.slice(0, 5)).toEqual([180, 450, 260, 1, 0b0001]);
    } finally {
      client.close(() => {});
    }
    stop.abort();
    await running;
    expect(lines.at(-1)).toMatch(/stopped/);
  });
});
