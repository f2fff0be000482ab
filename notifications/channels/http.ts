/**
 * The one HTTP call every HTTP sender makes, and the outcomes they share. A request either gets an
 * answer (status, headers, parsed JSON) or becomes a retryable outcome (network error, timeout): the
 * provider then decides from its own codes. Every error text goes through `Redactor` first, so no
 * secret (webhook key, access token, signing secret) and no full phone number reaches an outcome.
 */
import { httpAttemptError, networkAttemptError } from '../../core/backoff.js';
import type { SendOutcome } from '../model.js';
import { maskDigitRuns } from './mask.js';

export interface HttpDeps {
  fetch: typeof fetch;
  now: () => number;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

export type Failed = Extract<SendOutcome, { ok: false }>;

const MAX_ERROR = 300;

/** Removes known secrets from a text, masks digit runs, and bounds its length. */
export class Redactor {
  private readonly secrets: string[];
  constructor(secrets: ReadonlyArray<string | undefined>) {
    // longest first, so a secret containing another is removed whole
    this.secrets = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4).sort((a, b) => b.length - a.length);
  }

  clean(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    out = maskDigitRuns(out);
    return out.length > MAX_ERROR ? `${out.slice(0, MAX_ERROR)}…` : out;
  }
}

export function failed(retry: boolean, error: string, retryAfterMs?: number): Failed {
  return retryAfterMs === undefined ? { ok: false, retry, error } : { ok: false, retry, error, retryAfterMs };
}

/** POSTs once; a network error or the timeout is a retryable outcome. */
export async function post(deps: HttpDeps, url: string, headers: Record<string, string>, body: string,
  redact: Redactor, who: string): Promise<HttpAnswer | Failed> {
  let response: Response;
  try {
    response = await deps.fetch(url, { method: 'POST', headers, body: body === '' ? undefined : body, signal: AbortSignal.timeout(deps.timeoutMs), redirect: 'error' });
  } catch (err) {
    const e = err as { name?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return failed(true, `${who}：${deps.timeoutMs} ms 内无应答 / ${who}: no answer within ${deps.timeoutMs} ms`);
    }
    return failed(true, `${who}：网络错误 / ${who}: network error: ${redact.clean(networkAttemptError(err).message)}`);
  }
  let raw: string;
  try {
    raw = await response.text();
  } catch (err) {
    // the body was cut off (timeout mid-body, reset): the request may or may not have been taken
    return failed(true, `${who}：应答中断 / ${who}: answer cut off: ${redact.clean(networkAttemptError(err).message)}`);
  }
  let json: unknown;
  try {
    json = raw === '' ? undefined : JSON.parse(raw);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json };
}

export function isFailed(value: HttpAnswer | Failed): value is Failed {
  return 'ok' in value;
}

/** A non-2xx answer without a provider code that says more: retry on 408, 429, 5xx (honouring Retry-After), not on other 4xx. */
export function httpFailure(answer: HttpAnswer, now: number, who: string, detail?: string): Failed {
  const e = httpAttemptError(answer.status, answer.headers.get('retry-after'), now);
  const more = detail ? ` ${detail}` : '';
  return failed(e.transient, `${who}：HTTP ${answer.status}${more} / ${who}: answered HTTP ${answer.status}${more}`, e.retryAfterMs);
}

/** Retry-After of an answer, if any (some providers send it with their throttling codes). */
export function retryAfterOf(answer: HttpAnswer, now: number): number | undefined {
  return httpAttemptError(answer.status, answer.headers.get('retry-after'), now).retryAfterMs;
}

/** Cuts a string to at most `maxBytes` of UTF-8 on a character boundary, ending it with `…` when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBytes) return text;
  const ellipsis = '…'; // 3 bytes
  let budget = maxBytes - Buffer.byteLength(ellipsis, 'utf8');
  let out = '';
  // iterate by code point, so a surrogate pair (emoji) is never split
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (size > budget) break;
    out += ch;
    budget -= size;
  }
  return out + ellipsis;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}
