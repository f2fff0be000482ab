/**
 * exceljs takes about 0.3 s and 30 MB to load: it is loaded on the first workbook read or written,
 * not at every start of every process that uses the registry.
 */
import type * as ExcelJS from 'exceljs';

export type { ExcelJS };

/** What is used of it: the workbook (the rest are types). */
interface Excel { Workbook: typeof ExcelJS.Workbook }

let loading: Promise<Excel> | undefined;

export function loadExcel(): Promise<Excel> {
  // a CommonJS package: its exports are the default export of the ES module view
  loading ??= import('exceljs').then((m) => (m as unknown as { default: Excel }).default);
  return loading;
}
