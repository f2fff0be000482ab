/** Each step's milliseconds, in the order taken, and their total. */
export interface LapsResult { totalMs: number; steps: Readonly<Record<string, number>> }

/**
 * Times the consecutive steps of a long piece of work: the gateway's start and stop, which at city
 * scale take seconds while devices wait to reconnect. Milliseconds per step, in the order taken.
 */
export class Laps {
  private last = performance.now();
  private readonly first = this.last;
  private readonly steps: Record<string, number> = {};

  /** The step just finished: the time since the previous one (or since the start). */
  lap(step: string): void {
    const now = performance.now();
    this.steps[step] = Math.round(now - this.last);
    this.last = now;
  }

  result(): LapsResult {
    return { totalMs: Math.round(this.last - this.first), steps: { ...this.steps } };
  }
}
