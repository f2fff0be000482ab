/**
 * The orders API under /api/v1: issue, list, read, act, export the ledger, and upload / download
 * attachments. Raw attachment bodies are parsed only inside this plugin (image/jpeg, image/png,
 * application/pdf, as configured), no larger than `attachmentMaxBytes`.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { constants, createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { CodedHttpError } from '../../core/errors.js';
import { dateIn } from '../../core/dates.js';
import type { Principal } from '../../registry/index.js';
import type { OrdersConfig } from '../config.js';
import type { OrderState } from '../facts.js';
import type { RectificationOrders } from './index.js';
import { OrderError, invalid } from './errors.js';
import { ORDER_STATES, allowedActions, partyLabel, uploaderOf, type Order } from './model.js';
import { exportQuerySchema, issueSchema, listQuerySchema, noteSchema, referSchema, replySchema } from './input.js';
import { instantOf } from '../../core/dates.js';
import { checkContent, cleanName, disposition, mediaTypeOf, type AttachmentType } from './attachments.js';
import { ordersCsv, ordersXlsx } from './ledger-export.js';
import { MAX_EXPORT_ROWS } from './limits.js';
import type { ListFilter } from './store.js';

const idParams = z.object({ id: z.coerce.number().int().positive() });
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** An order as one caller reads it: the parties' names, and the actions this caller may take now. */
export function orderView(p: Principal, o: Readonly<Order>) {
  const { parties: _parties, historyLength: _length, ...rest } = o;
  return {
    ...rest,
    issuerLabel: partyLabel(o.issuer),
    supervisingLabel: partyLabel(o.supervising),
    escalatedToLabels: o.escalatedTo.map(partyLabel),
    allowedActions: allowedActions(p, o),
  };
}

export function ordersRoutes(orders: RectificationOrders, settings: () => { config: OrdersConfig; timeZone: string; now: () => number }): FastifyPluginAsync {
  return async (app) => {
    const { config, timeZone, now } = settings();
    const r = app.withTypeProvider<ZodTypeProvider>();

    /** The list's filters, with the period read in the installation's time zone. */
    const filterOf = (q: Omit<z.infer<typeof exportQuerySchema>, 'format'>, page: { before?: number | undefined; limit: number }): ListFilter => {
      const from = q.from === undefined ? undefined : instantOf(q.from, timeZone);
      const to = q.to === undefined ? undefined : instantOf(q.to, timeZone);
      if (q.from !== undefined && from === undefined) throw invalid('from', `${q.from} 不是有效日期`, `${q.from} is not a date`);
      if (q.to !== undefined && to === undefined) throw invalid('to', `${q.to} 不是有效日期`, `${q.to} is not a date`);
      if (from !== undefined && to !== undefined && to <= from) throw invalid('to', '结束日期须晚于开始日期', 'to must be after from');
      let states: OrderState[] | undefined;
      if (q.state) {
        const named = q.state.split(',');
        states = ORDER_STATES.filter((s) => named.includes(s) || (named.includes('open') && s !== 'closed'));
      }
      return { states, targetType: q.targetType, targetId: q.targetId, siteId: q.siteId, overdue: q.overdue, from, to, ...page };
    };

    // ---- orders ----

    r.post('/orders', {
      schema: {
        tags: ['orders'], body: issueSchema,
        summary: 'Issue a rectification order (整改通知) to a property company or a maintenance unit, with a deadline (限期整改)',
        description: 'By market supervision, the fire service (companies only), a street or community (targets and sites in its area) or an admin. dueAt: an ISO date-time, or a date (the end of that day in the installation\'s time zone), in the future.',
      },
    }, async (req, reply) => reply.status(201).send(orderView(req.principal, await orders.issue(req.principal, req.body))));

    r.get('/orders', {
      schema: {
        tags: ['orders'], querystring: listQuerySchema,
        summary: 'Orders in your scope, newest first: as issuer, supervising or escalated party, as target, or in your street / community',
      },
    }, async (req) => {
      const { before, limit } = req.query;
      const items = await orders.list(req.principal, filterOf(req.query, { before, limit }));
      return { items: items.map((o) => orderView(req.principal, o)), ...(items.length === limit ? { nextBefore: items[items.length - 1]!.id } : {}) };
    });

    r.get('/orders/targets', {
      schema: { tags: ['orders'], summary: 'The companies and maintenance units you may issue orders to, with the sites of each you may name (the issue form\'s choices)' },
    }, async (req) => ({ targets: orders.issuable(req.principal) }));

    r.get('/orders/export', {
      schema: {
        tags: ['orders'], querystring: exportQuerySchema, produces: ['text/csv', XLSX_TYPE],
        summary: 'The orders ledger (整改台账) as CSV or XLSX, with the list\'s filters and bilingual headers',
      },
    }, async (req, reply) => {
      const items = await orders.list(req.principal, filterOf(req.query, { limit: MAX_EXPORT_ROWS }));
      const name = `orders-${dateIn(now(), timeZone)}`;
      reply.header('cache-control', 'no-store');
      if (req.query.format === 'csv') {
        return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(ordersCsv(items, timeZone));
      }
      return reply.header('content-type', XLSX_TYPE).header('content-disposition', `attachment; filename="${name}.xlsx"`).send(await ordersXlsx(items, timeZone));
    });

    r.get('/orders/:id', { schema: { tags: ['orders'], params: idParams, summary: 'An order with its whole history and the names of its attachments' } }, async (req) => {
      const { history, ...o } = await orders.detail(req.principal, req.params.id);
      return { ...orderView(req.principal, o as Order), history };
    });

    r.post('/orders/:id/reply', {
      schema: { tags: ['orders'], params: idParams, body: replySchema, summary: 'The target replies (整改回复) with a note and attachments it uploaded; also after the deadline (the order stays overdue)' },
    }, async (req) => orderView(req.principal, await orders.act(req.principal, req.params.id, 'reply', req.body)));

    r.post('/orders/:id/return', {
      schema: { tags: ['orders'], params: idParams, body: noteSchema, summary: 'The supervising party finds the rectification insufficient (复查不合格): back to the target' },
    }, async (req) => orderView(req.principal, await orders.act(req.principal, req.params.id, 'return', req.body)));

    r.post('/orders/:id/close', {
      schema: { tags: ['orders'], params: idParams, body: noteSchema, summary: 'The supervising party closes the order (销号) after a reply' },
    }, async (req) => orderView(req.principal, await orders.act(req.principal, req.params.id, 'close', req.body)));

    r.post('/orders/:id/refer', {
      schema: { tags: ['orders'], params: idParams, body: referSchema, summary: 'The supervising party refers the order (移交) to another department, which then supervises it' },
    }, async (req) => orderView(req.principal, await orders.act(req.principal, req.params.id, 'refer', req.body)));

    // ---- attachments ----

    for (const type of config.attachmentTypes) {
      app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: config.attachmentMaxBytes }, (_req, body, done) => done(null, body));
    }
    const tooLarge = () => new OrderError('ATTACHMENT_TOO_LARGE', `附件不得超过 ${config.attachmentMaxBytes} 字节 / an attachment may hold at most ${config.attachmentMaxBytes} bytes`, { maxBytes: config.attachmentMaxBytes });
    const unsupported = (type: string) => new OrderError('ATTACHMENT_UNSUPPORTED_TYPE', `只接受 ${config.attachmentTypes.join('、')} 文件 / only ${config.attachmentTypes.join(', ')} files are accepted, not ${type || 'this type'}`, { accepted: config.attachmentTypes });
    const isUpload = (req: FastifyRequest) => req.method === 'POST' && req.routeOptions.url?.endsWith('/attachments') === true;

    app.setErrorHandler((err, req) => {
      // Fastify refuses an oversized body or an unknown type before the handler: say it with our codes, and audit it
      const status = (err as { statusCode?: number }).statusCode;
      if (!(err instanceof CodedHttpError) && isUpload(req) && (status === 413 || status === 415)) {
        const coded = status === 413 ? tooLarge() : unsupported(mediaTypeOf(req.headers['content-type']));
        orders.uploadRefused(req.principal, coded);
        throw coded;
      }
      throw err;
    });

    r.post('/attachments', {
      bodyLimit: config.attachmentMaxBytes,
      // before the body is read: only a target replies, so only a target uploads
      onRequest: async (req) => {
        if (uploaderOf(req.principal) === undefined) {
          const err = new OrderError('ORDER_FORBIDDEN', '只有整改对象（物业、维保单位）上传回复附件 / only the targets of orders (property companies, maintenance units) upload attachments for their replies');
          orders.uploadRefused(req.principal, err);
          throw err;
        }
      },
      schema: {
        tags: ['orders'], consumes: config.attachmentTypes,
        querystring: z.object({ name: z.string().max(255).optional().describe('the file\'s name, for people; stored cleaned, never used on disk') }),
        summary: 'Upload an attachment (photo, PDF) for a reply: the raw file as the body with its Content-Type',
        description: `image/jpeg, image/png or application/pdf (as configured), at most supervision.orders.attachmentMaxBytes; the first bytes must match the type (415 otherwise). 201 {id, name, type, size}.`,
      },
    }, async (req, reply) => {
      const type = mediaTypeOf(req.headers['content-type']);
      try {
        if (!Buffer.isBuffer(req.body) || !(config.attachmentTypes as readonly string[]).includes(type)) throw unsupported(type);
        if (req.body.length === 0) throw new OrderError('ORDER_INVALID', '附件为空 / the file is empty', [{ path: 'body', message: 'empty' }]);
        checkContent(type as AttachmentType, req.body);
      } catch (err) {
        if (err instanceof CodedHttpError) orders.uploadRefused(req.principal, err);
        throw err;
      }
      const stored = await orders.upload(req.principal, req.body as Buffer, type as AttachmentType, cleanName(req.query.name, type as AttachmentType));
      return reply.status(201).send(stored);
    });

    r.get('/attachments/:id', {
      schema: { tags: ['orders'], params: idParams, summary: 'Download an attachment: for its uploader\'s party and whoever can see an order that uses it' },
    }, async (req, reply) => {
      const { row, path } = await orders.attachment(req.principal, req.params.id);
      try {
        await access(path, constants.R_OK);
      } catch (err) {
        req.log.error({ err, attachmentId: row.id }, 'attachment file missing');
        throw new OrderError('ATTACHMENT_NOT_FOUND', `附件 ${row.id} 的文件已丢失 / the file of attachment ${row.id} is missing`);
      }
      // no Content-Length next to the stream: with one, the keep-alive connection was not seen as idle
      // after the download, and the gateway's shutdown waited for its keep-alive timeout
      return reply
        .header('content-type', row.type)
        .header('content-disposition', disposition(row.name))
        .header('x-content-type-options', 'nosniff')
        // a PDF or an image opened in the browser runs nothing of ours, and nothing of its own
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, no-store')
        .send(createReadStream(path));
    });
  };
}
