/**
 * Coded errors of the alerts capability. API responses are `{error: {code, message}}`; tests
 * assert on the code. The alerts routes have their own error handler for these (see routes.ts).
 */
export const ALERT_ERRORS = {
  ALERT_NOT_FOUND: 404,
  ALERT_FORBIDDEN: 403,
  /** The action is not allowed in the alert's current state (the message says why). */
  ALERT_INVALID_TRANSITION: 409,
  ALERT_UNKNOWN_QUEUE: 404,
  ALERT_QUEUE_FORBIDDEN: 403,
  ALERT_BAD_CURSOR: 400,
  ALERT_BAD_QUERY: 400,
} as const;
export type AlertErrorCode = keyof typeof ALERT_ERRORS;

export class AlertError extends Error {
  readonly statusCode: number;
  constructor(readonly code: AlertErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.statusCode = ALERT_ERRORS[code];
  }
}
