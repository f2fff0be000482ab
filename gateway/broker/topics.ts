/** MQTT topic permissions (deny by default). */
import type { Principal } from '../access.js';

export type Subscriber = { deviceId: string } | { principal: Principal };

/** The alert queues an account may read: its own agency's, or its company's / unit's. */
export function canReadQueue(p: Principal, queue: string): boolean {
  switch (p.role) {
    case 'admin': return true;
    case 'market-supervision': return queue === 'market-supervision';
    case 'fire-service': return queue === 'fire-service';
    case 'property': return queue === `property/${p.scope}`;
    case 'maintenance': return queue === `maintenance/${p.scope}`;
  }
}

/**
 * Accounts consume; only an admin may publish (tests, tooling), and never on `$` topics or under
 * `alerts/`: agencies must be able to trust that every alert message comes from the gateway itself.
 */
export function canPublishAsAccount(p: Principal, topic: string): boolean {
  return p.role === 'admin' && !topic.startsWith('$') && !topic.startsWith('alerts/') && topic !== 'alerts';
}

export function canSubscribe(who: Subscriber, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  if ('deviceId' in who) {
    // its own subtree only: the literal prefix keeps wildcards inside it
    return topic.startsWith(`devices/${who.deviceId}/`) || topic === `devices/${who.deviceId}/#`;
  }
  const p = who.principal;
  if (p.role === 'admin') return true;
  if (!topic.startsWith('alerts/')) return false;
  const queue = topic.slice('alerts/'.length);
  // no wildcards for agencies: a wildcard could match another agency's queue
  if (queue.includes('+') || queue.includes('#')) return false;
  return canReadQueue(p, queue);
}
