/** Stored readings and dead letters, within the caller's scope. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idSchema } from '../../../registry/index.js';
import { canSeeDevice } from '../../../registry/index.js';
import { badRequest, notFound } from '../../../core/errors.js';
import { KIND_CONTRACTS } from '../../../ingest/index.js';
import type { HttpDeps } from '../deps.js';

/** epoch ms or an RFC 3339 date-time */
const instant = z.union([z.coerce.number().int().nonnegative(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

const telemetryQuery = z.object({
  from: instant.optional(),
  to: instant.optional(),
  /** comma-separated field names */
  fields: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$/, 'comma-separated field names').optional(),
  /** `events` reads the device's events instead of its telemetry */
  channel: z.enum(['telemetry', 'events']).default('telemetry'),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export function dataRoutes(deps: HttpDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/devices/:id/telemetry', {
      schema: { tags: ['data'], summary: 'Stored readings of a device (default: the last 24 h)', params: z.object({ id: idSchema }), querystring: telemetryQuery },
    }, async (req) => {
      const device = deps.registry.getDevice(req.params.id);
      if (!device || !canSeeDevice(req.principal, device)) throw notFound('device', req.params.id);
      const to = req.query.to ?? Date.now();
      const from = req.query.from ?? to - 86_400_000;
      if (from > to) throw badRequest('from is after to', [{ path: 'querystring.from', message: 'after to' }]);
      const contract = KIND_CONTRACTS[device.kind];
      const fields = req.query.fields?.split(',');
      const known = req.query.channel === 'events' ? { ...contract.eventFields, type: 'string' } : contract.telemetryFields;
      const unknown = fields?.filter((f) => !(f in known)) ?? [];
      if (unknown.length > 0) throw badRequest(`unknown field(s) for ${device.kind}: ${unknown.join(', ')}`, unknown.map((f) => ({ path: 'querystring.fields', message: `unknown field ${f}` })));
      const measurement = req.query.channel === 'events' ? contract.eventMeasurement : contract.telemetryMeasurement;
      const rows = await deps.writer.query({ deviceId: device.id, measurement, from, to, limit: req.query.limit, ...(fields ? { fields } : {}) });
      return { deviceId: device.id, kind: device.kind, backend: deps.writer.backend, from, to, count: rows.length, rows };
    });

    r.get('/dead-letters', {
      schema: {
        tags: ['data'], summary: 'Rejected messages with their reasons, newest first',
        querystring: z.object({ deviceId: idSchema.optional(), before: z.coerce.number().int().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      },
    }, async (req) => {
      const p = req.principal;
      let deviceIds: string[] | undefined;
      if (req.query.deviceId) {
        const device = deps.registry.getDevice(req.query.deviceId);
        if (!device || !canSeeDevice(p, device)) throw notFound('device', req.query.deviceId);
        deviceIds = [device.id];
      } else if (p.role !== 'admin') {
        deviceIds = deps.registry.listDevices().filter((d) => canSeeDevice(p, d)).map((d) => d.id);
      }
      const items = await deps.deadLetters.list({ deviceIds, beforeId: req.query.before, limit: req.query.limit });
      return { items, next: items.length === req.query.limit ? items[items.length - 1]!.id : null };
    });
  };
}
