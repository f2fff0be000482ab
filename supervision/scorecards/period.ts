/**
 * The periods the figures are published for (季度通报, monthly reports): a calendar month `2026-11`
 * or a quarter `2026-Q4`, midnight to midnight in the installation's time zone (core/dates.ts),
 * as [from, to) in epoch ms.
 */
import { addMonths, startOfDate } from '../../core/dates.js';
import { badRequest } from '../../core/errors.js';

export interface Period {
  /** As asked: `2026-11` or `2026-Q4`. */
  id: string;
  kind: 'month' | 'quarter';
  from: number;
  to: number;
  /** False while the period has not ended yet (its figures are those so far). */
  complete: boolean;
}

const PERIOD_RE = /^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$/;

export const PERIOD_HINT_ZH = '考核期须为月份（如 2026-11）或季度（如 2026-Q4）';
export const PERIOD_HINT_EN = 'period must be a month (2026-11) or a quarter (2026-Q4)';

/** The period named by `text`; undefined when it is not one. */
export function periodOf(text: string, timeZone: string, now: number): Period | undefined {
  const m = PERIOD_RE.exec(text);
  if (!m) return undefined;
  const year = m[1]!;
  const firstMonth = m[2] !== undefined ? Number(m[2]) : (Number(m[3]) - 1) * 3 + 1;
  const start = `${year}-${String(firstMonth).padStart(2, '0')}-01`;
  const months = m[2] !== undefined ? 1 : 3;
  const from = startOfDate(start, timeZone);
  const to = startOfDate(addMonths(start, months), timeZone);
  if (from === undefined || to === undefined) return undefined;
  return { id: text, kind: m[2] !== undefined ? 'month' : 'quarter', from, to, complete: now >= to };
}

/** `periodOf`, or a 400 GW_BAD_REQUEST with the path `period`. */
export function parsePeriod(text: string | undefined, timeZone: string, now: number): Period {
  const p = text === undefined ? undefined : periodOf(text, timeZone, now);
  if (p === undefined) {
    throw badRequest(`${PERIOD_HINT_ZH} / ${PERIOD_HINT_EN}`, [{ path: 'period', message: `${PERIOD_HINT_ZH} / ${PERIOD_HINT_EN}` }]);
  }
  return p;
}
