/**
 * Presence: online / offline from MQTT connect, disconnect and the device's own status messages
 * (its last will), `lastSeenAt` from the last valid message, and the latest value of every field.
 * Kept in memory (updated on the hot path) and saved to the store every few seconds, so a restart
 * keeps the last known state.
 *
 * This is the gateway's one record of when a device last sent valid data (and of its newest
 * reading's timestamp): the alert rules' offline check asks it rather than keeping its own copy.
 * Presence, not the rules, because it sits below them, hears every accepted batch first, and is
 * saved more often. So its `now` must be the clock the alert rules run on (the composition root
 * passes the alert clock; a manual one in tests), or last-seen times and the rules' `now` would
 * not compare.
 */
import type { Kysely } from 'kysely';
import type { Database, Store } from '../core/db/store.js';
import type { Migration } from '../core/db/query.js';
import type { Accepted } from './pipeline.js';

export interface DeviceState {
  online: boolean;
  /** epoch ms of the last valid message */
  lastSeenAt: number | null;
  /** epoch ms of the last connect / disconnect */
  changedAt: number | null;
  /** latest value of every telemetry field */
  latest: Record<string, unknown>;
  latestAt: number | null;
  lastEvent: Record<string, unknown> | null;
  /** `lastSeenAt` came from another node through the store (cluster mode), so it may be a few seconds late. */
  heardElsewhere?: boolean;
}

export interface PresenceTables {
  device_state: {
    device_id: string; online: number; last_seen_at: number | null; changed_at: number | null;
    latest: string; latest_at: number | null; last_event: string | null;
  };
}

type DeviceStateRow = PresenceTables['device_state'];

export const PRESENCE_MIGRATIONS: readonly Migration[] = [{
  // the SQLite DDL is the one existing databases ran (version 1 of 'presence'): keep it as it is
  sqlite: `CREATE TABLE device_state (device_id TEXT PRIMARY KEY, online INTEGER NOT NULL, last_seen_at INTEGER, changed_at INTEGER,
         latest TEXT NOT NULL, latest_at INTEGER, last_event TEXT)`,
  postgres: `CREATE TABLE device_state (device_id TEXT PRIMARY KEY, online INTEGER NOT NULL, last_seen_at BIGINT, changed_at BIGINT,
         latest TEXT NOT NULL, latest_at BIGINT, last_event TEXT)`,
},
// cluster mode: the leader reads the devices other nodes heard from since its last look
'CREATE INDEX device_state_seen ON device_state (last_seen_at)'];

/** The "connection" of a device heard without one (see `claim`). */
const CLAIMED = Object.freeze({ claimed: true });

/** Rows per upsert: one statement per chunk of dirty devices instead of one per device. */
const UPSERT_CHUNK = 64;
/**
 * Devices saved per transaction by the periodic save; more wait for the next event-loop turns. At city
 * scale a 5 s interval holds some 17,000 changed devices of 100,000, which in one transaction held the
 * event loop (and every device's acknowledgement) for hundreds of milliseconds; 1,000 a turn still
 * held it 30 ms (docs/performance.md, "City scale").
 */
const PERSIST_SLICE = 250;

/** Presence's queries, the same for both stores. */
export const presenceQueries = (q: Kysely<PresenceTables>) => ({
  all: () => q.selectFrom('device_state').selectAll(),
  seenSince: (since: number) => q.selectFrom('device_state').select(['device_id', 'last_seen_at']).where('last_seen_at', '>', since),
  /** Inserts or replaces the rows (device ids must be distinct within one call: PostgreSQL refuses to update a row twice). */
  upsert: (rows: readonly DeviceStateRow[]) => q.insertInto('device_state').values(rows).onConflict((oc) => oc.column('device_id').doUpdateSet((eb) => ({
    online: eb.ref('excluded.online'), last_seen_at: eb.ref('excluded.last_seen_at'), changed_at: eb.ref('excluded.changed_at'),
    latest: eb.ref('excluded.latest'), latest_at: eb.ref('excluded.latest_at'), last_event: eb.ref('excluded.last_event'),
  }))),
});

export class Presence {
  private readonly states = new Map<string, DeviceState>();
  private readonly connections = new Map<string, object>();
  private readonly dirty = new Set<string>();
  /** Devices connected to another node (cluster mode, from its notices). */
  private readonly elsewhere = new Set<string>();
  private readonly queries;
  private timer: NodeJS.Timeout | undefined;
  /**
   * The periodic save in progress, spread over turns: the devices changed when it started, sorted by
   * id, and how many of them are saved. In id order, the rows of one slice share the table's pages:
   * a third of the pages written when they came in the order they were heard.
   */
  private saving: string[] = [];
  private saved = 0;

  static async open(db: Database, persistIntervalMs: number, now: () => number = Date.now): Promise<Presence> {
    const store = db.store<PresenceTables>();
    await store.migrate('presence', PRESENCE_MIGRATIONS);
    const presence = new Presence(store, persistIntervalMs, now);
    presence.load(await store.all(presenceQueries(store.q).all()));
    return presence;
  }

  private constructor(private readonly store: Store<PresenceTables>, private readonly persistIntervalMs: number, private readonly now: () => number) {
    this.queries = presenceQueries(store.q);
  }

  private load(rows: readonly DeviceStateRow[]): void {
    for (const r of rows) {
      this.states.set(r.device_id, {
        // nobody is connected to a process that just started
        online: false,
        lastSeenAt: r.last_seen_at, changedAt: r.changed_at,
        latest: JSON.parse(r.latest) as Record<string, unknown>, latestAt: r.latest_at,
        lastEvent: r.last_event ? JSON.parse(r.last_event) as Record<string, unknown> : null,
      });
    }
  }

  start(): void {
    this.timer = setInterval(() => this.persistSlices(), this.persistIntervalMs);
    this.timer.unref();
  }

  private state(id: string): DeviceState {
    let s = this.states.get(id);
    if (!s) {
      s = { online: false, lastSeenAt: null, changedAt: null, latest: {}, latestAt: null, lastEvent: null };
      this.states.set(id, s);
    }
    return s;
  }

  get(id: string): DeviceState | undefined { return this.states.get(id); }

  /** Whether the device is connected to this node (cluster mode: the node that owns its rule state). */
  isLocal(id: string): boolean { return this.connections.has(id); }

  /** Devices connected to this node. */
  get localCount(): number { return this.connections.size; }

  /**
   * Cluster mode: takes the last-seen times other nodes saved since `since` (each node saves its
   * own devices every persist interval), so that the leader's offline checks see every device.
   * Returns the devices heard from, with the newest time read (the next call's `since`).
   */
  async pull(since: number): Promise<{ deviceIds: string[]; newest: number }> {
    const rows = await this.store.all(this.queries.seenSince(since));
    let newest = since;
    const deviceIds: string[] = [];
    for (const r of rows) {
      if (r.last_seen_at === null) continue;
      const seen = Number(r.last_seen_at);
      if (seen > newest) newest = seen;
      const s = this.state(r.device_id);
      if (s.lastSeenAt === null || seen > s.lastSeenAt) {
        s.lastSeenAt = seen;
        s.heardElsewhere = true;
      }
      deviceIds.push(r.device_id);
    }
    return { deviceIds, newest };
  }

  /** `connection` identifies the MQTT client, so a late disconnect of a replaced session is ignored. */
  connected(id: string, connection: object): void {
    this.connections.set(id, connection);
    this.elsewhere.delete(id);
    this.setOnline(id, true);
    // cluster mode: the other nodes learn that this node has the device now
    this.store.notify('presence', [`${id}:1`]);
  }

  /**
   * A device without a connection (the HTTP device API, NB-IoT pushes, Modbus polls) was heard on
   * this node. In a cluster the node that hears a device keeps its rule state (as for a connection),
   * until another node hears it or it connects elsewhere. True when this node takes it over now, so
   * its rule state must first be read from the store. It does not make the device online: a sleeping
   * NB-IoT smoke alarm is neither.
   */
  claim(id: string): boolean {
    if (this.connections.has(id)) return false;
    this.connections.set(id, CLAIMED);
    this.elsewhere.delete(id);
    this.store.notify('presence', [`${id}:1`]);
    return true;
  }

  disconnected(id: string, connection: object): void {
    if (this.connections.get(id) !== connection) return;
    this.connections.delete(id);
    this.setOnline(id, false);
    this.store.notify('presence', [`${id}:0`]);
  }

  /** Another node says a device connected to it (`:1`) or disconnected from it (`:0`). */
  remote(entries: readonly string[]): void {
    for (const e of entries) {
      const i = e.lastIndexOf(':');
      const id = e.slice(0, i);
      if (e.slice(i + 1) === '1') {
        // a connectionless device heard by another node now: that node keeps its rule state
        if (this.connections.get(id) === CLAIMED) this.connections.delete(id);
        if (!this.connections.has(id)) this.elsewhere.add(id);
      } else {
        this.elsewhere.delete(id);
      }
    }
  }

  /** Whether another node has the device connected, as far as its notices told (cluster mode). */
  connectedElsewhere(id: string): boolean { return this.elsewhere.has(id); }

  /** The device's own `devices/{id}/status` message (`online` / `offline`, or its last will). */
  statusMessage(id: string, payload: Buffer): void {
    const text = payload.toString('utf8').trim().toLowerCase();
    if (text === 'offline' || text === '"offline"') this.setOnline(id, false);
    else if (text === 'online' || text === '"online"') this.setOnline(id, true);
  }

  /**
   * Not a change to save: a process that starts has nobody connected (`load` starts every device
   * offline), so the stored `online` and `changed_at` are never read back; they are written with the
   * row's next save for its data. Saving them for themselves made a restart save every device twice:
   * at the stop (100,000 disconnects, 1.4 s while the devices waited to reconnect) and after the
   * storm (100,000 connects).
   */
  private setOnline(id: string, online: boolean): void {
    const s = this.state(id);
    if (s.online === online) return;
    s.online = online;
    s.changedAt = this.now();
  }

  /** Ingest listener: the last valid message of each device. */
  readonly onAccepted = (items: readonly Accepted[]): void => {
    const now = this.now();
    for (const item of items) {
      const id = item.device.id;
      const s = this.state(id);
      s.lastSeenAt = now;
      if (s.heardElsewhere) s.heardElsewhere = false;
      if (item.channel === 'telemetry') {
        if (s.latestAt === null || item.ts >= s.latestAt) {
          for (const key in item.data) if (key !== 'ts') s.latest[key] = item.data[key];
          s.latestAt = item.ts;
        }
      } else if (item.channel === 'event') {
        s.lastEvent = { ...item.data, ts: item.ts };
      }
      this.dirty.add(id);
    }
  };

  /** Saves every changed device now, in one transaction (at stop, and where a caller needs it saved). */
  persist(): void {
    const ids = new Set(this.saving.slice(this.saved));
    this.saving = [];
    this.saved = 0;
    for (const id of this.dirty) ids.add(id);
    this.dirty.clear();
    this.save([...ids]);
  }

  /**
   * The periodic save: the devices changed when it starts, PERSIST_SLICE per turn. Those changed
   * meanwhile wait for the next interval (at city scale devices change every turn: a save that took
   * them too would never end, and would run a transaction every turn instead of every interval).
   */
  private persistSlices(): void {
    if (this.saved < this.saving.length || this.dirty.size === 0) return;
    this.saving = [...this.dirty].sort();
    this.saved = 0;
    this.dirty.clear();
    const next = () => {
      if (!this.store.open) return;
      const slice = this.saving.slice(this.saved, this.saved + PERSIST_SLICE);
      this.saved += slice.length;
      this.save(slice);
      if (this.saved < this.saving.length) setImmediate(next);
    };
    next();
  }

  /** Saves these devices' state as it is now (ids distinct). */
  private save(ids: readonly string[]): void {
    if (ids.length === 0 || !this.store.open) return;
    const rows: DeviceStateRow[] = [];
    for (const id of ids) {
      const s = this.states.get(id);
      if (!s) continue;
      rows.push({
        device_id: id, online: s.online ? 1 : 0, last_seen_at: s.lastSeenAt, changed_at: s.changedAt,
        latest: JSON.stringify(s.latest), latest_at: s.latestAt, last_event: s.lastEvent ? JSON.stringify(s.lastEvent) : null,
      });
    }
    if (rows.length === 0) return;
    this.store.transaction(() => {
      for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
        this.store.write(this.queries.upsert(i === 0 && rows.length <= UPSERT_CHUNK ? rows : rows.slice(i, i + UPSERT_CHUNK)));
      }
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.persist();
  }
}
