/**
 * Relays device messages to MQTT subscribers without making the device wait for them.
 *
 * Aedes completes a client's publish only when every subscriber's socket has taken the message, and
 * reads the client's next packets only after that. One subscriber that stops reading (a frozen
 * dashboard, a phone on a bad link) would therefore stall the ingest of every device it watches
 * until `drainTimeout` cuts it off. So the device's own packet is acknowledged and routed nowhere,
 * and a copy is published here, fire-and-forget.
 *
 * The contract for a subscriber (QoS 0 or 1) that reads its socket: it gets every live copy unless
 * the copy would take the bytes waiting in the gateway for it past `relayBufferBytes` (what the
 * operating system's socket buffers hold comes on top). Then it is behind: it gets no live copies
 * until the gateway holds nothing more for it, and if that takes longer than the drain timeout it is
 * disconnected. Every copy skipped is counted with its reason. Stored data and alert queues are never
 * affected: only a live view misses a message.
 *
 * The in-flight bound (`relayInFlight`) counts copies that Aedes is still routing. A copy is routed
 * once every subscriber's stream took it, and Aedes waits for 'drain' when a stream's `write()`
 * returns false. Subscriber streams get `relayBufferBytes` as their write buffer (high-water mark)
 * and a copy is admitted only if it fits below it, so an admitted copy's write never returns false:
 * a subscriber that stops reading never holds a slot. The bound is then reached only if the gateway
 * routes more copies than that within one turn of the event loop.
 */
import type { Aedes, PublishPacket } from 'aedes';

export type RelaySkipReason = 'subscriber_behind' | 'in_flight';

export class LiveForwarder {
  private inFlight = 0;
  /** Copies handed to Aedes so far (in cluster mode each is a Redis PUBLISH): `gateway_relay_copies_total`. */
  routed = 0;
  private readonly done = () => { this.inFlight--; };

  constructor(private readonly aedes: Aedes, private readonly maxInFlight: number, private readonly onSkipped: (reason: RelaySkipReason) => void) {}

  forward(topic: string, payload: Buffer, qos: 0 | 1, retain = false): void {
    if (this.inFlight >= this.maxInFlight) {
      this.onSkipped('in_flight');
      return;
    }
    this.inFlight++;
    this.routed++;
    const packet = { cmd: 'publish', topic, payload, qos, retain, dup: false } as PublishPacket;
    this.aedes.publish(packet, this.done);
  }

  get pending(): number { return this.inFlight; }
}

/** What the relay budget needs of a subscriber's stream (a TCP or TLS socket, or a WebSocket stream). */
export interface RelayStream {
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): void;
  /** Bytes of copies admitted for it that Aedes has not written yet. */
  gwRelayReserved?: number;
  /** Set while it is behind: the timer that disconnects it if it does not catch up (true: no timer). */
  gwRelayBehind?: NodeJS.Timeout | true;
}

/** Bytes a PUBLISH of `payload` on `topic` takes on the wire, at most (fixed header, length, topic, packet id). */
export function publishBytes(topic: string, payload: Buffer): number {
  return 1 + 4 + 2 + Buffer.byteLength(topic) + 2 + payload.length;
}

const release = (stream: RelayStream, bytes: number) => { stream.gwRelayReserved! -= bytes; };

/**
 * Decides, per subscriber and copy, whether a live copy is sent (see the contract above).
 *
 * What waits in the gateway for a subscriber is its stream's `writableLength` plus what was admitted
 * and not yet written: Aedes writes an admitted copy in a `setImmediate` it queues right after
 * `authorizeForward` returns, so the reservation is released by an immediate queued here, just before
 * that one. (For a persistent session Aedes first updates the session store, so its copy is written a
 * little later than the reservation is released: at worst a few copies more than the budget.)
 */
export class RelayBudget {
  /**
   * @param bytes  the budget per subscriber; streams must have it as their writable high-water mark
   * @param drainTimeoutMs  a subscriber still behind after this long is disconnected (0: never)
   * @param onCutOff  told about a subscriber disconnected that way, just before it is
   */
  constructor(readonly bytes: number, private readonly drainTimeoutMs: number, private readonly onCutOff: (stream: RelayStream) => void) {}

  /** True: send this copy (its bytes are reserved). False: skip it, the subscriber is behind. */
  admit(stream: RelayStream, size: number): boolean {
    const reserved = stream.gwRelayReserved ?? 0;
    const queued = stream.writableLength + reserved;
    if (stream.gwRelayBehind) {
      if (queued > 0) return false;
      this.caughtUp(stream);
    }
    // strictly below: after Aedes' write the stream holds less than its high-water mark, so write() returns true
    if (queued + size >= this.bytes) {
      if (queued > 0) this.fellBehind(stream);
      return false;
    }
    stream.gwRelayReserved = reserved + size;
    setImmediate(release, stream, size);
    return true;
  }

  /** Forgets a closed stream's timer. */
  closed(stream: RelayStream): void {
    if (stream.gwRelayBehind) this.caughtUp(stream);
  }

  private fellBehind(stream: RelayStream): void {
    if (this.drainTimeoutMs <= 0) {
      stream.gwRelayBehind = true;
      return;
    }
    const timer = setTimeout(() => {
      if (stream.gwRelayBehind !== timer || stream.destroyed) return;
      if (stream.writableLength === 0) return this.caughtUp(stream);
      this.onCutOff(stream);
      stream.destroy();
    }, this.drainTimeoutMs);
    timer.unref();
    stream.gwRelayBehind = timer;
  }

  private caughtUp(stream: RelayStream): void {
    if (stream.gwRelayBehind !== true) clearTimeout(stream.gwRelayBehind);
    stream.gwRelayBehind = undefined;
  }
}

/**
 * Gives a stream a writable high-water mark of `bytes`: `write()` returns false (and Aedes waits for
 * 'drain') only past it. Node has no setter for it on an existing stream, and only the plain TCP
 * server takes it as an option (`net.createServer({ highWaterMark })`, which would raise the read
 * buffer of sockets that have not logged in too); so the Writable state's field is set directly
 * (Node 20). tests/chaos-slow-consumers.test.ts fails if it stops taking effect.
 */
export function setWriteBuffer(stream: { writableHighWaterMark: number }, bytes: number): void {
  const state = (stream as unknown as { _writableState?: { highWaterMark?: number } })._writableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = bytes;
}

/** What the audience check asks of the broker's session store (Aedes' persistence interface). */
export interface SubscriptionLookup {
  subscriptionsByTopic(topic: string): Promise<ReadonlyArray<unknown>>;
}

/**
 * The filters granted on every node of a cluster, as the audience needs them (redis.ts keeps them in
 * Redis). Each is an `audienceFilter`, so two grants that count alike are one entry.
 */
export interface SharedFilters {
  /**
   * Starts hearing of the filters granted anywhere, then reads those granted before; resolves once
   * that first read is done (or failed: then it is retried, and the audience forwards everything).
   */
  start(listener: SharedFiltersListener): Promise<void>;
  /** Adds a filter granted here for every node to hear of; resolves once Redis has taken it. */
  share(filter: string): Promise<void>;
}

export interface SharedFiltersListener {
  /** A filter granted on some node (this one included). */
  heard(filter: string): void;
  /** Filters granted elsewhere may go unheard from now on (Redis lost or failing): forward everything. */
  lost(): void;
  /** Every filter granted anywhere has been heard again: the audience decides again. */
  synced(): void;
}

/**
 * What a grant of `filter` adds to the audience of device topics: a shared subscription
 * (`$share/{group}/{filter}`) receives what its filter matches, one that names none counts as `#`;
 * undefined for a filter that cannot match `devices/…` (`alerts/…`, another root).
 */
export function audienceFilter(filter: string): string | undefined {
  let f = filter;
  if (f.startsWith('$share/')) {
    const at = f.indexOf('/', '$share/'.length);
    if (at < 0) return '#';
    f = f.slice(at + 1);
  }
  const end = f.indexOf('/');
  const first = end < 0 ? f : f.slice(0, end);
  return first === 'devices' || first === '+' || first === '#' ? f : undefined;
}

/** Topics whose audience is remembered; past it the memory starts again (each topic is looked up anew). */
const MAX_AUDIENCE_TOPICS = 1_000_000;

interface Audience { version: number; granted: boolean; stored: boolean | undefined }

/**
 * Whether a live copy of a device topic could reach anybody: if not, the forwarder need not route it
 * (routing a QoS 1 copy through Aedes cost about a tenth of the ingest throughput in the benchmark,
 * docs/performance.md; in cluster mode every copy is a Redis PUBLISH). It errs only towards forwarding:
 *
 * - every topic filter granted counts, and is never forgotten (an unsubscribed or closed session may
 *   leave it counting: a copy then goes to nobody, as before);
 * - a session stored by an earlier run of the process (`clean: false`) is found by asking the session
 *   store once per topic; until it has answered, or if it fails, the copy is forwarded (in cluster
 *   mode the store is aedes-persistence-redis, whose in-memory trie holds every node's persistent
 *   subscriptions);
 * - while `forwardAll` is set, everything is forwarded.
 *
 * In cluster mode a filter granted on any node counts on every node (`SharedFilters`, kept in Redis by
 * redis.ts). The granting node has Redis add the filter to a set and publish it to the live nodes, in
 * one transaction, and grants the subscription (the SUBACK; for a persistent session's restored
 * subscriptions, the CONNACK) only once Redis has done both; a starting node subscribes to those
 * notices and then reads the set, before its MQTT ports open. So every filter is in what a node read
 * at its start or in a notice Redis sent it before the SUBACK. The window that remains: a node that
 * handles a device's message after the SUBACK but before it has read that notice from its Redis
 * connection (the notice and the device's message come over different sockets; nothing orders them,
 * though the notice left Redis first) routes no live copy of that message if nothing else there
 * wanted it, and the new subscriber misses it. It concerns live copies only: the message is stored,
 * acknowledged and judged by the alert rules as ever, and alert queues never ask the audience (the
 * broker publishes their messages directly, `Broker.publish`). Whenever this node may have missed a
 * notice (its notice connection closed, a read of the set failed, or a filter granted here was not
 * taken by Redis), it forwards everything (`forwardAll`) until it has subscribed again and re-read the
 * set.
 *
 * A retained message must always be forwarded (the copy is what stores it): the caller sees to that.
 */
export class RelayAudience {
  /** Filters seen (each counted once). */
  private readonly seen = new Set<string>();
  /** Filters of one device's topics (`devices/{id}/…`), by id: a topic is checked against its own device's only. */
  private readonly byDevice = new Map<string, string[][]>();
  /** Filters with a wildcard in the first two levels (`+/…`, `devices/+/…`): checked against every topic. */
  private readonly wild: string[][] = [];
  /** Bumped with every filter granted: a topic's remembered answer from an older version is recomputed. */
  private version = 0;
  /** A filter on everything (`#`) was granted. */
  private matchAll = false;
  private readonly topics = new Map<string, Audience>();

  /** @param all  forward everything until `forwardAll(false)` (cluster mode: until the filters granted elsewhere are known) */
  constructor(private readonly store: SubscriptionLookup, private all: boolean) {}

  /** Forward every copy (true), or only those somebody could receive (false). */
  forwardAll(on: boolean): void {
    this.all = on;
  }

  get forwardingAll(): boolean { return this.all; }

  /**
   * A subscription was granted (before Aedes adds it: a copy published after this counts it).
   * Returns what it adds to the audience (`audienceFilter`), for the other nodes to hear of.
   */
  granted(filter: string): string | undefined {
    const f = audienceFilter(filter);
    if (f === undefined || this.seen.has(f)) return f;
    this.seen.add(f);
    if (f === '#') {
      this.matchAll = true;
      return f;
    }
    const levels = f.split('/');
    const id = levels[1];
    if (levels[0] === 'devices' && id !== undefined && id !== '+' && id !== '#') {
      const list = this.byDevice.get(id);
      if (list) list.push(levels); else this.byDevice.set(id, [levels]);
    } else {
      this.wild.push(levels);
    }
    this.version++;
    return f;
  }

  /** Whether anybody could receive a copy published on `topic` (a device's own topic: no `$`, no wildcard). */
  wanted(topic: string): boolean {
    if (this.all || this.matchAll) return true;
    let a = this.topics.get(topic);
    if (a === undefined) {
      if (this.topics.size >= MAX_AUDIENCE_TOPICS) this.topics.clear();
      a = { version: -1, granted: false, stored: undefined };
      this.topics.set(topic, a);
      this.lookUpStored(topic, a);
    }
    if (a.version !== this.version) {
      a.granted = this.matchesGranted(topic);
      a.version = this.version;
    }
    return a.granted || a.stored !== false;
  }

  private lookUpStored(topic: string, a: Audience): void {
    let pending: Promise<ReadonlyArray<unknown>>;
    try {
      pending = this.store.subscriptionsByTopic(topic);
    } catch {
      a.stored = true;
      return;
    }
    pending.then((subs) => { a.stored = subs.length > 0; }, () => { a.stored = true; });
  }

  private matchesGranted(topic: string): boolean {
    const levels = topic.split('/');
    for (const f of this.wild) if (filterMatches(f, levels)) return true;
    const own = levels.length > 1 ? this.byDevice.get(levels[1]!) : undefined;
    if (own) for (const f of own) if (filterMatches(f, levels)) return true;
    return false;
  }
}

/** MQTT topic filter matching [MQTT-4.7]: `+` is one level, a trailing `#` the rest (its parent included). */
export function filterMatches(filter: readonly string[], topic: readonly string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!;
    if (f === '#') return true;
    if (i >= topic.length) return false;
    if (f !== '+' && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}
