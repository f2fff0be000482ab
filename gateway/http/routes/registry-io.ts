/**
 * Bulk import and export of sites and devices (批量导入导出), CSV or XLSX. The reading, checking and
 * applying are registry/bulk's; this is the HTTP side: who may, the body types (parsed here only, up
 * to 10 MB), and the answers. An admin imports anything, a property company its own sites and their
 * devices; every other role is refused before its body is read.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  BULK_ENTITIES, applyPlan, exportCsv, exportXlsx, isAdmin, parseCsv, parseXlsx, planImport, secretsCsv, type BulkParsed, type BulkRowError, type Principal,
} from '../../../registry/index.js';
import { CodedHttpError, GatewayError, badRequest, forbidden } from '../../../core/errors.js';
import type { HttpDeps } from '../deps.js';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** The error list a person can work through; past it, a count of the rest. */
const MAX_REPORTED = 1000;
/**
 * Rows one import may hold. Applying runs in one unit of work without yielding (all or none), about
 * 55 µs a device here: 20,000 rows hold MQTT and HTTP for about a second; a city is imported in parts.
 */
export const MAX_IMPORT_ROWS = 20_000;

const mayBulk = (p: Principal) => isAdmin(p) || p.role === 'property';

const importQuery = z.object({
  entity: z.enum(BULK_ENTITIES).optional().describe('CSV: required, what the file holds. XLSX: only that sheet (absent: both)'),
  dryRun: z.enum(['true', 'false']).optional().describe('true: check everything, write nothing, issue no secrets'),
});

const exportQuery = z.object({
  format: z.enum(['csv', 'xlsx']),
  entity: z.enum(BULK_ENTITIES).optional().describe('CSV: required (one file per entity); XLSX: both sheets always'),
});

const today = () => new Date().toISOString().slice(0, 10);
const attachment = (reply: FastifyReply, type: string, filename: string) =>
  reply.header('content-type', type).header('content-disposition', `attachment; filename="${filename}"`).header('cache-control', 'no-store');

const mediaType = (req: FastifyRequest) => (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
const charsetOf = (req: FastifyRequest) => /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];

/** Problems in the file's order: sheet by sheet (sites first), line by line. */
function ordered(parsed: BulkParsed, planned: BulkRowError[]): BulkRowError[] {
  const sheetOrder = new Map(parsed.sheets.map((s, i) => [s.sheet, i]));
  const rank = (e: BulkRowError) => sheetOrder.get(e.sheet) ?? sheetOrder.size;
  return [...parsed.errors, ...planned].map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e) - rank(b.e) || a.e.line - b.e.line || a.i - b.i).map(({ e }) => e);
}

export function registryIoRoutes(deps: HttpDeps): FastifyPluginAsync {
  const { registry, audit } = deps;

  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    // the files' types are read here only, as they come (a Buffer), and no larger than 10 MB
    for (const type of ['text/csv', XLSX_TYPE]) {
      app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));
    }

    app.setErrorHandler((err) => {
      // Fastify's own 413 says so in English only; everything else goes on to the gateway's handler
      if (!(err instanceof CodedHttpError) && (err as { statusCode?: number }).statusCode === 413) {
        throw new GatewayError('GW_PAYLOAD_TOO_LARGE', '文件超过 10 MB，请分批导入 / the file is larger than 10 MB: import it in parts');
      }
      throw err;
    });

    // before the body is read: an agency never uploads a file for nothing
    app.addHook('onRequest', async (req) => {
      if (!mayBulk(req.principal)) throw forbidden('只有管理员或物业公司可以批量导入导出 / only an admin or a property company may import or export the registry');
    });

    r.post('/registry/import', {
      bodyLimit: MAX_BODY_BYTES,
      schema: {
        tags: ['registry'],
        summary: 'Bulk import sites and devices (批量导入) from CSV or XLSX: every row checked, all or nothing; new devices\' secrets returned once',
        description: 'CSV (text/csv, UTF-8) needs ?entity=sites|devices; an XLSX workbook has sheets 小区/sites and 设备/devices. Any bad row: 400 GW_IMPORT_INVALID with details.rows [{sheet, line, field, message}] and nothing changed. With Accept: text/csv the answer is the secrets file (deviceId,secret).',
        querystring: importQuery,
        consumes: ['text/csv', XLSX_TYPE],
      },
    }, async (req, reply) => {
      const { entity } = req.query;
      const dryRun = req.query.dryRun === 'true';
      const body = req.body;
      const type = mediaType(req);
      if (!Buffer.isBuffer(body) || (type !== 'text/csv' && type !== XLSX_TYPE)) {
        throw badRequest(`请发送 CSV（text/csv）或 XLSX（${XLSX_TYPE}）文件 / send a CSV (text/csv) or an XLSX (${XLSX_TYPE}) file`);
      }
      let parsed: BulkParsed;
      if (type === 'text/csv') {
        if (!entity) throw badRequest('CSV 导入需要 entity=sites 或 entity=devices / a CSV import needs ?entity=sites or ?entity=devices');
        parsed = parseCsv(body, entity, charsetOf(req));
      } else {
        parsed = await parseXlsx(body, entity);
      }

      const rows = parsed.sheets.reduce((n, sheet) => n + sheet.rows.length, 0);
      if (rows > MAX_IMPORT_ROWS) {
        throw badRequest(`一次最多导入 ${MAX_IMPORT_ROWS} 行，本文件 ${rows} 行，请分批导入 / at most ${MAX_IMPORT_ROWS} rows per import (this file has ${rows}): import it in parts`, { rows, max: MAX_IMPORT_ROWS });
      }
      // from here to the end of the changes nothing awaits: the registry read is the registry written
      const { plan, errors } = planImport(parsed.sheets, registry, req.principal);
      const all = ordered(parsed, errors);
      if (all.length > 0) {
        throw new GatewayError('GW_IMPORT_INVALID', `导入未执行，共 ${all.length} 处错误，请改正后重新导入 / nothing was imported: ${all.length} problem(s) to fix`, {
          rows: all.slice(0, MAX_REPORTED), more: Math.max(0, all.length - MAX_REPORTED),
        });
      }
      const secrets = dryRun ? [] : applyPlan(registry, audit, plan, req.principal.id, { format: type === 'text/csv' ? 'csv' : 'xlsx', ...(entity ? { entity } : {}) });
      // an elevator given to another maintenance unit takes its open alerts along, as PATCH /devices does
      if (!dryRun) {
        for (const c of plan.changes) if (c.op === 'updateDevice' && c.patch.maintenanceUnitId !== undefined) deps.handovers.unitChanged(c.id, req.principal.id);
      }
      // a text answer skips the server's wait for the store (it waits on objects only): wait here
      if (!dryRun) await deps.store.durable();

      if (/\btext\/csv\b/i.test(req.headers.accept ?? '')) {
        return attachment(reply, 'text/csv; charset=utf-8', `device-secrets-${today()}.csv`).send(secretsCsv(secrets));
      }
      reply.header('cache-control', 'no-store');
      return { dryRun, sites: plan.sites, devices: plan.devices, secrets };
    });

    r.get('/registry/export', {
      schema: {
        tags: ['registry'],
        summary: 'Export sites and devices (批量导出) as CSV (one entity) or XLSX (both sheets), in the columns the import reads; never a secret',
        querystring: exportQuery,
        produces: ['text/csv', XLSX_TYPE],
      },
    }, async (req, reply) => {
      const { format, entity } = req.query;
      if (format === 'csv') {
        if (!entity) throw badRequest('CSV 导出需要 entity=sites 或 entity=devices / a CSV export needs ?entity=sites or ?entity=devices');
        return attachment(reply, 'text/csv; charset=utf-8', `${entity}-${today()}.csv`).send(exportCsv(entity, registry, req.principal));
      }
      return attachment(reply, XLSX_TYPE, `registry-${today()}.xlsx`).send(await exportXlsx(registry, req.principal));
    });
  };
}
