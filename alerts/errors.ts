/**
 * Coded errors of the alerts capability. API responses are `{error: {code, message}}`; tests
 * assert on the code. The gateway's error handler answers them (gateway/errors.ts CodedHttpError).
 */
import { CodedHttpError } from '../core/errors.js';

export const ALERT_ERRORS = {
  /** Also for an alert outside the caller's scope: the two answers are the same, so ids cannot be probed. */
  ALERT_NOT_FOUND: 404,
  /** The caller's role may not take this action on this alert (alerts/permissions.ts), whatever its state. */
  ALERT_ACTION_FORBIDDEN: 403,
  /**
   * The action is not allowed on the alert as it is now: its state, or (confirm, dismiss) it is not
   * an unconfirmed fire alarm. The message says why; `details.state` is the alert's state.
   */
  ALERT_INVALID_TRANSITION: 409,
  ALERT_UNKNOWN_QUEUE: 404,
  ALERT_QUEUE_FORBIDDEN: 403,
  ALERT_BAD_CURSOR: 400,
  ALERT_BAD_QUERY: 400,
  /** Test mode asked for a device that is not a fire device (fire_panel, smoke_detector, fire_water). */
  ALERT_TEST_MODE_KIND: 400,
  /** A test mode's end that is not after now, or more than 24 h ahead. */
  ALERT_TEST_MODE_UNTIL: 400,
} as const;
export type AlertErrorCode = keyof typeof ALERT_ERRORS;

export class AlertError extends CodedHttpError<AlertErrorCode> {
  constructor(code: AlertErrorCode, message: string, details?: unknown) {
    super(code, ALERT_ERRORS[code], message, details);
  }
}
