/**
 * Reads an import file into rows of cells by field, each with the line a person sees in the
 * spreadsheet (the header is line 1). What is wrong with the file's layout (an unknown column, a
 * column twice) is reported with the rows' problems, so one answer lists everything to fix; what
 * makes the file unreadable as a whole (not UTF-8, not a workbook) is a plain 400.
 */
import { parse as parseCsvText } from 'csv-parse/sync';
import { badRequest } from '../../core/errors.js';
import { COLUMNS, ENTITIES, ENTITY_ZH, columnFor, entityOfSheet, type Column, type Entity } from './columns.js';
import { isBlank, type Raw } from './cells.js';
import { loadExcel, type ExcelJS } from './excel.js';

export interface RawRow { line: number; cells: Map<Column, Raw> }
export interface RawSheet { entity: Entity; sheet: string; rows: RawRow[] }

/** One problem of an import: the sheet (CSV: the entity), the line, the field (or the column as headed). */
export interface RowError { sheet: string; line: number; field: string; message: string }

export interface Parsed { sheets: RawSheet[]; errors: RowError[] }

/**
 * The header row to columns by position: undefined for a column without a header (ignored while
 * empty), null for one whose header is already reported (unknown, or twice). Without an id column
 * the rows cannot be told apart, so that sheet's rows are not read.
 */
type Columns = readonly (Column | null | undefined)[];

function readHeader(entity: Entity, sheet: string, headers: readonly (string | undefined)[], errors: RowError[]): Columns | undefined {
  const seen = new Set<Column>();
  const columns = headers.map((h) => {
    if (h === undefined || h.trim() === '') return undefined;
    const c = columnFor(entity, h);
    if (!c) {
      const known = COLUMNS[entity].map((k) => k.field).join(', ');
      errors.push({ sheet, line: 1, field: h.trim(), message: `未知的列「${h.trim()}」，${ENTITY_ZH[entity]}的列为：${known} / unknown column "${h.trim()}"; the ${entity} columns are: ${known}` });
      return null;
    }
    if (seen.has(c)) {
      errors.push({ sheet, line: 1, field: c.field, message: `列「${c.zh} ${c.field}」出现了两次 / column ${c.field} is given twice` });
      return null;
    }
    seen.add(c);
    return c;
  });
  if (![...seen].some((c) => c.field === 'id')) {
    errors.push({ sheet, line: 1, field: 'id', message: '缺少编号列（编号 id） / the id column is missing' });
    return undefined;
  }
  return columns;
}

/** A data row's cells by column; undefined for a row with nothing in it (skipped, as a person would). */
function readRow(sheet: string, line: number, columns: Columns, values: readonly (Raw | undefined)[], errors: RowError[]): RawRow | undefined {
  const cells = new Map<Column, Raw>();
  let any = false;
  values.forEach((v, i) => {
    if (isBlank(v)) return;
    any = true;
    const c = columns[i];
    if (c) cells.set(c, v);
    else if (c === undefined) {
      errors.push({ sheet, line, field: `#${i + 1}`, message: `第 ${i + 1} 列有内容但没有可用的表头 / column ${i + 1} has a value but no usable header` });
    }
  });
  return any ? { line, cells } : undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * CSV text: UTF-8 (a BOM is dropped). Excel's plain "CSV" on a Chinese Windows writes GB18030, which
 * is taken when the Content-Type says so (`charset=gbk`); otherwise such a file is refused with a hint,
 * rather than read as garbled names.
 */
function decode(body: Buffer, charset: string | undefined): string {
  const cs = charset?.toLowerCase();
  if (cs === 'gbk' || cs === 'gb2312' || cs === 'gb18030') return new TextDecoder('gb18030').decode(body);
  try {
    return UTF8.decode(body);
  } catch {
    throw badRequest('文件不是 UTF-8 编码：请在 Excel 中另存为「CSV UTF-8（逗号分隔）」，或在 Content-Type 中注明 charset=gbk / the file is not UTF-8: save it as "CSV UTF-8", or send charset=gbk');
  }
}

export function parseCsv(body: Buffer, entity: Entity, charset?: string): Parsed {
  const sheet = entity;
  const errors: RowError[] = [];
  let records: string[][];
  try {
    records = parseCsvText(decode(body, charset), { bom: true, relax_column_count: true, skip_empty_lines: false });
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof (err as { lines?: unknown }).lines === 'number') {
      const line = (err as unknown as { lines: number }).lines;
      return { sheets: [], errors: [{ sheet, line, field: '', message: `CSV 格式错误（如引号未闭合） / malformed CSV: ${err.message}` }] };
    }
    throw err;
  }
  const [header, ...rest] = records;
  if (!header) throw badRequest('文件是空的 / the file is empty');
  const columns = readHeader(entity, sheet, header, errors);
  const rows: RawRow[] = [];
  if (columns) {
    // the line is the row a spreadsheet shows: a blank line is a row, a quoted cell with line breaks is one
    rest.forEach((r, i) => {
      const row = readRow(sheet, i + 2, columns, r, errors);
      if (row) rows.push(row);
    });
  }
  return { sheets: [{ entity, sheet, rows }], errors };
}

/**
 * A workbook's cell as a plain value: rich text and hyperlinks as their text, a formula as its
 * result, an error (#N/A) as its text so that the column's check reports it.
 */
function plain(v: ExcelJS.CellValue): Raw | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) return v;
  if ('richText' in v) return v.richText.map((t) => t.text).join('');
  if ('hyperlink' in v) return typeof v.text === 'string' ? v.text : plain(v.text as ExcelJS.CellValue);
  if ('formula' in v || 'sharedFormula' in v) return plain((v as { result?: ExcelJS.CellValue }).result);
  if ('error' in v) return String(v.error);
  return undefined;
}

/**
 * A zip whose entries inflate to far more than any registry could fill (a "zip bomb") is refused
 * before it is inflated, by the sizes its central directory declares.
 */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;
const MAX_ENTRIES = 10_000;

function checkZip(buf: Buffer): void {
  const notWorkbook = () => badRequest('文件不是有效的 XLSX 工作簿 / the file is not a valid XLSX workbook');
  // the end-of-central-directory record is in the last 64 KiB + 22 bytes
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw notWorkbook();
  const entries = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  if (entries > MAX_ENTRIES) throw notWorkbook();
  let total = 0;
  for (let n = 0; n < entries; n++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== 0x02014b50) throw notWorkbook();
    const size = buf.readUInt32LE(at + 24);
    // 0xFFFFFFFF: the size is in a ZIP64 field; no workbook of this size needs one
    if (size === 0xffffffff) throw notWorkbook();
    total += size;
    if (total > MAX_INFLATED_BYTES) throw badRequest('工作簿解压后过大 / the workbook inflates to more than 256 MB');
    at += 46 + buf.readUInt16LE(at + 28) + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
}

/** Sheets `sites` / `小区` and `devices` / `设备` (either or both, sites first); other sheets (notes, lists) are left alone. */
export async function parseXlsx(body: Buffer, only?: Entity): Promise<Parsed> {
  checkZip(body);
  const { Workbook } = await loadExcel();
  const wb = new Workbook();
  try {
    // exceljs types its buffer as an ArrayBuffer of its own; it reads a Node Buffer
    await wb.xlsx.load(body as unknown as Parameters<ExcelJS.Xlsx['load']>[0]);
  } catch {
    throw badRequest('文件不是有效的 XLSX 工作簿 / the file is not a valid XLSX workbook');
  }
  const errors: RowError[] = [];
  const found = new Map<Entity, ExcelJS.Worksheet>();
  for (const ws of wb.worksheets) {
    const entity = entityOfSheet(ws.name);
    if (!entity || (only && entity !== only)) continue;
    const other = found.get(entity);
    if (other) {
      errors.push({ sheet: ws.name, line: 1, field: '', message: `工作表「${ws.name}」与「${other.name}」重复 / sheets "${ws.name}" and "${other.name}" both hold ${entity}` });
      continue;
    }
    found.set(entity, ws);
  }
  if (found.size === 0 && errors.length === 0) {
    const names = wb.worksheets.map((w) => w.name).join(', ');
    throw badRequest(`工作簿中没有「小区」或「设备」工作表（现有：${names}） / the workbook has no sheet named sites / 小区 or devices / 设备 (it has: ${names})`);
  }
  const sheets: RawSheet[] = [];
  for (const entity of ENTITIES) {
    const ws = found.get(entity);
    if (!ws) continue;
    const width = ws.columnCount;
    const headerRow = ws.getRow(1);
    const headers = Array.from({ length: width }, (_, i) => {
      const v = plain(headerRow.getCell(i + 1).value);
      return v === undefined ? undefined : v instanceof Date ? v.toISOString() : String(v);
    });
    const columns = readHeader(entity, ws.name, headers, errors);
    const rows: RawRow[] = [];
    if (columns) {
      ws.eachRow({ includeEmpty: false }, (row, line) => {
        if (line === 1) return;
        const values = Array.from({ length: Math.max(width, row.cellCount) }, (_, i) => plain(row.getCell(i + 1).value));
        const read = readRow(ws.name, line, columns, values, errors);
        if (read) rows.push(read);
      });
    }
    sheets.push({ entity, sheet: ws.name, rows });
  }
  return { sheets, errors };
}
