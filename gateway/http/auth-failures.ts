/**
 * Failed API logins (a bearer token that is nobody's) in the audit log, without letting a flood of
 * them flood the table: per address at most one row per window, carrying the number of failures
 * since that address's previous row. The first failure of an address is written at once (someone
 * is guessing now); the ones after it are counted and written by the next failure past the window,
 * or by the periodic flush. The addresses tracked are capped; past the cap, failures share one row
 * ("other"), so rotating source addresses does not multiply rows either. The token itself is
 * never recorded.
 */
import type { AuditLog } from '../../core/audit.js';

interface Entry { lastRowAt: number; pending: number; pendingSince: number }

export interface AuthFailureOptions {
  windowMs: number;
  /** Addresses with their own rows; the rest share the `other` row. */
  maxAddresses: number;
  now: () => number;
  /** Flush every window on a timer (false: the caller calls flush()). */
  timer: boolean;
}

// 100 addresses: the worst case is about 100 rows a minute, and an operator cares about the busiest offenders
const DEFAULTS: AuthFailureOptions = { windowMs: 60_000, maxAddresses: 100, now: Date.now, timer: true };
const OTHER = 'other';

export class AuthFailureAudit {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: AuthFailureOptions;
  private readonly interval: NodeJS.Timeout | undefined;

  constructor(private readonly audit: Pick<AuditLog, 'record'>, opts: Partial<AuthFailureOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    if (this.opts.timer) {
      this.interval = setInterval(() => this.flush(), this.opts.windowMs);
      this.interval.unref();
    }
  }

  failed(address: string): void {
    const now = this.opts.now();
    let key = address;
    if (!this.entries.has(key) && this.entries.size >= this.opts.maxAddresses) key = OTHER;
    const e = this.entries.get(key);
    if (!e) {
      this.entries.set(key, { lastRowAt: now, pending: 0, pendingSince: now });
      this.write(key, 1, now, now);
    } else if (now - e.lastRowAt >= this.opts.windowMs) {
      const since = e.pending > 0 ? e.pendingSince : now;
      this.write(key, e.pending + 1, since, now);
      e.lastRowAt = now;
      e.pending = 0;
    } else {
      if (e.pending === 0) e.pendingSince = now;
      e.pending++;
    }
  }

  /** Writes the held-back counts whose window has passed, and forgets quiet addresses. `all`: write every count now (shutdown). */
  flush(all = false): void {
    const now = this.opts.now();
    for (const [key, e] of this.entries) {
      if (now - e.lastRowAt < this.opts.windowMs && !all) continue;
      if (e.pending > 0) {
        this.write(key, e.pending, e.pendingSince, now);
        e.lastRowAt = now;
        e.pending = 0;
      } else {
        this.entries.delete(key);
      }
    }
  }

  close(): void {
    if (this.interval) clearInterval(this.interval);
    this.flush(true);
  }

  private write(key: string, failures: number, since: number, until: number): void {
    this.audit.record('anonymous', 'auth.failed', `address:${key}`, { failures, since, until });
  }
}
