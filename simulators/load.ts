/**
 * The load generator: many devices publishing valid telemetry as fast as asked, from one process.
 *
 * One scheduler drives all devices: each turn it adds rate × elapsed to a credit and spends it on
 * publishes, round-robin over the devices that are connected and have room in their in-flight
 * window. There is no timer, promise or closure per message; each device has one bound callback.
 * A device that is disconnected fills its window and is skipped until mqtt.js has reconnected and
 * resent what it was holding, so nothing published is lost from the sender's view: the summary
 * counts what the broker acknowledged, what failed and what was still unacknowledged at the end.
 */
import type { MqttClient } from 'mqtt';
import type { DeviceKind } from '../ingest/index.js';
import { sampleTelemetry } from './samples.js';
import { closeClient, openDeviceClient, topicsOf, whenConnected } from './device-client.js';

export interface LoadDevice {
  id: string;
  secret: string;
  kind: DeviceKind;
}

export interface LoadOptions {
  mqttUrl: string;
  devices: LoadDevice[];
  /** Messages per second, total across devices (each message carries `batchSize` readings). */
  ratePerSecond: number;
  /** How long to publish, not counting connecting and draining. */
  durationMs: number;
  qos?: 0 | 1;
  /** Readings per message: 1 sends one JSON object, more sends a JSON array (a batch). */
  batchSize?: number;
  onProgress?: (p: LoadProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** Messages a device may have unacknowledged before it is skipped (QoS 1), or unwritten (QoS 0). */
  inflightWindow?: number;
  /** How long to wait for devices to connect before publishing starts (late ones join when they can). */
  connectTimeoutMs?: number;
  /** After publishing stops, how long to wait for outstanding PUBACKs. */
  drainTimeoutMs?: number;
  /** Devices connecting at the same time (a broker does not like 10,000 CONNECTs in one burst). */
  connectConcurrency?: number;
}

export interface LoadProgress {
  elapsedMs: number;
  published: number;
  acknowledged: number;
  errors: number;
  inflight: number;
  connected: number;
  devices: number;
  /** Messages per second since the previous progress report. */
  rate: number;
}

export interface DeviceLoadSummary {
  /** The `seq` of the last reading sent (readings count from 0), -1 if none was sent. */
  lastSeq: number;
  published: number;
  acknowledged: number;
  errors: number;
}

export interface LoadSummary {
  qos: 0 | 1;
  batchSize: number;
  targetRate: number;
  /** Messages handed to MQTT. */
  published: number;
  /** Readings in those messages (published × batchSize). */
  objects: number;
  /** PUBACKs received (QoS 1; always 0 at QoS 0, which has no acknowledgement). */
  acknowledged: number;
  /** Publishes that failed (e.g. the client was closed with the message unacknowledged). */
  errors: number;
  /** Published but neither acknowledged nor failed when the drain timeout ended the run (QoS 1). */
  unacknowledged: number;
  /** Messages per second over the publishing window. */
  achievedRate: number;
  /** Readings per second over the publishing window. */
  objectRate: number;
  /** The publishing window actually run (shorter when aborted). */
  durationMs: number;
  /** Time spent waiting for the last PUBACKs. */
  drainMs: number;
  devices: number;
  /** Devices connected when publishing started. */
  connectedAtStart: number;
  /** Connection errors reported by mqtt.js (refused logins, resets); the clients kept retrying. */
  connectErrors: number;
  reconnects: number;
  aborted: boolean;
  perDevice: Record<string, DeviceLoadSummary>;
}

/** A device under load; the object shape is fixed so the hot loop stays monomorphic. */
class Sender {
  seq = 0;
  lastTs = 0;
  inflight = 0;
  published = 0;
  acknowledged = 0;
  errors = 0;
  readonly topic: string;
  /** The reading without `seq` and `ts`, rendered once: `,"mode":"normal",...}`. */
  readonly tail: string;
  readonly onDone: (err?: Error) => void;

  constructor(readonly device: LoadDevice, readonly client: MqttClient, private readonly run: LoadRun) {
    this.topic = topicsOf(device.id).telemetry;
    const { seq: _seq, ts: _ts, ...rest } = sampleTelemetry(device.kind);
    const json = JSON.stringify(rest);
    this.tail = json.length > 2 ? ',' + json.slice(1) : '}';
    this.onDone = (err?: Error) => {
      this.inflight--;
      if (err) { this.errors++; run.errors++; } else if (run.qos === 1) { this.acknowledged++; run.acknowledged++; }
      run.wake();
    };
  }

  /** One reading: `ts` strictly increases per device so a time-series store never overwrites a point. */
  reading(now: number): string {
    const ts = now > this.lastTs ? now : this.lastTs + 1;
    this.lastTs = ts;
    return '{"seq":' + this.seq++ + ',"ts":' + ts + this.tail;
  }

  message(now: number, batchSize: number): string {
    if (batchSize === 1) return this.reading(now);
    // a batch holds readings taken over the last few ms, oldest first
    let out = '[';
    for (let i = 0; i < batchSize; i++) out += (i ? ',' : '') + this.reading(now - (batchSize - 1 - i));
    return out + ']';
  }
}

class LoadRun {
  acknowledged = 0;
  errors = 0;
  published = 0;
  private blocked = false;
  private wakeScheduled = false;
  constructor(readonly qos: 0 | 1, private readonly onWake: () => void) {}
  markBlocked(): void { this.blocked = true; }
  wake(): void {
    // a PUBACK frees window space: resume a scheduler that was waiting for it, once per turn
    if (!this.blocked || this.wakeScheduled) return;
    this.blocked = false;
    this.wakeScheduled = true;
    setImmediate(() => { this.wakeScheduled = false; this.onWake(); });
  }
}

/**
 * A late turn (GC, a busy CPU) is made up, up to this much time; time spent blocked by backpressure
 * (every device waiting for PUBACKs or a connection) is not: it shows as a lower achieved rate
 * instead of a burst that would hit the broker just as it recovers.
 */
const MAX_CATCH_UP_SECONDS = 1;
/** Publishes per scheduler turn before yielding to I/O (PUBACKs must get in). */
const MAX_PER_TURN = 500;

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const qos = opts.qos ?? 1;
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 1));
  const rate = opts.ratePerSecond;
  if (!(rate > 0)) throw new RangeError('ratePerSecond must be > 0');
  if (opts.devices.length === 0) throw new RangeError('at least one device is needed');
  const window = opts.inflightWindow ?? 100;
  const progressEvery = opts.progressIntervalMs ?? 1000;

  let connectErrors = 0;
  let reconnects = 0;
  const run = new LoadRun(qos, () => {
    // an ack freed room: do not sit out the rest of the blocked-state timer
    if (timer) { clearTimeout(timer); timer = undefined; }
    schedule(0);
  });
  const senders: Sender[] = [];
  const concurrency = opts.connectConcurrency ?? 100;
  const connectTimeout = opts.connectTimeoutMs ?? 10_000;
  for (let i = 0; i < opts.devices.length; i += concurrency) {
    const wave = opts.devices.slice(i, i + concurrency).map((d) => {
      const client = openDeviceClient(opts.mqttUrl, d, { reconnectPeriodMs: 1000 });
      client.on('error', () => { connectErrors++; });
      client.on('reconnect', () => { reconnects++; });
      senders.push(new Sender(d, client, run));
      return whenConnected(client, connectTimeout).catch(() => undefined);
    });
    if (opts.signal?.aborted) break;
    await Promise.all(wave);
  }
  const connectedAtStart = senders.filter((s) => s.client.connected).length;

  const opt = { qos } as const;
  const start = performance.now();
  let last = start;
  let credit = 0;
  let cursor = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let stopped = false;
  let stopAt = start + opts.durationMs;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => { finish = resolve; });

  const schedule = (delayMs: number) => {
    if (stopped || timer || immediate) return;
    if (delayMs <= 0) immediate = setImmediate(turn);
    else timer = setTimeout(turn, delayMs);
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopAt = Math.min(stopAt, performance.now());
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    finish();
  };

  function turn(): void {
    timer = undefined;
    immediate = undefined;
    const now = performance.now();
    if (now >= stopAt) return stop();
    credit = Math.min(credit + (rate * (now - last)) / 1000, Math.max(1, rate * MAX_CATCH_UP_SECONDS));
    last = now;
    const wall = Date.now();
    const n = senders.length;
    let sent = 0;
    let skipped = 0;
    while (credit >= 1 && sent < MAX_PER_TURN) {
      const s = senders[cursor]!;
      cursor = cursor + 1 === n ? 0 : cursor + 1;
      if (s.inflight >= window || !s.client.connected) {
        if (++skipped >= n) break;
        continue;
      }
      skipped = 0;
      s.inflight++;
      s.published++;
      run.published++;
      credit--;
      sent++;
      s.client.publish(s.topic, s.message(wall, batchSize), opt, s.onDone);
    }
    if (skipped >= n) {
      // every device is waiting for acks or a connection: an ack wakes us, the timer covers reconnects
      credit = Math.min(credit, 1);
      run.markBlocked();
      schedule(5);
    } else if (credit >= 1) {
      schedule(0);
    } else {
      schedule(Math.max(1, Math.ceil((1000 * (1 - credit)) / rate)));
    }
  }

  let lastReport = start;
  let lastPublished = 0;
  const report = () => {
    const now = performance.now();
    const rateNow = ((run.published - lastPublished) * 1000) / Math.max(1, now - lastReport);
    lastReport = now;
    lastPublished = run.published;
    opts.onProgress?.({
      elapsedMs: Math.round(now - start), published: run.published, acknowledged: run.acknowledged, errors: run.errors,
      inflight: senders.reduce((a, s) => a + s.inflight, 0), connected: senders.filter((s) => s.client.connected).length,
      devices: senders.length, rate: Math.round(rateNow),
    });
  };
  const progressTimer = opts.onProgress ? setInterval(report, progressEvery) : undefined;
  const onAbort = () => stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop();
  else {
    // the first turn also ends the run when the duration has passed while nothing could be sent
    const endTimer = setTimeout(stop, opts.durationMs);
    schedule(0);
    await finished;
    clearTimeout(endTimer);
  }
  const durationMs = Math.max(1, stopAt - start);

  // drain: wait for the PUBACKs of what is still in flight
  const drainStart = performance.now();
  const drainTimeout = opts.drainTimeoutMs ?? 10_000;
  const inflight = () => senders.reduce((a, s) => a + s.inflight, 0);
  while (inflight() > 0 && performance.now() - drainStart < drainTimeout && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const drainMs = performance.now() - drainStart;
  if (progressTimer) { clearInterval(progressTimer); report(); }
  opts.signal?.removeEventListener('abort', onAbort);
  const unacknowledged = qos === 1 ? inflight() : 0;
  const aborted = opts.signal?.aborted ?? false;
  // counted before closing: closing fails whatever is still in flight, which is reported as unacknowledged
  const summary: LoadSummary = {
    qos, batchSize, targetRate: rate,
    published: run.published, objects: run.published * batchSize, acknowledged: run.acknowledged, errors: run.errors, unacknowledged,
    achievedRate: round1((run.published * 1000) / durationMs), objectRate: round1((run.published * batchSize * 1000) / durationMs),
    durationMs: Math.round(durationMs), drainMs: Math.round(drainMs),
    devices: senders.length, connectedAtStart, connectErrors, reconnects, aborted,
    perDevice: Object.fromEntries(senders.map((s) => [s.device.id, { lastSeq: s.seq - 1, published: s.published, acknowledged: s.acknowledged, errors: s.errors }])),
  };
  await Promise.all(senders.map((s) => closeClient(s.client, 500)));
  return summary;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** One line for a terminal: what a person watching a load run wants to see. */
export function formatProgress(p: LoadProgress): string {
  return `${(p.elapsedMs / 1000).toFixed(0).padStart(4)} s  sent 已发 ${p.published}  acked 已确认 ${p.acknowledged}  ` +
    `errors 错误 ${p.errors}  in flight 在途 ${p.inflight}  connected 在线 ${p.connected}/${p.devices}  ${p.rate} msg/s`;
}

export function formatSummary(s: LoadSummary): string {
  return [
    `Load summary 压测结果 (QoS ${s.qos}, batch ${s.batchSize}, target ${s.targetRate} msg/s, ${s.devices} devices, ${s.connectedAtStart} connected at start)`,
    `  duration 时长        ${(s.durationMs / 1000).toFixed(1)} s (+ ${(s.drainMs / 1000).toFixed(1)} s drain)`,
    `  published 已发送     ${s.published} messages, ${s.objects} readings`,
    `  acknowledged 已确认  ${s.acknowledged}${s.qos === 0 ? ' (QoS 0 has no PUBACK)' : ''}`,
    `  errors 错误          ${s.errors}   unacknowledged 未确认 ${s.unacknowledged}   connect errors 连接错误 ${s.connectErrors}   reconnects 重连 ${s.reconnects}`,
    `  achieved rate 速率   ${s.achievedRate} msg/s, ${s.objectRate} readings/s${s.aborted ? '  (aborted 已中止)' : ''}`,
  ].join('\n');
}
