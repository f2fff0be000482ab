/**
 * The sleep of a delivery loop that something else may cut short. A loop (the InfluxDB forwarder,
 * a webhook's deliverer) waits for a timer (a flush interval, a retry backoff) or for an event
 * (new data, an explicit flush, shutdown), whichever comes first. Each sleep carries a reason, so
 * whoever wakes can tell a loop that is idle (new data should wake it) from one that is backing off
 * (new data must not hurry a retry to a receiver that is down).
 *
 * One sleeper at a time: a loop owns its Wakeable. Timers are injectable (tests fire them by hand
 * instead of waiting) and real ones are unref'd: a sleeping loop alone must not keep the process
 * alive; the servers do, and close() ends the sleep anyway.
 */

/** Where a Wakeable gets its timers. */
export interface TimerSource {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: TimerSource = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** Node fires a longer timer at once (with a warning): a huge configured delay must not become a busy loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Sleep<R> {
  reason: R;
  end(elapsed: boolean): void;
}

export class Wakeable<R extends string = string> {
  private current: Sleep<R> | null = null;
  private ended = false;

  constructor(private readonly timers: TimerSource = realTimers) {}

  /** Why the loop sleeps now, or null when it is awake. */
  get sleeping(): R | null {
    return this.current ? this.current.reason : null;
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Resolves after `ms` (Infinity: only when woken) with true, or earlier with false when woken or
   * closed. After close() it resolves at once. A new sleep ends one still pending (as if woken).
   */
  sleep(ms: number, reason: R): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    this.current?.end(false);
    return new Promise<boolean>((resolve) => {
      let handle: unknown;
      const sleep: Sleep<R> = {
        reason,
        end: (elapsed) => {
          if (this.current !== sleep) return;
          this.current = null;
          if (handle !== undefined) this.timers.clear(handle);
          resolve(elapsed);
        },
      };
      this.current = sleep;
      if (Number.isFinite(ms)) handle = this.timers.set(() => sleep.end(true), Math.min(MAX_TIMER_MS, Math.max(0, ms)));
    });
  }

  /** Ends the current sleep now; false when the loop was not asleep. */
  wake(): boolean {
    const c = this.current;
    if (!c) return false;
    c.end(false);
    return true;
  }

  /** Ends the current sleep, and every later one at once: the loop is stopping. */
  close(): void {
    this.ended = true;
    this.wake();
  }
}
