/**
 * A city's fleet in one process: thousands of devices, each one TCP socket with `mqtt-packet` (no
 * mqtt.js client per device: its timers and stores cost more than the device), publishing one valid
 * QoS 1 reading every `intervalMs` and reconnecting with the recommended back-off
 * (docs/performance.md, "Recommended device back-off"): exponential with full jitter, the n-th
 * consecutive failure waits a random time in [0, min(cap, base × 2^n)); a CONNACK 3 "server
 * unavailable", a refused or dropped connection and a login that does not answer all count as failures.
 *
 * Devices are spread over several loopback source addresses (127.0.0.2, 127.0.0.3, ...), so the
 * gateway's per-address guards meet a realistic spread instead of one address with 15,000 sockets.
 * Every acknowledged reading's `ts` is kept, so the benchmark can check the store has each of them.
 */
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { DeviceKind } from '../../ingest/index.js';
import { sampleTelemetry } from '../../simulators/samples.js';
import { serve, settledRss } from './ipc.js';

export interface FleetOptions {
  host: string;
  port: number;
  devices: Array<{ id: string; secret: string; kind: DeviceKind }>;
  /** Source addresses; device i uses addresses[i % length]. */
  addresses: string[];
  intervalMs: number;
  /** Back-off: first retry within baseMs, doubling per consecutive failure up to capMs. */
  baseMs: number;
  capMs: number;
  /** false: wait the whole min(cap, base × 2^n) (no jitter), to compare a naive client with the recommendation. */
  jitter: boolean;
  /** A login with no CONNACK after this long is abandoned (a failure). */
  connackTimeoutMs: number;
  /** Devices connecting at once during the first connection (not after a drop: then the back-off spreads them). */
  initialConcurrency: number;
}

/** Readings kept while disconnected (older ones are dropped and counted): the device's own buffer. */
const QUEUE_LIMIT = 8;

class Device {
  socket: Socket | undefined;
  parser: ReturnType<typeof mqttPacket.parser> | undefined;
  connected = false;
  failures = 0;
  nextPublishAt = 0;
  lastTs = 0;
  nextId = 1;
  /** Readings not yet acknowledged, by packet id (0: not sent on the current connection). */
  pending: Array<{ ts: number; body: string; id: number }> = [];
  acked: number[] = [];
  retryTimer: NodeJS.Timeout | undefined;
  connackTimer: NodeJS.Timeout | undefined;
  constructor(readonly index: number, readonly id: string, readonly secret: string, readonly tail: string, readonly address: string) {}
}

let opts: FleetOptions;
let devices: Device[] = [];
let running = false;
let tick: NodeJS.Timeout | undefined;
const stats = { connected: 0, everConnected: 0, attempts: 0, connacks: {} as Record<string, number>, closedBeforeConnack: 0, dropped: 0, connackTimeouts: 0, published: 0, acknowledged: 0, queueDropped: 0, socketErrors: {} as Record<string, number> };
/** The storm: when it began (the first drop after `armStorm`) and when the last device was back. */
let storm: { armedAt: number; down: Set<number>; lastBackAt: number; backoffMs: number[]; backPerSecond: number[] } | undefined;

function backoffDelay(failures: number): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(failures, 30));
  return opts.jitter ? Math.random() * ceiling : ceiling;
}

function schedule(d: Device): void {
  if (!running) return;
  const delay = backoffDelay(d.failures);
  if (storm?.down.has(d.index)) storm.backoffMs.push(delay);
  d.failures++;
  d.retryTimer = setTimeout(() => { d.retryTimer = undefined; open(d); }, delay);
}

function send(d: Device, packet: object): void {
  d.socket?.write(mqttPacket.generate(packet as Parameters<typeof mqttPacket.generate>[0]));
}

function publish(d: Device, p: Device['pending'][number]): void {
  p.id = d.nextId;
  d.nextId = d.nextId === 65535 ? 1 : d.nextId + 1;
  stats.published++;
  send(d, { cmd: 'publish', topic: `devices/${d.id}/telemetry`, payload: p.body, qos: 1, messageId: p.id, retain: false, dup: false });
}

function lost(d: Device, why: 'refused' | 'dropped'): void {
  if (d.connackTimer) { clearTimeout(d.connackTimer); d.connackTimer = undefined; }
  const wasConnected = d.connected;
  d.socket?.removeAllListeners();
  d.socket?.destroy();
  d.socket = undefined;
  d.parser = undefined;
  for (const p of d.pending) p.id = 0;
  if (wasConnected) {
    d.connected = false;
    stats.connected--;
    stats.dropped++;
    d.failures = 0;
    if (storm && storm.armedAt === 0) storm.armedAt = performance.now();
    storm?.down.add(d.index);
  } else if (why === 'dropped') stats.closedBeforeConnack++;
  schedule(d);
}

function open(d: Device): void {
  if (!running) return;
  stats.attempts++;
  const socket = connect({ host: opts.host, port: opts.port, localAddress: d.address });
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  d.socket = socket;
  d.parser = parser;
  socket.on('connect', () => {
    send(d, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.id, keepalive: 120, username: d.id, password: Buffer.from(d.secret) });
    d.connackTimer = setTimeout(() => { stats.connackTimeouts++; lost(d, 'refused'); }, opts.connackTimeoutMs);
  });
  socket.on('data', (b: Buffer) => parser.parse(b));
  socket.on('error', (err: NodeJS.ErrnoException) => { const k = err.code ?? 'other'; stats.socketErrors[k] = (stats.socketErrors[k] ?? 0) + 1; });
  socket.on('close', () => { if (d.socket === socket) lost(d, 'dropped'); });
  parser.on('packet', (packet: mqttPacket.Packet) => {
    if (packet.cmd === 'connack') {
      const code = String((packet as mqttPacket.IConnackPacket).returnCode ?? 0);
      stats.connacks[code] = (stats.connacks[code] ?? 0) + 1;
      if (d.connackTimer) { clearTimeout(d.connackTimer); d.connackTimer = undefined; }
      if (code !== '0') return lost(d, 'refused');
      d.connected = true;
      d.failures = 0;
      stats.connected++;
      if (d.nextPublishAt === 0) { stats.everConnected++; d.nextPublishAt = Date.now() + Math.random() * opts.intervalMs; }
      if (storm?.down.delete(d.index)) {
        const now = performance.now();
        const second = Math.floor((now - storm.armedAt) / 1000);
        storm.backPerSecond[second] = (storm.backPerSecond[second] ?? 0) + 1;
        if (storm.down.size === 0) storm.lastBackAt = now;
      }
      for (const p of d.pending) publish(d, p);
    } else if (packet.cmd === 'puback') {
      const id = (packet as mqttPacket.IPubackPacket).messageId;
      const i = d.pending.findIndex((p) => p.id === id);
      if (i < 0) return;
      d.acked.push(d.pending[i]!.ts);
      d.pending.splice(i, 1);
      stats.acknowledged++;
    }
  });
}

/** Every 250 ms: the devices whose reading is due make it, and send it if they are connected. */
function turn(): void {
  const now = Date.now();
  for (const d of devices) {
    if (d.nextPublishAt === 0 || d.nextPublishAt > now) continue;
    d.nextPublishAt += opts.intervalMs;
    const ts = now > d.lastTs ? now : d.lastTs + 1;
    d.lastTs = ts;
    const p = { ts, body: '{"ts":' + ts + d.tail, id: 0 };
    if (d.pending.length >= QUEUE_LIMIT) { d.pending.shift(); stats.queueDropped++; }
    d.pending.push(p);
    if (d.connected) publish(d, p);
  }
}

serve({
  /** Starts connecting (at most `initialConcurrency` at a time) and answers when every device is connected once. */
  async start(o: FleetOptions) {
    opts = o;
    running = true;
    devices = o.devices.map((dev, i) => {
      const { seq: _s, ts: _t, ...rest } = sampleTelemetry(dev.kind);
      const json = JSON.stringify(rest);
      return new Device(i, dev.id, dev.secret, json.length > 2 ? ',' + json.slice(1) : '}', o.addresses[i % o.addresses.length]!);
    });
    tick = setInterval(turn, 250);
    const started = performance.now();
    // a first connection wave limited in concurrency: a fleet installed over months does not log in all at once
    let next = 0;
    await new Promise<void>((resolve) => {
      const step = () => {
        while (next < devices.length && next - stats.everConnected < o.initialConcurrency) open(devices[next++]!);
        if (stats.everConnected === devices.length) return resolve();
        setTimeout(step, 5);
      };
      step();
    });
    return { ms: performance.now() - started, ...status() };
  },
  status: () => status(),
  /** From now on, the first connection lost starts the storm clock; it stops when every dropped device is back. */
  armStorm() {
    storm = { armedAt: 0, down: new Set(), lastBackAt: 0, backoffMs: [], backPerSecond: [] };
    for (const k of Object.keys(stats.connacks)) delete stats.connacks[k];
    stats.attempts = 0; stats.closedBeforeConnack = 0; stats.connackTimeouts = 0; stats.dropped = 0;
    return true;
  },
  /** Waits until every device is connected again (or the timeout): seconds from the first drop to the last return. */
  async waitStorm(args: { timeoutMs: number }) {
    const deadline = performance.now() + args.timeoutMs;
    while (storm && (storm.down.size > 0 || storm.armedAt === 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const s = storm!;
    const sorted = [...s.backoffMs].sort((a, b) => a - b);
    return {
      back: s.down.size === 0 && s.armedAt > 0, stillDown: s.down.size, seconds: s.lastBackAt > 0 ? (s.lastBackAt - s.armedAt) / 1000 : undefined,
      // on the wall clock, which the processes share (their performance.now() does not)
      lastBackEpochMs: s.lastBackAt > 0 ? Date.now() - (performance.now() - s.lastBackAt) : undefined,
      retries: s.backoffMs.length, maxBackoffMs: sorted[sorted.length - 1] ?? 0, backPerSecond: Array.from(s.backPerSecond, (n) => n ?? 0), ...status(),
    };
  },
  /** Stops making readings, waits for what is in flight, closes every socket; answers each device's acknowledged `ts`s. */
  async stop(args: { drainMs: number }) {
    if (tick) clearInterval(tick);
    const deadline = performance.now() + args.drainMs;
    while (devices.some((d) => d.connected && d.pending.length > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    running = false;
    const unacknowledged = devices.reduce((a, d) => a + d.pending.length, 0);
    for (const d of devices) {
      if (d.retryTimer) clearTimeout(d.retryTimer);
      if (d.connackTimer) clearTimeout(d.connackTimer);
      d.socket?.removeAllListeners();
      d.socket?.destroy();
    }
    return { acked: Object.fromEntries(devices.map((d) => [d.id, d.acked])), unacknowledged, ...status() };
  },
  rss: () => settledRss(),
});

function status() {
  return { devices: devices.length, ...stats, connacks: { ...stats.connacks }, socketErrors: { ...stats.socketErrors } };
}
