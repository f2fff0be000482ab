/**
 * The registry as a file the import reads back: the same columns under their bilingual headers
 * (`编号 id`), only what the caller may change (an admin everything, a property company its own
 * sites and their devices), never a secret or a hash. Re-imported unchanged, it changes nothing.
 */
import { stringify } from 'csv-stringify/sync';
import { canManageCompany, type Principal } from '../scope.js';
import type { Device, Site } from '../registry.js';
import { COLUMNS, ENTITY_ZH, exportHeader, type Entity } from './columns.js';
import { guardFormula } from './cells.js';
import type { ImportSecret } from './apply.js';
import { loadExcel } from './excel.js';

export interface ExportSource { listSites(): Site[]; listDevices(): Device[] }

type Cell = string | number | boolean | undefined;

/** The entries of one entity the caller may export, as cells in column order; sorted so that two exports compare. */
export function exportRows(entity: Entity, registry: ExportSource, principal: Principal): Cell[][] {
  const entries: Array<Site | Device> = entity === 'sites'
    ? registry.listSites().filter((s) => canManageCompany(principal, s.companyId)).sort((a, b) => a.id.localeCompare(b.id))
    : registry.listDevices().filter((d) => canManageCompany(principal, d.companyId)).sort((a, b) => a.siteId.localeCompare(b.siteId) || a.id.localeCompare(b.id));
  return entries.map((e) => COLUMNS[entity].map((c) => (e as unknown as Record<string, Cell>)[c.field]));
}

/** CSV with a BOM: Excel opens a UTF-8 file without one as the local code page, and garbles the Chinese. */
export function exportCsv(entity: Entity, registry: ExportSource, principal: Principal): string {
  const rows = exportRows(entity, registry, principal).map((r) => r.map((v) => (typeof v === 'string' ? guardFormula(v) : v === undefined ? '' : String(v))));
  return stringify([COLUMNS[entity].map(exportHeader), ...rows], { bom: true, record_delimiter: 'windows' });
}

/** One workbook, a sheet per entity (小区, 设备), the header row bold and frozen. */
export async function exportXlsx(registry: ExportSource, principal: Principal): Promise<Buffer> {
  const { Workbook } = await loadExcel();
  const wb = new Workbook();
  wb.creator = 'community-iot-gateway';
  for (const entity of ['sites', 'devices'] as const) {
    const ws = wb.addWorksheet(ENTITY_ZH[entity], { views: [{ state: 'frozen', ySplit: 1 }] });
    ws.columns = COLUMNS[entity].map((c) => ({ header: exportHeader(c), key: c.field, width: Math.max(12, exportHeader(c).length + 6) }));
    ws.getRow(1).font = { bold: true };
    // dates stay text (YYYY-MM-DD), so no time zone can move them a day
    for (const row of exportRows(entity, registry, principal)) ws.addRow(row.map((v) => (v === undefined ? null : v)));
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** The secrets of the devices an import created, for a script to save: deviceId,secret. */
export function secretsCsv(secrets: readonly ImportSecret[]): string {
  return stringify([['deviceId', 'secret'], ...secrets.map((s) => [s.deviceId, s.secret])]);
}
