/**
 * Alert changes as the rest of the gateway hears them: one typed event per change of one alert,
 * announced by the ledger only after the transaction that made it has committed, in the order the
 * changes were made. A change that was rolled back is never announced, so a listener never sees a
 * state the store does not hold.
 *
 * Why not the queue messages: one change is appended to every queue of its alert (up to four), a
 * queue hears only what is routed to it, and an alert may be in no queue at all. A listener that
 * wants "every change of every alert" (the console's feed, metrics) would have to guess which
 * messages are the same change; here there is exactly one event per change, and `queues` says
 * where it went.
 */
import type { Alert } from './model.js';
import type { QueueEvent } from './queues.js';

/**
 * What happened, in the queues' words: `raised` (a new alert), `updated` (repeated, condition
 * ended, confirmed, forwarded unverified), `escalated`, and the people's steps `acknowledged`,
 * `dispatched`, `resolved`, `closed` (also auto-cleared and dismissed, with `reason`).
 */
export type AlertChangeKind = QueueEvent;

/** One queue message a change appended. A queue hearing of the alert for the first time gets `raised`. */
export interface QueueDelivery { queue: string; cursor: number; event: QueueEvent }

export interface AlertChange {
  kind: AlertChangeKind;
  /** The alert after the change, as committed: the ledger's snapshot, shared by every listener (never changed). */
  alert: Readonly<Alert>;
  /** The alert before the change; null for a new alert. */
  previous: Readonly<Alert> | null;
  /** The messages the change appended, in order; empty when the alert is in no queue. */
  queues: readonly QueueDelivery[];
  /** When it happened, on the alert clock. */
  at: number;
  /** The account that acted; undefined for the rules, deadlines and schedules. */
  actor?: string | undefined;
  note?: string | undefined;
  /** Why, for system changes: repeated, condition_ended, confirmed, verify_window_passed, acknowledge_overdue, dismissed, ... */
  reason?: string | undefined;
}

export type AlertChangeListener = (change: AlertChange) => void;
