/** Registry inputs (API bodies and the config seed). Ids end up in MQTT topics, so no `/ + #` in them. */
import { z } from 'zod';
import { deviceKindSchema } from './kinds.js';
import { STORED_HASH_RE } from './secrets.js';

export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be 1-128 characters: letters, digits, _ . : - (no / + # or spaces)');

export const ROLES = ['admin', 'property', 'maintenance', 'market-supervision', 'fire-service'] as const;
export type Role = (typeof ROLES)[number];

export const siteInputSchema = z.object({
  id: idSchema,
  name: z.string().min(1).max(200),
  companyId: idSchema,
  address: z.string().max(500).optional(),
});
export type SiteInput = z.infer<typeof siteInputSchema>;

export const deviceInputSchema = z.object({
  id: idSchema,
  kind: deviceKindSchema,
  siteId: idSchema,
  /** Free-text location, e.g. "3号楼 东梯 / Building 3, east lift". */
  location: z.string().max(200).optional(),
  /** Building label, stored as a tag with every reading. */
  building: z.string().max(64).optional(),
  maintenanceUnitId: idSchema.optional(),
  /** Elevator registration code (注册代码). */
  registrationCode: z.string().max(64).optional(),
  /** Next annual inspection date, YYYY-MM-DD. */
  nextInspectionDue: z.iso.date().optional(),
});
export type DeviceInput = z.infer<typeof deviceInputSchema>;

export const devicePatchSchema = deviceInputSchema.omit({ id: true, kind: true }).partial().extend({
  disabled: z.boolean().optional(),
});
export type DevicePatch = z.infer<typeof devicePatchSchema>;

/**
 * Seeded devices may bring a secret already flashed into the firmware (stored salted and slow, see
 * registry/secrets.ts), or only its hash: `sha256:<hex>` of a generated secret, or `scrypt:…`.
 */
export const deviceSeedSchema = deviceInputSchema.extend({
  secret: z.string().min(16).optional(),
  secretHash: z.string().regex(STORED_HASH_RE, 'must be sha256:<64 hex> or scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>').optional(),
  disabled: z.boolean().optional(),
});

function scopeRule(a: { role: Role; scope?: string | undefined }, ctx: z.RefinementCtx) {
  const needsScope = a.role === 'property' || a.role === 'maintenance';
  if (needsScope && !a.scope) ctx.addIssue({ code: 'custom', path: ['scope'], message: `role ${a.role} needs a scope (${a.role === 'property' ? 'companyId' : 'maintenance unit id'})` });
  if (!needsScope && a.scope) ctx.addIssue({ code: 'custom', path: ['scope'], message: `role ${a.role} takes no scope` });
}

const accountBase = z.object({
  id: idSchema,
  role: z.enum(ROLES),
  /** companyId for `property`, unit id for `maintenance`; none for the others. */
  scope: idSchema.optional(),
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
  sites: z.array(siteInputSchema).default([]),
  devices: z.array(deviceSeedSchema).default([]),
  accounts: z.array(accountSeedSchema).default([]),
});
export type RegistrySeed = z.infer<typeof registrySeedSchema>;
