/**
 * The columns of a bulk import / export: one per field of the API, each with its Chinese header.
 * The export writes the bilingual header (`编号 id`); the import takes that, the Chinese alone or the
 * API field name alone, so a file made by hand in either language, or exported and edited, reads the same.
 */
import { DEVICE_KINDS, type DeviceKind } from '../kinds.js';
import { SITE_AREAS, type SiteArea } from '../schemas.js';

export const ENTITIES = ['sites', 'devices'] as const;
export type Entity = (typeof ENTITIES)[number];

/** How a cell's text (or spreadsheet value) becomes the value zod checks. */
export type ColumnType = 'text' | 'number' | 'date' | 'boolean' | 'kind' | 'area';

export interface Column {
  field: string;
  zh: string;
  type: ColumnType;
}

export const SITE_COLUMNS: readonly Column[] = [
  { field: 'id', zh: '编号', type: 'text' },
  { field: 'name', zh: '名称', type: 'text' },
  { field: 'companyId', zh: '物业公司编号', type: 'text' },
  { field: 'address', zh: '地址', type: 'text' },
  { field: 'street', zh: '街道', type: 'text' },
  { field: 'community', zh: '社区', type: 'text' },
  { field: 'grid', zh: '网格', type: 'text' },
  { field: 'area', zh: '城乡', type: 'area' },
];

export const DEVICE_COLUMNS: readonly Column[] = [
  { field: 'id', zh: '编号', type: 'text' },
  { field: 'kind', zh: '类型', type: 'kind' },
  { field: 'siteId', zh: '小区编号', type: 'text' },
  { field: 'location', zh: '位置', type: 'text' },
  { field: 'building', zh: '楼栋', type: 'text' },
  // rule settings such as the offline timeout may be per model (alerts.rules.models)
  { field: 'model', zh: '型号', type: 'text' },
  // field protocols: an NB-IoT device's IMEI, a GB/T 26875.3 transmission device's address
  { field: 'imei', zh: 'IMEI', type: 'text' },
  { field: 'uitdAddress', zh: '传输装置地址', type: 'text' },
  { field: 'maintenanceUnitId', zh: '维保单位编号', type: 'text' },
  { field: 'registrationCode', zh: '注册代码', type: 'text' },
  { field: 'nextInspectionDue', zh: '下次检验日期', type: 'date' },
  { field: 'ratedSpeed', zh: '额定速度', type: 'number' },
  { field: 'topFloor', zh: '最高层', type: 'number' },
  { field: 'bottomFloor', zh: '最低层', type: 'number' },
  { field: 'installedAt', zh: '安装日期', type: 'date' },
  { field: 'warrantyUntil', zh: '质保到期', type: 'date' },
  { field: 'disabled', zh: '停用', type: 'boolean' },
];

export const COLUMNS: Record<Entity, readonly Column[]> = { sites: SITE_COLUMNS, devices: DEVICE_COLUMNS };

/** What a person calls each entity, for sheet names and messages. */
export const ENTITY_ZH: Record<Entity, string> = { sites: '小区', devices: '设备' };

/** The header the export writes: Chinese first, then the API name. */
export const exportHeader = (c: Column) => `${c.zh} ${c.field}`;

const norm = (s: string) => s.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();

/** The column a header names (`id`, `编号` or `编号 id`; case and full-width forms aside), if any. */
export function columnFor(entity: Entity, header: string): Column | undefined {
  const h = norm(header);
  return COLUMNS[entity].find((c) => h === norm(c.field) || h === norm(c.zh) || h === norm(exportHeader(c)));
}

/** The entity a workbook sheet holds, by its name (`sites`, `小区` or `小区 sites`; likewise devices). */
export function entityOfSheet(name: string): Entity | undefined {
  const n = norm(name);
  return ENTITIES.find((e) => n === e || n === norm(ENTITY_ZH[e]) || n === norm(`${ENTITY_ZH[e]} ${e}`));
}

/** Chinese names people write in a kind or area cell; the API names are taken as they are. */
const KIND_ZH: Record<string, DeviceKind> = { 电梯: 'elevator', 消防主机: 'fire_panel', 烟感: 'smoke_detector', 烟雾探测器: 'smoke_detector', 消防水: 'fire_water', 水泵: 'water_pump', 排水: 'drainage', 排水设备: 'drainage', 集水坑: 'drainage' };
const AREA_ZH: Record<string, SiteArea> = { 城市: 'urban', 城镇: 'urban', 农村: 'rural' };

export function kindOf(text: string): string {
  return KIND_ZH[text] ?? ((DEVICE_KINDS as readonly string[]).includes(text.toLowerCase()) ? text.toLowerCase() : text);
}

export function areaOf(text: string): string {
  return AREA_ZH[text] ?? ((SITE_AREAS as readonly string[]).includes(text.toLowerCase()) ? text.toLowerCase() : text);
}
