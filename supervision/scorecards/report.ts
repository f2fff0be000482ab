/**
 * The period's report (季度通报) as files: an XLSX workbook with a sheet per section (unit
 * scorecards, company scorecards, the period's rectification orders, its safety incidents), or
 * one section as CSV. Headers are bilingual, Chinese first; rates are written as fractions with a
 * percent format in XLSX (numbers a regulator can sum and chart) and as percentages in CSV.
 */
import { stringify } from 'csv-stringify/sync';
import type * as ExcelJS from 'exceljs';
import type { CompanyFigures, Rate, UnitFigures } from './figures.js';

export const REPORT_SECTIONS = ['units', 'companies', 'orders', 'incidents'] as const;
export type ReportSection = (typeof REPORT_SECTIONS)[number];

/** One rectification order as the report lists it (names, not ids, next to the ids). */
export interface OrderLine {
  id: number; targetType: string; targetId: string; targetName: string; siteId: string | null; siteName: string | null;
  issuedAt: number; dueAt: number; state: string; closedAt: number | null; overdue: boolean;
}

/** One safety incident: trapped passengers, or a confirmed fire alarm. */
export interface IncidentLine {
  id: number; kind: 'trapped' | 'fire'; siteId: string; siteName: string; companyName: string; unitName: string | null; deviceId: string;
  openedAt: number; arrivedAt: number | null; endedAt: number | null; state: string;
}

export interface ReportData {
  periodId: string;
  complete: boolean;
  /** Formats epoch ms as a local date-time of the installation. */
  time: (ms: number | null) => string;
  units?: UnitFigures[] | undefined;
  companies?: CompanyFigures[] | undefined;
  orders: OrderLine[];
  incidents: IncidentLine[];
}

type Cell = string | number | null;
interface Column<T> { zh: string; en: string; value: (row: T, d: ReportData) => Cell; percent?: boolean }

const pct = (r: Rate): number | null => r.rate;
const minutes = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 6000) / 10);

const UNIT_COLUMNS: Column<UnitFigures>[] = [
  { zh: '维保单位', en: 'Maintenance unit', value: (u) => u.name },
  { zh: '编号', en: 'Id', value: (u) => u.id },
  { zh: '维保电梯数', en: 'Elevators', value: (u) => u.elevators },
  { zh: '困人告警数', en: 'Trapped alerts', value: (u) => u.trappedPerElevator.count },
  { zh: '3分钟响应数', en: 'Responded in 3 min', value: (u) => u.response.count },
  { zh: '3分钟响应率', en: '3-min response rate', value: (u) => pct(u.response), percent: true },
  { zh: '按时到场数', en: 'Arrived in time', value: (u) => u.arrival.count },
  { zh: '应到场数', en: 'Arrivals judged', value: (u) => u.arrival.of },
  { zh: '按时到场率', en: 'Arrival rate', value: (u) => pct(u.arrival), percent: true },
  { zh: '平均到场时间（分钟）', en: 'Average arrival (min)', value: (u) => minutes(u.averageArrival.ms) },
  { zh: '平均救援时间（分钟）', en: 'Average rescue (min)', value: (u) => minutes(u.averageRescue.ms) },
  { zh: '故障数', en: 'Faults', value: (u) => u.faultsPerElevator.count },
  { zh: '台均故障', en: 'Faults per elevator', value: (u) => u.faultsPerElevator.rate },
  { zh: '台均困人', en: 'Trapped per elevator', value: (u) => u.trappedPerElevator.rate },
  { zh: '按时维保电梯数', en: 'Maintained on time', value: (u) => u.maintenanceOnTime.count },
  { zh: '按时维保率', en: 'Maintenance on time', value: (u) => pct(u.maintenanceOnTime), percent: true },
  { zh: '有效维保次数', en: 'Valid visits', value: (u) => u.visits.valid },
  { zh: '疑似虚假维保次数', en: 'Suspect visits', value: (u) => u.visits.suspect },
  { zh: '按时年检率', en: 'Inspections on time', value: (u) => pct(u.inspectionsOnTime), percent: true },
];

const COMPANY_COLUMNS: Column<CompanyFigures>[] = [
  { zh: '物业企业', en: 'Property company', value: (c) => c.name },
  { zh: '编号', en: 'Id', value: (c) => c.id },
  { zh: '小区数', en: 'Sites', value: (c) => c.sites },
  { zh: '告警数', en: 'Alerts', value: (c) => c.alerts },
  { zh: '按期处置数', en: 'Closed in time', value: (c) => c.closedInTime.count },
  { zh: '按期处置率', en: 'Closed-in-time rate', value: (c) => pct(c.closedInTime), percent: true },
  { zh: '超期告警数', en: 'Overdue alerts', value: (c) => c.overdue.count },
  { zh: '整改通知数', en: 'Rectification orders', value: (c) => c.ordersOverdue.of },
  { zh: '逾期整改数', en: 'Overdue orders', value: (c) => c.ordersOverdue.count },
  { zh: '困人事件', en: 'Trapped incidents', value: (c) => c.incidents.trapped },
  { zh: '确认火警', en: 'Confirmed fires', value: (c) => c.incidents.fires },
  { zh: '设备在线率', en: 'Devices online', value: (c) => pct(c.online), percent: true },
  { zh: '感知覆盖率', en: 'Sensor coverage', value: (c) => pct(c.coverage), percent: true },
];

const ORDER_STATE_ZH: Record<string, string> = { issued: '已下发', replied: '已回复', returned: '复查不合格', overdue: '已逾期', closed: '已销号' };

const ORDER_COLUMNS: Column<OrderLine>[] = [
  { zh: '编号', en: 'Id', value: (o) => o.id },
  { zh: '对象', en: 'Target', value: (o) => o.targetName },
  { zh: '对象类型', en: 'Target type', value: (o) => (o.targetType === 'company' ? '物业企业 company' : '维保单位 maintenance unit') },
  { zh: '小区', en: 'Site', value: (o) => o.siteName },
  { zh: '下发时间', en: 'Issued', value: (o, d) => d.time(o.issuedAt) },
  { zh: '整改期限', en: 'Due', value: (o, d) => d.time(o.dueAt) },
  { zh: '状态', en: 'State', value: (o) => `${ORDER_STATE_ZH[o.state] ?? o.state} ${o.state}` },
  { zh: '销号时间', en: 'Closed', value: (o, d) => d.time(o.closedAt) },
  { zh: '是否逾期', en: 'Overdue', value: (o) => (o.overdue ? '是 yes' : '否 no') },
];

const INCIDENT_COLUMNS: Column<IncidentLine>[] = [
  { zh: '告警编号', en: 'Alert id', value: (i) => i.id },
  { zh: '事件', en: 'Incident', value: (i) => (i.kind === 'trapped' ? '电梯困人 trapped passengers' : '确认火警 confirmed fire') },
  { zh: '小区', en: 'Site', value: (i) => i.siteName },
  { zh: '物业企业', en: 'Property company', value: (i) => i.companyName },
  { zh: '维保单位', en: 'Maintenance unit', value: (i) => i.unitName },
  { zh: '设备', en: 'Device', value: (i) => i.deviceId },
  { zh: '发生时间', en: 'Raised', value: (i, d) => d.time(i.openedAt) },
  { zh: '到场时间', en: 'Arrived', value: (i, d) => d.time(i.arrivedAt) },
  { zh: '结束时间', en: 'Ended', value: (i, d) => d.time(i.endedAt) },
  { zh: '状态', en: 'State', value: (i) => i.state },
];

const SHEETS = {
  units: { zh: '维保单位考核', columns: UNIT_COLUMNS, rows: (d: ReportData) => d.units },
  companies: { zh: '物业企业考核', columns: COMPANY_COLUMNS, rows: (d: ReportData) => d.companies },
  orders: { zh: '整改通知', columns: ORDER_COLUMNS, rows: (d: ReportData) => d.orders },
  incidents: { zh: '安全事件', columns: INCIDENT_COLUMNS, rows: (d: ReportData) => d.incidents },
} as const;

const header = (c: { zh: string; en: string }) => `${c.zh} / ${c.en}`;

/** A text a spreadsheet would run as a formula (=, +, -, @ first) is written with a leading apostrophe. */
const guard = (v: Cell): Cell => (typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

/** The sections the caller may read, in the workbook's order (a property company has no unit sheet). */
export function sectionsOf(d: ReportData): ReportSection[] {
  return REPORT_SECTIONS.filter((s) => SHEETS[s].rows(d) !== undefined);
}

/** One section as CSV (UTF-8 with a BOM, so that Excel reads the Chinese); rates in percent. */
export function reportCsv(d: ReportData, section: ReportSection): string {
  const sheet = SHEETS[section] as { columns: Column<unknown>[]; rows: (d: ReportData) => readonly unknown[] | undefined };
  const rows = (sheet.rows(d) ?? []).map((row) => sheet.columns.map((c) => {
    const v = c.value(row, d);
    if (c.percent) return v === null ? '' : (Math.round((v as number) * 1000) / 10).toFixed(1);
    return v === null ? '' : guard(v);
  }));
  return stringify([sheet.columns.map((c) => header(c.percent ? { zh: `${c.zh}（%）`, en: `${c.en} (%)` } : c)), ...rows], { bom: true, record_delimiter: 'windows' });
}

/** Every section the caller may read, one sheet each, plus a first sheet saying what the period is. */
export async function reportXlsx(d: ReportData, Workbook: typeof ExcelJS.Workbook): Promise<Buffer> {
  const wb = new Workbook();
  wb.creator = 'community-iot-gateway';
  const about = wb.addWorksheet('说明');
  about.columns = [{ width: 28 }, { width: 60 }];
  about.addRows([
    ['考核期 / Period', d.periodId],
    ['是否完整 / Complete', d.complete ? '是 yes' : '否：截至生成时 / no: figures so far'],
    ['口径 / Definitions', 'docs/supervision-scorecards.md'],
  ]);
  for (const section of sectionsOf(d)) {
    const sheet = SHEETS[section] as { zh: string; columns: Column<unknown>[]; rows: (d: ReportData) => readonly unknown[] | undefined };
    const ws = wb.addWorksheet(sheet.zh, { views: [{ state: 'frozen', ySplit: 1 }] });
    ws.columns = sheet.columns.map((c, i) => ({ header: header(c), key: String(i), width: Math.max(12, c.zh.length * 2 + 4), ...(c.percent ? { style: { numFmt: '0.0%' } } : {}) }));
    ws.getRow(1).font = { bold: true };
    for (const row of sheet.rows(d) ?? []) ws.addRow(sheet.columns.map((c) => guard(c.value(row, d))));
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}
