/**
 * A durable Aedes persistence on the gateway's SQLite store, so that an agency account with a
 * persistent session (clean: false) gets the alert messages it missed while offline, also across
 * a gateway restart (the default Aedes persistence is in memory only).
 *
 * Shape: the topic trie of offline subscriptions and the retained messages stay in memory (the
 * reference in-memory persistence, loaded from SQLite at start), because every QoS 1 publish asks
 * `subscriptionsByTopic` and that must stay a trie lookup. Everything that changes is written
 * through to SQLite; the per-client queues of offline messages (outgoing) and QoS 2 packets
 * (incoming) are read from SQLite. Write cost is only paid for messages that match a persistent
 * session's subscription, and for retained / subscription changes.
 *
 * Wills stay in memory on purpose: after a restart every device is offline anyway (presence starts
 * with nobody connected), and Aedes would publish a previous run's wills with no client, which our
 * deny-by-default publish check refuses, and Aedes turns that refusal into a broker `error` event.
 * Semantics follow aedes-persistence 11 (`asyncPersistence.js`) method by method.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { migrate, type Db } from '../../core/db/sqlite.js';

const require = createRequire(import.meta.url);

type Packet = Record<string, unknown> & { topic?: string; payload?: Buffer; brokerId?: string; brokerCounter?: number; messageId?: number; qos?: number };
interface ClientLike { id: string }
interface Sub { topic: string; qos: number; rh?: number; rap?: number; nl?: number; subscriptionIdentifier?: number }

interface MemoryPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: Packet): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: ClientLike, subs: Sub[]): Promise<void>;
  removeSubscriptions(client: ClientLike, topics: string[]): Promise<void>;
  subscriptionsByClient(client: ClientLike): Promise<Sub[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<Array<{ clientId: string; topic: string; qos: number }>>;
  cleanSubscriptions(client: ClientLike): Promise<void>;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}
const AsyncMemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => MemoryPersistence;
const AedesPacket = require('aedes-packet') as new (original: Packet) => Packet;

const MIGRATIONS = [
  `CREATE TABLE mqtt_subscriptions (client_id TEXT NOT NULL, topic TEXT NOT NULL, options TEXT NOT NULL, PRIMARY KEY (client_id, topic)) WITHOUT ROWID;
   CREATE TABLE mqtt_retained (topic TEXT PRIMARY KEY, meta TEXT NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE mqtt_outgoing (seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, broker_id TEXT, broker_counter INTEGER,
     message_id INTEGER, meta TEXT NOT NULL, payload BLOB NOT NULL);
   CREATE INDEX mqtt_outgoing_client ON mqtt_outgoing (client_id, seq);
   CREATE TABLE mqtt_incoming (client_id TEXT NOT NULL, message_id INTEGER NOT NULL, meta TEXT NOT NULL, payload BLOB NOT NULL,
     PRIMARY KEY (client_id, message_id)) WITHOUT ROWID;`,
];

const EMPTY = Buffer.alloc(0);

/** A packet's fields other than the payload (MQTT 5 properties may hold Buffers). */
function encode(p: Packet): { meta: string; payload: Buffer } {
  const { payload, ...rest } = p;
  // a payload given as a string comes back as a string, as from the reference persistence
  if (typeof payload === 'string') (rest as Record<string, unknown>).$payloadString = true;
  else if (payload === undefined) (rest as Record<string, unknown>).$noPayload = true;
  return { meta: JSON.stringify(rest), payload: Buffer.isBuffer(payload) ? payload : payload === undefined ? EMPTY : Buffer.from(String(payload)) };
}

function reviveBuffers(_key: string, v: unknown): unknown {
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data);
  }
  return v;
}

function decode(meta: string, payload: Buffer): Packet {
  const p = JSON.parse(meta, reviveBuffers) as Packet;
  if (p.$payloadString) {
    delete p.$payloadString;
    (p as Record<string, unknown>).payload = payload.toString();
  } else if (p.$noPayload) {
    delete p.$noPayload;
  } else {
    p.payload = payload;
  }
  // JSON drops undefined: restore the key the packet class always has for QoS > 0
  if (!('messageId' in p) && (p.cmd !== 'publish' || (p.qos ?? 0) > 0)) p.messageId = undefined;
  return p;
}

export class SqlitePersistence {
  private readonly mem = new AsyncMemoryPersistence();
  private broker: { id: string } | undefined;
  private readonly wills = new Map<string, Packet>();
  /** Clients with stored subscriptions / QoS 2 packets: a clean device connect then costs no write. */
  private readonly withSubs = new Set<string>();
  private readonly withIncoming = new Set<string>();
  /**
   * Clients that may have queued outgoing messages: every login asks for its queue, and a device has
   * none (it subscribes to nothing), so a reconnect storm skips the query (2 % of the gateway's time
   * at 100,000 devices). Forgotten once a read finds the queue empty.
   */
  private readonly withOutgoing = new Set<string>();
  private readonly s;

  constructor(private readonly db: Db) {
    migrate(db, 'mqtt-persistence', MIGRATIONS);
    this.s = {
      addSub: db.prepare('INSERT INTO mqtt_subscriptions (client_id, topic, options) VALUES (?, ?, ?) ON CONFLICT (client_id, topic) DO UPDATE SET options = excluded.options'),
      delSub: db.prepare('DELETE FROM mqtt_subscriptions WHERE client_id = ? AND topic = ?'),
      cleanSubs: db.prepare('DELETE FROM mqtt_subscriptions WHERE client_id = ?'),
      allSubs: db.prepare('SELECT client_id, topic, options FROM mqtt_subscriptions ORDER BY client_id'),
      putRetained: db.prepare('INSERT INTO mqtt_retained (topic, meta, payload) VALUES (?, ?, ?) ON CONFLICT (topic) DO UPDATE SET meta = excluded.meta, payload = excluded.payload'),
      delRetained: db.prepare('DELETE FROM mqtt_retained WHERE topic = ?'),
      allRetained: db.prepare('SELECT meta, payload FROM mqtt_retained'),
      enqueue: db.prepare('INSERT INTO mqtt_outgoing (client_id, broker_id, broker_counter, message_id, meta, payload) VALUES (?, ?, ?, NULL, ?, ?)'),
      setIdByCounter: db.prepare('UPDATE mqtt_outgoing SET message_id = ? WHERE client_id = ? AND broker_id = ? AND broker_counter = ?'),
      findByIdOtherBroker: db.prepare('SELECT seq FROM mqtt_outgoing WHERE client_id = ? AND message_id = ? AND (broker_id IS NULL OR broker_id IS NOT ?) ORDER BY seq LIMIT 1'),
      replace: db.prepare('UPDATE mqtt_outgoing SET broker_id = ?, broker_counter = ?, message_id = ?, meta = ?, payload = ? WHERE seq = ?'),
      findById: db.prepare('SELECT seq, meta, payload, message_id FROM mqtt_outgoing WHERE client_id = ? AND message_id = ? ORDER BY seq LIMIT 1'),
      delSeq: db.prepare('DELETE FROM mqtt_outgoing WHERE seq = ?'),
      outgoing: db.prepare('SELECT meta, payload, message_id FROM mqtt_outgoing WHERE client_id = ? ORDER BY seq'),
      putIncoming: db.prepare('INSERT INTO mqtt_incoming (client_id, message_id, meta, payload) VALUES (?, ?, ?, ?) ON CONFLICT (client_id, message_id) DO UPDATE SET meta = excluded.meta, payload = excluded.payload'),
      getIncoming: db.prepare('SELECT meta, payload FROM mqtt_incoming WHERE client_id = ? AND message_id = ?'),
      delIncoming: db.prepare('DELETE FROM mqtt_incoming WHERE client_id = ? AND message_id = ?'),
      cleanIncoming: db.prepare('DELETE FROM mqtt_incoming WHERE client_id = ?'),
    };
  }

  /** Aedes checks that this is a real async function. */
  async setup(broker: { id: string }): Promise<void> {
    this.broker = broker;
    await this.mem.setup(broker);
    let current: string | undefined;
    let subs: Sub[] = [];
    const flush = async () => { if (current !== undefined && subs.length > 0) await this.mem.addSubscriptions({ id: current }, subs); };
    for (const r of this.s.allSubs.all() as Array<{ client_id: string; topic: string; options: string }>) {
      if (r.client_id !== current) { await flush(); current = r.client_id; subs = []; this.withSubs.add(r.client_id); }
      subs.push({ topic: r.topic, ...(JSON.parse(r.options) as Omit<Sub, 'topic'>) });
    }
    await flush();
    for (const r of this.s.allRetained.all() as Array<{ meta: string; payload: Buffer }>) await this.mem.storeRetained(decode(r.meta, r.payload));
    for (const r of this.db.prepare('SELECT DISTINCT client_id FROM mqtt_incoming').all() as Array<{ client_id: string }>) this.withIncoming.add(r.client_id);
    for (const r of this.db.prepare('SELECT DISTINCT client_id FROM mqtt_outgoing').all() as Array<{ client_id: string }>) this.withOutgoing.add(r.client_id);
  }

  private get open(): boolean { return this.db.open; }

  async storeRetained(packet: Packet): Promise<void> {
    await this.mem.storeRetained(packet);
    if (!this.open) return;
    if (!packet.payload || packet.payload.length === 0) this.s.delRetained.run(packet.topic);
    else {
      const { meta, payload } = encode({ ...packet });
      this.s.putRetained.run(packet.topic, meta, payload);
    }
  }

  createRetainedStream(pattern: string): Readable { return this.mem.createRetainedStream(pattern); }
  createRetainedStreamCombi(patterns: string[]): Readable { return this.mem.createRetainedStreamCombi(patterns); }

  async addSubscriptions(client: ClientLike, subs: Sub[]): Promise<void> {
    await this.mem.addSubscriptions(client, subs);
    if (!this.open) return;
    this.withSubs.add(client.id);
    this.db.transaction(() => {
      for (const { topic, ...options } of subs) this.s.addSub.run(client.id, topic, JSON.stringify(options));
    })();
  }

  async removeSubscriptions(client: ClientLike, topics: string[]): Promise<void> {
    await this.mem.removeSubscriptions(client, topics);
    if (!this.open) return;
    this.db.transaction(() => { for (const t of topics) this.s.delSub.run(client.id, t); })();
  }

  subscriptionsByClient(client: ClientLike): Promise<Sub[]> { return this.mem.subscriptionsByClient(client); }
  countOffline(): Promise<{ subsCount: number; clientsCount: number }> { return this.mem.countOffline(); }
  subscriptionsByTopic(pattern: string): Promise<Array<{ clientId: string; topic: string; qos: number }>> { return this.mem.subscriptionsByTopic(pattern); }

  async cleanSubscriptions(client: ClientLike): Promise<void> {
    await this.mem.cleanSubscriptions(client);
    if (this.withSubs.delete(client.id) && this.open) this.s.cleanSubs.run(client.id);
  }

  private enqueue(clientId: string, packet: Packet): void {
    const p = new AedesPacket(packet);
    const { meta, payload } = encode(p);
    this.withOutgoing.add(clientId);
    this.s.enqueue.run(clientId, p.brokerId ?? null, p.brokerCounter ?? null, meta, payload);
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: Packet): Promise<void> {
    if (this.open) this.enqueue(sub.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: Packet): Promise<void> {
    if (subs.length === 0 || !this.open) return;
    this.db.transaction(() => { for (const sub of subs) this.enqueue(sub.clientId, packet); })();
  }

  async outgoingUpdate(client: ClientLike, packet: Packet): Promise<void> {
    if (!this.open) return;
    if (packet.brokerId !== undefined && this.s.setIdByCounter.run(packet.messageId ?? null, client.id, packet.brokerId, packet.brokerCounter ?? null).changes > 0) return;
    // as in the reference: a packet of another broker (or a PUBREL) with the same message id replaces it
    const row = this.s.findByIdOtherBroker.get(client.id, packet.messageId ?? null, packet.brokerId ?? null) as { seq: number } | undefined;
    if (!row) throw new Error('no such packet');
    const { meta, payload } = encode(packet);
    this.s.replace.run(packet.brokerId ?? null, packet.brokerCounter ?? null, packet.messageId ?? null, meta, payload, row.seq);
  }

  async outgoingClearMessageId(client: ClientLike, packet: Packet): Promise<Packet | undefined> {
    if (!this.open) return undefined;
    const row = this.s.findById.get(client.id, packet.messageId ?? null) as { seq: number; meta: string; payload: Buffer; message_id: number } | undefined;
    if (!row) return undefined;
    this.s.delSeq.run(row.seq);
    const p = decode(row.meta, row.payload);
    p.messageId = row.message_id;
    return p;
  }

  outgoingStream(client: ClientLike): Readable {
    const queued = this.open && this.withOutgoing.has(client.id);
    const rows = queued ? (this.s.outgoing.all(client.id) as Array<{ meta: string; payload: Buffer; message_id: number | null }>) : [];
    if (queued && rows.length === 0) this.withOutgoing.delete(client.id);
    return Readable.from(rows.map((r) => {
      const p = decode(r.meta, r.payload);
      if (r.message_id !== null) p.messageId = r.message_id;
      return p;
    }));
  }

  async incomingStorePacket(client: ClientLike, packet: Packet): Promise<void> {
    if (!this.open) return;
    const p = new AedesPacket(packet);
    p.messageId = packet.messageId;
    const { meta, payload } = encode(p);
    this.withIncoming.add(client.id);
    this.s.putIncoming.run(client.id, packet.messageId, meta, payload);
  }

  async incomingGetPacket(client: ClientLike, packet: Packet): Promise<Packet> {
    const row = this.open ? (this.s.getIncoming.get(client.id, packet.messageId) as { meta: string; payload: Buffer } | undefined) : undefined;
    if (!row) throw new Error('no such packet');
    return decode(row.meta, row.payload);
  }

  async incomingDelPacket(client: ClientLike, packet: Packet): Promise<void> {
    if (!this.open) return;
    if (this.s.delIncoming.run(client.id, packet.messageId).changes === 0) throw new Error('no such packet');
  }

  async cleanIncoming(client: ClientLike): Promise<void> {
    if (this.withIncoming.delete(client.id) && this.open) this.s.cleanIncoming.run(client.id);
  }

  async putWill(client: ClientLike, packet: Packet): Promise<void> {
    packet.brokerId = this.broker!.id;
    packet.clientId = client.id;
    this.wills.set(client.id, packet);
  }

  async getWill(client: ClientLike): Promise<Packet | undefined> { return this.wills.get(client.id); }

  async delWill(client: ClientLike): Promise<Packet | undefined> {
    const will = this.wills.get(client.id);
    this.wills.delete(client.id);
    return will;
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    return Readable.from([...this.wills.values()].filter((w) => !brokers[w.brokerId as string]));
  }

  getClientList(topic: string): Readable { return this.mem.getClientList(topic); }

  async destroy(): Promise<void> { await this.mem.destroy(); }
}
