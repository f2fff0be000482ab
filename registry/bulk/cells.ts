/**
 * One cell to the value the registry's zod schemas check. A CSV cell is text; a workbook cell may
 * be a number, a boolean or a date (Excel turns `2025-03-01` into a date and `0101` into 101), so
 * each column says what it holds and the cell is brought to that before validation.
 */
import { areaOf, kindOf, type Column } from './columns.js';

/** A cell as read: CSV text, or what a workbook cell holds. */
export type Raw = string | number | boolean | Date;

export type Converted = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Excel runs a CSV cell that starts with = + - @ (or a tab / CR) as a formula, so the export puts an
 * apostrophe before such text (OWASP's advice on CSV injection); reading, that apostrophe is taken
 * off again, so an exported file comes back as it was.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
export const guardFormula = (text: string) => (FORMULA_START.test(text) ? `'${text}` : text);
const unguard = (text: string) => (text.startsWith("'") && FORMULA_START.test(text.slice(1)) ? text.slice(1) : text);

/** Blank cells are absent fields. */
export function isBlank(raw: Raw | undefined): raw is undefined {
  return raw === undefined || (typeof raw === 'string' && raw.trim() === '');
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A workbook date is the day it shows: exceljs gives it as that day's midnight UTC. */
const ymd = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

/** Excel's day number (1900 system: day 25569 is 1970-01-01), for a date typed into a cell formatted as a number. */
const EXCEL_EPOCH_DAY = 25569;
const fromSerial = (n: number) => ymd(new Date(Math.round((Math.floor(n) - EXCEL_EPOCH_DAY) * 86_400_000)));

const text = (raw: Raw): string => {
  if (raw instanceof Date) return ymd(raw);
  return unguard(String(raw).normalize('NFC').trim());
};

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const DATE = /^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$/;
const TRUE = new Set(['true', '1', 'yes', 'y', '是', '停用']);
const FALSE = new Set(['false', '0', 'no', 'n', '否', '启用']);

export function convert(col: Column, raw: Raw): Converted {
  switch (col.type) {
    case 'text': return { ok: true, value: text(raw) };
    case 'kind': return { ok: true, value: kindOf(text(raw)) };
    case 'area': return { ok: true, value: areaOf(text(raw)) };
    case 'number': {
      if (typeof raw === 'number') return { ok: true, value: raw };
      // full-width digits (１２) are common in Chinese input
      const s = typeof raw === 'string' ? raw.normalize('NFKC').trim() : '';
      return NUMBER.test(s) ? { ok: true, value: Number(s) } : { ok: false, message: `必须是数字 / must be a number, not "${String(raw)}"` };
    }
    case 'date': {
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? { ok: false, message: '日期无效 / not a valid date' } : { ok: true, value: ymd(raw) };
      if (typeof raw === 'number' && raw >= 1 && raw < 2_958_466) return { ok: true, value: fromSerial(raw) };
      const m = typeof raw === 'string' ? DATE.exec(raw.normalize('NFKC').trim()) : null;
      // the zod schema then checks that the day exists
      return m ? { ok: true, value: `${m[1]}-${pad(Number(m[2]))}-${pad(Number(m[3]))}` } : { ok: false, message: `必须是日期 YYYY-MM-DD / must be a date, YYYY-MM-DD, not "${String(raw)}"` };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      const s = String(raw).normalize('NFKC').trim().toLowerCase();
      if (TRUE.has(s)) return { ok: true, value: true };
      if (FALSE.has(s)) return { ok: true, value: false };
      return { ok: false, message: `必须是 是/否 / must be true or false, not "${String(raw)}"` };
    }
  }
}
