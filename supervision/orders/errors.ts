/**
 * Coded errors of rectification orders and their attachments. API answers are
 * `{error: {code, message, details?}}`; tests assert on the code. Messages are Chinese first, then English.
 */
import { CodedHttpError } from '../../core/errors.js';

export const ORDER_ERRORS = {
  /** Also for an order outside the caller's scope: the two answers are the same, so ids cannot be probed. */
  ORDER_NOT_FOUND: 404,
  /**
   * A target, site, device or alert named in a new order that does not exist or lies outside the
   * issuer's scope (the same answer for both, SPEC 8); `details[0].path` names the field.
   */
  ORDER_REFERENCE_NOT_FOUND: 404,
  /** Bad input the schema cannot see (a past deadline, a site of another target); `details` has the field paths. */
  ORDER_INVALID: 400,
  /** The caller's role or party may not take this action on this order, whatever its state. */
  ORDER_FORBIDDEN: 403,
  /** The issuer's authority does not reach this kind of target (the fire service and a maintenance unit). */
  ORDER_TARGET_FORBIDDEN: 403,
  /** The action is not allowed in the order's state; `details.state` is the state. */
  ORDER_INVALID_TRANSITION: 409,
  /** Larger than `supervision.orders.attachmentMaxBytes`. */
  ATTACHMENT_TOO_LARGE: 413,
  /** A declared type that is not accepted, or a file whose first bytes are not of the declared type. */
  ATTACHMENT_UNSUPPORTED_TYPE: 415,
  ATTACHMENT_NOT_FOUND: 404,
  /** The party already holds as many unused uploads as it may; use them in a reply first. */
  ATTACHMENT_QUOTA: 409,
} as const;
export type OrderErrorCode = keyof typeof ORDER_ERRORS;

export class OrderError extends CodedHttpError<OrderErrorCode> {
  constructor(code: OrderErrorCode, message: string, details?: unknown) {
    super(code, ORDER_ERRORS[code], message, details);
  }
}

/** A bad field: 400 with its path. */
export const invalid = (path: string, zh: string, en: string) => new OrderError('ORDER_INVALID', `${zh} / ${en}`, [{ path, message: en }]);

/** Something named in a new order that the issuer cannot see: the same 404 as one that does not exist. */
export const unknownReference = (path: string, what: { zh: string; en: string }, id: string | number) =>
  new OrderError('ORDER_REFERENCE_NOT_FOUND', `${what.zh} ${id} 不存在 / ${what.en} ${id} not found`, [{ path, message: `${what.en} not found` }]);
