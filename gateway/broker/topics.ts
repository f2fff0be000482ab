/** MQTT topic permissions (deny by default). */
import { canReadQueue, type Principal } from '../../registry/index.js';

export type Subscriber = { deviceId: string } | { principal: Principal };

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

/**
 * An account's MQTT sessions use its id as client id, or `{id}:{suffix}` for several at once, so that
 * no account can take over (and read the offline queue of) another party's persistent session. Ids
 * may contain ':' themselves, so a client id belongs to the longest registered id it starts with:
 * account `acme` may not use `acme:north` or `acme:north:1` once an account `acme:north` exists, nor
 * the id of any device.
 */
export function accountMayUseClientId(accountId: string, clientId: string, taken: { account(id: string): boolean; device(id: string): boolean }): boolean {
  if (taken.device(clientId)) return false;
  if (clientId === accountId) return true;
  if (!clientId.startsWith(accountId + ':') || clientId.length === accountId.length + 1) return false;
  for (let i = clientId.indexOf(':', accountId.length + 1); i !== -1; i = clientId.indexOf(':', i + 1)) {
    if (taken.account(clientId.slice(0, i))) return false;
  }
  return !taken.account(clientId);
}
