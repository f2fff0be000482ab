/**
 * Time, injected. Rules, deadlines, escalation and schedules read `clock.now()` only, so tests can
 * move time by hours without sleeping and without faking the timers the broker and HTTP server use.
 */
export interface Clock {
  now(): number;
  /** Called after the clock jumps (manual clocks only), so due timers fire at once. */
  onAdvance?(listener: () => void): () => void;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to; `advance` runs the due timers synchronously. */
export class ManualClock implements Clock {
  private t: number;
  private readonly listeners = new Set<() => void>();

  constructor(start: number = Date.now()) { this.t = start; }

  now(): number { return this.t; }

  set(t: number): void {
    if (t < this.t) throw new Error('ManualClock cannot go backwards');
    this.t = t;
    for (const l of this.listeners) l();
  }

  advance(ms: number): void { this.set(this.t + ms); }

  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
