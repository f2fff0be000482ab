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
  GW_PAYLOAD_TOO_LARGE: 413,
  GW_UNAVAILABLE: 503,
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

export const notFound = (what: string, id: string) => new GatewayError('GW_NOT_FOUND', `${what} ${id} not found`);
export const conflict = (message: string, details?: unknown) => new GatewayError('GW_CONFLICT', message, details);
export const forbidden = (message = 'outside your scope') => new GatewayError('GW_FORBIDDEN', message);
export const badRequest = (message: string, details?: unknown) => new GatewayError('GW_BAD_REQUEST', message, details);
