/**
 * What falls due on the alert clock (supervision's handovers, visits left open and order deadlines;
 * notifications' on-call steps) is checked by one node: the one that runs the cluster-wide timers
 * (always the only one in the embedded mode). The check runs every `everyMs` of real time, whenever a manual
 * clock jumps, at start, and when this node takes the lead; it asks `leading` before acting.
 */
import type { Clock } from './clock.js';

export class DueCheck {
  private leadingNow = true;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribeClock: (() => void) | undefined;

  constructor(private readonly clock: Clock, private readonly everyMs: number, private readonly check: () => void) {}

  /** Whether this node runs the check (cluster mode: only while it leads the timers). */
  get leading(): boolean { return this.leadingNow; }

  setLeading(leading: boolean): void {
    this.leadingNow = leading;
    if (leading) this.check();
  }

  start(): void {
    this.timer = setInterval(this.check, this.everyMs);
    this.timer.unref();
    this.unsubscribeClock = this.clock.onAdvance?.(this.check);
    this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribeClock?.();
  }
}
