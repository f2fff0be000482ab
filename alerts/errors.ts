/**
 * Coded errors of the alerts capability. API responses are `{error: {code, message}}`; tests
 * assert on the code. The gateway's error handler answers them (gateway/errors.ts CodedHttpError).
 */
import { CodedHttpError } from '../gateway/errors.js';

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

export class AlertError extends CodedHttpError<AlertErrorCode> {
  constructor(code: AlertErrorCode, message: string, details?: unknown) {
    super(code, ALERT_ERRORS[code], message, details);
  }
}
