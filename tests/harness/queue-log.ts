/**
 * What the alert queues hold, read straight from the gateway's durable queue log.
 *
 * Why tests read it for "nothing was sent" checks: a device's PUBACK is sent only after the alert
 * rules ran and the ledger and queues were committed, and a ManualClock runs every due timer inside
 * `advance()`. So the log is final the moment `publish` resolves or `advance` returns: a check made
 * then sees exactly what the gateway decided, with no sleep and no MQTT delivery time in between.
 */
import type { TestGateway } from './gateway.js';
import type { QueueMessage } from '../../alerts/index.js';

export interface Logged { queue: string; cursor: number; event: string; reason?: string | undefined; alert: QueueMessage['alert'] }

/** Every queue message about a device's alerts (of one type, if given), per queue in cursor order. */
export async function logged(t: TestGateway, deviceId: string, type?: string): Promise<Logged[]> {
  const queues = t.gw.alerts.queues;
  const out: Logged[] = [];
  for (const { queue, cursor: head } of await queues.heads()) {
    for (const m of await queues.read(queue, 0, head)) {
      if (m.alert.deviceId !== deviceId || (type !== undefined && m.alert.type !== type)) continue;
      out.push({ queue, cursor: m.cursor, event: m.event, reason: m.reason, alert: m.alert });
    }
  }
  return out;
}
