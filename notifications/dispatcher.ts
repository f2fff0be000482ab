/**
 * Who hears of an alert change, and how. An alert reaches a party through its queue (the
 * responsibility list decides: property/…, maintenance/…, street/…, the authorities); the people of
 * that party hear of it by their own rules: which types and severities, by which channels. A change
 * notifies when a queue receives the alert (`raised`: first heard of, including by escalation or
 * confirmation) or its escalation (`escalated`); the rest (acknowledged, resolved, …) people see in
 * the console. Suppressed alerts (maintenance mode) and fire tests reach only the queues they are
 * routed to, so they reach only those parties' people.
 *
 * One message per recipient and alert: two contacts sharing a group robot make one robot message.
 */
import { SEVERITIES, type Alert, type AlertChange } from '../alerts/index.js';
import type { ChannelName, Contact, ContactRule, Recipient } from './model.js';
import { ROBOT_CHANNELS } from './model.js';
import type { NewMessage } from './outbox.js';
import { quietUntil } from './quiet.js';

export interface ContactSource {
  /** The party's contacts that are not disabled. */
  forParty(party: string): readonly Contact[];
}

export interface DispatcherDeps {
  contacts: ContactSource;
  /** The kind of each configured robot (a contact names robots; its rule's robot channels pick those of that kind). */
  robotKind: (name: string) => ChannelName | undefined;
  send: (m: NewMessage) => Promise<void>;
  now: () => number;
  timeZone: string;
}

const NOTIFYING = new Set(['raised', 'escalated']);

/** Whether a rule takes this alert: its types (exact, or `domain.*` by type prefix or the alert's domain) and its least severity. */
export function ruleTakes(rule: ContactRule, alert: Pick<Alert, 'type' | 'domain' | 'severity'>): boolean {
  if (rule.minSeverity && SEVERITIES.indexOf(alert.severity) > SEVERITIES.indexOf(rule.minSeverity)) return false;
  if (!rule.types || rule.types.length === 0) return true;
  return rule.types.some((t) => {
    if (!t.endsWith('.*')) return t === alert.type;
    const prefix = t.slice(0, -2);
    return alert.type.startsWith(`${prefix}.`) || alert.domain === prefix;
  });
}

/** Where a contact's channels reach it for this alert: one recipient per channel and address. */
export function recipientsOf(contact: Contact, alert: Pick<Alert, 'type' | 'domain' | 'severity'>, robotKind: (name: string) => ChannelName | undefined): Recipient[] {
  const channels = new Set<ChannelName>();
  for (const rule of contact.rules) if (ruleTakes(rule, alert)) for (const c of rule.channels) channels.add(c);
  const out: Recipient[] = [];
  for (const channel of channels) {
    if (ROBOT_CHANNELS.includes(channel)) {
      for (const robot of contact.robots) if (robotKind(robot) === channel) out.push({ channel, address: robot, name: robot, contactId: contact.id });
    } else if ((channel === 'sms' || channel === 'voice') && contact.phone) {
      out.push({ channel, address: contact.phone, name: contact.name, contactId: contact.id });
    } else if (channel === 'email' && contact.email) {
      out.push({ channel, address: contact.email, name: contact.name, contactId: contact.id });
    }
  }
  return out;
}

export class Dispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  /** The alerts' change listener (after the commit, on the node that made it: once per change in a cluster). */
  readonly onChange = (change: AlertChange): void => {
    for (const q of change.queues) {
      if (NOTIFYING.has(q.event)) this.notifyParty(q.queue, change.alert, q.event);
    }
  };

  /** Messages for one party's people about one alert. */
  notifyParty(party: string, alert: Readonly<Alert>, reason: string): void {
    const now = this.deps.now();
    const seen = new Set<string>();
    for (const contact of this.deps.contacts.forParty(party)) {
      const holdUntil = alert.severity === 'critical' ? undefined : quietUntil(contact.quietHours, now, this.deps.timeZone);
      for (const recipient of recipientsOf(contact, alert, this.deps.robotKind)) {
        const key = `${recipient.channel}|${recipient.address}`;
        if (seen.has(key)) continue;
        seen.add(key);
        void this.deps.send({ party, recipient, reason, alert, ...(holdUntil === undefined ? {} : { holdUntil }) });
      }
    }
  }
}
