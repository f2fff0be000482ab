/** Bulk import and export of sites and devices (CSV, XLSX): parse, check every row, apply all or none, export. */
export { ENTITIES, type Entity, COLUMNS, exportHeader } from './columns.js';
export { parseCsv, parseXlsx, type RowError, type Parsed } from './parse.js';
export { planImport, type Plan, type Counts } from './plan.js';
export { applyPlan, type ImportSecret } from './apply.js';
export { exportCsv, exportXlsx, secretsCsv } from './export.js';
