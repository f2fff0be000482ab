/**
 * When nobody acts. Checked by the node that leads the timers, on the alert clock (core/due-check.ts):
 *
 * - A critical alert a party has not acknowledged: every `onCall.stepAfterMs` after it opened, the
 *   next person on that party's on-call list (contacts with `onCall` 1, 2, …) gets an SMS; when the
 *   list is done, voice calls in the same order; then the chain ends. It stops as soon as the party
 *   acknowledges (or acts: acting counts as acknowledging), or the alert is no longer open for it.
 * - Trapped passengers not acknowledged by the elevator's maintenance unit within
 *   `onCall.trappedUnitCallAfterMs` (3 min: the response the regulators count): one voice call to the
 *   unit's 24 h phone from the registry.
 *
 * The steps taken are stored per alert and party, so a restart or a new leader goes on from there
 * instead of calling everyone again.
 */
import type { Store } from '../core/db/store.js';
import type { Logger } from '../core/log.js';
import type { Alert } from '../alerts/index.js';
import { queueParty } from '../registry/index.js';
import type { ChannelName, Recipient } from './model.js';
import type { ContactSource } from './dispatcher.js';
import type { NewMessage } from './outbox.js';
import { notificationQueries, type NotificationTables } from './store.js';

export interface OnCallDeps {
  store: Store<NotificationTables>;
  contacts: ContactSource;
  /** The alerts that are open (the ledger's active alerts). */
  active: () => Iterable<Readonly<Alert>>;
  /** A maintenance unit's name and 24 h phone ('' when not registered). */
  unit: (id: string) => { name: string; phone: string } | undefined;
  /** Channels that have a provider configured: the chain uses SMS, or voice when there is no SMS. */
  configured: (channel: ChannelName) => boolean;
  send: (m: NewMessage) => Promise<void>;
  /** A message that cannot be sent at all, written in the alert's delivery log as given up. */
  giveUp: (m: NewMessage, detail: string) => void;
  settings: { stepAfterMs: number; trappedUnitCallAfterMs: number };
  log: Logger;
}

/** The step key of the unit's 24 h call (it is not a party's chain). */
const UNIT_CALL = '#unit-24h';
/** States in which nobody has finished with the alert yet. */
const OPEN_STATES = new Set(['open', 'acknowledged', 'dispatched']);

/** The role whose acknowledgement ends a party's chain: the authorities' queues are named by their role. */
const roleOf = (party: string): string => queueParty(party) ?? party;

export class OnCall {
  private readonly q;
  /** `${alertId}|${party}` → the last step taken. */
  private readonly steps = new Map<string, number>();
  private loaded = false;

  constructor(private readonly deps: OnCallDeps) {
    this.q = notificationQueries(deps.store.q);
  }

  /** Reads the steps taken so far (at start, and when this node takes the lead: another node may have taken some). */
  async load(): Promise<void> {
    let oldest = Infinity;
    for (const a of this.deps.active()) oldest = Math.min(oldest, a.id);
    this.steps.clear();
    if (oldest !== Infinity) {
      for (const r of await this.deps.store.all(this.q.onCallSteps(oldest))) this.steps.set(`${Number(r.alert_id)}|${r.party}`, r.step);
      // the chains of alerts older than every open one are over
      this.deps.store.transaction(() => this.deps.store.write(this.q.pruneOnCall(oldest)));
    }
    this.loaded = true;
  }

  /** Takes the steps that have fallen due. */
  check(now: number): void {
    if (!this.loaded || !this.deps.store.open) return;
    for (const a of this.deps.active()) {
      if (!OPEN_STATES.has(a.state)) continue;
      if (a.type === 'elevator.trapped' && a.maintenanceUnitId && a.unitAcknowledgedAt === null && now >= a.openedAt + this.deps.settings.trappedUnitCallAfterMs) {
        this.unitCall(a);
      }
      if (a.severity !== 'critical') continue;
      for (const party of a.queues) {
        if (a.acknowledgements.some((k) => k.role === roleOf(party))) continue;
        const due = Math.floor((now - a.openedAt) / this.deps.settings.stepAfterMs);
        if (due >= 1) this.chain(a, party, due);
      }
    }
  }

  private chain(a: Readonly<Alert>, party: string, due: number): void {
    const key = `${a.id}|${party}`;
    const done = this.steps.get(key) ?? 0;
    if (done >= due) return;
    const onCall = this.deps.contacts.forParty(party).filter((c) => c.onCall !== undefined && c.phone).sort((x, y) => x.onCall! - y.onCall!);
    const last = 2 * onCall.length;
    if (done >= last) return;
    const upTo = Math.min(due, last);
    const sms: ChannelName = this.deps.configured('sms') ? 'sms' : 'voice';
    for (let step = done + 1; step <= upTo; step++) {
      const first = step <= onCall.length;
      const c = onCall[(first ? step : step - onCall.length) - 1]!;
      const recipient: Recipient = { channel: first ? sms : 'voice', address: c.phone!, name: c.name, contactId: c.id };
      void this.deps.send({ party, recipient, reason: 'on_call', alert: a });
    }
    this.save(a.id, party, upTo);
  }

  private unitCall(a: Readonly<Alert>): void {
    const key = `${a.id}|${UNIT_CALL}`;
    if (this.steps.has(key)) return;
    const party = `maintenance/${a.maintenanceUnitId}`;
    const unit = this.deps.unit(a.maintenanceUnitId!);
    this.save(a.id, UNIT_CALL, 1);
    const message: NewMessage = { party, recipient: { channel: 'voice', address: unit?.phone ?? '', name: `${unit?.name ?? a.maintenanceUnitId} 24 小时电话 / 24 h phone` }, reason: 'trapped_unit_call', alert: a };
    if (!unit?.phone) {
      this.deps.log.warn({ alertId: a.id, unitId: a.maintenanceUnitId }, 'trapped passengers not acknowledged by the maintenance unit, and it has no 24 h phone registered: nobody called');
      this.deps.giveUp(message, '维保单位未登记 24 小时电话，无法呼叫 / the maintenance unit has no 24 h phone registered: nobody was called');
      return;
    }
    void this.deps.send(message);
  }

  private save(alertId: number, party: string, step: number): void {
    this.steps.set(`${alertId}|${party}`, step);
    this.deps.store.transaction(() => this.deps.store.write(this.q.saveOnCallStep(alertId, party, step)));
  }
}
