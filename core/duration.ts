/**
 * Durations as people write them, in the settings file and on the simulator's command line: a
 * number of milliseconds, or one or more `<number><unit>` parts with the units ms, s, m, h, d
 * ("500ms", "1.5m", "45s", "1h30m", "15d"). One grammar for both, so a value that works in one
 * place works in the other; the settings used to refuse "250" and the command line "15d".
 */
import { z } from 'zod';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PLAIN = /^\d+(?:\.\d+)?$/;
// `ms` before `m`, or "500ms" would read as 500 minutes and a stray "s"
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** What a duration looks like, for error messages. */
export const DURATION_HINT = 'a duration: milliseconds, or e.g. "500ms", "45s", "30m", "2h", "1h30m", "15d"';

/** Whole milliseconds (rounded), or undefined when `text` is not a duration. Surrounding spaces are ignored. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (PLAIN.test(s)) return Math.round(Number(s));
  if (!WHOLE.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

/** A duration setting: a non-negative integer of milliseconds, or the text form; parses to milliseconds. */
export const durationSchema = z.union([
  z.number().int().min(0),
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_HINT, input: text });
      return z.NEVER;
    }
    return ms;
  }),
]);
