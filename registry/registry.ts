/**
 * The registry: sites (小区) of property companies, their devices, and API / MQTT accounts.
 * Durable in the store; mirrored in memory because device authentication and the ingest hot path
 * look devices up on every connect and message.
 */
import { EventEmitter } from 'node:events';
import type { Database, Store } from '../core/db/store.js';
import { REGISTRY_MIGRATIONS, registryQueries, type RegistryTables } from './store.js';
import type { AuditLog } from '../core/audit.js';
import { IdTakenError, conflict, notFound, badRequest } from '../core/errors.js';
import { SecretProofs, generateSecret, hashChosenSecret, hashSecret, isSlowHash, secretMatches, secretMatchesSlow } from './secrets.js';
import type { AccountInput, AccountPatch, DeviceInput, DevicePatch, Role, SiteInput } from './schemas.js';
import type { DeviceKind } from './kinds.js';
import type { Principal } from './scope.js';

export interface Site { id: string; name: string; companyId: string; address?: string | undefined; createdAt: number }

export interface Device {
  id: string;
  kind: DeviceKind;
  siteId: string;
  companyId: string;
  location?: string | undefined;
  building?: string | undefined;
  maintenanceUnitId?: string | undefined;
  registrationCode?: string | undefined;
  nextInspectionDue?: string | undefined;
  disabled: boolean;
  createdAt: number;
}

export interface Account { id: string; role: Role; scope?: string | undefined; name?: string | undefined; disabled: boolean; createdAt: number }

interface DeviceRow extends Device { secretHash: string }

export type DeviceCheck = { ok: true; device: Device } | { ok: false; reason: 'unknown_device' | 'bad_secret' | 'disabled' };

export interface RegistryEvents {
  deviceChanged: [device: Device];
  deviceRemoved: [deviceId: string];
  /**
   * The device's credentials stopped being valid (secret rotated, or disabled): every live session
   * and anything else that trusted the old credentials must end now, not at the next reconnect.
   */
  deviceRevoked: [deviceId: string];
  /** Likewise for an account (token rotated, or disabled): its MQTT sessions and open streams end. */
  accountRevoked: [accountId: string];
}


export class Registry extends EventEmitter<RegistryEvents> {
  private readonly sites = new Map<string, Site>();
  private readonly devices = new Map<string, DeviceRow>();
  private readonly accounts = new Map<string, Account & { tokenHash: string }>();
  private readonly accountsByToken = new Map<string, Account>();
  /** Fast proofs of operator-chosen device secrets already checked with scrypt (see secrets.ts). */
  private readonly secretProofs = new SecretProofs();

  private readonly queries;

  static async open(db: Database, audit: AuditLog, now: () => number = Date.now): Promise<Registry> {
    const store = db.store<RegistryTables>();
    await store.migrate('registry', REGISTRY_MIGRATIONS);
    const q = registryQueries(store.q);
    const registry = new Registry(store, audit, now);
    registry.load(await store.all(q.sites()), await store.all(q.devices()), await store.all(q.accounts()));
    return registry;
  }

  private constructor(private readonly store: Store<RegistryTables>, private readonly audit: AuditLog, private readonly now: () => number) {
    super();
    this.queries = registryQueries(store.q);
    // a revoked device's next login goes back to its stored hash, whatever was proven before
    this.on('deviceRevoked', (id) => this.secretProofs.forget(id));
    this.on('deviceRemoved', (id) => this.secretProofs.forget(id));
  }

  private load(sites: readonly RegistryTables['sites'][], devices: readonly RegistryTables['devices'][], accounts: readonly RegistryTables['accounts'][]): void {
    for (const r of sites) this.sites.set(r.id, siteOf(r));
    for (const r of devices) this.devices.set(r.id, this.deviceOf(r));
    for (const r of accounts) this.cacheAccount(accountOf(r));
  }

  private deviceOf(r: RegistryTables['devices']): DeviceRow {
    return {
      id: r.id, kind: r.kind as DeviceKind, siteId: r.site_id, companyId: this.sites.get(r.site_id)!.companyId,
      location: r.location ?? undefined, building: r.building ?? undefined,
      maintenanceUnitId: r.maintenance_unit_id ?? undefined, registrationCode: r.registration_code ?? undefined,
      nextInspectionDue: r.next_inspection_due ?? undefined, disabled: r.disabled === 1, createdAt: r.created_at,
      secretHash: r.secret_hash,
    };
  }

  /**
   * Takes entries another node changed (cluster mode; `site:`, `device:`, `account:` + id): read
   * from the store, and announced as if changed here, so that a device rotated or disabled on
   * another node loses its sessions on this one too.
   */
  async refresh(keys: readonly string[]): Promise<void> {
    const ids = (kind: string) => keys.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1));
    const [siteIds, deviceIds, accountIds] = [ids('site'), ids('device'), ids('account')];
    if (siteIds.length > 0) for (const r of await this.store.all(this.queries.sitesIn(siteIds))) this.sites.set(r.id, siteOf(r));
    if (deviceIds.length > 0) for (const r of await this.store.all(this.queries.devicesIn(deviceIds))) await this.takeDevice(r);
    if (accountIds.length > 0) for (const r of await this.store.all(this.queries.accountsIn(accountIds))) this.takeAccount(r);
  }

  /** Reads every entry again (notices were missed): each is taken as by `refresh`. */
  async reload(): Promise<void> {
    for (const r of await this.store.all(this.queries.sites())) this.sites.set(r.id, siteOf(r));
    for (const r of await this.store.all(this.queries.devices())) await this.takeDevice(r);
    for (const r of await this.store.all(this.queries.accounts())) this.takeAccount(r);
  }

  private async takeDevice(r: RegistryTables['devices']): Promise<void> {
    if (!this.sites.has(r.site_id)) await this.refresh([`site:${r.site_id}`]);
    const before = this.devices.get(r.id);
    const next = this.deviceOf(r);
    if (before && JSON.stringify(before) === JSON.stringify(next)) return;
    this.devices.set(r.id, next);
    this.emit('deviceChanged', publicDevice(next));
    if (before && ((next.disabled && !before.disabled) || next.secretHash !== before.secretHash)) this.emit('deviceRevoked', r.id);
  }

  private takeAccount(r: RegistryTables['accounts']): void {
    const before = this.accounts.get(r.id);
    const next = accountOf(r);
    if (before && before.tokenHash !== next.tokenHash) this.accountsByToken.delete(before.tokenHash);
    this.cacheAccount(next);
    if (before && ((next.disabled && !before.disabled) || next.tokenHash !== before.tokenHash)) this.emit('accountRevoked', r.id);
  }

  private cacheAccount(a: Account & { tokenHash: string }): void {
    this.accounts.set(a.id, a);
    this.accountsByToken.set(a.tokenHash, publicAccount(a));
  }

  // ---- sites ----

  createSite(input: SiteInput, actor: string): Site {
    if (this.sites.has(input.id)) throw new IdTakenError(input.id, 'site');
    const site: Site = { ...input, createdAt: this.now() };
    this.store.write(this.queries.insertSite({ id: site.id, name: site.name, company_id: site.companyId, address: site.address ?? null, created_at: site.createdAt }));
    this.sites.set(site.id, site);
    this.store.notify('registry', [`site:${site.id}`]);
    this.audit.record(actor, 'site.create', `site:${site.id}`, input);
    return site;
  }

  getSite(id: string): Site | undefined { return this.sites.get(id); }
  listSites(): Site[] { return [...this.sites.values()]; }

  // ---- devices ----

  /** Registers a device; the returned secret is shown this once and stored only as a hash. */
  createDevice(input: DeviceInput, actor: string, given?: { secret?: string | undefined; secretHash?: string | undefined; disabled?: boolean | undefined }): { device: Device; secret?: string } {
    // MQTT usernames are shared by devices and accounts, so an account's id is taken for a device too
    if (this.devices.has(input.id)) throw new IdTakenError(input.id, 'device');
    if (this.accounts.has(input.id)) throw new IdTakenError(input.id, 'account');
    const site = this.sites.get(input.siteId);
    if (!site) throw badRequest(`site ${input.siteId} does not exist`, [{ path: 'siteId', message: 'unknown site' }]);
    const secret = given?.secretHash ? undefined : (given?.secret ?? generateSecret());
    // a secret an operator chose may be guessable: salted and slow; a generated one needs neither
    const secretHash = given?.secretHash ?? (given?.secret ? hashChosenSecret(given.secret) : hashSecret(secret!));
    const row: DeviceRow = { ...input, companyId: site.companyId, disabled: given?.disabled ?? false, createdAt: this.now(), secretHash };
    this.store.write(this.queries.insertDevice({
      id: row.id, kind: row.kind, site_id: row.siteId, location: row.location ?? null, building: row.building ?? null,
      maintenance_unit_id: row.maintenanceUnitId ?? null, registration_code: row.registrationCode ?? null,
      next_inspection_due: row.nextInspectionDue ?? null, secret_hash: secretHash, disabled: row.disabled ? 1 : 0, created_at: row.createdAt,
    }));
    this.devices.set(row.id, row);
    this.store.notify('registry', [`device:${row.id}`]);
    this.audit.record(actor, 'device.create', `device:${row.id}`, input);
    const device = publicDevice(row);
    this.emit('deviceChanged', device);
    return secret === undefined ? { device } : { device, secret };
  }

  updateDevice(id: string, patch: DevicePatch, actor: string): Device {
    const row = this.devices.get(id);
    if (!row) throw notFound('device', id);
    const next: DeviceRow = { ...row };
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    if (patch.siteId) {
      const site = this.sites.get(patch.siteId);
      if (!site) throw badRequest(`site ${patch.siteId} does not exist`, [{ path: 'siteId', message: 'unknown site' }]);
      next.companyId = site.companyId;
    }
    this.store.write(this.queries.updateDevice(id, {
      site_id: next.siteId, location: next.location ?? null, building: next.building ?? null, maintenance_unit_id: next.maintenanceUnitId ?? null,
      registration_code: next.registrationCode ?? null, next_inspection_due: next.nextInspectionDue ?? null, disabled: next.disabled ? 1 : 0,
    }));
    this.devices.set(id, next);
    this.store.notify('registry', [`device:${id}`]);
    this.audit.record(actor, 'device.update', `device:${id}`, patch);
    const device = publicDevice(next);
    this.emit('deviceChanged', device);
    if (next.disabled && !row.disabled) this.emit('deviceRevoked', id);
    return device;
  }

  /** Issues a new secret; the old one stops working at once. */
  rotateSecret(id: string, actor: string): string {
    const row = this.devices.get(id);
    if (!row) throw notFound('device', id);
    const secret = generateSecret();
    const secretHash = hashSecret(secret);
    // stored first: if the write fails, the old secret keeps working everywhere, not only in the store
    this.store.write(this.queries.updateDevice(id, { secret_hash: secretHash }));
    row.secretHash = secretHash;
    this.store.notify('registry', [`device:${id}`]);
    this.audit.record(actor, 'device.rotate_secret', `device:${id}`);
    this.emit('deviceChanged', publicDevice(row));
    this.emit('deviceRevoked', id);
    return secret;
  }

  getDevice(id: string): Device | undefined {
    const row = this.devices.get(id);
    return row && publicDevice(row);
  }

  listDevices(): Device[] { return [...this.devices.values()].map(publicDevice); }

  /**
   * A device's login. Answered at once for a generated secret (one SHA-256) and for a chosen secret
   * already proven in this process; the first check of a chosen secret runs scrypt in the thread pool
   * and answers with a promise.
   */
  checkDevice(id: string, secret: Buffer | string | undefined): DeviceCheck | Promise<DeviceCheck> {
    const row = this.devices.get(id);
    if (!row) return { ok: false, reason: 'unknown_device' };
    if (secret === undefined) return { ok: false, reason: 'bad_secret' };
    if (!isSlowHash(row.secretHash)) return deviceVerdict(row, secretMatches(secret, row.secretHash));
    const proven = this.secretProofs.check(id, row.secretHash, secret);
    if (proven !== undefined) return deviceVerdict(row, proven);
    const storedHash = row.secretHash;
    return secretMatchesSlow(secret, storedHash).then((ok): DeviceCheck => {
      const current = this.devices.get(id);
      // rotated or removed while scrypt ran: the answer is about a secret that no longer counts
      if (!current) return { ok: false, reason: 'unknown_device' };
      if (current.secretHash !== storedHash) return { ok: false, reason: 'bad_secret' };
      if (ok && !current.disabled) this.secretProofs.remember(id, storedHash, secret);
      return deviceVerdict(current, ok);
    });
  }

  // ---- accounts ----

  createAccount(input: AccountInput, actor: string, given?: { token?: string | undefined; tokenHash?: string | undefined }): { account: Account; token?: string } {
    if (this.accounts.has(input.id)) throw new IdTakenError(input.id, 'account');
    if (this.devices.has(input.id)) throw new IdTakenError(input.id, 'device');
    const token = given?.tokenHash ? undefined : (given?.token ?? generateSecret());
    const tokenHash = given?.tokenHash ?? hashSecret(token!);
    if (this.accountsByToken.has(tokenHash)) throw conflict('that token is already in use');
    const row = { id: input.id, role: input.role, scope: input.scope, name: input.name, disabled: false, createdAt: this.now(), tokenHash };
    this.store.write(this.queries.insertAccount({ id: row.id, role: row.role, scope: row.scope ?? null, name: row.name ?? null, token_hash: tokenHash, disabled: 0, created_at: row.createdAt }));
    this.cacheAccount(row);
    this.store.notify('registry', [`account:${row.id}`]);
    this.audit.record(actor, 'account.create', `account:${row.id}`, input);
    const account = publicAccount(row);
    return token === undefined ? { account } : { account, token };
  }

  /** Disables / re-enables an account or renames it; disabling ends its sessions and streams at once. */
  updateAccount(id: string, patch: AccountPatch, actor: string): Account {
    const row = this.accounts.get(id);
    if (!row) throw notFound('account', id);
    const next = { ...row, ...(patch.disabled === undefined ? {} : { disabled: patch.disabled }), ...(patch.name === undefined ? {} : { name: patch.name }) };
    this.store.write(this.queries.updateAccount(id, { disabled: next.disabled ? 1 : 0, name: next.name ?? null }));
    this.cacheAccount(next);
    this.store.notify('registry', [`account:${id}`]);
    this.audit.record(actor, 'account.update', `account:${id}`, patch);
    if (next.disabled && !row.disabled) this.emit('accountRevoked', id);
    return publicAccount(next);
  }

  /** Issues a new token; the old one stops working at once, for the API and for MQTT. */
  rotateToken(id: string, actor: string): string {
    const row = this.accounts.get(id);
    if (!row) throw notFound('account', id);
    const token = generateSecret();
    const tokenHash = hashSecret(token);
    this.store.write(this.queries.updateAccount(id, { token_hash: tokenHash }));
    this.accountsByToken.delete(row.tokenHash);
    this.cacheAccount({ ...row, tokenHash });
    this.store.notify('registry', [`account:${id}`]);
    this.audit.record(actor, 'account.rotate_token', `account:${id}`);
    this.emit('accountRevoked', id);
    return token;
  }

  getAccount(id: string): Account | undefined {
    const a = this.accounts.get(id);
    return a && publicAccount(a);
  }

  listAccounts(): Account[] { return [...this.accounts.values()].map(publicAccount); }

  /** API bearer tokens: looked up by hash (the hash of a 256-bit random token is as good as an index key). */
  principalForToken(token: string): Principal | undefined {
    const a = this.accountsByToken.get(hashSecret(token));
    if (!a || a.disabled) return undefined;
    return { id: a.id, role: a.role, scope: a.scope };
  }

  /** MQTT login of an account: username = account id, password = its token. */
  checkAccount(id: string, token: Buffer | string | undefined): Principal | undefined {
    const a = this.accounts.get(id);
    if (!a || a.disabled || token === undefined || !secretMatches(token, a.tokenHash)) return undefined;
    return { id: a.id, role: a.role, scope: a.scope };
  }
}

function deviceVerdict(row: DeviceRow, secretOk: boolean): DeviceCheck {
  if (!secretOk) return { ok: false, reason: 'bad_secret' };
  if (row.disabled) return { ok: false, reason: 'disabled' };
  return { ok: true, device: publicDevice(row) };
}

function publicDevice(row: DeviceRow): Device {
  const { secretHash: _omit, ...device } = row;
  return device;
}

function publicAccount(a: Account & { tokenHash?: string }): Account {
  const { tokenHash: _omit, ...account } = a;
  return account;
}

function siteOf(r: RegistryTables['sites']): Site {
  return { id: r.id, name: r.name, companyId: r.company_id, address: r.address ?? undefined, createdAt: r.created_at };
}

function accountOf(r: RegistryTables['accounts']): Account & { tokenHash: string } {
  return { id: r.id, role: r.role as Role, scope: r.scope ?? undefined, name: r.name ?? undefined, disabled: r.disabled === 1, createdAt: r.created_at, tokenHash: r.token_hash };
}
