/**
 * The gateway's catalogue of coded errors. API responses are `{error: {code, message, details?}}`
 * with the status below; tests assert on `code`, never on the message text.
 */
export const ERRORS = {
  GW_BAD_REQUEST: 400,
  GW_UNAUTHORIZED: 401,
  GW_FORBIDDEN: 403,
  GW_NOT_FOUND: 404,
  GW_CONFLICT: 409,
  /** A bulk import with bad rows: every one listed in details.rows [{sheet, line, field, message}], nothing changed. */
  GW_IMPORT_INVALID: 400,
  GW_PAYLOAD_TOO_LARGE: 413,
  /** The account already holds as many open event streams as it may. */
  GW_TOO_MANY_STREAMS: 429,
  /** Too many requests from one address to a public page (the elevator notice). */
  GW_RATE_LIMITED: 429,
  GW_UNAVAILABLE: 503,
  /** The durable store cannot take the change now (cluster mode: PostgreSQL unreachable); nothing was changed, try again. */
  GW_STORE_UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof ERRORS;

/**
 * Every capability's coded API error (GW_..., ALERT_...) has this shape, so the gateway's one error
 * handler answers them all as `{error: {code, message, details?}}` with `statusCode`.
 */
export class CodedHttpError<C extends string = string> extends Error {
  constructor(readonly code: C, readonly statusCode: number, message: string, readonly details?: unknown) {
    super(message);
  }
}

export class GatewayError extends CodedHttpError<ErrorCode> {
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(code, ERRORS[code], message, details);
  }
}

const TAKEN_BY_ZH = { site: '小区', device: '设备', account: '账号' } as const;

/**
 * A site, device or account id that is already held. Ids are global (devices and accounts share the
 * MQTT username space) and may belong to another company, so the message says only that the id is
 * not available; `takenBy` is for callers who may know (admins, who see every site, device and
 * account anyway) and is not part of the answer unless a route puts it there.
 */
export class IdTakenError extends GatewayError {
  constructor(readonly id: string, readonly takenBy: 'site' | 'device' | 'account') {
    super('GW_CONFLICT', `编号 ${id} 不可用 / id ${id} is not available`);
  }

  /** The same conflict with what holds the id, for an admin. */
  precise(): GatewayError {
    return new GatewayError('GW_CONFLICT', `编号 ${this.id} 已被${TAKEN_BY_ZH[this.takenBy]}占用 / id ${this.id} is taken by ${this.takenBy === 'account' ? 'an' : 'a'} ${this.takenBy}`, { takenBy: this.takenBy });
  }
}

export const notFound = (what: string, id: string) => new GatewayError('GW_NOT_FOUND', `${what} ${id} not found`);
export const conflict = (message: string, details?: unknown) => new GatewayError('GW_CONFLICT', message, details);
export const forbidden = (message = 'outside your scope') => new GatewayError('GW_FORBIDDEN', message);
export const badRequest = (message: string, details?: unknown) => new GatewayError('GW_BAD_REQUEST', message, details);
