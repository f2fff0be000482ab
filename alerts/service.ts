/**
 * The alert service: the one place where alerts change. Rules raise and end conditions, people act
 * through the API, deadlines and verify windows fire from the scheduler. Every change happens in
 * one unit of work of the store (`atomically`) on a working copy of the alert (copy-on-write, ledger.ts):
 * it is written to the ledger and appended to the alert's queues, and only after the commit do the
 * ledger's memory index, the live queue consumers and the change listeners (changes.ts) see it. A
 * rollback leaves all of them as they were. The memory index takes a change when its unit of work
 * ends; agencies and listeners hear of it only once it is durable (at once on SQLite, after the
 * write-behind commit on PostgreSQL: core/db/store.ts).
 *
 * What each change is comes from the modules that say so: lifecycle.ts (open, repeat, condition
 * ended, people's actions), corroboration.ts (fire alarms backed by another source), deadlines.ts
 * (escalation, verify windows), routing.ts (which queue hears what). This file applies them.
 */
import type { Store } from '../core/db/store.js';
import type { AuditLog } from '../core/audit.js';
import { canSeeAlert, type Principal } from '../registry/index.js';
import type { Logger } from '../core/log.js';
import type { AlertType } from './catalog.js';
import type { AlertsConfig } from './config.js';
import type { Clock } from '../core/clock.js';
import type { TimerHeap } from './heap.js';
import type { AlertLedger } from './ledger.js';
import type { QueueLog, Extra } from './queues.js';
import { ACTIVE_STATES, SYSTEM_ACTOR, type Action, type Alert, type RaiseInput } from './model.js';
import { AlertError } from './errors.js';
import { Routing, type Delivery } from './routing.js';
import { applyAction, checkAction, conditionEnded, newAlert, PAST, release, repeat, type Step } from './lifecycle.js';
import { confirmFire, FireCorroboration, isTest, type Corroboration, type Place } from './corroboration.js';
import { Deadlines, escalate, forwardUnverified, isDue, type DeadlineKind } from './deadlines.js';

/** The history note of an alert raised in test mode (monthly fire alarm tests: DOMAIN.md, practitioner review). */
const TEST_NOTE = '测试模式：仅记录，不转发消防部门 / test mode: recorded, not forwarded to the fire service';
const TEST_ENDED_NOTE = '测试模式外再次报警：按真实报警处理 / reported again outside test mode: handled as a real alarm';

/** Who answers for an alert: its company and maintenance unit, with their names. */
export interface Parties { companyId: string; companyName?: string | undefined; maintenanceUnitId: string | null; maintenanceUnitName?: string | undefined }

export interface AlertServiceDeps {
  /** Any view of the store: units of work, what waits for their commit, notices to the other nodes. */
  store: Pick<Store<unknown>, 'transaction' | 'afterCommit' | 'notify'>;
  ledger: AlertLedger;
  queues: QueueLog;
  audit: AuditLog;
  config: AlertsConfig;
  clock: Clock;
  heap: TimerHeap;
  log: Logger;
}

export class AlertService {
  private depth = 0;
  private readonly routing: Routing;
  private readonly fire: FireCorroboration;
  private readonly deadlines: Deadlines;
  /**
   * Whether this node runs the cluster-wide timers (deadlines, escalation, verify windows): always
   * in the embedded mode; in cluster mode only while it holds the lead (core/db/leader.ts).
   */
  private leading = true;

  constructor(private readonly deps: AlertServiceDeps) {
    this.routing = new Routing(deps.config);
    this.fire = new FireCorroboration((id) => deps.ledger.getActive(id), deps.config.fire.corroborationWindow, deps.config.fire.corroborateWithin);
    this.deadlines = new Deadlines(deps.heap, (id, kind, now) => this.onDeadline(id, kind, now));
  }

  /** Re-arms the deadlines of the alerts that were active when the gateway stopped. */
  start(): void {
    for (const a of this.deps.ledger.activeAlerts()) {
      if (this.leading) this.deadlines.schedule(a);
      if (a.type === 'fire.alarm') this.fire.track(a);
    }
  }

  /** This node takes the lead (its deadlines are armed for every active alert) or gives it up (none fires here). */
  setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (leading) for (const a of this.deps.ledger.activeAlerts()) this.deadlines.schedule(a);
  }

  get isLeading(): boolean { return this.leading; }

  /** Another node changed this alert (its copy is in the ledger already): corroboration and deadlines follow it. */
  remoteChanged(before: Readonly<Alert> | undefined, after: Readonly<Alert> | undefined): void {
    if (after === undefined) {
      if (before) this.fire.forget([before]);
      return;
    }
    if (after.type === 'fire.alarm') {
      if (ACTIVE_STATES.has(after.state)) this.fire.track(after);
      else this.fire.forget([after]);
    }
    if (this.leading && ACTIVE_STATES.has(after.state)) this.deadlines.schedule(after);
  }

  /**
   * Runs `fn` in one transaction (nested calls join the outer one). After the commit the ledger's
   * memory index takes the changes, then the queue messages go to the live consumers, then the
   * changes to their listeners; after a rollback none of them hears anything.
   */
  atomically<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    const { store, ledger, queues } = this.deps;
    this.depth++;
    ledger.begin();
    let result: T;
    try {
      result = store.transaction(fn);
    } catch (err) {
      this.fire.forget(ledger.rollback());
      queues.discard();
      throw err;
    } finally {
      this.depth--;
    }
    const changes = ledger.commit();
    for (const c of changes) this.fire.committed(c);
    if (changes.length > 0) {
      store.notify('alerts', [...new Set(changes.map((c) => String(c.alert.id)))]);
      const queueNames = new Set<string>();
      for (const c of changes) for (const d of c.queues) queueNames.add(d.queue);
      if (queueNames.size > 0) store.notify('queues', [...queueNames]);
    }
    const live = queues.takePending();
    const announce = ledger.announcer(changes);
    store.afterCommit(() => { live(); announce(); });
    return result;
  }

  // ---- rules ----

  raise(input: RaiseInput): Readonly<Alert> {
    return this.atomically(() => {
      const existing = this.deps.ledger.findActive(input.device.id, input.type, input.subject);
      return existing ? this.repeat(existing, input) : this.open(input);
    });
  }

  private open(input: RaiseInput): Readonly<Alert> {
    const { ledger, config } = this.deps;
    const at = input.at;
    // a site without an area is urban: the registry's default, and the shorter deadline
    const arriveWithin = input.type === 'elevator.trapped' ? config.rescue.arriveWithin[input.device.area ?? 'urban'] : null;
    const a = ledger.create(newAlert(input, this.routing.entry(input.type, input.device.kind), config.fire.verifyWindow, arriveWithin));
    ledger.addHistory(a.id, {
      at, actor: SYSTEM_ACTOR, action: 'raised', detail: { ...input.details, ...(input.suppressed ? { suppressed: true } : {}) },
      ...(isTest(a) ? { note: TEST_NOTE } : {}),
    });
    let others: Alert[] = [];
    if (a.type === 'fire.alarm') {
      this.fire.track(a);
      others = this.corroborate(a, at);
    }
    this.record(a, { kind: 'raised' }, at);
    for (const o of others) this.record(o, { kind: 'updated', reason: 'confirmed' }, at);
    if (this.leading) this.deadlines.schedule(a);
    return a;
  }

  private repeat(existing: Readonly<Alert>, input: RaiseInput): Readonly<Alert> {
    const { ledger } = this.deps;
    const at = input.at;
    const a = ledger.edit(existing);
    const previousPoint = a.details.point;
    const wasTest = isTest(a);
    repeat(a, input);
    this.testModeFollows(a, wasTest, input.details.testMode === true, at);
    const second = this.fire.secondPoint(a, previousPoint, input.details.point);
    if (second) this.confirm(a, at, second);
    ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'repeated', detail: { count: a.count, ...input.details } });
    const others = a.type === 'fire.alarm' ? this.corroborate(a, at) : [];
    this.record(a, { kind: 'updated', reason: 'repeated' }, at);
    for (const o of others) this.record(o, { kind: 'updated', reason: 'confirmed' }, at);
    return a;
  }

  /** The condition behind an active alert ended. An untouched alert clears itself (kept in the ledger). */
  conditionEnded(deviceId: string, type: AlertType, subject: string, at: number): void {
    const current = this.deps.ledger.findActive(deviceId, type, subject);
    if (!current || !current.conditionActive) return;
    this.atomically(() => {
      const { ledger } = this.deps;
      const a = ledger.edit(current);
      const step = conditionEnded(a, at, this.routing.entry(a.type, a.deviceKind).autoClear);
      if (step.cleared) ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'auto_cleared', note: 'condition ended before anyone acted' });
      else ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'condition_ended' });
      this.record(a, step, at);
    });
  }

  /**
   * A suppressed alert whose condition still holds when the elevator leaves inspection / maintenance
   * mode (DOMAIN.md, practitioner review): it goes to the authorities at that moment. Its queues hear
   * `updated` and the withheld ones join with `raised` (routing, as for a repeat outside the mode),
   * reason `mode_ended`; the history (`released`) says which mode ended. One whose condition ended,
   * or that was not suppressed, is left as it is.
   */
  release(deviceId: string, type: AlertType, subject: string, at: number, why: Record<string, unknown>): void {
    const current = this.deps.ledger.findActive(deviceId, type, subject);
    if (!current || !current.suppressed || !current.conditionActive) return;
    this.atomically(() => {
      const { ledger } = this.deps;
      const a = ledger.edit(current);
      const step = release(a, at);
      ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'released', note: 'the condition still held when inspection / maintenance mode ended', detail: why });
      this.record(a, step, at);
    });
  }

  /** Ends every active alert of this type on a device (a panel reset without a zone). */
  /** Whether the device has an active alert of this type (any subject is not asked: the subject is ''). */
  hasActive(deviceId: string, type: AlertType): boolean {
    return this.deps.ledger.findActive(deviceId, type, '') !== undefined;
  }

  conditionEndedAll(deviceId: string, type: AlertType, at: number): void {
    const subjects: string[] = [];
    for (const a of this.deps.ledger.activeAlerts()) if (a.deviceId === deviceId && a.type === type) subjects.push(a.subject);
    for (const s of subjects) this.conditionEnded(deviceId, type, s, at);
  }

  /** A sprinkler flow switch shows water flowing in a building: it corroborates the fire alarms there (corroboration.ts). */
  fireFlow(where: Place, at: number): void {
    const toConfirm = this.fire.flow(where, at);
    if (toConfirm.length === 0) return;
    this.atomically(() => {
      for (const o of toConfirm) {
        const a = this.deps.ledger.edit(o);
        this.confirm(a, at, { by: 'flow_switch' });
        this.record(a, { kind: 'updated', reason: 'confirmed' }, at);
      }
    });
  }

  /**
   * A repeat decides whether the alert is a test: a test alarm reported again outside test mode is
   * real from now on (lifecycle's `repeat` lifts the suppression, so the fire service hears it as
   * routing allows); an alert already routed as real stays real when a repeat comes in test mode,
   * since the fire service has it already and a test cannot take it back.
   */
  private testModeFollows(a: Alert, wasTest: boolean, test: boolean, at: number): void {
    if (wasTest === test) return;
    a.details = { ...a.details, testMode: wasTest && test };
    if (wasTest) this.deps.ledger.addHistory(a.id, { at, actor: SYSTEM_ACTOR, action: 'test_mode_ended', note: TEST_ENDED_NOTE });
  }

  // ---- fire confirmation ----

  /**
   * Checks a fire alarm (a working copy) against the other sources in its building. Confirms it when
   * corroborated, and returns the working copies of the other alarms it confirmed in turn (the
   * caller records them after itself).
   */
  private corroborate(a: Alert, at: number): Alert[] {
    const found = this.fire.corroborate(a, at);
    if (!found) return [];
    if (a.confirmation === 'unconfirmed') this.confirm(a, at, found.self);
    const confirmed: Alert[] = [];
    for (const o of found.others) {
      if (o.confirmation !== 'unconfirmed') continue;
      const draft = this.deps.ledger.edit(o);
      this.confirm(draft, at, { by: 'second_source', sources: [{ deviceId: a.deviceId, subject: a.subject, alertId: a.id }] });
      confirmed.push(draft);
    }
    return confirmed;
  }

  /** Corroborated by another source (the rules); staff confirm through `act`. */
  private confirm(draft: Alert, at: number, by: Corroboration): void {
    confirmFire(draft, at, by);
    this.deps.ledger.addHistory(draft.id, { at, actor: SYSTEM_ACTOR, action: 'confirmed', note: 'corroborated', detail: by });
  }

  // ---- people ----

  /** The alert if the principal may see it. One outside its scope is answered exactly like one that does not exist. */
  async visible(p: Principal, id: number): Promise<Readonly<Alert>> {
    return this.check(p, id, await this.deps.ledger.get(id));
  }

  private check(p: Principal, id: number, a: Readonly<Alert> | undefined): Readonly<Alert> {
    if (!a || !canSeeAlert(p, a)) throw new AlertError('ALERT_NOT_FOUND', `alert ${id} not found`);
    return a;
  }

  /**
   * A person's action: scope (404), then the role (403), then the alert's state (409). Refusals
   * for the role or the state are audited (`alert.<action>.refused`); a 404 is not, since it is
   * what any id outside the scope answers and auditing it would let anyone fill the log.
   */
  async act(p: Principal, id: number, action: Action, note: string | undefined): Promise<Readonly<Alert>> {
    // an inactive alert is read from the store first; an active one is taken from memory inside the unit of work
    const stored = await this.deps.ledger.get(id);
    try {
      return this.atomically(() => this.apply(p, id, action, note, stored));
    } catch (err) {
      if (err instanceof AlertError && (err.code === 'ALERT_ACTION_FORBIDDEN' || err.code === 'ALERT_INVALID_TRANSITION')) {
        // after the rollback, or the refusal would be rolled back with the rest
        this.deps.audit.record(p.id, `alert.${action}.refused`, `alert:${id}`, { code: err.code, state: stored?.state });
      }
      throw err;
    }
  }

  private apply(p: Principal, id: number, action: Action, note: string | undefined, stored: Readonly<Alert> | undefined): Readonly<Alert> {
    const { ledger, audit, clock } = this.deps;
    const at = clock.now();
    const current = this.check(p, id, ledger.getActive(id) ?? stored);
    checkAction(p, current, action);
    const a = ledger.edit(current);
    const from = a.state;
    const step = applyAction(a, action, p, at);
    ledger.addHistory(a.id, { at, actor: p.id, action: PAST[action], note });
    audit.record(p.id, `alert.${action}`, `alert:${a.id}`, { from, to: a.state, ...(note ? { note } : {}) });
    this.record(a, step, at, { actor: p.id, note });
    return a;
  }

  // ---- responsibility ----

  /**
   * The responsible parties of some active alerts changed (a site handed over, an elevator given to
   * another maintenance unit): each such alert takes the new company / unit (ids and names), its
   * queues follow (routing.reassign: the old party's queue hears it one last time, the new party's
   * gets it as raised) and its history says from whom to whom. Closed alerts stay with whoever was
   * responsible then. Returns how many moved.
   */
  reassign(match: (a: Readonly<Alert>) => boolean, partiesOf: (a: Readonly<Alert>) => Parties, at: number, actor: string, reason: 'handover' | 'unit_changed'): number {
    return this.atomically(() => {
      const { ledger } = this.deps;
      const todo: Readonly<Alert>[] = [];
      for (const a of ledger.activeAlerts()) if (match(a)) todo.push(a);
      let moved = 0;
      for (const current of todo) {
        const to = partiesOf(current);
        if (to.companyId === current.companyId && to.maintenanceUnitId === current.maintenanceUnitId) continue;
        const a = ledger.edit(current);
        const from = { companyId: a.companyId, maintenanceUnitId: a.maintenanceUnitId };
        a.companyId = to.companyId;
        a.companyName = to.companyName;
        a.maintenanceUnitId = to.maintenanceUnitId;
        a.maintenanceUnitName = to.maintenanceUnitName;
        a.updatedAt = at;
        ledger.addHistory(a.id, { at, actor, action: 'reassigned', note: reason, detail: { from, to: { companyId: to.companyId, maintenanceUnitId: to.maintenanceUnitId } } });
        this.record(a, { kind: 'updated', reason }, at, { actor }, this.routing.reassign(a));
        moved++;
      }
      return moved;
    });
  }

  // ---- deadlines ----

  /** A deadline timer fired (inside the tick's transaction). */
  private onDeadline(id: number, kind: DeadlineKind, now: number): void {
    // armed while this node led: another node leads now, and its own timers fire
    if (!this.leading) return;
    const current = this.deps.ledger.getActive(id);
    if (!current || !isDue(current, kind, now)) return;
    this.atomically(() => {
      const { ledger } = this.deps;
      const a = ledger.edit(current);
      if (kind === 'verify_window_passed') {
        // an alarm nobody verified or dismissed in time is treated as real
        forwardUnverified(a, now);
        ledger.addHistory(a.id, { at: now, actor: SYSTEM_ACTOR, action: 'forwarded', note: 'verify window passed without a verdict' });
        this.record(a, { kind: 'updated', reason: kind }, now);
        return;
      }
      const targets = kind === 'arrive_overdue' ? this.routing.rescueTargets(a) : this.routing.escalationTargets(a);
      escalate(a, kind, targets, now);
      ledger.addHistory(a.id, { at: now, actor: SYSTEM_ACTOR, action: 'escalated', detail: { kind, queues: targets } });
      this.record(a, { kind: 'escalated', reason: kind }, now, undefined, this.routing.everyQueue(a, 'escalated'));
    });
  }

  // ---- recording ----

  /**
   * Records one change of a working copy: routes it (or takes `deliveries`), appends it to those
   * queues and writes it to the ledger, which announces it after the commit.
   */
  private record(a: Alert, step: Step, at: number, by?: Pick<Extra, 'actor' | 'note'>, deliveries: Delivery[] = this.routing.route(a, step.kind)): void {
    const extra: Extra = { actor: by?.actor || undefined, note: by?.note || undefined, reason: step.reason || undefined };
    for (const d of deliveries) this.deps.queues.append(d.queue, d.event, at, a, extra, (cursor) => { d.cursor = cursor; });
    this.deps.ledger.record(a, { kind: step.kind, at, queues: deliveries, actor: extra.actor, note: extra.note, reason: extra.reason });
  }
}
