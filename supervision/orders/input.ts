/** What the order routes accept: the request schemas, and dates as people give them. */
import { z } from 'zod';
import { idSchema } from '../../registry/index.js';
import { addDays, instantOf, startOfDate } from '../../core/dates.js';
import { ORDER_STATES, REFER_RE, TARGET_TYPES } from './model.js';
import { MAX_REPLY_ATTACHMENTS } from './limits.js';

/** YYYY-MM-DD (a day in the installation's time zone) or an ISO date-time with its offset. */
const dateOrTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

const note = z.string().trim().max(5000);

export const issueSchema = z.object({
  targetType: z.enum(TARGET_TYPES),
  targetId: idSchema,
  siteId: idSchema.optional(),
  deviceId: idSchema.optional(),
  alertId: z.number().int().positive().optional(),
  title: z.string().trim().min(1).max(200),
  description: z.string().trim().min(1).max(5000),
  /** A date-time, or a date: the end of that day in the installation's time zone. */
  dueAt: dateOrTime,
});
export type IssueRequest = z.infer<typeof issueSchema>;

export const replySchema = z.object({
  note: note.min(1),
  attachments: z.array(z.number().int().positive()).max(MAX_REPLY_ATTACHMENTS).optional(),
});
export const noteSchema = z.object({ note: note.min(1) });
export const referSchema = z.object({
  to: z.string().regex(REFER_RE, "market-supervision, fire-service, 'street:{name}' or 'community:{name}'"),
  note: note.optional(),
});

const booleanText = z.enum(['true', 'false']).transform((v) => v === 'true');

export const listQuerySchema = z.object({
  /** One state or a comma-separated list; `open` = every state but closed. */
  state: z.string().regex(new RegExp(`^(open|${ORDER_STATES.join('|')})(,(open|${ORDER_STATES.join('|')}))*$`), `one or more of open, ${ORDER_STATES.join(', ')}`).optional(),
  targetType: z.enum(TARGET_TYPES).optional(),
  targetId: idSchema.optional(),
  siteId: idSchema.optional(),
  overdue: booleanText.optional(),
  /** Issued from (inclusive) / to (exclusive): a date (its midnight in the installation's time zone) or a date-time. */
  from: dateOrTime.optional(),
  to: dateOrTime.optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const exportQuerySchema = listQuerySchema.omit({ before: true, limit: true }).extend({ format: z.enum(['csv', 'xlsx']) });

/** A deadline: a date-time as given, or a date's last millisecond in the zone ("by 30 November" means all of that day). */
export function parseDue(text: string, timeZone: string): number | undefined {
  if (text.length === 10) {
    if (startOfDate(text, timeZone) === undefined) return undefined;
    const next = startOfDate(addDays(text, 1), timeZone);
    return next === undefined ? undefined : next - 1;
  }
  return instantOf(text, timeZone);
}

