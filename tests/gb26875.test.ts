/**
 * GB/T 26875.3 end to end: the real gateway with its TCP listener on an ephemeral port, a fire_panel
 * registered with the worked example's UITD address, and the simulated transmission device.
 * Negative checks are made after a later frame's answer has arrived (frames on one connection are
 * handled in order), never by waiting and hoping nothing happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { pino } from 'pino';
import { CMD, Gb26875Server, encodeComponentStates, encodeFrame, gb26875SettingsSchema } from '../protocols/gb26875/index.js';
import type { DeviceIngress, FieldDevice, ProtocolRejection, SubmitResult } from '../protocols/ingress.js';
import { Gb26875Device, runGb26875Simulator } from '../simulators/gb26875/device.js';
import { registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';

const ADDRESS = '40e201000000';
const OTHER = '0102030405ff';
let t: TestGateway;
let port: number;

beforeAll(async () => {
  t = await startTestGateway({ protocols: { gb26875: { port: 0, host: '127.0.0.1', maxBadFramesPerMinute: 5, deadLettersPerMinute: 3 } } });
  port = t.gw.protocols.gb26875Port()!;
  await registerDevice(t, { id: 'uitd-1', kind: 'fire_panel', uitdAddress: ADDRESS });
  await registerDevice(t, { id: 'uitd-2', kind: 'fire_panel', uitdAddress: '11e201000000' });
});
afterAll(async () => {
  await t.dispose();
});

const device = async (address = ADDRESS) => {
  const d = new Gb26875Device({ host: '127.0.0.1', port, address, timeoutMs: 5000, retries: 0 });
  await d.connect();
  return d;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const alerts = async (deviceId: string, type: string): Promise<Any[]> => (await t.api('GET', `/api/v1/alerts?deviceId=${deviceId}&type=${type}`)).body.items;
const deadLetters = async (deviceId?: string): Promise<Any[]> => (await t.api('GET', `/api/v1/dead-letters${deviceId ? `?deviceId=${deviceId}` : ''}`)).body.items;

describe('GB/T 26875.3 server', () => {
  it('is listening on the configured (ephemeral) port', () => {
    expect(port).toBeGreaterThan(0);
  });

  it('confirms a fire alarm only once it is stored, and raises fire.alarm for its zone', async () => {
    const d = await device();
    const reply = await d.sendComponentState({ compAddr: 0x102, state: 0x0003, description: '一层走廊' });
    expect(reply).toMatchObject({ command: CMD.confirm, serial: 1, source: '000000000000', destination: ADDRESS });
    expect(reply.adu.length).toBe(0);
    // the 确认 came after the submit resolved, and the rules run before it resolves: the alert is there
    const raised = await alerts('uitd-1', 'fire.alarm');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ type: 'fire.alarm', subject: '一层走廊' });
    expect(raised[0].details).toMatchObject({ zone: '一层走廊', point: '258', component: '点型光电感烟火灾探测器' });
    const dev = (await t.api('GET', '/api/v1/devices/uitd-1')).body;
    expect(dev.online).toBe(true);
    await d.close();
  });

  it('confirms a retransmission again without storing it twice', async () => {
    const d = await device();
    const serial = d.nextSerial();
    const adu = encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: 23, compAddr: 77, state: 0x0003, at: Date.now() }]);
    const frame = encodeFrame({ serial, time: Date.now(), source: ADDRESS, destination: '000000000000', command: CMD.send, adu });
    d.sendRaw(frame);
    expect(await d.waitReply(serial)).toMatchObject({ command: CMD.confirm });
    // the same frame restamped, as a device retransmitting it may do
    d.sendRaw(encodeFrame({ serial, time: Date.now() + 3000, source: ADDRESS, destination: '000000000000', command: CMD.send, adu }));
    expect(await d.waitReply(serial)).toMatchObject({ command: CMD.confirm });
    const zone = '系统1-1/部件77';
    const raised = (await alerts('uitd-1', 'fire.alarm')).filter((a) => a.subject === zone);
    expect(raised).toHaveLength(1);
    expect(raised[0].count).toBe(1);
    await d.close();
  });

  it('answers a bad checksum with 否认 and a bad_frame dead letter; the connection still works', async () => {
    const d = await device();
    await d.sendHeartbeat(); // the connection's device is known from here
    const serial = d.nextSerial();
    const frame = encodeFrame({ serial, time: Date.now(), source: ADDRESS, destination: '000000000000', command: CMD.send,
      adu: encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: 42, compAddr: 5, state: 0x0005, at: Date.now() }]) });
    frame[40] = frame[40]! ^ 0x01;
    d.sendRaw(frame);
    const deny = await d.waitReply(serial);
    expect(deny).toMatchObject({ command: CMD.deny, serial, destination: ADDRESS });
    const letters = await deadLetters('uitd-1');
    const letter = letters.find((l: Any) => l.payload === frame.toString('hex'));
    expect(letter).toMatchObject({ deviceId: 'uitd-1', reason: 'bad_frame' });
    expect(letter.message).toMatch(/校验和错误.*checksum/);
    // nothing of the damaged frame was stored: no fault for component 5, even after the next good frame
    const next = await d.sendComponentState({ compAddr: 6, state: 0x0005 });
    expect(next).toMatchObject({ command: CMD.confirm });
    const faults = await alerts('uitd-1', 'fire.fault');
    expect(faults.map((a) => a.subject)).toEqual(['系统1-1/部件6']);
    await d.close();
  });

  it('a test fire (bit0 = 0) is stored as a test: no alert to the fire service', async () => {
    const d = await device();
    expect(await d.sendComponentState({ compAddr: 9, state: 0x0002, description: '测试区' })).toMatchObject({ command: CMD.confirm });
    const raised = (await alerts('uitd-1', 'fire.alarm')).filter((a) => a.subject === '测试区');
    expect(raised).toHaveLength(1);
    expect(raised[0].details.testMode).toBe(true);
    await d.close();
  });

  it('refuses an unknown UITD address with 否认 and an unknown_device dead letter', async () => {
    const d = await device(OTHER);
    const reply = await d.sendComponentState({ compAddr: 1, state: 0x0003 });
    expect(reply).toMatchObject({ command: CMD.deny, destination: OTHER });
    const letters = await deadLetters();
    expect(letters.find((l: Any) => l.reason === 'unknown_device' && l.message.includes(OTHER))).toBeTruthy();
    await d.close();
  });

  it('a heartbeat (cmd 2, L = 0) and a type 21 state are confirmed and keep the device seen', async () => {
    const d = await device('11e201000000');
    expect(await d.sendUitdState(0x01)).toMatchObject({ command: CMD.confirm });
    const first = await waitFor(async () => (await t.api('GET', '/api/v1/devices/uitd-2')).body.lastSeenAt as number | null) as number;
    await new Promise((r) => setTimeout(r, 5)); // a later millisecond for the next heartbeat to move lastSeenAt
    expect(await d.sendHeartbeat()).toMatchObject({ command: CMD.confirm });
    await waitFor(async () => ((await t.api('GET', '/api/v1/devices/uitd-2')).body.lastSeenAt as number) > first);
    expect((await t.api('GET', '/api/v1/devices/uitd-2')).body.online).toBe(true);
    await d.close();
    await waitFor(async () => (await t.api('GET', '/api/v1/devices/uitd-2')).body.online === false);
  });

  it('the simulator runs a scenario against the gateway and prints the answer', async () => {
    const lines: string[] = [];
    await runGb26875Simulator({ host: '127.0.0.1', port, address: ADDRESS, scenario: 'fault', zone: '二层配电间', point: 12 }, (l) => lines.push(l));
    expect(lines.at(-1)).toMatch(/故障 \/ fault: 确认 \/ confirmed/);
    expect((await alerts('uitd-1', 'fire.fault')).map((a) => a.subject)).toContain('二层配电间');
  });

  it('ends the connection of a device disabled since it connected, storing nothing more from it', async () => {
    await registerDevice(t, { id: 'uitd-3', kind: 'fire_panel', uitdAddress: '33e201000000' });
    const d = await device('33e201000000');
    expect(await d.sendHeartbeat()).toMatchObject({ command: CMD.confirm });
    expect((await t.api('PATCH', '/api/v1/devices/uitd-3', { disabled: true })).status).toBe(200);
    await expect(d.sendComponentState({ compAddr: 5, state: 0x0003, description: '三层' })).rejects.toThrow();
    await d.whenClosed();
    expect(d.closed).toBe(true);
    expect(await alerts('uitd-3', 'fire.alarm')).toHaveLength(0);
  });

  it('closes a connection flooding garbage, with dead letters capped per minute', async () => {
    const before = (await deadLetters()).length;
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    // runs of garbage, each its own bad frame: more than maxBadFramesPerMinute (5)
    for (let i = 0; i < 20 && !socket.destroyed; i++) {
      socket.write(Buffer.concat([Buffer.alloc(100, 0x23), Buffer.from('@@'), Buffer.alloc(26, 0xff)]));
      await new Promise((r) => setTimeout(r, 2));
    }
    await closed;
    const after = (await deadLetters()).length;
    expect(after - before).toBeLessThanOrEqual(3);
    expect(after - before).toBeGreaterThan(0);
  });
});

/**
 * The server against a scripted ingress (the adapter's one seam): what the real gateway cannot be
 * made to do on cue, such as a store that refuses a write, and the timeouts with short settings.
 */
describe('GB/T 26875.3 server against a scripted ingress', () => {
  const panel: FieldDevice = { id: 'p1', kind: 'fire_panel', model: undefined };

  function scripted() {
    const submits: { objects: readonly Record<string, unknown>[]; settle: { resolve: (r: SubmitResult) => void; reject: (e: Error) => void } }[] = [];
    const submitted: (() => void)[] = [];
    const rejections: ProtocolRejection[] = [];
    const counts: string[] = [];
    const ingress: DeviceIngress = {
      byId: () => undefined, byImei: () => undefined,
      byUitdAddress: (a) => (a === ADDRESS ? panel : undefined),
      submit: (_d, _c, objects) => new Promise<SubmitResult>((resolve, reject) => {
        submits.push({ objects, settle: { resolve, reject } });
        submitted.shift()?.();
      }),
      submitPayload: () => Promise.reject(new Error('unused')),
      heartbeat: () => { counts.push('heartbeat'); },
      connected: async () => {}, disconnected: () => {},
      reject: (r) => { rejections.push(r); counts.push(r.reason); },
      count: (_p, outcome) => { counts.push(outcome); },
      connections: () => {},
    };
    /** Resolves when the next submit call arrives. */
    const nextSubmit = () => new Promise<void>((r) => submitted.push(r));
    return { ingress, submits, rejections, counts, nextSubmit };
  }

  async function serve(ingress: DeviceIngress, settings: Record<string, unknown> = {}) {
    const server = new Gb26875Server({ ingress, settings: gb26875SettingsSchema.parse({ port: 0, host: '127.0.0.1', ...settings }), log: pino({ level: 'silent' }) });
    await server.start();
    return server;
  }

  it('sends no 确认 while the frame is being stored, and none when the store refuses it; the retransmission is stored and confirmed', async () => {
    const s = scripted();
    const server = await serve(s.ingress);
    const d = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS, timeoutMs: 5000, retries: 0 });
    await d.connect();
    const serial = d.nextSerial();
    const frame = encodeFrame({ serial, time: Date.now(), source: ADDRESS, destination: '000000000000', command: CMD.send,
      adu: encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: 42, compAddr: 1, state: 0x0003, at: Date.now() }]) });
    const reply = d.waitReply(serial, 5000);
    let answered = false;
    reply.then(() => { answered = true; }, () => {});
    let submitted = s.nextSubmit();
    d.sendRaw(frame);
    await submitted;
    s.submits[0]!.settle.reject(new Error('store down'));
    // a later frame's answer: had the first been answered, its reply would have come before
    expect(await d.sendHeartbeat()).toMatchObject({ command: CMD.confirm });
    expect(answered).toBe(false);
    submitted = s.nextSubmit();
    d.sendRaw(frame); // the device retransmits: same serial, same bytes
    await submitted;
    expect(answered).toBe(false);
    s.submits[1]!.settle.resolve({ accepted: 1, rejections: [] });
    expect(await reply).toMatchObject({ command: CMD.confirm, serial });
    expect(s.submits.map((x) => x.objects[0]!.type)).toEqual(['fire_alarm', 'fire_alarm']);
    expect(s.counts).not.toContain('duplicate');
    await d.close();
    await server.close();
  });

  it('the simulated device retransmits with the same serial when no 确认 comes', async () => {
    const s = scripted();
    const server = await serve(s.ingress);
    const d = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS, timeoutMs: 200, retries: 3 });
    await d.connect();
    const first = s.nextSubmit();
    const sending = d.sendComponentState({ compAddr: 3, state: 0x0003 });
    await first;
    const second = s.nextSubmit();
    s.submits[0]!.settle.reject(new Error('store down'));
    await second; // the retransmission, after the device's 200 ms timeout
    s.submits[1]!.settle.resolve({ accepted: 1, rejections: [] });
    expect(await sending).toMatchObject({ command: CMD.confirm, serial: 1 });
    expect(d.sent).toBe(2);
    await d.close();
    await server.close();
  });

  it('closes a connection that sends no good frame in time, and one that stays idle', async () => {
    const s = scripted();
    const server = await serve(s.ingress, { firstFrameTimeoutMs: 100, idleTimeoutMs: 1000 });
    const silent = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS });
    await silent.connect();
    await silent.whenClosed();
    const idle = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS });
    await idle.connect();
    const started = Date.now();
    expect(await idle.sendHeartbeat()).toMatchObject({ command: CMD.confirm });
    await idle.whenClosed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await server.close();
  });

  it('drops an incomplete frame after frameTimeoutMs and finds the frame behind it', async () => {
    const s = scripted();
    const server = await serve(s.ingress, { frameTimeoutMs: 100 });
    const d = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS });
    await d.connect();
    // a frame cut short (its header claims 48 bytes of ADU), then a whole heartbeat
    const cut = encodeFrame({ serial: 7, time: Date.now(), source: ADDRESS, destination: '000000000000', command: CMD.send,
      adu: encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: 42, compAddr: 1, state: 0x0003, at: Date.now() }]) }).subarray(0, 40);
    d.sendRaw(cut);
    d.sendRaw(encodeFrame({ serial: 8, time: Date.now(), source: ADDRESS, destination: '000000000000', command: CMD.send }));
    expect(await d.waitReply(7, 5000)).toMatchObject({ command: CMD.deny });
    expect(await d.waitReply(8, 5000)).toMatchObject({ command: CMD.confirm });
    expect(s.rejections[0]).toMatchObject({ protocol: 'gb26875', reason: 'bad_frame', raw: expect.any(Buffer) });
    await d.close();
    await server.close();
  });

  it('refuses connections past maxConnections', async () => {
    const s = scripted();
    const server = await serve(s.ingress, { maxConnections: 1 });
    const first = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS });
    await first.connect();
    expect(await first.sendHeartbeat()).toMatchObject({ command: CMD.confirm }); // the server holds it
    const second = new Gb26875Device({ host: '127.0.0.1', port: server.port()!, address: ADDRESS });
    await second.connect();
    await second.whenClosed();
    expect(s.counts).toContain('connection_refused');
    expect(first.closed).toBe(false);
    await first.close();
    await server.close();
  });
});
