/**
 * Deadlines and escalation: each alert's `acknowledgeBy` / `resolveBy` from the responsibility list,
 * a trapped-passenger alert's `deadlines.arrive` (the site's rescue arrival deadline), and a fire alarm's
 * verify window. When a deadline passes and the alert has not met it, the alert
 * is escalated once per deadline (its escalation targets join its queues, and every queue hears
 * `escalated`); an alarm nobody verified or dismissed in its window is treated as real and goes to
 * the queues it was held from (`verify_window_passed`).
 *
 * The timers are entries of the one timer heap, one target object per alert. A timer names its
 * alert by id and is checked against the alert as it is when it fires (still active, deadline not
 * met, not escalated yet, and due by the alert's own deadline), so a timer armed in a transaction
 * that was rolled back does nothing, even if the id is given again to the next alert.
 */
import type { TimerHeap, TimerTarget } from './heap.js';
import type { Alert, AlertState, Escalation } from './model.js';

export type DeadlineKind = Escalation['kind'] | 'verify_window_passed';

const UNRESOLVED: ReadonlySet<AlertState> = new Set(['open', 'acknowledged', 'dispatched']);
const SLOTS: readonly DeadlineKind[] = ['acknowledge_overdue', 'resolve_overdue', 'verify_window_passed', 'arrive_overdue'];
const SLOT_ACK = 0, SLOT_RESOLVE = 1, SLOT_VERIFY = 2, SLOT_ARRIVE = 3;

class DeadlineTimer implements TimerTarget {
  constructor(private readonly alertId: number, private readonly onDue: (alertId: number, kind: DeadlineKind, now: number) => void) {}
  onTimer(slot: number, now: number): void { this.onDue(this.alertId, SLOTS[slot]!, now); }
}

export class Deadlines {
  /** `onDue` is called (inside the timer tick's transaction) for each deadline that comes due. */
  constructor(private readonly heap: TimerHeap, private readonly onDue: (alertId: number, kind: DeadlineKind, now: number) => void) {}

  /** Arms the timers of the deadlines the alert has not passed yet (a new alert, or an active one at start). */
  schedule(a: Readonly<Alert>): void {
    const { acknowledgeBy, resolveBy, verifyBy, arrive: arriveBy } = a.deadlines;
    const timer = new DeadlineTimer(a.id, this.onDue);
    // first, so that at equal times a fire alarm is forwarded (raised) before any escalation
    if (verifyBy !== null && a.confirmation === 'unconfirmed' && !a.forwardedUnverified) this.heap.push(verifyBy, timer, SLOT_VERIFY);
    if (acknowledgeBy !== null && !escalated(a, 'acknowledge_overdue')) this.heap.push(acknowledgeBy, timer, SLOT_ACK);
    if (arriveBy !== null && (a.arrivedAt === null || a.arrivedAt > arriveBy) && !escalated(a, 'arrive_overdue')) this.heap.push(arriveBy, timer, SLOT_ARRIVE);
    if (resolveBy !== null && !escalated(a, 'resolve_overdue')) this.heap.push(resolveBy, timer, SLOT_RESOLVE);
  }
}

const escalated = (a: Readonly<Alert>, kind: Escalation['kind']) => a.escalations.some((e) => e.kind === kind);

/** Whether the deadline has passed for the (active) alert as it is now, and was not met or acted on. */
export function isDue(a: Readonly<Alert>, kind: DeadlineKind, now: number): boolean {
  switch (kind) {
    case 'acknowledge_overdue':
      return a.state === 'open' && a.deadlines.acknowledgeBy !== null && a.deadlines.acknowledgeBy <= now && !escalated(a, kind);
    case 'resolve_overdue':
      return UNRESOLVED.has(a.state) && a.deadlines.resolveBy !== null && a.deadlines.resolveBy <= now && !escalated(a, kind);
    case 'arrive_overdue': {
      // arrival at or before the deadline meets it; one recorded after it (but before this timer ran) does not
      const by = a.deadlines.arrive;
      return UNRESOLVED.has(a.state) && by !== null && by <= now && (a.arrivedAt === null || a.arrivedAt > by) && !escalated(a, kind);
    }
    case 'verify_window_passed':
      return a.confirmation === 'unconfirmed' && !a.forwardedUnverified && a.deadlines.verifyBy !== null && a.deadlines.verifyBy <= now;
  }
}

/** Escalates the working copy: `targets` join its queues, and the escalation is kept on it. */
export function escalate(draft: Alert, kind: Escalation['kind'], targets: string[], at: number): void {
  for (const q of targets) if (!draft.queues.includes(q)) draft.queues.push(q);
  draft.escalations.push({ kind, at, queues: targets });
  draft.updatedAt = at;
}

/** The verify window passed without a verdict: the alarm goes to the queues it was held from, unconfirmed. */
export function forwardUnverified(draft: Alert, at: number): void {
  draft.forwardedUnverified = true;
  draft.updatedAt = at;
}
