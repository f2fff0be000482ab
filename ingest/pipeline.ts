/**
 * The ingest hot path: a device's MQTT publish → its kind's schema → points and dead letters →
 * one durable group commit → the MQTT acknowledgement.
 *
 * Why a group commit: Aedes sends PUBACK for QoS 1 only after `authorizePublish` calls back, so we
 * call back only once the message's points (and dead letters) are durably appended. Every message
 * that arrives within one event-loop turn shares one append, so durability costs one write per
 * turn, not one per message. Nothing here throws on bad input: a rejection is a dead letter.
 */
import type { z } from 'zod';
import { KIND_CONTRACTS, type DeviceKind, type KindContract } from './schemas/kinds.js';
import type { FastCheck } from './schemas/compiled.js';
import { encodeTags, escapeKey, type FieldValue, type Point } from './points.js';
import type { TimeSeriesWriter } from './writers/writer.js';
import type { DeadLetterStore, Issue, NewDeadLetter, RejectReason } from './dead-letters.js';
import { boundIssues, boundedJson, clip, depthExceededAt, formatPath, MAX_ISSUES } from './json-limits.js';

/** What ingest needs to know about a registered device. */
export interface IngestDevice {
  id: string;
  kind: DeviceKind;
  siteId: string;
  companyId: string;
  building?: string | undefined;
}

export type Channel = 'telemetry' | 'event';

/** A valid reading or event, handed to listeners (presence, alert rules) after it is stored. */
export interface Accepted {
  device: IngestDevice;
  /** `heartbeat`: the device is alive but sent no data (a field protocol's keep-alive); `data` is empty and nothing was stored. */
  channel: Channel | 'heartbeat';
  /** The parsed object as the schema returned it (ts and type included). */
  data: Record<string, unknown>;
  /** epoch ms: the device's ts, or the receive time. */
  ts: number;
}

/** A rejection explained to the device on `devices/{id}/errors`: its dead letter without the receive time and payload. */
export type Rejection = Omit<NewDeadLetter, 'receivedAt' | 'payload'>;

/** What became of one message given to `submit`: once durable, its stored objects and its own rejections. */
export interface Submitted {
  accepted: number;
  rejections: Rejection[];
}

export interface IngestLimits {
  maxPayloadBytes: number;
  /** Deepest nesting of arrays and objects accepted, checked on the bytes before parsing. */
  maxDepth: number;
  maxBatchObjects: number;
  maxFutureMs: number;
  maxPastMs: number;
  deadLetterPayloadBytes: number;
}

export interface IngestCounters {
  received(channel: Channel | 'status' | 'other', n: number): void;
  valid(kind: DeviceKind, n: number): void;
  rejected(reason: RejectReason, n: number): void;
  commitSeconds(s: number): void;
  /** A message not taken because the store is unreachable and too much already waits for it (the device resends). */
  deferred(n: number): void;
}

/** What the pipeline needs of the store (core/db/store.ts). */
export interface IngestStore {
  transaction(fn: () => void): void;
  durable(): Promise<void> | undefined;
  /** Too much waits for an unreachable store: new messages are not taken. */
  readonly saturated: boolean;
}

/** Per-device context built once (topics and tags) and reused for every message. */
export class DeviceContext {
  readonly contract: KindContract;
  readonly telemetryTopic: string;
  readonly eventsTopic: string;
  readonly statusTopic: string;
  readonly errorsTopic: string;
  readonly ownPrefix: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly tagText: string;
  /** Last timestamp given to a reading without `seq`, and how many shared it (see Point.sub). */
  lastTs = -1;
  sameTsCount = 0;
  private readonly eventTagSets = new Map<string, { tags: Readonly<Record<string, string>>; tagText: string }>();

  constructor(readonly device: IngestDevice) {
    this.contract = KIND_CONTRACTS[device.kind];
    this.ownPrefix = `devices/${device.id}/`;
    this.telemetryTopic = this.ownPrefix + 'telemetry';
    this.eventsTopic = this.ownPrefix + 'events';
    this.statusTopic = this.ownPrefix + 'status';
    this.errorsTopic = this.ownPrefix + 'errors';
    const tags: Record<string, string> = { device: device.id, site: device.siteId, company: device.companyId };
    if (device.building) tags.building = device.building;
    this.tags = Object.freeze(tags);
    this.tagText = encodeTags(tags);
  }

  /** Events are tagged with their type too; one tag set per (device, type), built on first use. */
  eventTags(type: string): { tags: Readonly<Record<string, string>>; tagText: string } {
    let set = this.eventTagSets.get(type);
    if (set === undefined) {
      set = { tags: Object.freeze({ ...this.tags, type }), tagText: this.tagText + ',type=' + escapeKey(type) };
      this.eventTagSets.set(type, set);
    }
    return set;
  }
}

/** What the broker should do with the MQTT message once ingest has seen it. */
const STORE_SATURATED = new Error('the store is unreachable and too much is waiting for it; resend later');

export const enum Verdict {
  /** Relay it to subscribers (valid data, status). */
  Forward,
  /** Acknowledge it but relay it to nobody (rejected or partly rejected). */
  Drop,
}

type Done = (err?: Error | null) => void;
const ignoreDone: Done = () => {};

const NOT_ALLOWED_MESSAGE = 'devices may publish only to devices/{id}/telemetry, devices/{id}/events and devices/{id}/status';
/**
 * Bounds on device-controlled text in a dead letter and in the message sent back on the errors
 * topic: a foreign topic may be 64 KB long, and every rejection is stored and published.
 */
const MAX_MESSAGE_CHARS = 2048;
const MAX_TOPIC_CHARS = 256;

export class IngestPipeline {
  private points: Point[] = [];
  private letters: NewDeadLetter[] = [];
  private accepted: Accepted[] = [];
  private rejections: Rejection[] = [];
  private waiting: Done[] = [];
  /** Messages received in this group, counted at its commit (one metrics call per channel per group, not per message). */
  private receivedTelemetry = 0;
  private receivedEvents = 0;
  private receivedStatus = 0;
  private receivedOther = 0;
  private scheduled = false;
  /** A valid event (a fault, an alarm) is in the group: commit it right after the current socket read. */
  private urgent = false;
  private urgentScheduled = false;
  private readonly runUrgentCommit = () => { this.urgentScheduled = false; this.commit(); };
  private readonly acceptedListeners: Array<(items: readonly Accepted[]) => void> = [];
  private readonly rejectionListeners: Array<(items: readonly Rejection[]) => void> = [];
  private readonly runCommit = () => { this.scheduled = false; this.commit(); };

  constructor(
    private readonly writer: TimeSeriesWriter,
    private readonly deadLetters: DeadLetterStore,
    private readonly limits: IngestLimits,
    private readonly counters: IngestCounters,
    /** The store's units of work: the dead letters written with the group, and when it is all durable. */
    private readonly store: IngestStore,
    private readonly onError: (err: unknown, what: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  onAccepted(listener: (items: readonly Accepted[]) => void): void { this.acceptedListeners.push(listener); }
  onRejected(listener: (items: readonly Rejection[]) => void): void { this.rejectionListeners.push(listener); }

  /**
   * Takes one publish of a device. `done` is called after the durable commit (or with an error if
   * the commit failed, so the device is not acknowledged and will resend).
   */
  handle(ctx: DeviceContext, topic: string, payload: Buffer, done: Done): Verdict {
    if (this.store.saturated) {
      // not acknowledged and not processed: the broker ends the session, the device resends after reconnecting
      this.counters.deferred(1);
      done(STORE_SATURATED);
      return Verdict.Drop;
    }
    let verdict: Verdict;
    if (topic === ctx.telemetryTopic) {
      this.receivedTelemetry++;
      verdict = this.ingest(ctx, topic, payload, 'telemetry', ctx.contract.telemetry, ctx.contract.checkTelemetry);
    } else if (topic === ctx.eventsTopic) {
      this.receivedEvents++;
      verdict = this.ingest(ctx, topic, payload, 'event', ctx.contract.event, ctx.contract.checkEvent);
    } else if (topic === ctx.statusTopic) {
      this.receivedStatus++;
      verdict = Verdict.Forward;
    } else {
      this.receivedOther++;
      const shown = clip(topic, MAX_TOPIC_CHARS);
      this.reject(ctx, shown, 'topic_not_allowed', `publishing to ${shown} is not allowed: ${NOT_ALLOWED_MESSAGE}`, [], payload, undefined);
      verdict = Verdict.Drop;
    }
    this.enqueue(done);
    return verdict;
  }

  /**
   * Takes one message of a field protocol (protocols/): the same checks, dead letters and group
   * commit as an MQTT publish, answered per message. `topic` is where the message came from, as
   * dead letters and `devices/{id}/errors` show it (e.g. `gb26875:devices/{id}/events`). Resolves
   * once durable with this message's own rejections; rejects when the store did not take it.
   */
  submit(ctx: DeviceContext, channel: Channel, topic: string, payload: Buffer): Promise<Submitted> {
    return new Promise((resolve, reject) => {
      if (this.store.saturated) {
        this.counters.deferred(1);
        reject(STORE_SATURATED);
        return;
      }
      if (channel === 'event') this.receivedEvents++; else this.receivedTelemetry++;
      const acceptedBefore = this.accepted.length, rejectedBefore = this.rejections.length;
      const c = ctx.contract;
      this.ingest(ctx, topic, payload, channel, channel === 'event' ? c.event : c.telemetry, channel === 'event' ? c.checkEvent : c.checkTelemetry);
      // the group's arrays are swapped only at the commit, after this call: what was added is this message's
      const result: Submitted = { accepted: this.accepted.length - acceptedBefore, rejections: this.rejections.slice(rejectedBefore) };
      this.enqueue((err) => (err ? reject(err) : resolve(result)));
    });
  }

  /**
   * A field protocol's keep-alive (a heartbeat frame, a platform's "online"): the device counts as
   * heard from (presence, the offline rule) though nothing is stored.
   */
  heartbeat(ctx: DeviceContext): void {
    this.accepted.push({ device: ctx.device, channel: 'heartbeat', data: {}, ts: this.now() });
    this.enqueue(ignoreDone);
  }

  /**
   * A field protocol's bytes refused before any schema (a bad frame, a push naming no device): a
   * dead letter in the next group, counted, and explained on the device's errors topic when the
   * device is known (`deviceId` '' when not). `payload` is text (hex for binary frames).
   */
  deadLetter(letter: { deviceId: string; topic: string; reason: RejectReason; message: string; payload: string }): void {
    const max = this.limits.deadLetterPayloadBytes;
    const payload = Buffer.byteLength(letter.payload) > max ? Buffer.from(letter.payload, 'utf8').subarray(0, max).toString('utf8') : letter.payload;
    const topic = clip(letter.topic, MAX_TOPIC_CHARS);
    const message = clip(letter.message, MAX_MESSAGE_CHARS);
    this.letters.push({ receivedAt: this.now(), deviceId: letter.deviceId, topic, reason: letter.reason, message, issues: [], index: undefined, payload });
    this.rejections.push({ deviceId: letter.deviceId, topic, reason: letter.reason, message, issues: [], index: undefined });
    this.enqueue(ignoreDone);
  }

  private enqueue(done: Done): void {
    this.waiting.push(done);
    if (this.urgent) {
      // Events are rare and may be a trapped passenger or a fire: rather than wait for the end of
      // the event-loop turn (every socket read of a busy turn), the group is committed as soon as
      // this socket read is handled, so the alert goes out in this turn instead of the next.
      if (!this.urgentScheduled) {
        this.urgentScheduled = true;
        process.nextTick(this.runUrgentCommit);
      }
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.runCommit);
    }
  }

  private ingest(ctx: DeviceContext, topic: string, payload: Buffer, channel: Channel, schema: z.ZodType, check: FastCheck): Verdict {
    if (payload.length > this.limits.maxPayloadBytes) {
      this.reject(ctx, topic, 'too_large', `payload is ${payload.length} bytes; the limit is ${this.limits.maxPayloadBytes}`, [], payload, undefined);
      return Verdict.Drop;
    }
    // Before JSON.parse: whatever walks the parsed value later (a dead letter's copy, a listener)
    // must never meet nesting deep enough to overflow the stack. The whole message is one dead
    // letter, even a batch: which of its objects were fine cannot be known without parsing it.
    const deepAt = depthExceededAt(payload, this.limits.maxDepth);
    if (deepAt >= 0) {
      this.reject(ctx, topic, 'too_deep', `payload nests arrays/objects deeper than ${this.limits.maxDepth} levels (at byte ${deepAt}); the limit is ingest.maxDepth`, [], payload, undefined);
      return Verdict.Drop;
    }
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      this.reject(ctx, topic, 'not_json', `payload is not valid JSON: ${(err as Error).message}`, [], payload, undefined);
      return Verdict.Drop;
    }
    const receivedAt = this.now();
    if (Array.isArray(body)) {
      if (body.length > this.limits.maxBatchObjects) {
        this.reject(ctx, topic, 'batch_too_large', `batch has ${body.length} objects; the limit is ${this.limits.maxBatchObjects}`, [], payload, undefined);
        return Verdict.Drop;
      }
      let allGood = body.length > 0;
      for (let i = 0; i < body.length; i++) {
        if (!this.ingestObject(ctx, topic, body[i], i, channel, schema, check, receivedAt, body[i])) allGood = false;
      }
      if (body.length === 0) this.reject(ctx, topic, 'not_object', 'empty batch: send an object or a non-empty array of objects', [], payload, undefined);
      return allGood ? Verdict.Forward : Verdict.Drop;
    }
    return this.ingestObject(ctx, topic, body, undefined, channel, schema, check, receivedAt, payload) ? Verdict.Forward : Verdict.Drop;
  }

  /** `raw` is what a dead letter keeps of it: the payload bytes for a lone object, the object for one of a batch. */
  private ingestObject(ctx: DeviceContext, topic: string, obj: unknown, index: number | undefined, channel: Channel,
    schema: z.ZodType, check: FastCheck, receivedAt: number, raw: unknown): boolean {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      this.reject(ctx, topic, 'not_object', 'expected a JSON object', [{ path: index === undefined ? '' : `[${index}]`, message: 'not an object' }], raw, index);
      return false;
    }
    // the schema's compiled fast path proves most objects valid; zod decides (and explains) the rest
    let data = check(obj);
    if (data === undefined) {
      const parsed = schema.safeParse(obj);
      if (!parsed.success) {
        const { issues, omitted } = boundIssues(parsed.error.issues, index);
        let message = `${channel} does not match the ${ctx.device.kind} schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
        if (omitted > 0) message += `; and ${omitted} more issue(s) not listed (at most ${MAX_ISSUES} are kept)`;
        this.reject(ctx, topic, 'schema', message, issues, raw, index);
        return false;
      }
      data = parsed.data as Record<string, unknown>;
    }
    let ts = receivedAt;
    const rawTs = data.ts;
    if (typeof rawTs === 'number') ts = rawTs;
    else if (typeof rawTs === 'string') ts = Date.parse(rawTs);
    if (ts > receivedAt + this.limits.maxFutureMs) {
      this.reject(ctx, topic, 'future_timestamp', `ts ${timeText(ts)} is more than ${this.limits.maxFutureMs} ms ahead of the gateway clock`, [{ path: formatPath(index, ['ts']), message: 'too far in the future' }], raw, index);
      return false;
    }
    if (ts < receivedAt - this.limits.maxPastMs) {
      this.reject(ctx, topic, 'stale_timestamp', `ts ${timeText(ts)} is older than the ${this.limits.maxPastMs} ms accepted`, [{ path: formatPath(index, ['ts']), message: 'too old' }], raw, index);
      return false;
    }
    const isEvent = channel === 'event';
    const types = isEvent ? ctx.contract.eventFields : ctx.contract.telemetryFields;
    const fields: Record<string, FieldValue> = {};
    for (const key in data) {
      if (key === 'ts' || key === 'type') continue;
      const value = data[key];
      if (value === undefined) continue;
      // vendor codes may be numbers or strings; they are stored as strings so the field type never changes
      fields[key] = types[key] === 'string' && typeof value === 'number' ? String(value) : (value as FieldValue);
    }
    const seq = data.seq;
    let sub: number;
    if (typeof seq === 'number') {
      sub = seq % 1_000_000;
    } else {
      sub = ts === ctx.lastTs ? ++ctx.sameTsCount : (ctx.sameTsCount = 0);
      ctx.lastTs = ts;
    }
    if (isEvent) {
      this.urgent = true;
      fields.n = 1;
      const { tags, tagText } = ctx.eventTags(data.type as string);
      this.points.push({ measurement: ctx.contract.eventMeasurement, tags, tagText, fields, types, ts, sub });
    } else {
      this.points.push({ measurement: ctx.contract.telemetryMeasurement, tags: ctx.tags, tagText: ctx.tagText, fields, types, ts, sub });
    }
    this.accepted.push({ device: ctx.device, channel, data, ts });
    return true;
  }

  private reject(ctx: DeviceContext, topic: string, reason: RejectReason, message: string, issues: Issue[], raw: unknown, index: number | undefined): void {
    const receivedAt = this.now();
    if (message.length > MAX_MESSAGE_CHARS) message = clip(message, MAX_MESSAGE_CHARS);
    this.letters.push({ receivedAt, deviceId: ctx.device.id, topic, reason, message, issues, index, payload: this.head(raw) });
    this.rejections.push({ deviceId: ctx.device.id, topic, reason, message, issues, index });
  }

  /**
   * What a dead letter keeps of the rejected payload or batch object: at most
   * deadLetterPayloadBytes, built without recursing into the value, and it cannot throw (a throw
   * here would escape the broker's publish handler and take the process down).
   */
  private head(raw: unknown): string {
    const max = this.limits.deadLetterPayloadBytes;
    try {
      if (Buffer.isBuffer(raw)) return raw.subarray(0, max).toString('utf8');
      const text = boundedJson(raw, max);
      return Buffer.byteLength(text) > max ? Buffer.from(text, 'utf8').subarray(0, max).toString('utf8') : text;
    } catch {
      return '';
    }
  }

  /** The group commit: one durable append for everything received in this event-loop turn. */
  private commit(): void {
    if (this.waiting.length === 0) return;
    this.urgent = false;
    this.countReceived();
    const points = this.points, letters = this.letters, accepted = this.accepted, rejections = this.rejections, waiting = this.waiting;
    this.points = []; this.letters = []; this.accepted = []; this.rejections = []; this.waiting = [];
    const started = performance.now();
    let failure: Error | null = null;
    try {
      this.store.transaction(() => {
        if (points.length > 0) this.writer.append(points);
        if (letters.length > 0) this.deadLetters.appendMany(letters);
      });
    } catch (err) {
      // Not acknowledged: the devices keep the messages and resend them (QoS 1).
      failure = err instanceof Error ? err : new Error(String(err));
      this.onError(err, 'ingest commit failed; messages not acknowledged');
    }
    this.counters.commitSeconds((performance.now() - started) / 1000);
    if (!failure) {
      // Listeners (presence, the alert rules, which write the ledger) run before the devices are
      // acknowledged: a crash between the two then leaves the message unacknowledged, so the device
      // resends it and the alert is raised on the resend, instead of an acknowledged event whose
      // alert was never written.
      if (accepted.length > 0) {
        this.countValid(accepted);
        for (const l of this.acceptedListeners) this.safely(l, accepted);
      }
      if (rejections.length > 0) {
        for (const r of rejections) this.counters.rejected(r.reason, 1);
        for (const l of this.rejectionListeners) this.safely(l, rejections);
      }
    }
    // acknowledged once everything the group wrote (and its alerts) is durable: now on SQLite, after the commit on PostgreSQL
    const durable = failure ? undefined : this.store.durable();
    if (durable === undefined) {
      for (let i = 0; i < waiting.length; i++) waiting[i]!(failure);
      return;
    }
    durable.then(() => {
      for (let i = 0; i < waiting.length; i++) waiting[i]!(null);
    }, (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      for (let i = 0; i < waiting.length; i++) waiting[i]!(e);
    });
  }

  private countReceived(): void {
    if (this.receivedTelemetry > 0) { this.counters.received('telemetry', this.receivedTelemetry); this.receivedTelemetry = 0; }
    if (this.receivedEvents > 0) { this.counters.received('event', this.receivedEvents); this.receivedEvents = 0; }
    if (this.receivedStatus > 0) { this.counters.received('status', this.receivedStatus); this.receivedStatus = 0; }
    if (this.receivedOther > 0) { this.counters.received('other', this.receivedOther); this.receivedOther = 0; }
  }

  private countValid(accepted: readonly Accepted[]): void {
    let kind = accepted[0]!.device.kind;
    let n = 0;
    for (const a of accepted) {
      if (a.channel === 'heartbeat') continue;
      if (a.device.kind !== kind) { if (n > 0) this.counters.valid(kind, n); kind = a.device.kind; n = 0; }
      n++;
    }
    if (n > 0) this.counters.valid(kind, n);
  }

  private safely<T>(listener: (items: readonly T[]) => void, items: readonly T[]): void {
    try { listener(items); } catch (err) { this.onError(err, 'ingest listener failed'); }
  }
}

/** A timestamp for a rejection message; toISOString throws past the Date range, and a throw here would crash the broker. */
function timeText(ms: number): string {
  return ms >= -8.64e15 && ms <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}
