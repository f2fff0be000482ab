/**
 * Checks every row of an import against the registry's schemas and rules, and the caller's scope,
 * before anything is written: the result is either the list of everything wrong (each row, each
 * field) or the changes to make, in order (sites before devices, so a file can bring a site and its
 * devices). Nothing here writes; apply.ts makes the changes all or none.
 *
 * The rules are the registry's and the REST routes' own (registry.ts, gateway's routes/registry.ts),
 * checked here in advance because the registry stops at the first problem and an import must report
 * them all: a site's company is not changed by import (handover is its own action), a device's kind
 * never; elevator fields only on elevators; top floor not below bottom floor; ids are global
 * (devices and accounts share them); an entry outside the caller's scope answers like any taken id.
 */
import type { z } from 'zod';
import { IdTakenError } from '../../core/errors.js';
import { ELEVATOR_FIELDS, deviceInputSchema, devicePatchSchema, idSchema, siteInputSchema, sitePatchSchema } from '../schemas.js';
import type { DeviceInput, DevicePatch, SiteInput, SitePatch } from '../schemas.js';
import { canManageCompany, isAdmin, type Principal } from '../scope.js';
import type { Account, Device, Site } from '../registry.js';
import { COLUMNS, type Entity } from './columns.js';
import { convert } from './cells.js';
import type { RawRow, RawSheet, RowError } from './parse.js';

/** What the planner reads of the registry. */
export interface RegistryView {
  getSite(id: string): Site | undefined;
  getDevice(id: string): Device | undefined;
  getAccount(id: string): Account | undefined;
}

export type Change =
  | { op: 'createSite'; input: SiteInput }
  | { op: 'updateSite'; id: string; patch: SitePatch }
  | { op: 'createDevice'; input: DeviceInput; disabled: boolean }
  | { op: 'updateDevice'; id: string; patch: DevicePatch };

export interface Counts { created: number; updated: number; unchanged: number }
export interface Plan { changes: Change[]; sites: Counts; devices: Counts }

const FIELD_ZH = new Map<string, string>([...COLUMNS.sites, ...COLUMNS.devices].map((c) => [c.field, c.zh]));
const zh = (field: string) => FIELD_ZH.get(field) ?? field;

/** zod's messages are English; the Chinese in front says what kind of problem it is. */
function zodMessage(issue: z.core.$ZodIssue, given: boolean): string {
  const what = (() => {
    switch (issue.code) {
      case 'invalid_type': return given ? '类型不符' : '必填';
      case 'invalid_value': return '取值无效';
      case 'too_big': return '过长或过大';
      case 'too_small': return '过短或过小';
      case 'invalid_format': return '格式不符';
      default: return '无效';
    }
  })();
  return `${zh(String(issue.path[0] ?? ''))}${what} / ${issue.message}`;
}

/** The fields that differ from the entry's: a file exported and brought back unchanged changes nothing. */
function changed<T extends object>(patch: T, current: object): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v !== undefined && (current as Record<string, unknown>)[k] !== v) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

class Checker {
  readonly errors: RowError[] = [];
  private readonly reported = new Set<string>();
  constructor(private readonly sheet: string, private readonly line: number) {}

  /** One problem per field and row: the first found is the one to fix. */
  add(field: string, message: string): void {
    if (this.reported.has(field)) return;
    this.reported.add(field);
    this.errors.push({ sheet: this.sheet, line: this.line, field, message });
  }

  has(field: string): boolean { return this.reported.has(field); }
  get ok(): boolean { return this.errors.length === 0; }

  zod(result: { success: true } | { success: false; error: z.ZodError }, values: Record<string, unknown>): boolean {
    if (result.success) return true;
    for (const issue of result.error.issues) {
      const field = String(issue.path[0] ?? 'id');
      this.add(field, zodMessage(issue, values[field] !== undefined));
    }
    return false;
  }
}

/** The row's cells converted to the types its columns hold; a cell that cannot be is reported and left out. */
function valuesOf(row: RawRow, check: Checker): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [col, raw] of row.cells) {
    const c = convert(col, raw);
    if (c.ok) values[col.field] = c.value;
    else check.add(col.field, `${col.zh}：${c.message}`);
  }
  return values;
}

const without = (values: Record<string, unknown>, ...keys: string[]) => Object.fromEntries(Object.entries(values).filter(([k]) => !keys.includes(k)));

export function planImport(sheets: readonly RawSheet[], registry: RegistryView, principal: Principal): { plan: Plan; errors: RowError[] } {
  const plan: Plan = { changes: [], sites: { created: 0, updated: 0, unchanged: 0 }, devices: { created: 0, updated: 0, unchanged: 0 } };
  const errors: RowError[] = [];
  /** The line each id was first seen on, per entity (across sheets of the same entity). */
  const firstLine: Record<Entity, Map<string, { sheet: string; line: number }>> = { sites: new Map(), devices: new Map() };
  /** Sites this import creates: devices may name them. */
  const newSites = new Set<string>();

  const taken = (id: string, by: 'site' | 'device' | 'account') => {
    const e = new IdTakenError(id, by);
    return isAdmin(principal) ? e.precise().message : e.message;
  };

  /** The row's id, checked and not given twice; undefined when the row can go no further. */
  const idOf = (entity: Entity, sheet: string, row: RawRow, values: Record<string, unknown>, check: Checker): string | undefined => {
    if (check.has('id')) return undefined;
    const id = values.id;
    if (id === undefined) { check.add('id', '编号必填 / id is required'); return undefined; }
    const valid = idSchema.safeParse(id);
    if (!valid.success) { check.zod(valid, values); return undefined; }
    const first = firstLine[entity].get(valid.data);
    if (first) {
      const where = first.sheet === sheet ? `第 ${first.line} 行` : `「${first.sheet}」第 ${first.line} 行`;
      check.add('id', `编号重复，${where}已有 / duplicate id, already on ${first.sheet === sheet ? '' : `sheet ${first.sheet} `}line ${first.line}`);
      return undefined;
    }
    firstLine[entity].set(valid.data, { sheet, line: row.line });
    return valid.data;
  };

  const planSite = (sheet: string, row: RawRow, check: Checker) => {
    const values = valuesOf(row, check);
    const id = idOf('sites', sheet, row, values, check);
    if (id === undefined) return;
    const existing = registry.getSite(id);
    if (existing) {
      if (!canManageCompany(principal, existing.companyId)) return check.add('id', taken(id, 'site'));
      if (values.companyId !== undefined && values.companyId !== existing.companyId) {
        check.add('companyId', '导入不能更换小区的物业公司（移交另行办理） / an import does not change a site\'s company (a handover is its own action)');
      }
      const parsed = sitePatchSchema.safeParse(without(values, 'id', 'companyId'));
      if (!check.zod(parsed, values) || !parsed.success || !check.ok) return;
      const patch = changed(parsed.data, existing);
      if (Object.keys(patch).length === 0) { plan.sites.unchanged++; return; }
      plan.changes.push({ op: 'updateSite', id, patch });
      plan.sites.updated++;
      return;
    }
    newSites.add(id);
    const parsed = siteInputSchema.safeParse(values);
    if (!check.zod(parsed, values) || !parsed.success) return;
    if (!canManageCompany(principal, parsed.data.companyId)) {
      return check.add('companyId', `不能为物业公司 ${parsed.data.companyId} 导入小区 / you may not add sites to company ${parsed.data.companyId}`);
    }
    if (!check.ok) return;
    plan.changes.push({ op: 'createSite', input: parsed.data });
    plan.sites.created++;
  };

  /**
   * A site a device may be on: one the caller manages, or one this import creates. Another
   * company's site answers exactly like a missing one, so site ids cannot be probed through devices.
   */
  const checkSite = (siteId: unknown, check: Checker) => {
    if (typeof siteId !== 'string' || check.has('siteId')) return;
    const site = registry.getSite(siteId);
    if (newSites.has(siteId) || (site && canManageCompany(principal, site.companyId))) return;
    check.add('siteId', `小区 ${siteId} 不存在 / site ${siteId} does not exist`);
  };

  /** Elevator fields only on an elevator; the registry refuses them one at a time, the import lists them all. */
  const checkElevatorFields = (kind: unknown, values: Record<string, unknown>, check: Checker) => {
    if (typeof kind !== 'string' || kind === 'elevator') return;
    for (const f of ELEVATOR_FIELDS) {
      if (values[f] !== undefined) check.add(f, `只有电梯才有${zh(f)} / only elevators have ${f}, not a ${kind}`);
    }
  };

  const checkFloors = (top: unknown, bottom: unknown, field: 'topFloor' | 'bottomFloor', check: Checker) => {
    if (typeof top === 'number' && typeof bottom === 'number' && top < bottom) {
      check.add(field, `最高层（${top}）不能低于最低层（${bottom}） / topFloor (${top}) must not be below bottomFloor (${bottom})`);
    }
  };

  const planDevice = (sheet: string, row: RawRow, check: Checker) => {
    const values = valuesOf(row, check);
    const id = idOf('devices', sheet, row, values, check);
    if (id === undefined) return;
    if (registry.getAccount(id)) return check.add('id', taken(id, 'account'));
    const existing = registry.getDevice(id);
    if (existing) {
      if (!canManageCompany(principal, existing.companyId)) return check.add('id', taken(id, 'device'));
      if (values.kind !== undefined && values.kind !== existing.kind) {
        check.add('kind', `设备类型不能更改（现为 ${existing.kind}） / a device's kind cannot be changed (it is a ${existing.kind})`);
      }
      checkElevatorFields(existing.kind, values, check);
      // the floors as they will be: the given ones over the device's own
      checkFloors(values.topFloor ?? existing.topFloor, values.bottomFloor ?? existing.bottomFloor, values.topFloor !== undefined ? 'topFloor' : 'bottomFloor', check);
      checkSite(values.siteId, check);
      const parsed = devicePatchSchema.safeParse(without(values, 'id', 'kind'));
      check.zod(parsed, values);
      if (!parsed.success || !check.ok) return;
      const patch = changed(parsed.data, existing);
      if (Object.keys(patch).length === 0) { plan.devices.unchanged++; return; }
      plan.changes.push({ op: 'updateDevice', id, patch });
      plan.devices.updated++;
      return;
    }
    checkElevatorFields(values.kind, values, check);
    checkFloors(values.topFloor, values.bottomFloor, 'topFloor', check);
    checkSite(values.siteId, check);
    const parsed = deviceInputSchema.safeParse(without(values, 'disabled'));
    if (!check.zod(parsed, values) || !parsed.success || !check.ok) return;
    plan.changes.push({ op: 'createDevice', input: parsed.data, disabled: values.disabled === true });
    plan.devices.created++;
  };

  // sites first, whatever order the sheets came in: devices may name the sites created here
  for (const entity of ['sites', 'devices'] as const) {
    for (const s of sheets.filter((x) => x.entity === entity)) {
      for (const row of s.rows) {
        const check = new Checker(s.sheet, row.line);
        if (entity === 'sites') planSite(s.sheet, row, check);
        else planDevice(s.sheet, row, check);
        errors.push(...check.errors);
      }
    }
  }
  return { plan, errors };
}
