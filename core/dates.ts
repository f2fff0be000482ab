/**
 * Calendar dates (YYYY-MM-DD) in the installation's time zone (`alerts.schedules.timezone`,
 * Asia/Shanghai by default): what people mean by "from 1 March" is midnight there, not in UTC.
 */

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** One formatter per zone and use: making one costs far more than formatting with it (a quarter's figures ask thousands of times). */
const clockFormats = new Map<string, Intl.DateTimeFormat>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();

function formatter(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) cache.set(timeZone, (f = make()));
  return f;
}

/** The zone's offset from UTC at `epochMs`, in ms (+8 h for Asia/Shanghai). */
function offsetAt(epochMs: number, timeZone: string): number {
  const parts = formatter(clockFormats, timeZone, () => new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  })).formatToParts(new Date(epochMs));
  const n = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const asUtc = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** Midnight at the start of `date` in the zone, as epoch ms; undefined for a string that is not a real date. */
export function startOfDate(date: string, timeZone: string): number | undefined {
  const m = DATE_RE.exec(date);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const utc = Date.UTC(y, mo - 1, d);
  const back = new Date(utc);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  // twice: the offset at the guess may differ from the one at the answer across a DST change
  let at = utc - offsetAt(utc, timeZone);
  at = utc - offsetAt(at, timeZone);
  return at;
}

/** The date (YYYY-MM-DD) in the zone at `epochMs`. */
export function dateIn(epochMs: number, timeZone: string): string {
  return formatter(dateFormats, timeZone, () => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })).format(new Date(epochMs));
}

/** A moment people give as a date (its midnight in the zone) or as a date-time; undefined for anything else. */
export function instantOf(text: string, timeZone: string): number | undefined {
  if (text.length === 10) return startOfDate(text, timeZone);
  const at = Date.parse(text);
  return Number.isFinite(at) ? at : undefined;
}

/** `date` plus `days` calendar days ("by 30 November" ends where 1 December begins). */
export function addDays(date: string, days: number): string {
  const m = DATE_RE.exec(date);
  if (!m) throw new Error(`not a date: ${date}`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days)).toISOString().slice(0, 10);
}

/** `date` plus `months` calendar months, the day kept or, past the end of the shorter month, its last day (31 Aug + 6 = 28/29 Feb). */
export function addMonths(date: string, months: number): string {
  const m = DATE_RE.exec(date);
  if (!m) throw new Error(`not a date: ${date}`);
  const total = Number(m[1]) * 12 + (Number(m[2]) - 1) + months;
  const y = Math.floor(total / 12), mo = total % 12;
  const last = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
  const d = Math.min(Number(m[3]), last);
  return `${String(y).padStart(4, '0')}-${String(mo + 1).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** Minutes since midnight in the zone at `epochMs` (0–1439). */
export function minutesIntoDay(epochMs: number, timeZone: string): number {
  return Math.floor((epochMs - startOfDate(dateIn(epochMs, timeZone), timeZone)!) / 60_000);
}

/** The first moment at or after `epochMs` when the zone's clock reads `minutes` past midnight. */
export function nextTimeOfDay(epochMs: number, minutes: number, timeZone: string): number {
  const today = dateIn(epochMs, timeZone);
  const at = startOfDate(today, timeZone)! + minutes * 60_000;
  return at >= epochMs ? at : startOfDate(addDays(today, 1), timeZone)! + minutes * 60_000;
}
