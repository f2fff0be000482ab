/**
 * The orders ledger (整改台账) as a file: CSV (UTF-8 with a BOM, so Excel reads the Chinese) or
 * XLSX, one row per order, bilingual headers (中文 / English), names rather than ids, times in the
 * installation's time zone.
 */
import { stringify } from 'csv-stringify/sync';
import type * as ExcelJS from 'exceljs';
import { STATE_LABELS, TARGET_TYPE_LABELS, partyLabel, type Order } from './model.js';

interface Column { header: string; width: number; value: (o: Order, time: (ms: number | null) => string) => string | number }

const COLUMNS: readonly Column[] = [
  { header: '编号 / ID', width: 10, value: (o) => o.id },
  { header: '标题 / Title', width: 30, value: (o) => o.title },
  { header: '整改对象类型 / Target type', width: 24, value: (o) => TARGET_TYPE_LABELS[o.targetType] },
  { header: '整改对象 / Target', width: 24, value: (o) => o.targetName },
  { header: '小区 / Site', width: 20, value: (o) => o.siteName ?? '' },
  { header: '设备 / Device', width: 20, value: (o) => o.deviceLabel ?? '' },
  { header: '关联告警 / Alert', width: 12, value: (o) => o.alertId ?? '' },
  { header: '下发单位 / Issued by', width: 28, value: (o) => partyLabel(o.issuer) },
  { header: '监管单位 / Supervising party', width: 28, value: (o) => partyLabel(o.supervising) },
  { header: '下发时间 / Issued at', width: 18, value: (o, time) => time(o.issuedAt) },
  { header: '整改期限 / Due at', width: 18, value: (o, time) => time(o.dueAt) },
  { header: '状态 / State', width: 20, value: (o) => STATE_LABELS[o.state] },
  { header: '逾期 / Overdue', width: 10, value: (o) => (o.overdue ? '是 / yes' : '否 / no') },
  { header: '升级至 / Escalated to', width: 28, value: (o) => o.escalatedTo.map(partyLabel).join('；') },
  { header: '回复时间 / Replied at', width: 18, value: (o, time) => time(o.repliedAt) },
  { header: '销号时间 / Closed at', width: 18, value: (o, time) => time(o.closedAt) },
  { header: '整改要求 / Description', width: 40, value: (o) => o.description },
];

/** `2025-06-02 08:00` in the zone; '' for none. */
function timeIn(timeZone: string): (ms: number | null) => string {
  const f = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return (ms) => (ms === null ? '' : f.format(new Date(ms)));
}

/**
 * Excel runs a CSV cell that starts with = + - @ (or a tab / CR) as a formula: such text gets an
 * apostrophe first (OWASP's advice on CSV injection, as the registry's export does).
 */
const guardFormula = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

const cells = (orders: readonly Order[], timeZone: string) => {
  const time = timeIn(timeZone);
  return orders.map((o) => COLUMNS.map((c) => c.value(o, time)));
};

export function ordersCsv(orders: readonly Order[], timeZone: string): string {
  const rows = cells(orders, timeZone).map((r) => r.map((v) => (typeof v === 'string' ? guardFormula(v) : String(v))));
  return stringify([COLUMNS.map((c) => c.header), ...rows], { bom: true, record_delimiter: 'windows' });
}

// exceljs takes about 0.3 s to load: only when the first workbook is written
let loading: Promise<{ Workbook: typeof ExcelJS.Workbook }> | undefined;

export async function ordersXlsx(orders: readonly Order[], timeZone: string): Promise<Buffer> {
  loading ??= import('exceljs').then((m) => (m as unknown as { default: { Workbook: typeof ExcelJS.Workbook } }).default);
  const { Workbook } = await loading;
  const wb = new Workbook();
  wb.creator = 'community-iot-gateway';
  const ws = wb.addWorksheet('整改台账', { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.columns = COLUMNS.map((c, i) => ({ header: c.header, key: String(i), width: c.width }));
  ws.getRow(1).font = { bold: true };
  for (const row of cells(orders, timeZone)) ws.addRow(row);
  return Buffer.from(await wb.xlsx.writeBuffer());
}
