/**
 * The maintenance visits' API under /api/v1:
 * - `POST /maintenance-visits {deviceId}` → 201 the visit (sign in at an elevator)
 * - `POST /maintenance-visits/{id}/finish {items?, note?}` → 200 the judged visit (sign out)
 * - `GET /maintenance-visits?deviceId=&unitId=&from=&to=&suspect=&limit=&before=` → `{items, nextBefore?}`
 * - `GET /maintenance-visits/{id}` → the visit
 * Who may do what is decided in index.ts; every answer to a change waits for the store (server.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { addDays, startOfDate } from '../../core/dates.js';
import { idSchema } from '../../registry/index.js';
import { VisitError } from './errors.js';
import type { MaintenanceVisits } from './index.js';

const idParams = z.object({ id: z.coerce.number().int().positive() });

export const startSchema = z.object({ deviceId: idSchema });

export const finishSchema = z.object({
  /** The checklist items done (e.g. 曳引机, 门系统, 安全回路). */
  items: z.array(z.string().trim().min(1).max(200)).max(100).optional(),
  note: z.string().max(2000).optional(),
});

const listQuery = z.object({
  deviceId: idSchema.optional(),
  unitId: idSchema.optional(),
  /** YYYY-MM-DD (midnight in the installation's time zone) or an ISO date-time with its offset. */
  from: z.string().max(64).optional(),
  /** Exclusive; a date means up to the end of that day. */
  to: z.string().max(64).optional(),
  /** `true`: only the visits the telemetry does not support (疑似虚假维保). */
  suspect: z.enum(['true', 'false']).optional(),
  /** The id of the last visit of the previous page (`nextBefore`). */
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A list bound: epoch ms, or a 400 naming the field. */
export function parseBound(text: string, field: 'from' | 'to', timeZone: string): number {
  let at: number | undefined;
  // a date that is not real (2025-02-30) is refused before its next day is worked out
  if (DATE_RE.test(text) && startOfDate(text, timeZone) !== undefined) at = startOfDate(field === 'to' ? addDays(text, 1) : text, timeZone);
  else if (DATE_TIME_RE.test(text)) at = Date.parse(text);
  if (at === undefined || !Number.isFinite(at)) {
    throw new VisitError('VISIT_BAD_QUERY', `${field}: ${text} 不是日期 / is not a date: YYYY-MM-DD or an ISO date-time with its offset`, [{ path: field, message: 'not a date' }]);
  }
  return at;
}

export function visitRoutes(visits: MaintenanceVisits, timeZone: () => string): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post('/maintenance-visits', {
      schema: {
        tags: ['supervision'], body: startSchema,
        summary: 'Start a maintenance visit (维保签到) at an elevator your unit maintains. 403 VISIT_FORBIDDEN for roles that may not, 404 VISIT_NOT_FOUND outside your scope or not an elevator, 409 VISIT_ALREADY_OPEN',
      },
    }, async (req, reply) => reply.status(201).send(await visits.startVisit(req.principal, req.body.deviceId)));

    r.post('/maintenance-visits/:id/finish', {
      schema: {
        tags: ['supervision'], params: idParams, body: finishSchema.nullish(),
        summary: 'Finish a visit (维保签退); it is judged on the elevator\'s telemetry: valid, or suspect (疑似虚假维保). 404 for another unit\'s visit, 409 VISIT_ALREADY_FINISHED',
      },
    }, async (req) => visits.finishVisit(req.principal, req.params.id, req.body ?? {}));

    r.get('/maintenance-visits', {
      schema: { tags: ['supervision'], querystring: listQuery, summary: 'Maintenance visits in your scope, newest first, with valid / suspect and the time in maintenance mode' },
    }, async (req) => {
      const q = req.query;
      const from = q.from === undefined ? undefined : parseBound(q.from, 'from', timeZone());
      const to = q.to === undefined ? undefined : parseBound(q.to, 'to', timeZone());
      if (from !== undefined && to !== undefined && to <= from) throw new VisitError('VISIT_BAD_QUERY', 'to 必须晚于 from / to must be later than from', [{ path: 'to', message: 'not after from' }]);
      const items = await visits.list(req.principal, {
        deviceId: q.deviceId, unitId: q.unitId, from, to, suspect: q.suspect === undefined ? undefined : q.suspect === 'true', before: q.before, limit: q.limit,
      });
      return { items, ...(items.length === q.limit ? { nextBefore: items[items.length - 1]!.id } : {}) };
    });

    r.get('/maintenance-visits/:id', { schema: { tags: ['supervision'], params: idParams, summary: 'A maintenance visit' } },
      async (req) => visits.visible(req.principal, req.params.id));
  };
}
