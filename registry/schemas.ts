/** Registry inputs (API bodies and the config seed). Ids end up in MQTT topics, so no `/ + #` in them. */
import { z } from 'zod';
import { deviceKindSchema } from './kinds.js';
import { STORED_HASH_RE } from './secrets.js';

export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be 1-128 characters: letters, digits, _ . : - (no / + # or spaces)');

export const ROLES = ['admin', 'property', 'maintenance', 'market-supervision', 'fire-service', 'street', 'community'] as const;
export type Role = (typeof ROLES)[number];

/** A telephone number as people dial it: digits, with + ( ) - and spaces. */
export const phoneSchema = z.string().trim().regex(/^\+?[0-9][0-9 ()-]{1,31}$/, 'must be a phone number: digits, optionally with + ( ) - and spaces');

export const companyInputSchema = z.object({
  id: idSchema,
  name: z.string().trim().min(1).max(200),
  /** Unified social credit code (统一社会信用代码). */
  creditCode: z.string().trim().min(1).max(32).optional(),
  phone: phoneSchema.optional(),
});
export type CompanyInput = z.infer<typeof companyInputSchema>;
export const companyPatchSchema = companyInputSchema.omit({ id: true }).partial();
export type CompanyPatch = z.infer<typeof companyPatchSchema>;

export const maintenanceUnitInputSchema = z.object({
  id: idSchema,
  name: z.string().trim().min(1).max(200),
  /** Licence (许可证) number. */
  licence: z.string().trim().min(1).max(64).optional(),
  /** The unit's 24 h phone (24小时值班电话): required, it is what a trapped passenger is told to call. */
  phone: phoneSchema,
});
export type MaintenanceUnitInput = z.infer<typeof maintenanceUnitInputSchema>;
export const maintenanceUnitPatchSchema = maintenanceUnitInputSchema.omit({ id: true }).partial();
export type MaintenanceUnitPatch = z.infer<typeof maintenanceUnitPatchSchema>;

/**
 * A street name (街道, e.g. 南山街道): 1-100 characters, no control characters, and none of `/`, `+`,
 * `#`, because it names a queue and an MQTT topic level (`alerts/street/{name}`), where `/` would split
 * the level and `+` / `#` are wildcards.
 */
// eslint-disable-next-line no-control-regex
export const STREET_NAME_RE = /^[^/+#\u0000-\u001f\u007f-\u009f]{1,100}$/;
export const STREET_NAME_HINT = 'must be a street name of 1-100 characters, without control characters, "/", "+" or "#" / 街道名称：1-100 个字符，不含控制字符、"/"、"+"、"#"';

export const SITE_AREAS = ['urban', 'rural'] as const;
export type SiteArea = (typeof SITE_AREAS)[number];

/** Where a site is: its street (街道), community (社区) and grid (网格); `area` sets the rescue arrival deadline (urban 30 min, rural 60). */
const siteWhere = {
  /** Also the name of the street's alert queue (`street/{street}`, MQTT topic `alerts/street/{street}`): no `/`, `+`, `#`. */
  street: z.string().trim().pipe(z.string().regex(STREET_NAME_RE, STREET_NAME_HINT)).optional(),
  community: z.string().trim().min(1).max(100).optional(),
  grid: z.string().trim().min(1).max(100).optional(),
  /** Absent: urban. */
  area: z.enum(SITE_AREAS).optional(),
};

export const siteInputSchema = z.object({
  id: idSchema,
  name: z.string().min(1).max(200),
  companyId: idSchema,
  address: z.string().max(500).optional(),
  ...siteWhere,
});
export type SiteInput = z.infer<typeof siteInputSchema>;

/** A site's name, address and location; its company is not changed here. */
export const sitePatchSchema = z.object({ name: z.string().min(1).max(200).optional(), address: z.string().max(500).optional(), ...siteWhere });
export type SitePatch = z.infer<typeof sitePatchSchema>;

/** What only elevators have (特种设备 data): rated speed in m/s, the floors served, installation and warranty dates. */
export const ELEVATOR_FIELDS = ['ratedSpeed', 'topFloor', 'bottomFloor', 'installedAt', 'warrantyUntil'] as const;
const elevatorFields = {
  ratedSpeed: z.number().positive().max(20).optional(),
  topFloor: z.number().int().min(-20).max(300).optional(),
  bottomFloor: z.number().int().min(-20).max(300).optional(),
  installedAt: z.iso.date().optional(),
  warrantyUntil: z.iso.date().optional(),
};

/** Elevator fields only on an elevator, and its top floor not below its bottom floor; a transmission device's address only on a fire panel. */
export function elevatorRule(d: { kind?: string | undefined; topFloor?: number | undefined; bottomFloor?: number | undefined; uitdAddress?: string | undefined }, ctx: z.RefinementCtx): void {
  if (d.kind !== undefined && d.kind !== 'fire_panel' && d.uitdAddress !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['uitdAddress'], message: `用户信息传输装置登记为火灾报警控制器（fire_panel） / only a fire_panel has uitdAddress, not a ${d.kind}` });
  }
  if (d.kind !== undefined && d.kind !== 'elevator') {
    for (const f of ELEVATOR_FIELDS) {
      if ((d as Record<string, unknown>)[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `only elevators have ${f}, not a ${d.kind}` });
    }
  }
  if (d.topFloor !== undefined && d.bottomFloor !== undefined && d.topFloor < d.bottomFloor) {
    ctx.addIssue({ code: 'custom', path: ['topFloor'], message: `topFloor (${d.topFloor}) must not be below bottomFloor (${d.bottomFloor})` });
  }
}

const deviceBase = z.object({
  id: idSchema,
  kind: deviceKindSchema,
  siteId: idSchema,
  /** Free-text location, e.g. "3号楼 东梯 / Building 3, east lift". */
  location: z.string().max(200).optional(),
  /** Building label, stored as a tag with every reading; fire alarms are corroborated within a building. */
  building: z.string().max(64).optional(),
  /** Device model (型号), e.g. `NB-SD-100`: rule settings such as the offline timeout may be set per model (alerts.rules.models). */
  model: z.string().trim().min(1).max(64).optional(),
  /** An NB-IoT device's IMEI (15 digits): carrier platform pushes name the device by it. */
  imei: z.string().regex(/^\d{15}$/, 'IMEI 为 15 位数字 / must be the 15-digit IMEI').optional(),
  /**
   * A GB/T 26875.3 transmission device's source address: its 6 bytes as 12 hex digits in wire order
   * (low byte first, as the frame carries them), e.g. `40e201000000`. Fire panels only.
   */
  uitdAddress: z.string().regex(/^[0-9a-fA-F]{12}$/, '传输装置地址为 12 位十六进制（按报文字节顺序） / must be 12 hex digits in wire order, e.g. 40e201000000')
    .transform((a) => a.toLowerCase()).optional(),
  maintenanceUnitId: idSchema.optional(),
  /** Elevator registration code (注册代码). */
  registrationCode: z.string().max(64).optional(),
  /** Next annual inspection date, YYYY-MM-DD. */
  nextInspectionDue: z.iso.date().optional(),
  ...elevatorFields,
});
export const deviceInputSchema = deviceBase.superRefine(elevatorRule);
export type DeviceInput = z.infer<typeof deviceInputSchema>;

/** The elevator fields of a patch are checked against the device's kind and floors by the registry. */
export const devicePatchSchema = deviceBase.omit({ id: true, kind: true }).partial().extend({
  disabled: z.boolean().optional(),
}).superRefine(elevatorRule);
export type DevicePatch = z.infer<typeof devicePatchSchema>;

/**
 * Seeded devices may bring a secret already flashed into the firmware (stored salted and slow, see
 * registry/secrets.ts), or only its hash: `sha256:<hex>` of a generated secret, or `scrypt:…`.
 */
export const deviceSeedSchema = deviceBase.extend({
  secret: z.string().min(16).optional(),
  secretHash: z.string().regex(STORED_HASH_RE, 'must be sha256:<64 hex> or scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>').optional(),
  disabled: z.boolean().optional(),
}).superRefine(elevatorRule);

/** What each role's scope names; roles not listed take none. */
const SCOPE_OF: Partial<Record<Role, string>> = {
  property: 'companyId', maintenance: 'maintenance unit id', street: 'street name, e.g. 南山街道', community: 'community name',
};
/** The roles whose scope is an id (companyId, unit id); the area roles' scope is a site's street or community name. */
const ID_SCOPED: ReadonlySet<Role> = new Set(['property', 'maintenance']);

/** A street or community name as a site carries it (schemas: siteWhere): not an id, street names are Chinese. */
// eslint-disable-next-line no-control-regex
export const areaNameSchema = z.string().min(1).max(100).regex(/^[^\u0000-\u001f\u007f-\u009f]+$/, 'must be a name of 1-100 characters, without control characters');

/** A street account's scope: a site's street name, which also names its queue. */
const streetNameSchema = z.string().regex(STREET_NAME_RE, STREET_NAME_HINT);

function scopeRule(a: { role: Role; scope?: string | undefined }, ctx: z.RefinementCtx) {
  const what = SCOPE_OF[a.role];
  if (what !== undefined && !a.scope) ctx.addIssue({ code: 'custom', path: ['scope'], message: `role ${a.role} needs a scope (${what})` });
  if (what === undefined && a.scope) ctx.addIssue({ code: 'custom', path: ['scope'], message: `role ${a.role} takes no scope` });
  if (a.scope !== undefined) {
    const check = ID_SCOPED.has(a.role) ? idSchema.safeParse(a.scope) : (a.role === 'street' ? streetNameSchema : areaNameSchema).safeParse(a.scope);
    if (!check.success) for (const issue of check.error.issues) ctx.addIssue({ code: 'custom', path: ['scope'], message: issue.message });
  }
}

const accountBase = z.object({
  id: idSchema,
  role: z.enum(ROLES),
  /**
   * companyId for `property`, unit id for `maintenance` (ids), a site's street name for `street` and
   * its community name for `community` (names); none for the others. Checked by scopeRule. Trimmed,
   * as site street and community names are, so that " 南山街道" matches the sites of 南山街道.
   */
  scope: z.string().trim().optional(),
  name: z.string().max(200).optional(),
});
export const accountInputSchema = accountBase.superRefine(scopeRule);
export type AccountInput = z.infer<typeof accountInputSchema>;

export const accountPatchSchema = z.object({
  disabled: z.boolean().optional(),
  name: z.string().max(200).optional(),
});
export type AccountPatch = z.infer<typeof accountPatchSchema>;

/**
 * A seeded account token is a bearer token, looked up by its SHA-256 on every API request: a slow
 * hash is no option there, so only its length protects it.
 */
export const accountSeedSchema = accountBase.extend({
  token: z.string().min(32, 'must be at least 32 characters: an account token is a bearer token and only its length protects it; make one with: openssl rand -hex 32').optional(),
  tokenHash: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
}).superRefine(scopeRule);

/** Registry entries created at start when missing (the config file's `seed`). */
export const registrySeedSchema = z.object({
  companies: z.array(companyInputSchema).default([]),
  maintenanceUnits: z.array(maintenanceUnitInputSchema).default([]),
  sites: z.array(siteInputSchema).default([]),
  devices: z.array(deviceSeedSchema).default([]),
  accounts: z.array(accountSeedSchema).default([]),
});
export type RegistrySeed = z.infer<typeof registrySeedSchema>;
