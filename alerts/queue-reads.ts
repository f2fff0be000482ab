/**
 * The audit of authorities reading their queues. An authority's reads of its queue are audited once
 * per (account, queue) per QUEUE_READ_AUDIT_WINDOW_MS: an agency polling every few seconds must not
 * fill the audit log, and a read in a window says as much about what it could see as the hundred
 * after it. The next row counts the reads in between.
 */
import type { AuditLog } from '../core/audit.js';
import type { Clock } from '../core/clock.js';
import type { Principal } from '../registry/index.js';

export const QUEUE_READ_AUDIT_WINDOW_MS = 10 * 60_000;
const AUDITED_READERS: ReadonlySet<Principal['role']> = new Set(['market-supervision', 'fire-service']);

export class QueueReadAudit {
  /** Per authority account and queue: when its last audited read was, and the reads since (one queue per authority, so small). */
  private readonly reads = new Map<string, { at: number; since: number }>();

  constructor(private readonly audit: AuditLog, private readonly clock: Clock) {}

  /**
   * An authority read its queue (an HTTP pull, a stream opened, an MQTT subscription): audited as `queue.read` on
   * `queue:<name>`. The row says how the queue was read and from which cursor (`after`; `upTo` for a
   * pull), and `readsSinceLastRow` how many reads of that account and queue were not written since
   * the previous row.
   */
  record(p: Principal, queue: string, via: 'pull' | 'stream' | 'mqtt', cursors: { after?: number; upTo?: number } = {}): void {
    if (!AUDITED_READERS.has(p.role)) return;
    const now = this.clock.now();
    const key = `${p.id}\n${queue}`;
    const last = this.reads.get(key);
    if (last && now - last.at < QUEUE_READ_AUDIT_WINDOW_MS) {
      last.since++;
      return;
    }
    this.audit.record(p.id, 'queue.read', `queue:${queue}`, { via, ...cursors, ...(last && last.since > 0 ? { readsSinceLastRow: last.since } : {}) });
    this.reads.set(key, { at: now, since: 0 });
  }
}
