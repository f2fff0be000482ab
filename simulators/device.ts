/**
 * One simulated device: a model, an MQTT connection and the device's own habits. It reports a
 * reading every interval (plus jitter, so a fleet does not publish in lockstep), sends events at
 * once and never batches them (a fire alarm must not wait for a batch), numbers every message with
 * its own `seq`, stamps `ts` at send time strictly increasing, and after every (re)connect reports
 * its full state, as terminals do. Scenarios can silence it, make it reconnect, or send malformed
 * payloads from it.
 */
import type { MqttClient } from 'mqtt';
import type { DeviceKind } from '../ingest/index.js';
import { createModel, type DeviceEvent, type DeviceModel } from './models/index.js';
import { closeClient, openDeviceClient, topicsOf, whenConnected } from './device-client.js';

export interface SimDeviceSpec {
  id: string;
  kind: DeviceKind;
  secret: string;
  siteId?: string | undefined;
  building?: string | undefined;
  /** An elevator's rated speed as registered (m/s); its model runs at it. */
  ratedSpeed?: number | undefined;
}

export interface SimClock {
  /** Simulated time (epoch ms) that models run on; runs `timeScale` times faster than the wall clock. */
  simNow(): number;
  readonly timeScale: number;
}

export interface SimDeviceOptions {
  mqttUrl: string;
  /** Simulated ms between readings. */
  intervalMs: number;
  /** ± fraction of the interval added at random to each gap. */
  jitter: number;
  qos: 0 | 1;
  /** Readings per telemetry message (events are always sent alone). */
  batchSize: number;
  seed?: number | string | undefined;
  /**
   * Messages a device holds while it cannot deliver them (disconnected, or waiting for PUBACKs);
   * past it new readings are dropped and counted, as a terminal's ring buffer would.
   */
  maxPending?: number;
}

export interface SentEvent {
  seq: number;
  ts: number;
  event: DeviceEvent;
}

export type MalformedKind = 'not_json' | 'schema' | 'out_of_range' | 'future_timestamp' | 'wrong_topic' | 'mixed_batch' | 'not_object';

/** Events kept for checking a scenario afterwards; older ones are dropped. */
const SENT_EVENTS_KEPT = 2000;

export class SimDevice {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly model: DeviceModel;
  readonly topics: ReturnType<typeof topicsOf>;
  client: MqttClient | undefined;
  seq = 0;
  private lastTs = 0;
  /** A silent device stays connected (keepalives go on) but sends nothing: offline must be seen from missing data. */
  silent = false;
  /** The scenario this device is playing in, if any (a device plays in one at a time). */
  busy: string | undefined;
  /** A scenario may ask for denser reports while it runs (simulated ms). */
  intervalOverride: number | undefined;
  /** Wall-clock time of the next reading. */
  nextDue = 0;
  private batch: string[] = [];
  readonly sentEvents: SentEvent[] = [];
  readonly stats = { readings: 0, events: 0, malformed: 0, acked: 0, errors: 0, connects: 0, dropped: 0 };
  /** Published and not yet acknowledged (QoS 1) or written (QoS 0). */
  pending = 0;
  /** The last connection error; a refused login keeps its MQTT return code (4: bad credentials, 5: not authorised). */
  lastError: { message: string; code?: number } | undefined;
  private readonly onPublished: (err?: Error) => void;
  private readonly opt: { qos: 0 | 1 };
  private drained: Array<() => void> = [];

  constructor(readonly spec: SimDeviceSpec, private readonly opts: SimDeviceOptions, private readonly clock: SimClock, model?: DeviceModel) {
    this.id = spec.id;
    this.kind = spec.kind;
    this.model = model ?? createModel(spec.kind, spec.id, opts.seed === undefined ? undefined : `${opts.seed}:${spec.id}`, spec);
    this.topics = topicsOf(spec.id);
    this.opt = { qos: opts.qos };
    this.onPublished = (err) => {
      this.pending--;
      if (err) this.stats.errors++; else if (this.opt.qos === 1) this.stats.acked++;
      if (this.pending <= 0 && this.drained.length > 0) {
        const waiting = this.drained;
        this.drained = [];
        for (const resolve of waiting) resolve();
      }
    };
  }

  get intervalMs(): number { return this.intervalOverride ?? this.opts.intervalMs; }

  /** Wall-clock ms until the next reading, with jitter. */
  nextGap(random: () => number): number {
    const j = this.opts.jitter;
    return (this.intervalMs * (1 + j * (2 * random() - 1))) / this.clock.timeScale;
  }

  connect(): MqttClient {
    if (this.client) return this.client;
    const client = openDeviceClient(this.opts.mqttUrl, this.spec, { status: true });
    client.on('error', (err: Error & { code?: unknown }) => {
      this.lastError = typeof err.code === 'number' ? { message: err.message, code: err.code } : { message: err.message };
    });
    client.on('connect', () => {
      this.lastError = undefined;
      this.stats.connects++;
      if (!this.silent) this.report();
    });
    this.client = client;
    return client;
  }

  /** The broker refused the login (not a network problem): the secret or the registry is wrong. */
  get refused(): boolean { return this.lastError?.code === 4 || this.lastError?.code === 5; }

  /** Uses a new secret from the next connection attempt on (mqtt.js keeps retrying with its options). */
  setSecret(secret: string): void {
    this.spec.secret = secret;
    if (this.client) this.client.options.password = secret;
  }

  /** Resolves true once connected, false on timeout or as soon as the broker refuses the login. */
  async connected(timeoutMs: number): Promise<boolean> {
    const client = this.connect();
    if (client.connected) return true;
    let onError: (() => void) | undefined;
    const refused = new Promise<boolean>((resolve) => {
      onError = () => { if (this.refused) resolve(false); };
      client.on('error', onError);
    });
    try {
      return await Promise.race([whenConnected(client, timeoutMs).then(() => true, () => false), refused]);
    } finally {
      client.off('error', onError!);
    }
  }

  /** Hands a message to MQTT unless the device's buffer is full; false when dropped. */
  private send(topic: string, payload: string): boolean {
    if (this.pending >= (this.opts.maxPending ?? 1000)) {
      this.stats.dropped++;
      return false;
    }
    this.pending++;
    this.client!.publish(topic, payload, this.opt, this.onPublished);
    return true;
  }

  private stamp(): number {
    const now = Date.now();
    this.lastTs = now > this.lastTs ? now : this.lastTs + 1;
    return this.lastTs;
  }

  /** Steps the model to the simulated now and sends its reading (or adds it to the batch) and its events. */
  report(): void {
    if (this.silent || !this.client) return;
    const out = this.model.step(this.clock.simNow());
    for (const e of out.events) this.sendEvent(e);
    const reading = JSON.stringify({ seq: this.seq++, ts: this.stamp(), ...out.telemetry });
    this.stats.readings++;
    if (this.opts.batchSize <= 1) {
      this.send(this.topics.telemetry, reading);
      return;
    }
    this.batch.push(reading);
    if (this.batch.length >= this.opts.batchSize) this.flush();
  }

  /** Sends the readings waiting for a full batch. */
  flush(): void {
    if (this.batch.length === 0 || !this.client) return;
    this.send(this.topics.telemetry, '[' + this.batch.join(',') + ']');
    this.batch = [];
  }

  /** Publishes an event now, stamped and numbered like every message of this device. */
  sendEvent(event: DeviceEvent): SentEvent | undefined {
    if (this.silent || !this.client) return undefined;
    const sent: SentEvent = { seq: this.seq++, ts: this.stamp(), event };
    if (!this.send(this.topics.events, JSON.stringify({ seq: sent.seq, ts: sent.ts, ...event }))) return undefined;
    this.stats.events++;
    this.sentEvents.push(sent);
    if (this.sentEvents.length > SENT_EVENTS_KEPT) this.sentEvents.splice(0, this.sentEvents.length - SENT_EVENTS_KEPT);
    return sent;
  }

  /** Publishes something the gateway must reject (and explain): the dead-letter path end to end. */
  sendMalformed(kind: MalformedKind): void {
    if (!this.client) return;
    const good = () => ({ seq: this.seq++, ts: this.stamp(), ...this.model.peek(this.clock.simNow()) });
    let topic = this.topics.telemetry;
    let payload: string;
    switch (kind) {
      case 'not_json': payload = `{"seq":${this.seq++},"pressure":0.3,` + 'garbled\u0000'; break;
      case 'not_object': payload = JSON.stringify([42, 'x']); break;
      // a required field missing and another of the wrong type
      case 'schema': { const r = good(); const key = Object.keys(r).find((k) => k !== 'seq' && k !== 'ts')!; delete (r as Record<string, unknown>)[key]; payload = JSON.stringify({ ...r, seq: 'x' }); break; }
      case 'out_of_range': payload = JSON.stringify(outOfRange(this.kind, good())); break;
      case 'future_timestamp': payload = JSON.stringify({ ...good(), ts: Date.now() + 86_400_000 }); break;
      case 'wrong_topic': topic = `devices/${this.id}/commands`; payload = JSON.stringify(good()); break;
      // one bad object between two good ones: the good ones must still be stored
      case 'mixed_batch': payload = JSON.stringify([good(), outOfRange(this.kind, good()), good()]); break;
    }
    if (this.send(topic, payload)) this.stats.malformed++;
  }

  /** Resolves once everything sent so far is acknowledged (QoS 1: stored by the gateway) or written (QoS 0). */
  settled(): Promise<void> {
    if (this.pending <= 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** Drops the connection and connects again (a flaky 4G link, a reboot). */
  async reconnect(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => client.end(true, () => resolve()));
    client.reconnect();
  }

  async close(graceMs = 1000): Promise<void> {
    this.flush();
    if (this.client) await closeClient(this.client, graceMs);
  }
}

/** A reading with one value outside the physical range of the kind's schema. */
function outOfRange(kind: DeviceKind, r: Record<string, unknown>): Record<string, unknown> {
  switch (kind) {
    case 'elevator': return { ...r, floor: 1000 };
    case 'fire_panel': return { ...r, mainPowerOk: 'yes' };
    case 'smoke_detector': return { ...r, battery: 140 };
    case 'fire_water': return { ...r, pressure: -0.2 };
    case 'water_pump': return { ...r, ph: 15 };
    case 'drainage': return { ...r, level: -0.5 };
  }
}
