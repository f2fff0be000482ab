/**
 * The rule engine: turns accepted readings and events into alert conditions. Input comes in
 * batches from the ingest pipeline right after they are stored; per message the work is a map
 * lookup and a few comparisons on the device's compact state (no promise, no closure, no
 * allocation unless a condition changes). Conditions that must hold for a time, data silence and
 * deadlines all share one timer heap, checked every `tickMs`.
 *
 * Durable: a condition's start time is saved when it changes (in one transaction per batch), so a
 * 60 s condition that had held for 40 s before a crash raises 20 s after the restart, not 60 s.
 *
 * When a device last sent valid data is not kept here: ingest's presence is the one record of it
 * (it hears every accepted batch before the rules do, and saves it every few seconds), and the
 * offline rule asks it when a timer pops. Presence runs on the same injected clock as the rules
 * (the composition root gives both the alert clock), so its times compare with the rules' `now`,
 * and a restart finds the last-seen times that presence saved.
 *
 * What only one kind does (the elevators' daily inspection and maintenance checks, their
 * settings' resolution) is that kind's module, through the hooks of `KindModule`; what such a check
 * reads from a layer above (supervision's maintenance record) reaches it through `SlotHost`.
 */
import type { Kysely } from 'kysely';
import type { Store } from '../../core/db/store.js';
import type { Migration } from '../../core/db/query.js';
import type { Logger } from '../../core/log.js';
import type { Device, Registry } from '../../registry/index.js';
import type { Accepted, DeviceKind, Presence } from '../../ingest/index.js';
import type { AlertType } from '../catalog.js';
import { KIND_RULE_SCHEMAS, type AlertsConfig } from '../config.js';
import type { Clock } from '../../core/clock.js';
import type { TimerHeap } from '../heap.js';
import type { AlertService } from '../service.js';
import { OFFLINE, RuleState, type KindModule, type SlotHost } from './state.js';
import { elevator } from './elevator.js';
import { firePanel, smokeDetector } from './fire.js';
import { fireWater } from './fire-water.js';
import { waterPump } from './water.js';
import { drainage } from './drainage.js';

const MODULES: Readonly<Record<DeviceKind, KindModule<any, any>>> = { // eslint-disable-line @typescript-eslint/no-explicit-any
  elevator, fire_panel: firePanel, smoke_detector: smokeDetector, fire_water: fireWater, water_pump: waterPump, drainage,
};

export interface RuleEngineDeps {
  /** Where the conditions are saved (migrated by `migrateRuleState`). */
  store: Store<RuleStateTables>;
  registry: Registry;
  service: AlertService;
  heap: TimerHeap;
  clock: Clock;
  config: AlertsConfig;
  log: Logger;
  /** When each device last sent valid data, on the same clock as `clock`. */
  presence: Pick<Presence, 'get'>;
  /**
   * Cluster mode: whether a device is connected to this node (only that node saves its rule state),
   * and how much later than due the offline check raises (last-seen times reach the leader through
   * the store, up to a few seconds late). Unset in the embedded mode: one node owns every device.
   */
  cluster?: ClusterView | undefined;
}

/** What the rules need to know of the other nodes (cluster mode). */
export interface ClusterView {
  isLocal(deviceId: string): boolean;
  connectedElsewhere(deviceId: string): boolean;
  offlineGraceMs: number;
}

/** The valid maintenance visits, kept by supervision (a layer above): what the 15-day check reads. */
export interface MaintenanceRecord {
  lastValidVisitAt(deviceId: string): number | undefined;
}

export interface RuleStateTables {
  alert_rule_state: { device_id: string; first_seen_at: number; data: string };
}

export const RULE_STATE_MIGRATIONS: readonly Migration[] = [
  {
    // the SQLite DDL is the one existing databases ran (versions 1 and 2 of 'alert-rules'): keep it as it is
    sqlite: `CREATE TABLE alert_rule_state (device_id TEXT PRIMARY KEY, first_seen_at INTEGER NOT NULL, last_seen INTEGER NOT NULL,
         last_ts INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID`,
    postgres: `CREATE TABLE alert_rule_state (device_id TEXT PRIMARY KEY, first_seen_at BIGINT NOT NULL, last_seen BIGINT NOT NULL,
         last_ts BIGINT NOT NULL, data TEXT NOT NULL)`,
  },
  // last-seen times and the newest reading's timestamp are presence's (device_state)
  `ALTER TABLE alert_rule_state DROP COLUMN last_seen;
       ALTER TABLE alert_rule_state DROP COLUMN last_ts;`,
];

/** Rows per upsert: one statement per chunk of changed states instead of one per device. */
const UPSERT_CHUNK = 64;

/** The rule state's queries, the same for both stores. */
export const ruleStateQueries = (q: Kysely<RuleStateTables>) => ({
  all: () => q.selectFrom('alert_rule_state').select(['device_id', 'first_seen_at', 'data']),
  one: (deviceId: string) => q.selectFrom('alert_rule_state').select(['device_id', 'first_seen_at', 'data']).where('device_id', '=', deviceId),
  /** Inserts or replaces the rows (device ids must be distinct within one call: PostgreSQL refuses to update a row twice). */
  upsert: (rows: ReadonlyArray<RuleStateTables['alert_rule_state']>) => q.insertInto('alert_rule_state').values(rows)
    .onConflict((oc) => oc.column('device_id').doUpdateSet((eb) => ({ first_seen_at: eb.ref('excluded.first_seen_at'), data: eb.ref('excluded.data') }))),
});

/**
 * Whether what the device raises now is a test (DOMAIN.md, practitioner review: monthly alarm tests):
 * its test mode, set over the API, ends at `testModeUntil` on this clock (exactly: not in test at that
 * instant), or the device says so itself (its `test` flag). Offline is never a test: a device that
 * goes silent during its test is still a device nobody hears, so `checkOffline` does not ask.
 */
function inTestMode(s: RuleState, now: number): boolean {
  return s.selfTest || (s.device.testModeUntil ?? 0) > now;
}

export class RuleEngine implements SlotHost {
  private readonly states = new Map<string, RuleState>();
  private saved: ReadonlyArray<RuleStateTables['alert_rule_state']> = [];
  private dirty: RuleState[] = [];
  private startedAt = 0;
  private readonly kindParams = new Map<string, unknown>();
  private readonly store: Store<RuleStateTables>;
  private readonly queries;
  private readonly dateFormat: Intl.DateTimeFormat;
  private readonly staleAfter: number;
  private maintenanceRecord: MaintenanceRecord | undefined;

  constructor(private readonly deps: RuleEngineDeps) {
    this.store = deps.store;
    this.queries = ruleStateQueries(this.store.q);
    this.staleAfter = deps.config.staleReadingAfter;
    // en-CA formats as YYYY-MM-DD, the form of registry inspection dates
    this.dateFormat = new Intl.DateTimeFormat('en-CA', { timeZone: deps.config.schedules.timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
  }

  /** Reads the saved conditions (`start` restores them). */
  async load(): Promise<void> {
    this.saved = await this.store.all(this.queries.all());
  }

  /** Restores the saved conditions (`load`) and re-arms their timers. */
  start(): void {
    const now = this.deps.clock.now();
    this.startedAt = now;
    const saved = this.saved;
    this.saved = [];
    for (const r of saved) {
      const device = this.deps.registry.getDevice(r.device_id);
      if (!device) continue;
      const s = this.create(device, r.first_seen_at, false);
      this.restore(s, r);
      this.watchOffline(s);
    }
    if (this.deps.config.offline.includeNeverSeen) {
      for (const d of this.deps.registry.listDevices()) if (!this.states.has(d.id) && !d.disabled) this.watchOffline(this.create(d, now));
    }
    this.flush();
  }

  /** A saved state into `s`, with the timers of its conditions that were holding. */
  private restore(s: RuleState, r: RuleStateTables['alert_rule_state']): void {
    // presence keeps the newest reading's timestamp, which is the newest one the rules evaluated
    s.lastTs = this.deps.presence.get(s.device.id)?.latestAt ?? 0;
    const data = JSON.parse(r.data) as { since?: number[]; active?: number[]; x?: Record<string, unknown>; test?: boolean };
    s.selfTest = data.test === true;
    const n = s.since.length;
    data.since?.forEach((v, i) => { if (i < n) s.since[i] = v; });
    data.active?.forEach((v, i) => { if (i < n) s.active[i] = v ? 1 : 0; });
    if (data.x) s.mod.restore(s, data.x);
    for (let slot = 1; slot < n; slot++) {
      if (s.since[slot] !== 0 && s.active[slot] === 0) this.schedule(s, slot, s.since[slot]! + s.mod.hold(s, slot));
    }
  }

  /** When the device last sent valid data (0: never), from presence. */
  private lastSeen(s: RuleState): number {
    return this.deps.presence.get(s.device.id)?.lastSeenAt ?? 0;
  }

  private watchOffline(s: RuleState): void {
    if (s.active[OFFLINE] === 1 || s.device.disabled) return;
    const lastSeen = this.lastSeen(s);
    if (lastSeen === 0 && !this.deps.config.offline.includeNeverSeen) return;
    // silence while the gateway itself was down is not the device's: count from the restart
    this.schedule(s, OFFLINE, Math.max(lastSeen, s.firstSeenAt, this.startedAt) + (s.params as { offlineAfter: number }).offlineAfter);
  }

  /**
   * The device's settings: its kind's, then its model's (`rules.models`: a heartbeat interval is the
   * model's), then its own (`rules.devices`). Shared per kind and model when the device has none of its own.
   */
  private paramsFor(device: Pick<Device, 'id' | 'kind' | 'model'>): unknown {
    const rules = this.deps.config.rules;
    const mod = MODULES[device.kind];
    const model = device.model === undefined ? undefined : rules.models[device.model];
    const override = rules.devices[device.id];
    if (!override) {
      const key = model ? `${device.kind}\u0000${device.model}` : device.kind;
      let p = this.kindParams.get(key);
      if (p === undefined) {
        p = model ? this.merged(device.kind, [model]) : mod.params ? mod.params(rules[device.kind]) : rules[device.kind];
        this.kindParams.set(key, p);
      }
      return p;
    }
    return this.merged(device.kind, model ? [model, override] : [override]);
  }

  /** The kind's settings with the overrides' settings of that kind over them, in order. */
  private merged(kind: DeviceKind, overrides: ReadonlyArray<Record<string, unknown>>): unknown {
    const known = KIND_RULE_SCHEMAS[kind].shape as Record<string, unknown>;
    const merged: Record<string, unknown> = { ...this.deps.config.rules[kind] };
    for (const o of overrides) for (const [k, v] of Object.entries(o)) if (v !== undefined && k in known) merged[k] = v;
    const mod = MODULES[kind];
    return mod.params ? mod.params(merged) : merged;
  }

  private create(device: Device, firstSeenAt: number, save = true): RuleState {
    // the registry's device itself, not a copy: it is frozen and replaced when it changes (deviceChanged),
    // so the state holds the names and settings as the registry has them, for the alerts raised
    const s = MODULES[device.kind].create(device, this.paramsFor(device), this);
    s.firstSeenAt = firstSeenAt;
    this.states.set(device.id, s);
    if (save) this.markDirty(s);
    return s;
  }

  private stateFor(id: string, now: number): RuleState | undefined {
    const s = this.states.get(id);
    if (s) return s;
    const device = this.deps.registry.getDevice(id);
    return device ? this.create(device, now) : undefined;
  }

  get(id: string): RuleState | undefined { return this.states.get(id); }

  /** Ingest listener (called after the batch is durably stored). */
  readonly onAccepted = (items: readonly Accepted[]): void => {
    const now = this.deps.clock.now();
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const s = this.states.get(item.device.id) ?? this.stateFor(item.device.id, now);
      if (s === undefined) continue;
      try {
        if (s.active[OFFLINE] === 1) {
          s.active[OFFLINE] = 0;
          s.since[OFFLINE] = 0;
          this.markDirty(s);
          this.deps.service.conditionEnded(s.device.id, 'device.offline', '', now);
        }
        if (s.queued[OFFLINE] === 0) this.schedule(s, OFFLINE, now + (s.params as { offlineAfter: number }).offlineAfter);
        // a field protocol's keep-alive: heard from, nothing to evaluate
        if (item.channel === 'heartbeat') continue;
        if (item.channel === 'telemetry') {
          // A reading much older than one already evaluated (a device back-filling its buffer after
          // newer data) is stored but must not move the live state backwards. The tolerance keeps a
          // device whose clock was corrected backwards from being ignored until its clock catches up.
          if (item.ts + this.staleAfter >= s.lastTs) {
            if (item.ts > s.lastTs) s.lastTs = item.ts;
            // the device's own test flag (fire panels, smoke alarms) holds as long as its readings say so
            const selfTest = item.data.test === true;
            if (selfTest !== s.selfTest) { s.selfTest = selfTest; this.markDirty(s); }
            s.mod.telemetry(this, s, item.data, now);
          }
        } else if (item.data.test === true && !s.selfTest) {
          // an event flagged as a test (a detector's test button) is a test on its own
          s.selfTest = true;
          try { s.mod.event(this, s, item.data, now); } finally { s.selfTest = false; }
        } else {
          s.mod.event(this, s, item.data, now);
        }
      } catch (err) {
        this.deps.log.error({ err, deviceId: item.device.id }, 'alert rule failed');
      }
    }
    if (this.dirty.length > 0) this.flush();
  };

  /** Runs the due timers (rule durations, offline, deadlines, verify windows). */
  tick(): void {
    const now = this.deps.clock.now();
    const heap = this.deps.heap;
    if (heap.peek() > now) return;
    this.deps.service.atomically(() => {
      heap.runDue(now);
      this.flush();
    });
  }

  // ---- SlotHost ----

  schedule(s: RuleState, slot: number, due: number): void {
    const q = s.queued[slot]!;
    if (q !== 0 && q <= due) return;
    s.queued[slot] = due;
    this.deps.heap.push(due, s, slot);
  }

  onSlotTimer(s: RuleState, slot: number, now: number): void {
    if (s.queued[slot]! <= now) s.queued[slot] = 0;
    if (this.states.get(s.device.id) !== s) return;
    if (slot === OFFLINE) return this.checkOffline(s, now);
    // In a cluster a condition's timer runs on the node the device is connected to (it read the state
    // at login); for a device connected nowhere (a node restarted, the device not back yet), on the leader.
    const cluster = this.deps.cluster;
    if (cluster && !cluster.isLocal(s.device.id) && (cluster.connectedElsewhere(s.device.id) || !this.deps.service.isLeading)) return;
    const since = s.since[slot]!;
    if (since === 0 || s.active[slot] === 1) return;
    const due = since + s.mod.hold(s, slot);
    if (due > now) return this.schedule(s, slot, due);
    s.active[slot] = 1;
    this.markDirty(s);
    this.raiseSlot(s, slot, now);
  }

  private checkOffline(s: RuleState, now: number): void {
    if (s.active[OFFLINE] === 1 || s.device.disabled) return;
    // one node raises offline alerts for the cluster: the leader (it watches again when it takes the lead)
    if (!this.deps.service.isLeading) return;
    const after = (s.params as { offlineAfter: number }).offlineAfter;
    const lastSeen = this.lastSeen(s);
    // a last-seen time read from the store may be late by the grace: the leader waits that much longer for those
    const grace = this.deps.presence.get(s.device.id)?.heardElsewhere ? (this.deps.cluster?.offlineGraceMs ?? 0) : 0;
    const due = Math.max(lastSeen, s.firstSeenAt, this.startedAt) + after + grace;
    if (due > now) return this.schedule(s, OFFLINE, due);
    s.active[OFFLINE] = 1;
    s.since[OFFLINE] = now;
    this.markDirty(s);
    this.deps.service.raise({
      device: s.device, type: 'device.offline', subject: '', at: now, suppressed: s.mod.suppressed(s),
      details: { lastSeenAt: lastSeen || null, offlineAfterMs: after },
    });
  }

  raiseSlot(s: RuleState, slot: number, now: number): void {
    const test = inTestMode(s, now);
    this.deps.service.raise({
      device: s.device, type: s.mod.slots[slot]!, subject: s.mod.subjects?.[slot] ?? '', details: test ? { ...s.mod.details(s, slot), testMode: true } : s.mod.details(s, slot),
      suppressed: test || s.mod.suppressed(s, slot), at: now,
    });
  }

  endSlot(s: RuleState, slot: number, now: number): void {
    this.deps.service.conditionEnded(s.device.id, s.mod.slots[slot]!, s.mod.subjects?.[slot] ?? '', now);
  }

  releaseSlot(s: RuleState, slot: number, now: number, why: Record<string, unknown>): void {
    this.deps.service.release(s.device.id, s.mod.slots[slot]!, s.mod.subjects?.[slot] ?? '', now, why);
  }

  raiseEvent(s: RuleState, type: AlertType, subject: string, details: Record<string, unknown>, now: number): void {
    const test = inTestMode(s, now);
    this.deps.service.raise({ device: s.device, type, subject, details: test ? { ...details, testMode: true } : details, suppressed: test || s.mod.suppressed(s), at: now });
  }

  endEvent(s: RuleState, type: AlertType, subject: string, now: number): void {
    this.deps.service.conditionEnded(s.device.id, type, subject, now);
  }

  endEventAll(s: RuleState, type: AlertType, now: number): void {
    this.deps.service.conditionEndedAll(s.device.id, type, now);
  }

  /** Water flowing in a sprinkler branch backs the fire alarms of its building; a flow switch under test backs nothing. */
  fireFlow(s: RuleState, now: number): void {
    if (!inTestMode(s, now)) this.deps.service.fireFlow(s.device, now);
  }

  today(now: number): string { return this.dateFormat.format(new Date(now)); }

  markDirty(s: RuleState): void {
    if (!s.dirty) { s.dirty = true; this.dirty.push(s); }
  }

  // ---- persistence ----

  /** Saves the states whose conditions changed (one transaction). */
  flush(): void {
    if (this.dirty.length === 0 || !this.store.open) return;
    const list = this.dirty;
    this.dirty = [];
    const cluster = this.deps.cluster;
    this.deps.service.atomically(() => {
      // one row per device (the last state saved wins, as it did row by row)
      const rows = new Map<string, RuleStateTables['alert_rule_state']>();
      for (const s of list) {
        s.dirty = false;
        // in a cluster the node a device is connected to saves its state; the others' copies (the leader's offline watch) are not
        if (cluster && !cluster.isLocal(s.device.id)) continue;
        const data = JSON.stringify({ since: Array.from(s.since), active: Array.from(s.active), x: s.mod.save(s), ...(s.selfTest ? { test: true } : {}) });
        rows.set(s.device.id, { device_id: s.device.id, first_seen_at: s.firstSeenAt, data });
      }
      const all = [...rows.values()];
      for (let i = 0; i < all.length; i += UPSERT_CHUNK) {
        this.store.write(this.queries.upsert(i === 0 && all.length <= UPSERT_CHUNK ? all : all.slice(i, i + UPSERT_CHUNK)));
      }
    });
  }

  // ---- cluster mode ----

  /**
   * A device logs in here: its state is read from the store first, since the node it was connected
   * to before may have changed it; the heap entries of the old copy find it replaced and do nothing.
   */
  async adopt(deviceId: string): Promise<void> {
    const row = await this.store.get(this.queries.one(deviceId));
    const device = this.deps.registry.getDevice(deviceId);
    if (!row || !device) return;
    const s = this.create(device, row.first_seen_at, false);
    this.restore(s, row);
    s.active[OFFLINE] = this.deps.service.hasActive(deviceId, 'device.offline') ? 1 : 0;
  }

  /** Another node changed an alert: an offline alert raised or ended elsewhere is this node's to know of. */
  remoteAlert(a: { deviceId: string; type: string; state: string }, active: boolean): void {
    if (a.type !== 'device.offline') return;
    const s = this.states.get(a.deviceId);
    if (!s) return;
    if (active) s.active[OFFLINE] = 1;
    else if (s.active[OFFLINE] === 1) {
      s.active[OFFLINE] = 0;
      s.since[OFFLINE] = 0;
      this.watchOffline(s);
    }
  }

  /** This node took the lead: it watches every known device for silence (the leader raises offline alerts). */
  watchAll(): void {
    for (const s of this.states.values()) {
      s.active[OFFLINE] = this.deps.service.hasActive(s.device.id, 'device.offline') ? 1 : 0;
      this.watchOffline(s);
    }
    if (this.deps.config.offline.includeNeverSeen) {
      const now = this.deps.clock.now();
      for (const d of this.deps.registry.listDevices()) if (!this.states.has(d.id) && !d.disabled) this.watchOffline(this.create(d, now));
    }
  }

  /** Devices other nodes have heard from (the leader's view of last-seen times): each is watched. */
  seen(deviceIds: Iterable<string>): void {
    const now = this.deps.clock.now();
    for (const id of deviceIds) {
      const s = this.states.get(id) ?? this.stateFor(id, now);
      if (s && s.queued[OFFLINE] === 0) this.watchOffline(s);
    }
  }

  // ---- registry changes and schedules ----

  deviceChanged(device: Device): void {
    const now = this.deps.clock.now();
    const s = this.states.get(device.id);
    if (!s) {
      if (this.deps.config.offline.includeNeverSeen && !device.disabled && this.startedAt > 0) this.watchOffline(this.create(device, now));
      return;
    }
    const before = s.device;
    s.device = device;
    s.params = this.paramsFor(device);
    const mod = s.mod;
    if (mod.deviceChanged) {
      this.deps.service.atomically(() => {
        mod.deviceChanged!(this, s, before, now);
        this.flush();
      });
    }
    if (!device.disabled) this.watchOffline(s);
  }

  /** Where the valid maintenance visits are kept (supervision): the 15-day check counts only those. */
  useMaintenanceRecord(record: MaintenanceRecord): void {
    this.maintenanceRecord = record;
  }

  /** The end of the elevator's last valid maintenance visit, as the maintenance record has it. */
  lastValidVisitAt(deviceId: string): number | undefined {
    return this.maintenanceRecord?.lastValidVisitAt(deviceId);
  }

  /** A valid visit was recorded: the elevator's daily checks run again now, on the node that runs them. */
  maintenanceVisited(deviceId: string): void {
    if (!this.deps.service.isLeading) return;
    const d = this.deps.registry.getDevice(deviceId);
    if (!d || d.disabled) return;
    const mod = MODULES[d.kind];
    if (!mod.daily) return;
    const now = this.deps.clock.now();
    this.deps.service.atomically(() => {
      const s = this.stateFor(d.id, now);
      if (s) mod.daily!(this, s, now);
      this.flush();
    });
  }

  /** The daily checks of the kinds that have any (the elevators' inspection and maintenance); node-cron calls this. */
  runSchedules(): void {
    const now = this.deps.clock.now();
    this.deps.service.atomically(() => {
      for (const d of this.deps.registry.listDevices()) {
        const mod = MODULES[d.kind];
        if (!mod.daily || d.disabled) continue;
        const s = this.stateFor(d.id, now);
        if (s) mod.daily(this, s, now);
      }
      this.flush();
    });
  }
}
