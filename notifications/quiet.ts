/**
 * Quiet hours (免打扰): a contact's `from`–`to` local times (they may wrap midnight, 22:00–07:00).
 * Never for critical alerts: the caller asks only for the others.
 */
import { minutesIntoDay, nextTimeOfDay } from '../core/dates.js';

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When the quiet hours holding a message sent at `now` end; undefined when `now` is not in them. */
export function quietUntil(quiet: { from: string; to: string } | undefined, now: number, timeZone: string): number | undefined {
  if (!quiet) return undefined;
  const [from, to] = [minutesOf(quiet.from), minutesOf(quiet.to)];
  if (from === to) return undefined;
  const t = minutesIntoDay(now, timeZone);
  const inside = from < to ? t >= from && t < to : t >= from || t < to;
  return inside ? nextTimeOfDay(now, to, timeZone) : undefined;
}
