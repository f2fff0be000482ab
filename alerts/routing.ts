/**
 * Routing by the responsibility list: which queues an alert belongs in, and which message each
 * queue gets for one change. The first message a queue gets about an alert is `raised`; after
 * that it gets every change. Elevator alerts raised in inspection / maintenance mode are withheld
 * from the queues in `suppression.withholdFrom` (and a fire device's alerts in test mode from the fire
 * service); a fire alarm is withheld from the queues in its
 * entry's `holdUntilConfirmed` (the fire service) until it is confirmed or its verify window passed.
 *
 * Decisions only: the alert service applies them to its working copy and appends the messages.
 */
import { queueOf, queueParty } from '../registry/index.js';
import type { AlertType, QueueRole } from './catalog.js';
import type { AlertsConfig, Responsibility } from './config.js';
import { ACTIVE_STATES, type Alert } from './model.js';
import type { QueueEvent } from './queues.js';

/** One message to append: the queue and the event it hears (its cursor once appended). */
export interface Delivery { queue: string; event: QueueEvent; cursor: number }

export class Routing {
  private readonly withhold: ReadonlySet<QueueRole>;

  constructor(private readonly config: AlertsConfig) {
    this.withhold = new Set(config.suppression.withholdFrom);
  }

  /** The responsibility list's entry for an alert type on a device kind. */
  entry(type: AlertType, kind: string): Responsibility {
    const r = this.config.responsibilities[type];
    return (r.kinds[kind] as Responsibility | undefined) ?? r;
  }

  /**
   * Whether a suppressed alert stays out of the role's queue: the queues of `suppression.withholdFrom`,
   * and the fire service always for an alert of a fire device in test mode (a monthly alarm test is
   * the owner's business; whatever withholdFrom says, a test must never send the fire service out).
   */
  private withheld(a: Readonly<Alert>, role: QueueRole): boolean {
    return a.suppressed && (this.withhold.has(role) || (role === 'fire-service' && a.details.testMode === true));
  }

  /** The queues an alert should be in now, by the responsibility list, suppression and confirmation. */
  targets(a: Readonly<Alert>): string[] {
    const entry = this.entry(a.type, a.deviceKind);
    const out: string[] = [];
    const held = a.confirmation === 'unconfirmed' && !a.forwardedUnverified;
    for (const role of entry.queues) {
      if (this.withheld(a, role)) continue;
      if (held && entry.holdUntilConfirmed.includes(role)) continue;
      const q = queueOf(role, a);
      if (q && !out.includes(q)) out.push(q);
    }
    return out;
  }

  /**
   * One change of a working copy: the queues it newly belongs in join `draft.queues` (an alert that
   * left the active states joins none). Those get `raised`; the queues it was in get `event`.
   */
  route(draft: Alert, event: QueueEvent): Delivery[] {
    const routed = draft.queues.length;
    if (ACTIVE_STATES.has(draft.state)) {
      for (const q of this.targets(draft)) if (!draft.queues.includes(q)) draft.queues.push(q);
    }
    const out: Delivery[] = [];
    if (event !== 'raised') for (let i = 0; i < routed; i++) out.push({ queue: draft.queues[i]!, event, cursor: 0 });
    for (let i = routed; i < draft.queues.length; i++) out.push({ queue: draft.queues[i]!, event: 'raised', cursor: 0 });
    return out;
  }

  /**
   * The alert's parties changed (its site handed over to another company, its elevator given to
   * another maintenance unit): each queue of a party that no longer has it hears `updated` one last
   * time and leaves the alert, and the same party role's queue of the new company or unit joins it
   * with `raised` (an escalation that had reached the old company reaches the new one). Queues of
   * the authorities stay. Then as `route`: queues it newly belongs in join.
   */
  reassign(draft: Alert): Delivery[] {
    const out: Delivery[] = [];
    const kept: string[] = [];
    const joining: string[] = [];
    for (const q of draft.queues) {
      const role = queueParty(q);
      const own = role === undefined ? q : queueOf(role, draft);
      if (own === q) kept.push(q);
      else {
        out.push({ queue: q, event: 'updated', cursor: 0 });
        if (own !== null && !joining.includes(own)) joining.push(own);
      }
    }
    draft.queues = kept;
    out.push(...this.route(draft, 'updated'));
    for (const q of joining) {
      if (draft.queues.includes(q)) continue;
      draft.queues.push(q);
      out.push({ queue: q, event: 'raised', cursor: 0 });
    }
    return out;
  }

  /** Where an escalation of the alert goes: the entry's escalation targets, less the withheld ones of a suppressed alert. */
  escalationTargets(a: Readonly<Alert>): string[] {
    return this.queuesFor(a, this.entry(a.type, a.deviceKind).escalateTo);
  }

  /** Where a missed rescue arrival deadline goes (`alerts.rescue.escalateTo`), less the withheld ones of a suppressed alert. */
  rescueTargets(a: Readonly<Alert>): string[] {
    return this.queuesFor(a, this.config.rescue.escalateTo);
  }

  private queuesFor(a: Readonly<Alert>, roles: readonly QueueRole[]): string[] {
    const targets: string[] = [];
    for (const role of roles) {
      if (this.withheld(a, role)) continue;
      const q = queueOf(role, a);
      if (q && !targets.includes(q)) targets.push(q);
    }
    return targets;
  }

  /** `event` to every queue the alert is in (an escalation: its targets have joined them). */
  everyQueue(a: Readonly<Alert>, event: QueueEvent): Delivery[] {
    return a.queues.map((queue) => ({ queue, event, cursor: 0 }));
  }
}
