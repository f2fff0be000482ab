/**
 * The batches the forwarder sends, over the spool: points are encoded to line protocol once, on
 * append, and stored as text; a batch is read back as up to `batchSize` lines or `batchBytes`
 * bytes of that text, and a batch the backend rejects is split at line boundaries.
 */
import { toLine, type Point } from '../../points.js';
import type { Spool, SpoolBatch, SpoolCursor } from '../spool.js';

export interface BatchLimits {
  batchSize: number;
  batchBytes: number;
}

export class LineBatches {
  constructor(private readonly spool: Spool, private readonly limits: BatchLimits) {}

  /** Encodes and appends durably. Returns true when nothing was pending before (a batch's interval starts now). */
  append(points: readonly Point[]): boolean {
    const lines = new Array<string>(points.length);
    for (let i = 0; i < points.length; i++) lines[i] = toLine(points[i]!);
    const before = this.spool.pendingLines;
    this.spool.append(lines);
    return before === 0;
  }

  /** Lines accepted but not yet written (or dropped). */
  get pending(): number {
    return this.spool.pendingLines;
  }

  /** Lines accepted so far, ever. */
  get appended(): number {
    return this.spool.appendedLines;
  }

  /** Lines written or dropped so far (of all lines ever accepted). */
  get done(): number {
    return this.spool.appendedLines - this.spool.pendingLines;
  }

  /** A full batch is waiting: send without waiting for the interval. */
  get full(): boolean {
    return this.spool.pendingLines >= this.limits.batchSize || this.spool.pendingBytes >= this.limits.batchBytes;
  }

  /** The next batch from the committed cursor, marked in flight; null when nothing is pending. */
  read(): SpoolBatch | null {
    return this.spool.read(this.limits.batchSize, this.limits.batchBytes);
  }

  /** The backend has the batch (or its rejected lines are counted): move past it. */
  commit(next: SpoolCursor): void {
    this.spool.commit(next);
  }

  /** The write failed: the same lines are read again. Returns lines lost to the cap meanwhile. */
  release(): number {
    return this.spool.release();
  }
}

/** Splits newline-terminated lines into two halves at a line boundary. */
export function splitHalf(text: string, lines: number): [string, number, string, number] {
  const first = Math.floor(lines / 2);
  let cut = 0;
  for (let i = 0; i < first; i++) cut = text.indexOf('\n', cut) + 1;
  return [text.slice(0, cut), first, text.slice(cut), lines - first];
}
