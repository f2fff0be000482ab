/**
 * The alert service: the one place where alerts change. Rules raise and end conditions, people act
 * through the API, deadlines and verify windows fire from the scheduler; every change is written
 * to the ledger and appended to the queues of the alert in one SQLite transaction, and handed to
 * the live consumers after the commit.
 *
 * Routing (the responsibility list): the first message a queue gets about an alert is `raised`;
 * after that it gets every change. Elevator alerts raised in inspection / maintenance mode are
 * withheld from the authorities and the maintenance unit. A fire alarm is withheld from the fire
 * service until it is confirmed (a second detector, a flow switch or the panel on the same site,
 * or staff) or its verify window passes.
 */
import type { Db } from '../core/store.js';
import type { AuditLog } from '../core/audit.js';
import { canSeeAlert, queueOf, type Principal } from '../registry/index.js';
import type { Logger } from '../core/log.js';
import { domainOf, type AlertType, type QueueRole } from './catalog.js';
import type { AlertsConfig, Responsibility } from './config.js';
import type { Clock } from '../core/clock.js';
import type { TimerHeap, TimerTarget } from './heap.js';
import type { AlertLedger } from './ledger.js';
import type { QueueEvent, QueueLog, Extra } from './queues.js';
import { ACTIVE_STATES, SYSTEM_ACTOR, type Action, type Alert, type AlertState } from './model.js';
import { AlertError } from './errors.js';
import { ACTION_RULES, alertAllows, roleMay, roleRefusal } from './permissions.js';

/** What the rules know about a device. */
export interface DeviceInfo {
  id: string;
  kind: string;
  siteId: string;
  companyId: string;
  maintenanceUnitId?: string | undefined;
  location?: string | undefined;
  nextInspectionDue?: string | undefined;
  disabled?: boolean | undefined;
  /** registration time (epoch ms) */
  createdAt?: number | undefined;
}

export interface RaiseInput {
  device: DeviceInfo;
  type: AlertType;
  subject: string;
  details: Record<string, unknown>;
  suppressed: boolean;
  at: number;
}

const PAST: Record<Action, string> = {
  acknowledge: 'acknowledged', dispatch: 'dispatched', resolve: 'resolved', close: 'closed', dismiss: 'dismissed', confirm: 'confirmed',
};
const UNRESOLVED: ReadonlySet<AlertState> = new Set(['open', 'acknowledged', 'dispatched']);

const SLOT_ACK = 0, SLOT_RESOLVE = 1, SLOT_VERIFY = 2;

/**
 * An authority's reads of its queue are audited once per (account, queue) per this window: an
 * agency polling every few seconds must not fill the audit log, and a read in a window says as
 * much about what it could see as the hundred after it. The next row counts the reads in between.
 */
export const QUEUE_READ_AUDIT_WINDOW_MS = 10 * 60_000;
const AUDITED_READERS: ReadonlySet<Principal['role']> = new Set(['market-supervision', 'fire-service']);

/** The scheduler entry of one active alert's deadlines (one object per alert, not per timer). */
class DeadlineTimer implements TimerTarget {
  constructor(readonly alert: Alert, private readonly service: AlertService) {}
  onTimer(slot: number, now: number): void { this.service.onDeadline(this.alert, slot, now); }
}

export interface AlertServiceDeps {
  db: Db;
  ledger: AlertLedger;
  queues: QueueLog;
  audit: AuditLog;
  config: AlertsConfig;
  clock: Clock;
  heap: TimerHeap;
  log: Logger;
  onRaised?: (type: AlertType, severity: string) => void;
  onEscalated?: (kind: string) => void;
}

export class AlertService {
  private depth = 0;
  private readonly withhold: ReadonlySet<QueueRole>;
  /** Active fire alarms per site, for corroboration. */
  private readonly fireAlarms = new Map<string, Set<Alert>>();
  /** Last time a sprinkler flow switch showed water flowing, per site. */
  private readonly flowAt = new Map<string, number>();
  /** Per authority account and queue: when its last audited read was, and the reads since (one queue per authority, so small). */
  private readonly queueReads = new Map<string, { at: number; since: number }>();

  constructor(private readonly deps: AlertServiceDeps) {
    this.withhold = new Set(deps.config.suppression.withholdFrom);
  }

  /** Re-arms the deadlines of the alerts that were active when the gateway stopped. */
  start(): void {
    for (const a of this.deps.ledger.activeAlerts()) {
      this.scheduleDeadlines(a);
      if (a.type === 'fire.alarm') this.indexFire(a);
    }
  }

  entry(type: AlertType, kind: string): Responsibility {
    const r = this.deps.config.responsibilities[type];
    return (r.kinds[kind] as Responsibility | undefined) ?? r;
  }

  /**
   * Runs `fn` in one transaction (nested calls join the outer one) and hands the queue messages
   * it appended to the live consumers after the commit.
   */
  atomically<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.depth++;
    let result: T;
    try {
      result = this.deps.db.transaction(fn)();
    } catch (err) {
      this.deps.queues.discard();
      throw err;
    } finally {
      this.depth--;
    }
    this.deps.queues.flushLive();
    return result;
  }

  // ---- rules ----

  raise(input: RaiseInput): Alert {
    return this.atomically(() => {
      const existing = this.deps.ledger.findActive(input.device.id, input.type, input.subject);
      return existing ? this.repeat(existing, input) : this.open(input);
    });
  }

  private open(input: RaiseInput): Alert {
    const { device, type, at } = input;
    const entry = this.entry(type, device.kind);
    const needsConfirmation = entry.holdUntilConfirmed.length > 0;
    const { ledger } = this.deps;
    const alert = ledger.create({
      type, subject: input.subject, severity: entry.severity, state: 'open', label: entry.label, domain: domainOf(type, device.kind),
      deviceId: device.id, deviceKind: device.kind, siteId: device.siteId, companyId: device.companyId,
      maintenanceUnitId: device.maintenanceUnitId ?? null, location: device.location ?? null,
      openedAt: at, updatedAt: at, lastRaisedAt: at, count: 1, conditionActive: true, suppressed: input.suppressed,
      confirmation: needsConfirmation ? 'unconfirmed' : null, forwardedUnverified: false,
      deadlines: {
        acknowledgeBy: entry.ackWithinMs === null ? null : at + entry.ackWithinMs,
        resolveBy: entry.resolveWithinMs === null ? null : at + entry.resolveWithinMs,
        verifyBy: needsConfirmation ? at + this.deps.config.fire.verifyWindow : null,
      },
      acknowledgedAt: null, dispatchedAt: null, resolvedAt: null, closedAt: null, clearedAt: null,
      escalations: [], queues: [], details: input.details,
    });
    ledger.addHistory(alert.id, { at, actor: SYSTEM_ACTOR, action: 'raised', detail: { ...input.details, ...(input.suppressed ? { suppressed: true } : {}) } });
    this.deps.onRaised?.(type, entry.severity);
    let others: Alert[] = [];
    if (type === 'fire.alarm') {
      this.indexFire(alert);
      others = this.corroborate(alert, at);
    }
    this.publish(alert, 'raised', at, undefined);
    ledger.save(alert);
    for (const o of others) this.afterConfirmed(o, at);
    this.scheduleDeadlines(alert);
    return alert;
  }

  private repeat(a: Alert, input: RaiseInput): Alert {
    const at = input.at;
    a.count++;
    a.lastRaisedAt = at;
    a.updatedAt = at;
    a.conditionActive = true;
    const previousPoint = a.details.point;
    a.details = { ...a.details, ...input.details };
    // A second detector (point) alarming in the same panel zone is corroboration (GB 50116 treats
    // two detectors of one zone as a confirmed fire), just as a second device would be.
    if (a.type === 'fire.alarm' && a.confirmation === 'unconfirmed' && previousPoint !== undefined
      && input.details.point !== undefined && input.details.point !== previousPoint) {
      this.markConfirmed(a, at, { by: 'second_point', points: [previousPoint, input.details.point] });
    }
    // the same condition outside maintenance mode is real: the withheld queues get it now
    if (a.suppressed && !input.suppressed) a.suppressed = false;
    this.deps.ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'repeated', detail: { count: a.count, ...input.details } });
    const others = a.type === 'fire.alarm' ? this.corroborate(a, at) : [];
    this.publish(a, 'updated', at, { reason: 'repeated' });
    this.deps.ledger.save(a);
    for (const o of others) this.afterConfirmed(o, at);
    return a;
  }

  /** The condition behind an active alert ended. An untouched alert clears itself (kept in the ledger). */
  conditionEnded(deviceId: string, type: AlertType, subject: string, at: number): void {
    const a = this.deps.ledger.findActive(deviceId, type, subject);
    if (!a || !a.conditionActive) return;
    this.atomically(() => {
      a.conditionActive = false;
      a.updatedAt = at;
      if (a.state === 'open' && this.entry(a.type, a.deviceKind).autoClear) {
        a.state = 'cleared';
        a.clearedAt = at;
        this.deps.ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'auto_cleared', note: 'condition ended before anyone acted' });
        this.publish(a, 'closed', at, { reason: 'condition_ended' });
        this.unindexFire(a);
      } else {
        this.deps.ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'condition_ended' });
        this.publish(a, 'updated', at, { reason: 'condition_ended' });
      }
      this.deps.ledger.save(a);
    });
  }

  /** Ends every active alert of this type on a device (a panel reset without a zone). */
  conditionEndedAll(deviceId: string, type: AlertType, at: number): void {
    const subjects: string[] = [];
    for (const a of this.deps.ledger.activeAlerts()) if (a.deviceId === deviceId && a.type === type) subjects.push(a.subject);
    for (const s of subjects) this.conditionEnded(deviceId, type, s, at);
  }

  /** A sprinkler flow switch shows water flowing on a site: it corroborates the site's fire alarms. */
  fireFlow(siteId: string, at: number): void {
    const prev = this.flowAt.get(siteId);
    this.flowAt.set(siteId, at);
    // one flowing reading confirms; later readings of the same flow need no work
    if (prev !== undefined && at - prev < 1000) return;
    const alarms = this.fireAlarms.get(siteId);
    if (!alarms) return;
    const since = at - this.deps.config.fire.corroborationWindow;
    const toConfirm = [...alarms].filter((a) => a.confirmation === 'unconfirmed' && a.lastRaisedAt >= since);
    if (toConfirm.length === 0) return;
    this.atomically(() => {
      for (const a of toConfirm) {
        this.markConfirmed(a, at, { by: 'flow_switch' });
        this.afterConfirmed(a, at);
      }
    });
  }

  // ---- fire confirmation ----

  private indexFire(a: Alert): void {
    let set = this.fireAlarms.get(a.siteId);
    if (!set) this.fireAlarms.set(a.siteId, (set = new Set()));
    set.add(a);
  }

  private unindexFire(a: Alert): void {
    const set = this.fireAlarms.get(a.siteId);
    if (set?.delete(a) && set.size === 0) this.fireAlarms.delete(a.siteId);
  }

  /**
   * Checks a fire alarm against the other sources on its site. Confirms it when corroborated and
   * returns the other alarms it confirmed in turn (the caller publishes them after itself).
   */
  private corroborate(a: Alert, at: number): Alert[] {
    const since = at - this.deps.config.fire.corroborationWindow;
    const others: Alert[] = [];
    for (const o of this.fireAlarms.get(a.siteId) ?? []) {
      if (o === a || (o.deviceId === a.deviceId && o.subject === a.subject) || o.lastRaisedAt < since) continue;
      others.push(o);
    }
    const flow = (this.flowAt.get(a.siteId) ?? -Infinity) >= since;
    if (others.length === 0 && !flow) return [];
    if (a.confirmation === 'unconfirmed') {
      this.markConfirmed(a, at, { by: flow && others.length === 0 ? 'flow_switch' : 'second_source', sources: others.map((o) => ({ deviceId: o.deviceId, subject: o.subject, alertId: o.id })) });
    }
    const confirmedOthers: Alert[] = [];
    for (const o of others) {
      if (o.confirmation !== 'unconfirmed') continue;
      this.markConfirmed(o, at, { by: 'second_source', sources: [{ deviceId: a.deviceId, subject: a.subject, alertId: a.id }] });
      confirmedOthers.push(o);
    }
    return confirmedOthers;
  }

  /** Corroborated by another source (the rules); staff confirm through `act`. */
  private markConfirmed(a: Alert, at: number, detail: Record<string, unknown>): void {
    a.confirmation = 'confirmed';
    a.updatedAt = at;
    a.details = { ...a.details, confirmedBy: detail };
    this.deps.ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'confirmed', note: 'corroborated', detail });
  }

  private afterConfirmed(a: Alert, at: number): void {
    this.publish(a, 'updated', at, { reason: 'confirmed' });
    this.deps.ledger.save(a);
  }

  // ---- people ----

  /** The alert if the principal may see it. One outside its scope is answered exactly like one that does not exist. */
  visible(p: Principal, id: number): Alert {
    const a = this.deps.ledger.get(id);
    if (!a || !canSeeAlert(p, a)) throw new AlertError('ALERT_NOT_FOUND', `alert ${id} not found`);
    return a;
  }

  /**
   * A person's action: scope (404), then the role (403), then the alert's state (409). Refusals
   * for the role or the state are audited (`alert.<action>.refused`); a 404 is not, since it is
   * what any id outside the scope answers and auditing it would let anyone fill the log.
   */
  act(p: Principal, id: number, action: Action, note: string | undefined): Alert {
    try {
      return this.atomically(() => this.apply(p, id, action, note));
    } catch (err) {
      if (err instanceof AlertError && (err.code === 'ALERT_ACTION_FORBIDDEN' || err.code === 'ALERT_INVALID_TRANSITION')) {
        // after the rollback, or the refusal would be rolled back with the rest
        this.deps.audit.record(p.id, `alert.${action}.refused`, `alert:${id}`, { code: err.code, state: this.deps.ledger.get(id)?.state });
      }
      throw err;
    }
  }

  private apply(p: Principal, id: number, action: Action, note: string | undefined): Alert {
    const at = this.deps.clock.now();
    const a = this.visible(p, id);
    const from = a.state;
    if (!roleMay(p, a, action)) throw new AlertError('ALERT_ACTION_FORBIDDEN', roleRefusal(p, a, action), { action, role: p.role });
    if (!alertAllows(a, action)) {
      const allowed = ACTION_RULES[action].from;
      if (!allowed.includes(from)) {
        const why = from === 'cleared' ? 'it cleared itself when its condition ended' : from === 'closed' ? 'it is closed' : `it is ${from}`;
        throw new AlertError('ALERT_INVALID_TRANSITION', `cannot ${action} alert ${id}: ${why}; ${action} is allowed only when the alert is ${allowed.join(' or ')}`,
          { state: from, allowedFrom: allowed });
      }
      throw new AlertError('ALERT_INVALID_TRANSITION', `cannot ${action} alert ${id}: only an unconfirmed fire alarm can be ${PAST[action]}`,
        { state: from, confirmation: a.confirmation });
    }
    let event: QueueEvent;
    let reason: string | undefined;
    switch (action) {
      case 'acknowledge': a.state = 'acknowledged'; a.acknowledgedAt = at; event = 'acknowledged'; break;
      case 'dispatch': a.state = 'dispatched'; a.dispatchedAt = at; a.acknowledgedAt ??= at; event = 'dispatched'; break;
      case 'resolve': a.state = 'resolved'; a.resolvedAt = at; a.acknowledgedAt ??= at; event = 'resolved'; break;
      case 'close': a.state = 'closed'; a.closedAt = at; event = 'closed'; break;
      case 'dismiss': a.state = 'closed'; a.closedAt = at; a.acknowledgedAt ??= at; a.details = { ...a.details, dismissed: true }; event = 'closed'; reason = 'dismissed'; break;
      case 'confirm': a.confirmation = 'confirmed'; a.details = { ...a.details, confirmedBy: { by: 'staff', actor: p.id } }; event = 'updated'; reason = 'confirmed'; break;
    }
    a.updatedAt = at;
    this.deps.ledger.addHistory(a.id, { at, actor: p.id, action: PAST[action], note });
    this.deps.audit.record(p.id, `alert.${action}`, `alert:${a.id}`, { from, to: a.state, ...(note ? { note } : {}) });
    this.publish(a, event, at, { actor: p.id, note, reason });
    this.deps.ledger.save(a);
    if (!ACTIVE_STATES.has(a.state)) this.unindexFire(a);
    return a;
  }

  /**
   * An authority read its queue (an HTTP pull, or a stream opened): audited as `queue.read` on
   * `queue:<name>` once per account and queue per QUEUE_READ_AUDIT_WINDOW_MS. The row says how the
   * queue was read and from which cursor (`after`; `upTo` for a pull), and `readsSinceLastRow` how
   * many reads of that account and queue were not written since the previous row.
   */
  queueRead(p: Principal, queue: string, via: 'pull' | 'stream', cursors: { after: number; upTo?: number }): void {
    if (!AUDITED_READERS.has(p.role)) return;
    const now = this.deps.clock.now();
    const key = `${p.id}\n${queue}`;
    const last = this.queueReads.get(key);
    if (last && now - last.at < QUEUE_READ_AUDIT_WINDOW_MS) {
      last.since++;
      return;
    }
    this.deps.audit.record(p.id, 'queue.read', `queue:${queue}`, { via, ...cursors, ...(last && last.since > 0 ? { readsSinceLastRow: last.since } : {}) });
    this.queueReads.set(key, { at: now, since: 0 });
  }

  // ---- deadlines ----

  private scheduleDeadlines(a: Alert): void {
    const { acknowledgeBy, resolveBy, verifyBy } = a.deadlines;
    const timer = new DeadlineTimer(a, this);
    const heap = this.deps.heap;
    // first, so that at equal times a fire alarm is forwarded (raised) before any escalation
    if (verifyBy !== null && a.confirmation === 'unconfirmed' && !a.forwardedUnverified) heap.push(verifyBy, timer, SLOT_VERIFY);
    if (acknowledgeBy !== null && !a.escalations.some((e) => e.kind === 'acknowledge_overdue')) heap.push(acknowledgeBy, timer, SLOT_ACK);
    if (resolveBy !== null && !a.escalations.some((e) => e.kind === 'resolve_overdue')) heap.push(resolveBy, timer, SLOT_RESOLVE);
  }

  /** Called by the scheduler (inside the tick's transaction). */
  onDeadline(a: Alert, slot: number, now: number): void {
    if (!this.deps.ledger.isActive(a)) return;
    if (slot === SLOT_ACK) {
      if (a.state === 'open') this.escalate(a, 'acknowledge_overdue', now);
    } else if (slot === SLOT_RESOLVE) {
      if (UNRESOLVED.has(a.state)) this.escalate(a, 'resolve_overdue', now);
    } else if (slot === SLOT_VERIFY) {
      if (a.confirmation === 'unconfirmed' && !a.forwardedUnverified) {
        // DOMAIN: an alarm nobody verified or dismissed in time is treated as real
        a.forwardedUnverified = true;
        a.updatedAt = now;
        this.deps.ledger.addHistory(a.id, { at: now, actor: SYSTEM_ACTOR, action: 'forwarded', note: 'verify window passed without a verdict' });
        this.publish(a, 'updated', now, { reason: 'verify_window_passed' });
        this.deps.ledger.save(a);
      }
    }
  }

  private escalate(a: Alert, kind: 'acknowledge_overdue' | 'resolve_overdue', now: number): void {
    if (a.escalations.some((e) => e.kind === kind)) return;
    const entry = this.entry(a.type, a.deviceKind);
    const targets: string[] = [];
    for (const role of entry.escalateTo) {
      if (a.suppressed && this.withhold.has(role)) continue;
      const q = queueOf(role, a);
      if (q && !targets.includes(q)) targets.push(q);
    }
    for (const q of targets) if (!a.queues.includes(q)) a.queues.push(q);
    a.escalations.push({ kind, at: now, queues: targets });
    a.updatedAt = now;
    this.deps.ledger.addHistory(a.id, { at: now, actor: SYSTEM_ACTOR, action: 'escalated', detail: { kind, queues: targets } });
    this.deps.onEscalated?.(kind);
    for (const q of a.queues) this.deps.queues.append(q, 'escalated', now, a, { reason: kind });
    this.deps.ledger.save(a);
  }

  // ---- routing ----

  /** The queues an alert should be in now, by the responsibility list, suppression and confirmation. */
  targets(a: Alert): string[] {
    const entry = this.entry(a.type, a.deviceKind);
    const out: string[] = [];
    const held = a.confirmation === 'unconfirmed' && !a.forwardedUnverified;
    for (const role of entry.queues) {
      if (a.suppressed && this.withhold.has(role)) continue;
      if (held && entry.holdUntilConfirmed.includes(role)) continue;
      const q = queueOf(role, a);
      if (q && !out.includes(q)) out.push(q);
    }
    return out;
  }

  /** Appends `event` to the queues the alert is in, and `raised` to the ones it newly belongs in. */
  private publish(a: Alert, event: QueueEvent, at: number, extra: Extra | undefined): void {
    const routed = a.queues.slice();
    if (ACTIVE_STATES.has(a.state)) {
      for (const q of this.targets(a)) if (!a.queues.includes(q)) a.queues.push(q);
    }
    const queues = this.deps.queues;
    if (event !== 'raised') for (const q of routed) queues.append(q, event, at, a, extra);
    for (let i = routed.length; i < a.queues.length; i++) queues.append(a.queues[i]!, 'raised', at, a, extra);
  }
}
