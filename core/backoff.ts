/**
 * The gateway's one retry policy for talking to other systems (InfluxDB, agencies' webhooks).
 *
 * Delays: exponential backoff with "full jitter" (a uniformly random delay between 0 and the
 * exponential ceiling, itself capped), which spreads the retries of many senders that failed
 * together instead of having them hammer a recovering receiver in lockstep. A server's Retry-After
 * (seconds or an HTTP date) is honoured as a lower bound, itself capped so that a proxy cannot park
 * a queue for a day.
 *
 * Whether to retry at all is decided by the failure's type, never by its message text: network
 * errors, timeouts, 408, 429 and 5xx are transient (the same request may well succeed later); any
 * other 4xx is permanent (the receiver understood and refused; sending it again gets the same
 * answer). Callers may still retry a permanent failure on purpose (InfluxDB 401 / 404 are
 * configuration problems that would refuse every batch, so the writer waits them out).
 *
 * Pure: the clock and the random source are injectable, so tests neither sleep nor depend on luck.
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

// --- what is worth retrying -------------------------------------------------------------------

export const ATTEMPT_ERRORS = {
  /** Network error, timeout, 408, 429, 5xx (or an answer that is no HTTP refusal): try again later. */
  TRANSIENT: 'CORE_ATTEMPT_TRANSIENT',
  /** Any other 4xx: the receiver refuses this request and will refuse it again. */
  PERMANENT: 'CORE_ATTEMPT_PERMANENT',
} as const;
export type AttemptErrorCode = (typeof ATTEMPT_ERRORS)[keyof typeof ATTEMPT_ERRORS];

/** True for the statuses that say "not now" rather than "not this": 408, 429, 5xx, and anything that is no 4xx. */
export function isTransientStatus(status: number): boolean {
  return status < 400 || status >= 500 || status === 408 || status === 429;
}

/** A failed attempt at a remote call. `transient` follows from the code, which follows from the status or the failure's kind. */
export class AttemptError extends Error {
  readonly transient: boolean;
  constructor(
    readonly code: AttemptErrorCode,
    message: string,
    /** The HTTP status, when the receiver answered. */
    readonly status?: number,
    /** The receiver's Retry-After, in ms from when it answered. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AttemptError';
    this.transient = code === ATTEMPT_ERRORS.TRANSIENT;
  }
}

/** An HTTP answer that is not a success, classified by its status; Retry-After is read from its header. */
export function httpAttemptError(status: number, retryAfter?: string | readonly string[] | null, now: number = Date.now()): AttemptError {
  const code = isTransientStatus(status) ? ATTEMPT_ERRORS.TRANSIENT : ATTEMPT_ERRORS.PERMANENT;
  return new AttemptError(code, `answered ${status}`, status, parseRetryAfter(retryAfter, now));
}

/** No answer at all (refused connection, reset, DNS, timeout, abort): always transient. */
export function networkAttemptError(err: unknown): AttemptError {
  const e = err as { code?: string; message?: string; name?: string; cause?: { code?: string; message?: string } };
  // fetch() wraps the socket's error: its cause says what happened ("ECONNREFUSED"), the wrapper only "fetch failed"
  const what = [e.cause?.code ?? e.code, e.cause?.message ?? e.message ?? e.name].filter(Boolean).join(' ');
  return new AttemptError(ATTEMPT_ERRORS.TRANSIENT, what || String(err), undefined, undefined, { cause: err });
}
