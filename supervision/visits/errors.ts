/**
 * Coded errors of the maintenance visits. Answers are `{error: {code, message, details?}}` (the
 * gateway's one error handler); tests assert on the code. Messages are Chinese first, then English.
 */
import { CodedHttpError } from '../../core/errors.js';

export const VISIT_ERRORS = {
  /** Also for a visit, or an elevator, outside the caller's scope, and for a device that is not an elevator: the answers are the same. */
  VISIT_NOT_FOUND: 404,
  /** The caller's role may not do this with visits at all (start, finish, or read them). */
  VISIT_FORBIDDEN: 403,
  /** A visit of this elevator is already under way (`details.visitId`). */
  VISIT_ALREADY_OPEN: 409,
  /** The visit has already been finished (by its account, or by the gateway after `maxOpen`). */
  VISIT_ALREADY_FINISHED: 409,
  /** The elevator has no maintenance unit registered: nobody a visit could be counted for. */
  VISIT_NO_UNIT: 409,
  /** A bad list filter; `details` names the field. */
  VISIT_BAD_QUERY: 400,
  /** The readings could not be brought into the time-series store in time to judge the visit; nothing was changed, try again. */
  VISIT_TELEMETRY_UNAVAILABLE: 503,
} as const;
export type VisitErrorCode = keyof typeof VISIT_ERRORS;

export class VisitError extends CodedHttpError<VisitErrorCode> {
  constructor(code: VisitErrorCode, message: string, details?: unknown) {
    super(code, VISIT_ERRORS[code], message, details);
  }
}
