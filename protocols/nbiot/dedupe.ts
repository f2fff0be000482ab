/**
 * Dropping the platforms' re-sends (all three duplicate: OneNET retries until it sees a 200,
 * CTWing up to 3 times): keys of delivered messages, remembered for a window and bounded in number
 * (the oldest forgotten first), so memory stays flat whatever the platforms send.
 *
 * A key is remembered only once its data is durable (`remember` after submit resolved): a push
 * answered 503 must be taken when the platform retries it. A retry arriving while the first
 * delivery is still in flight waits for that delivery instead of storing twice (`inflight`).
 */
import { createHash } from 'node:crypto';

/** sha1 over the parts, base64: a fixed 27-character key whatever the payload size. */
export function dedupeKey(...parts: ReadonlyArray<string | number | undefined>): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p === undefined ? '\u0001' : String(p)).update('\u0000');
  return h.digest('base64').slice(0, 27);
}

/** sha1 hex of a value as text (the `sha1(value)` / `sha1(payload)` part of a key). */
export function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** A Map that keeps at most `max` entries, evicting the oldest inserted. */
export class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(readonly max: number) {}
  get size(): number { return this.map.size; }
  get(key: string): V | undefined { return this.map.get(key); }
  set(key: string, value: V): void {
    this.map.delete(key); // re-inserted: now the newest
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void { this.map.delete(key); }
}

export class Dedupe {
  private readonly seen: BoundedMap<number>;
  /** Deliveries under way, by key (bounded by the requests in flight). */
  readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly windowMs: number, maxEntries: number) {
    this.seen = new BoundedMap(maxEntries);
  }

  get size(): number { return this.seen.size; }

  /** Whether the key was delivered within the window. */
  has(key: string, now: number): boolean {
    const at = this.seen.get(key);
    if (at === undefined) return false;
    if (now - at < this.windowMs) return true;
    this.seen.delete(key);
    return false;
  }

  remember(key: string, now: number): void {
    this.seen.set(key, now);
  }
}
