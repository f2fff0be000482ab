/**
 * Retry delays for time-series writes: exponential backoff with "full jitter" (a uniformly random
 * delay between 0 and the exponential ceiling), which spreads the retries of many gateways
 * restarting against one InfluxDB instead of having them hammer it in lockstep. A server's
 * Retry-After (429 / 503) is honoured as a lower bound. Pure: the clock and the random source are
 * injectable so tests do not sleep or depend on luck.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay. */
  initialDelayMs: number;
  /** Ceiling of any computed delay. */
  maxDelayMs: number;
  /**
   * Longest Retry-After we obey: a proxy answering "Retry-After: 86400" must not park the outage
   * buffer for a day. Default 5 minutes (or maxDelayMs when that is larger).
   */
  maxRetryAfterMs?: number;
  /** Uniform random in [0, 1); Math.random by default. */
  random?: () => number;
}

const DEFAULT_MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The delay before retry number `attempt` (1 = the first retry after the first failure).
 * Ceiling = min(maxDelayMs, initialDelayMs * 2^(attempt-1)); delay = random * ceiling.
 * With a Retry-After the delay is at least that long (capped at maxRetryAfterMs).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  const random = opts.random ?? Math.random;
  const exponent = Math.max(0, Math.min(attempt - 1, 52)); // 2^52 is already past any sane maxDelayMs
  const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** exponent);
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined || !(retryAfterMs > 0)) return jittered;
  const cap = opts.maxRetryAfterMs ?? Math.max(DEFAULT_MAX_RETRY_AFTER_MS, opts.maxDelayMs);
  return Math.max(jittered, Math.min(retryAfterMs, cap));
}

/**
 * Parses an HTTP Retry-After header (RFC 9110: delay-seconds or an HTTP-date) into milliseconds
 * from `now`. Undefined when absent or unparseable, so the caller falls back to plain backoff.
 */
export function parseRetryAfter(value: string | readonly string[] | null | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Stateful helper: counts consecutive failures; `reset()` after a success. */
export class Backoff {
  private failures = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** Consecutive failures so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  next(retryAfterMs?: number): number {
    this.failures += 1;
    return backoffDelay(this.failures, this.opts, retryAfterMs);
  }

  reset(): void {
    this.failures = 0;
  }
}
