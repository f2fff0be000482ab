/**
 * The one scheduler behind every rule timer, deadline and verify window: a binary min-heap of
 * (due, target, slot) kept in parallel arrays, so scheduling allocates nothing per entry.
 * Entries are never removed early: a target that no longer needs a timer ignores it when it
 * pops (lazy deletion), which keeps the hot path to one comparison.
 */
export interface TimerTarget {
  /** Called when an entry of this target is due; `slot` says which timer it was. */
  onTimer(slot: number, now: number): void;
}

export class TimerHeap {
  private dues: number[] = [];
  private targets: TimerTarget[] = [];
  private slots: number[] = [];

  get size(): number { return this.dues.length; }

  /** Due time of the earliest entry, or Infinity. */
  peek(): number { return this.dues.length > 0 ? this.dues[0]! : Infinity; }

  push(due: number, target: TimerTarget, slot: number): void {
    const d = this.dues, t = this.targets, s = this.slots;
    let i = d.length;
    d.push(due); t.push(target); s.push(slot);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent]! <= due) break;
      d[i] = d[parent]!; t[i] = t[parent]!; s[i] = s[parent]!;
      i = parent;
    }
    d[i] = due; t[i] = target; s[i] = slot;
  }

  /** Pops every entry due at `now` and calls its target. Returns how many fired. */
  runDue(now: number): number {
    let n = 0;
    while (this.dues.length > 0 && this.dues[0]! <= now) {
      const target = this.targets[0]!, slot = this.slots[0]!;
      this.popTop();
      target.onTimer(slot, now);
      n++;
    }
    return n;
  }

  private popTop(): void {
    const d = this.dues, t = this.targets, s = this.slots;
    const lastDue = d.pop()!, lastTarget = t.pop()!, lastSlot = s.pop()!;
    const n = d.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && d[r]! < d[l]! ? r : l;
      if (d[c]! >= lastDue) break;
      d[i] = d[c]!; t[i] = t[c]!; s[i] = s[c]!;
      i = c;
    }
    d[i] = lastDue; t[i] = lastTarget; s[i] = lastSlot;
  }

  clear(): void { this.dues = []; this.targets = []; this.slots = []; }
}
