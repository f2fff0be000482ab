/**
 * The alerts API under /api/v1: the ledger, the actions of the lifecycle, the responsibility
 * list, and the queues by HTTP pull and server-sent events. Every route checks the caller's
 * scope: an alert outside it is answered like one that does not exist (404); a queue outside it
 * is 403 whatever its name, so that says nothing either. Who may take which action is
 * alerts/permissions.ts; every alert shown carries the caller's `allowedActions`.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { canReadQueue, isQueueName, QUEUE_NAME_HINT, type Principal } from '../registry/index.js';
import { ALERT_TYPE_NAMES } from './catalog.js';
import { ACTIONS, ALERT_STATES, type Alert, type AlertForCaller, type AlertState } from './model.js';
import { AlertError } from './errors.js';
import { allowedActions } from './permissions.js';
import type { QueueLog } from './queues.js';
import type { AlertService } from './service.js';
import type { AlertLedger } from './ledger.js';
import type { QueueStreams } from './delivery/sse.js';
import type { AlertsConfig } from './config.js';
import type { QueueReadAudit } from './queue-reads.js';

export interface AlertRoutesDeps {
  service: AlertService;
  ledger: AlertLedger;
  queues: QueueLog;
  sse: QueueStreams;
  config: AlertsConfig;
  reads: QueueReadAudit;
  /** What people read next to a site id in the statistics. */
  siteName: (siteId: string) => string | undefined;
}

const idParams = z.object({ id: z.coerce.number().int().positive() });

/** A point in time in a query: epoch milliseconds, or an ISO 8601 date-time with its offset (`2026-11-01T00:00:00+08:00`). */
const instant = z.string().max(40).transform((v, ctx) => {
  const ms = /^\d{1,15}$/.test(v) ? Number(v)
    : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: '须为 ISO 8601 时间（含时区）或毫秒时间戳 / must be an ISO 8601 date-time with its offset, or epoch milliseconds' });
    return z.NEVER;
  }
  return ms;
});
const cursor = z.coerce.number().int().min(0);

function queueFrom(p: Principal, params: { queue: string; unit?: string | undefined }): string {
  const queue = params.unit === undefined ? params.queue : `${params.queue}/${params.unit}`;
  if (!isQueueName(queue)) throw new AlertError('ALERT_UNKNOWN_QUEUE', `no queue ${queue}: ${QUEUE_NAME_HINT}`);
  if (!canReadQueue(p, queue)) throw new AlertError('ALERT_QUEUE_FORBIDDEN', `queue ${queue} is outside your scope`);
  return queue;
}

export function alertRoutes(deps: AlertRoutesDeps): FastifyPluginAsync {
  const { service, ledger, queues, sse, config, reads, siteName } = deps;
  const forCaller = (p: Principal, a: Alert): AlertForCaller => ({ ...a, allowedActions: allowedActions(p, a) });
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/alerts', {
      schema: {
        tags: ['alerts'], summary: 'Alerts in your scope, newest first',
        querystring: z.object({
          /** one state or a comma-separated list; `active` = open, acknowledged, dispatched, resolved */
          state: z.string().regex(/^[a-z]+(,[a-z]+)*$/).optional(),
          type: z.enum(ALERT_TYPE_NAMES as [string, ...string[]]).optional(),
          deviceId: z.string().max(128).optional(),
          siteId: z.string().max(128).optional(),
          companyId: z.string().max(128).optional(),
          maintenanceUnitId: z.string().max(128).optional(),
          /** opened at or after `from` and before `to` (the scorecards' period links) */
          from: instant.optional(),
          to: instant.optional(),
          before: z.coerce.number().int().positive().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
    }, async (req) => {
      let states: AlertState[] | undefined;
      if (req.query.state) {
        states = [];
        for (const s of req.query.state.split(',')) {
          if (s === 'active') states.push('open', 'acknowledged', 'dispatched', 'resolved');
          else if ((ALERT_STATES as readonly string[]).includes(s)) states.push(s as AlertState);
          else throw new AlertError('ALERT_BAD_QUERY', `unknown state ${s}: one of ${ALERT_STATES.join(', ')}, active`);
        }
      }
      const items = await ledger.list({
        states, type: req.query.type, deviceId: req.query.deviceId, siteId: req.query.siteId, companyId: req.query.companyId,
        maintenanceUnitId: req.query.maintenanceUnitId, from: req.query.from, to: req.query.to, before: req.query.before,
        limit: req.query.limit, viewer: req.principal,
      });
      return { items: items.map((a) => forCaller(req.principal, a)), ...(items.length === req.query.limit ? { nextBefore: items[items.length - 1]!.id } : {}) };
    });

    // the statistics that go with routing e-bikes in lifts to the street (DOMAIN.md practitioner review),
    // for any type: counted in SQL within the caller's scope, like the list
    r.get('/alerts/stats', {
      schema: {
        tags: ['alerts'], summary: 'Alerts of one type in your scope opened in [from, to), per site (e.g. type=elevator.ebike)',
        querystring: z.object({
          type: z.enum(ALERT_TYPE_NAMES as [string, ...string[]]),
          from: instant.optional(),
          to: instant.optional(),
        }),
      },
    }, async (req) => {
      const { type, from, to } = req.query;
      const sites = (await ledger.countBySite({ viewer: req.principal, type, from, to })).map((s) => ({ ...s, siteName: siteName(s.siteId) ?? null }));
      return { type, from: from ?? null, to: to ?? null, total: sites.reduce((sum, s) => sum + s.n, 0), sites };
    });

    r.get('/alerts/responsibilities', { schema: { tags: ['alerts'], summary: 'The responsibility list in force (事件部件处置权责清单)' } },
      async () => config.responsibilities);

    r.get('/alerts/:id', { schema: { tags: ['alerts'], summary: 'An alert with its history', params: idParams } }, async (req) => {
      const a = await service.visible(req.principal, req.params.id);
      return { ...forCaller(req.principal, a), history: await ledger.history(a.id) };
    });

    r.post('/alerts/:id/:action', {
      schema: {
        tags: ['alerts'],
        summary: 'Act on an alert: acknowledge (once per party), arrive (trapped passengers: the maintenance unit on site), dispatch, resolve, close (销号); confirm or dismiss an unconfirmed fire alarm. 404 outside your scope, 403 ALERT_ACTION_FORBIDDEN when your role may not, 409 ALERT_INVALID_TRANSITION when the alert does not allow it now',
        params: idParams.extend({ action: z.enum(ACTIONS) }),
        body: z.object({ note: z.string().max(2000).optional() }).nullish(),
      },
    }, async (req) => {
      const a = await service.act(req.principal, req.params.id, req.params.action, req.body?.note);
      return { ...forCaller(req.principal, a), history: await ledger.history(a.id) };
    });

    r.get('/queues', { schema: { tags: ['queues'], summary: 'Queues you may read that have had messages, with their head cursor' } }, async (req) => {
      return (await queues.heads()).filter((q) => canReadQueue(req.principal, q.queue)).map((q) => ({ queue: q.queue, head: q.cursor }));
    });

    const pullQuery = z.object({ after: cursor.default(0), limit: z.coerce.number().int().min(1).max(config.queues.pageLimit).default(100) });
    const pull = async (req: { principal: Principal; params: { queue: string; unit?: string | undefined }; query: z.infer<typeof pullQuery> }) => {
      const queue = queueFrom(req.principal, req.params);
      const items = await queues.read(queue, req.query.after, req.query.limit);
      const next = items.length > 0 ? items[items.length - 1]!.cursor : req.query.after;
      reads.record(req.principal, queue, 'pull', { after: req.query.after, upTo: next });
      return { queue, head: await queues.head(queue), items, next };
    };
    const pullSchema = { tags: ['queues'], summary: 'Queue messages after a cursor (HTTP pull)', querystring: pullQuery };
    r.get('/queues/:queue/messages', { schema: { ...pullSchema, params: z.object({ queue: z.string() }) } }, pull);
    r.get('/queues/:queue/:unit/messages', { schema: { ...pullSchema, params: z.object({ queue: z.string(), unit: z.string() }) } }, pull);

    const streamQuery = z.object({ after: cursor.optional() });
    const stream = async (req: { principal: Principal; params: { queue: string; unit?: string | undefined }; query: z.infer<typeof streamQuery>; headers: Record<string, string | string[] | undefined> },
      reply: { hijack(): void; raw: import('node:http').ServerResponse }) => {
      const queue = queueFrom(req.principal, req.params);
      const lastEventId = req.headers['last-event-id'];
      let after: number;
      if (typeof lastEventId === 'string' && lastEventId !== '') {
        after = Number(lastEventId);
        if (!Number.isInteger(after) || after < 0) throw new AlertError('ALERT_BAD_CURSOR', 'Last-Event-ID must be a cursor (a non-negative integer)');
      } else {
        // without a cursor a stream starts live
        after = req.query.after ?? await queues.head(queue);
      }
      // refused with a coded answer while the reply is still Fastify's; open() follows in the same turn
      sse.admit(req.principal);
      reads.record(req.principal, queue, 'stream', { after });
      reply.hijack();
      await sse.open(req.principal, queue, after, reply.raw);
    };
    const streamSchema = { tags: ['queues'], summary: 'Live queue messages (server-sent events); resume with Last-Event-ID or ?after=', querystring: streamQuery };
    r.get('/queues/:queue/stream', { schema: { ...streamSchema, params: z.object({ queue: z.string() }) } }, stream);
    r.get('/queues/:queue/:unit/stream', { schema: { ...streamSchema, params: z.object({ queue: z.string(), unit: z.string() }) } }, stream);
  };
}
