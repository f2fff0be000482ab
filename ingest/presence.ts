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
import { migrate, type Db } from '../core/db/sqlite.js';
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
}

export class Presence {
  private readonly states = new Map<string, DeviceState>();
  private readonly connections = new Map<string, object>();
  private readonly dirty = new Set<string>();
  private readonly upsert;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Db, private readonly persistIntervalMs: number, private readonly now: () => number = Date.now) {
    migrate(db, 'presence', [
      `CREATE TABLE device_state (device_id TEXT PRIMARY KEY, online INTEGER NOT NULL, last_seen_at INTEGER, changed_at INTEGER,
         latest TEXT NOT NULL, latest_at INTEGER, last_event TEXT)`,
    ]);
    this.upsert = db.prepare(`INSERT INTO device_state (device_id, online, last_seen_at, changed_at, latest, latest_at, last_event)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET online = excluded.online, last_seen_at = excluded.last_seen_at,
      changed_at = excluded.changed_at, latest = excluded.latest, latest_at = excluded.latest_at, last_event = excluded.last_event`);
    for (const r of db.prepare('SELECT * FROM device_state').all() as Array<Record<string, unknown>>) {
      this.states.set(r.device_id as string, {
        // nobody is connected to a process that just started
        online: false,
        lastSeenAt: r.last_seen_at as number | null, changedAt: r.changed_at as number | null,
        latest: JSON.parse(r.latest as string), latestAt: r.latest_at as number | null,
        lastEvent: r.last_event ? JSON.parse(r.last_event as string) : null,
      });
    }
  }

  start(): void {
    this.timer = setInterval(() => this.persist(), this.persistIntervalMs);
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

  /** `connection` identifies the MQTT client, so a late disconnect of a replaced session is ignored. */
  connected(id: string, connection: object): void {
    this.connections.set(id, connection);
    this.setOnline(id, true);
  }

  disconnected(id: string, connection: object): void {
    if (this.connections.get(id) !== connection) return;
    this.connections.delete(id);
    this.setOnline(id, false);
  }

  /** The device's own `devices/{id}/status` message (`online` / `offline`, or its last will). */
  statusMessage(id: string, payload: Buffer): void {
    const text = payload.toString('utf8').trim().toLowerCase();
    if (text === 'offline' || text === '"offline"') this.setOnline(id, false);
    else if (text === 'online' || text === '"online"') this.setOnline(id, true);
  }

  private setOnline(id: string, online: boolean): void {
    const s = this.state(id);
    if (s.online === online) return;
    s.online = online;
    s.changedAt = this.now();
    this.dirty.add(id);
  }

  /** Ingest listener: the last valid message of each device. */
  readonly onAccepted = (items: readonly Accepted[]): void => {
    const now = this.now();
    for (const item of items) {
      const id = item.device.id;
      const s = this.state(id);
      s.lastSeenAt = now;
      if (item.channel === 'telemetry') {
        if (s.latestAt === null || item.ts >= s.latestAt) {
          for (const key in item.data) if (key !== 'ts') s.latest[key] = item.data[key];
          s.latestAt = item.ts;
        }
      } else {
        s.lastEvent = { ...item.data, ts: item.ts };
      }
      this.dirty.add(id);
    }
  };

  persist(): void {
    if (this.dirty.size === 0 || !this.db.open) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    this.db.transaction(() => {
      for (const id of ids) {
        const s = this.states.get(id);
        if (!s) continue;
        this.upsert.run(id, s.online ? 1 : 0, s.lastSeenAt, s.changedAt, JSON.stringify(s.latest), s.latestAt, s.lastEvent ? JSON.stringify(s.lastEvent) : null);
      }
    })();
  }

  stop(): void {
    clearInterval(this.timer);
    this.persist();
  }
}
