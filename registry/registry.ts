/**
 * The registry: property companies and maintenance units (entries with names and phones), the
 * companies' sites (小区), their devices, and API / MQTT accounts. A device carries the names of its
 * site, company and unit (and the site's street and community), kept up to date when they change.
 * Durable in the store; mirrored in memory because device authentication and the ingest hot path
 * look devices up on every connect and message.
 */
import { EventEmitter } from 'node:events';
import type { Database, Store } from '../core/db/store.js';
import { REGISTRY_MIGRATIONS, registryQueries, type RegistryTables } from './store.js';
import type { AuditLog } from '../core/audit.js';
import { IdTakenError, conflict, notFound, badRequest } from '../core/errors.js';
import { SecretProofs, generateSecret, hashChosenSecret, hashSecret, isSlowHash, secretMatches, secretMatchesSlow } from './secrets.js';
import type {
  AccountInput, AccountPatch, CompanyInput, CompanyPatch, DeviceInput, DevicePatch, MaintenanceUnitInput, MaintenanceUnitPatch, Role, SiteArea, SiteInput,
  SitePatch,
} from './schemas.js';
import { ELEVATOR_FIELDS } from './schemas.js';
import type { DeviceKind } from './kinds.js';
import type { Principal } from './scope.js';

export interface Site {
  id: string; name: string; companyId: string; address?: string | undefined;
  /** Street (街道), community (社区) and grid (网格) the site is in. */
  street?: string | undefined; community?: string | undefined; grid?: string | undefined;
  /** Urban or rural: the rescue arrival deadline (30 or 60 min). */
  area: SiteArea;
  /** The company runs the site as an emergency operator (应急物业) until this date (YYYY-MM-DD). */
  emergencyUntil?: string | undefined;
  /** A handover fixed for later (supervision/handover.ts applies it when it falls due). */
  pendingHandover?: PendingHandover | undefined;
  createdAt: number;
}

export interface PendingHandover { companyId: string; from: number; emergencyUntil?: string | undefined; actor: string }

/** A site as the API shows it: with the names of its company and of the one it is handed over to. */
export type SiteView = Omit<Site, 'pendingHandover'> & {
  companyName: string;
  /** `emergency`: an emergency operator (应急物业, at most 6 months) runs it. */
  operator: 'regular' | 'emergency';
  pendingHandover?: PendingHandover & { companyName: string };
};

/** One period of a site's responsibility: which company, from when until when (null: now), and whether as emergency operator. */
export interface ResponsibilityPeriod { companyId: string; companyName: string; from: number; until: number | null; emergency: boolean; actor: string }

/** A property company (物业服务企业). */
export interface Company { id: string; name: string; creditCode?: string | undefined; phone?: string | undefined; createdAt: number }

/**
 * A maintenance unit (维保单位). `phone` is its 24 h phone; '' for a unit carried forward from before
 * units were entries (or created by naming it on a device), until the operator registers one.
 */
export interface MaintenanceUnit { id: string; name: string; licence?: string | undefined; phone: string; createdAt: number }

export interface Device {
  id: string;
  kind: DeviceKind;
  siteId: string;
  companyId: string;
  /** Names of the site, its company and the device's maintenance unit, for what people read. */
  siteName: string;
  companyName: string;
  /** The site's street and community, where it has them. */
  street?: string | undefined;
  community?: string | undefined;
  /** The site's area (urban or rural): the rescue arrival deadline of a trapped-passenger alert. */
  area?: SiteArea | undefined;
  location?: string | undefined;
  building?: string | undefined;
  /** Device model (型号): rule settings per model (alerts.rules.models), an NB-IoT decoder, a Modbus register map. */
  model?: string | undefined;
  /** An NB-IoT device's IMEI: carrier platform pushes name it. */
  imei?: string | undefined;
  /** A GB/T 26875.3 transmission device's source address (12 hex digits, wire order). */
  uitdAddress?: string | undefined;
  /**
   * Fire devices in test mode (monthly alarm tests) until this time, epoch ms, and the note given:
   * what they raise until then is recorded, not sent to the fire service. Absent when not in test mode.
   */
  testModeUntil?: number | undefined;
  testModeNote?: string | undefined;
  maintenanceUnitId?: string | undefined;
  maintenanceUnitName?: string | undefined;
  registrationCode?: string | undefined;
  nextInspectionDue?: string | undefined;
  /** Elevators: rated speed (m/s), the floors served, installation and warranty end dates (YYYY-MM-DD). */
  ratedSpeed?: number | undefined;
  topFloor?: number | undefined;
  bottomFloor?: number | undefined;
  installedAt?: string | undefined;
  warrantyUntil?: string | undefined;
  disabled: boolean;
  createdAt: number;
}

export interface Account { id: string; role: Role; scope?: string | undefined; name?: string | undefined; disabled: boolean; createdAt: number }

/** A login's verdict (only whether: the device itself is read where it is needed, not copied on every login). */
export type DeviceCheck = { ok: true } | { ok: false; reason: 'unknown_device' | 'bad_secret' | 'disabled' };

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
  private readonly companies = new Map<string, Company>();
  private readonly units = new Map<string, MaintenanceUnit>();
  /**
   * The devices as everyone reads them: frozen, and handed out as they are (not copied), so that a
   * lookup or a listing of 100,000 devices allocates nothing per device. A change replaces the object.
   */
  private readonly devices = new Map<string, Readonly<Device>>();
  /** Each device's secret hash, kept apart so that a device handed out never carries it. */
  private readonly secretHashes = new Map<string, string>();
  /** `imei:{imei}` and `uitd:{address}` → device id (putDevice keeps it). */
  private readonly protocolAddresses = new Map<string, string>();
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
    for (const r of await store.all(q.companies())) registry.companies.set(r.id, companyOf(r));
    for (const r of await store.all(q.units())) registry.units.set(r.id, unitOf(r));
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
    for (const r of devices) this.putDevice(this.deviceOf(r), r.secret_hash);
    for (const r of accounts) this.cacheAccount(accountOf(r));
  }

  private deviceOf(r: RegistryTables['devices']): Device {
    return this.named({
      id: r.id, kind: r.kind as DeviceKind, siteId: r.site_id, companyId: '', siteName: '', companyName: '',
      location: r.location ?? undefined, building: r.building ?? undefined, model: r.model ?? undefined,
      imei: r.imei ?? undefined, uitdAddress: r.uitd_address ?? undefined,
      // PostgreSQL's BIGINT may come back as a string
      testModeUntil: r.test_mode_until === null || r.test_mode_until === undefined ? undefined : Number(r.test_mode_until), testModeNote: r.test_mode_note ?? undefined,
      maintenanceUnitId: r.maintenance_unit_id ?? undefined, registrationCode: r.registration_code ?? undefined,
      nextInspectionDue: r.next_inspection_due ?? undefined, ...elevatorOf(r), disabled: r.disabled === 1, createdAt: r.created_at,
    });
  }

  /**
   * The device with what it takes from its site, company and unit (ids and names) as they are now.
   * Every field is set, absent ones to undefined, in one order: all devices share one shape, so the
   * code that reads them stays fast (the rules read 100,000 at each start), and a listing of them
   * is not a mix of layouts. The type makes a field added to Device a compile error here until it
   * is carried over.
   */
  private named(row: Device): Device {
    const site = this.sites.get(row.siteId)!;
    const unitId = row.maintenanceUnitId;
    const next: { [K in keyof Required<Device>]: Device[K] } = {
      id: row.id, kind: row.kind, siteId: row.siteId,
      companyId: site.companyId, siteName: site.name, companyName: this.companyName(site.companyId),
      street: site.street, community: site.community, area: site.area,
      location: row.location, building: row.building, model: row.model, imei: row.imei, uitdAddress: row.uitdAddress,
      testModeUntil: row.testModeUntil, testModeNote: row.testModeNote,
      maintenanceUnitId: unitId, maintenanceUnitName: unitId === undefined ? undefined : (this.units.get(unitId)?.name ?? unitId),
      registrationCode: row.registrationCode, nextInspectionDue: row.nextInspectionDue,
      ratedSpeed: row.ratedSpeed, topFloor: row.topFloor, bottomFloor: row.bottomFloor, installedAt: row.installedAt, warrantyUntil: row.warrantyUntil,
      disabled: row.disabled, createdAt: row.createdAt,
    };
    return next;
  }

  private companyName(id: string): string { return this.companies.get(id)?.name ?? id; }

  /** A site, company or unit changed: its devices take the new names, and are announced as changed. */
  private renamed(affects: (d: Device) => boolean): void {
    for (const row of [...this.devices.values()]) {
      if (!affects(row)) continue;
      const next = this.named(row);
      if (JSON.stringify(next) === JSON.stringify(row)) continue;
      this.emit('deviceChanged', this.putDevice(next));
    }
  }

  /**
   * Takes entries another node changed (cluster mode; `site:`, `device:`, `account:` + id): read
   * from the store, and announced as if changed here, so that a device rotated or disabled on
   * another node loses its sessions on this one too.
   */
  async refresh(keys: readonly string[]): Promise<void> {
    const ids = (kind: string) => keys.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1));
    const [siteIds, deviceIds, accountIds, companyIds, unitIds] = [ids('site'), ids('device'), ids('account'), ids('company'), ids('unit')];
    if (companyIds.length > 0) for (const r of await this.store.all(this.queries.companiesIn(companyIds))) this.takeCompany(companyOf(r));
    if (unitIds.length > 0) for (const r of await this.store.all(this.queries.unitsIn(unitIds))) this.takeUnit(unitOf(r));
    if (siteIds.length > 0) for (const r of await this.store.all(this.queries.sitesIn(siteIds))) this.takeSite(siteOf(r));
    if (deviceIds.length > 0) for (const r of await this.store.all(this.queries.devicesIn(deviceIds))) await this.takeDevice(r);
    if (accountIds.length > 0) for (const r of await this.store.all(this.queries.accountsIn(accountIds))) this.takeAccount(r);
  }

  /** Reads every entry again (notices were missed): each is taken as by `refresh`. */
  async reload(): Promise<void> {
    for (const r of await this.store.all(this.queries.companies())) this.takeCompany(companyOf(r));
    for (const r of await this.store.all(this.queries.units())) this.takeUnit(unitOf(r));
    for (const r of await this.store.all(this.queries.sites())) this.takeSite(siteOf(r));
    for (const r of await this.store.all(this.queries.devices())) await this.takeDevice(r);
    for (const r of await this.store.all(this.queries.accounts())) this.takeAccount(r);
  }

  private takeCompany(c: Company): void {
    const before = this.companies.get(c.id);
    this.companies.set(c.id, c);
    if (before && before.name !== c.name) this.renamed((d) => d.companyId === c.id);
  }

  private takeUnit(u: MaintenanceUnit): void {
    const before = this.units.get(u.id);
    this.units.set(u.id, u);
    if (before && before.name !== u.name) this.renamed((d) => d.maintenanceUnitId === u.id);
  }

  private takeSite(site: Site): void {
    const before = this.sites.get(site.id);
    this.sites.set(site.id, site);
    if (before && JSON.stringify(before) !== JSON.stringify(site)) this.renamed((d) => d.siteId === site.id);
  }

  private async takeDevice(r: RegistryTables['devices']): Promise<void> {
    if (!this.sites.has(r.site_id)) await this.refresh([`site:${r.site_id}`]);
    const before = this.devices.get(r.id);
    const beforeHash = this.secretHashes.get(r.id);
    const next = this.deviceOf(r);
    if (before && beforeHash === r.secret_hash && JSON.stringify(before) === JSON.stringify(next)) return;
    this.emit('deviceChanged', this.putDevice(next, r.secret_hash));
    if (before && ((next.disabled && !before.disabled) || r.secret_hash !== beforeHash)) this.emit('deviceRevoked', r.id);
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

  /**
   * Runs `fn`'s changes all or none (a bulk import): one store transaction, and if it throws, the
   * memory takes back what it had before, so neither the store nor the lookups keep half of it.
   * Change events `fn` caused are not taken back: a listener that heard of an entry that is then
   * rolled back finds it absent on its next lookup.
   */
  atomically<T>(fn: () => T): T {
    const maps = [this.sites, this.companies, this.units, this.devices, this.secretHashes, this.protocolAddresses, this.accounts, this.accountsByToken] as Map<string, unknown>[];
    const saved = maps.map((m) => new Map(m));
    try {
      return this.store.transaction(fn);
    } catch (err) {
      maps.forEach((m, i) => {
        m.clear();
        for (const [k, v] of saved[i]!) m.set(k, v);
      });
      throw err;
    }
  }

  // ---- sites ----

  createSite(input: SiteInput, actor: string): Site {
    if (this.sites.has(input.id)) throw new IdTakenError(input.id, 'site');
    this.ensureCompany(input.companyId, actor);
    const site: Site = { ...input, area: input.area ?? 'urban', createdAt: this.now() };
    this.store.write(this.queries.insertSite({
      id: site.id, name: site.name, company_id: site.companyId, address: site.address ?? null, created_at: site.createdAt,
      street: site.street ?? null, community: site.community ?? null, grid: site.grid ?? null, area: site.area,
    }));
    this.store.write(this.queries.startResponsibility({ site_id: site.id, company_id: site.companyId, from_at: site.createdAt, until_at: null, emergency: 0, actor }));
    this.sites.set(site.id, site);
    this.store.notify('registry', [`site:${site.id}`]);
    this.audit.record(actor, 'site.create', `site:${site.id}`, input);
    return site;
  }

  /** Changes a site's name, address or location; its devices take the change (names, and what the scope rules read). */
  updateSite(id: string, patch: SitePatch, actor: string): Site {
    const before = this.sites.get(id);
    if (!before) throw notFound('site', id);
    const next: Site = { ...before };
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    this.store.write(this.queries.updateSite(id, {
      name: next.name, address: next.address ?? null, street: next.street ?? null, community: next.community ?? null, grid: next.grid ?? null, area: next.area,
    }));
    this.store.notify('registry', [`site:${id}`]);
    this.audit.record(actor, 'site.update', `site:${id}`, patch);
    this.takeSite(next);
    return next;
  }

  /**
   * Hands a site over to another company now (or makes its company an emergency operator, or a
   * regular one again): the site's period of responsibility ends and the next begins, any handover
   * fixed for later is void, and its devices take the new company at once (scopes follow). The
   * checks (company exists, emergency period) are the caller's: supervision/handover.ts.
   */
  handOver(siteId: string, to: { companyId: string; emergencyUntil?: string | undefined }, at: number, actor: string): Site {
    const before = this.sites.get(siteId);
    if (!before) throw notFound('site', siteId);
    const next: Site = { ...before, companyId: to.companyId, emergencyUntil: to.emergencyUntil, pendingHandover: undefined };
    this.store.write(this.queries.handOverSite(siteId, to.companyId, to.emergencyUntil ?? null));
    this.store.write(this.queries.endResponsibility(siteId, at));
    this.store.write(this.queries.startResponsibility({ site_id: siteId, company_id: to.companyId, from_at: at, until_at: null, emergency: to.emergencyUntil ? 1 : 0, actor }));
    this.store.notify('registry', [`site:${siteId}`]);
    this.audit.record(actor, 'site.handover', `site:${siteId}`, { from: before.companyId, to: to.companyId, at, ...(to.emergencyUntil ? { emergencyUntil: to.emergencyUntil } : {}) });
    this.takeSite(next);
    return next;
  }

  /** Fixes a handover for later, replacing any fixed before (`undefined`: cancels it). */
  setPendingHandover(siteId: string, pending: PendingHandover | undefined, actor: string): Site {
    const before = this.sites.get(siteId);
    if (!before) throw notFound('site', siteId);
    const next: Site = { ...before, pendingHandover: pending };
    this.store.write(this.queries.setPendingHandover(siteId, {
      handover_company_id: pending?.companyId ?? null, handover_at: pending?.from ?? null,
      handover_emergency_until: pending?.emergencyUntil ?? null, handover_actor: pending?.actor ?? null,
    }));
    this.store.notify('registry', [`site:${siteId}`]);
    this.audit.record(actor, pending ? 'site.handover_scheduled' : 'site.handover_cancelled', `site:${siteId}`, pending ?? { cancelled: before.pendingHandover });
    this.takeSite(next);
    return next;
  }

  /** Who was responsible for the site when, oldest first. */
  async responsibility(siteId: string): Promise<ResponsibilityPeriod[]> {
    const rows = await this.store.all(this.queries.responsibility(siteId));
    return rows.map((r) => ({
      companyId: r.company_id, companyName: this.companyName(r.company_id), from: r.from_at,
      until: r.until_at, emergency: r.emergency === 1, actor: r.actor,
    }));
  }

  getSite(id: string): Site | undefined { return this.sites.get(id); }
  listSites(): Site[] { return [...this.sites.values()]; }
  /** The site with the names of its companies, as the API shows it. */
  siteView(site: Site): SiteView {
    const { pendingHandover, ...rest } = site;
    const view: SiteView = { ...rest, companyName: this.companyName(site.companyId), operator: site.emergencyUntil ? 'emergency' : 'regular' };
    if (pendingHandover) view.pendingHandover = { ...pendingHandover, companyName: this.companyName(pendingHandover.companyId) };
    return view;
  }

  // ---- companies and maintenance units ----

  createCompany(input: CompanyInput, actor: string): Company {
    if (this.companies.has(input.id)) throw conflict(`company ${input.id} already exists`);
    const company: Company = { ...input, createdAt: this.now() };
    this.store.write(this.queries.insertCompany({ id: company.id, name: company.name, credit_code: company.creditCode ?? null, phone: company.phone ?? null, created_at: company.createdAt }));
    this.companies.set(company.id, company);
    this.store.notify('registry', [`company:${company.id}`]);
    this.audit.record(actor, 'company.create', `company:${company.id}`, input);
    return company;
  }

  updateCompany(id: string, patch: CompanyPatch, actor: string): Company {
    const before = this.companies.get(id);
    if (!before) throw notFound('company', id);
    const next: Company = { ...before };
    if (patch.name !== undefined) next.name = patch.name;
    if (patch.creditCode !== undefined) next.creditCode = patch.creditCode;
    if (patch.phone !== undefined) next.phone = patch.phone;
    this.store.write(this.queries.updateCompany(id, { name: next.name, credit_code: next.creditCode ?? null, phone: next.phone ?? null }));
    this.store.notify('registry', [`company:${id}`]);
    this.audit.record(actor, 'company.update', `company:${id}`, patch);
    this.takeCompany(next);
    return next;
  }

  getCompany(id: string): Company | undefined { return this.companies.get(id); }
  listCompanies(): Company[] { return [...this.companies.values()]; }

  createMaintenanceUnit(input: MaintenanceUnitInput, actor: string): MaintenanceUnit {
    if (this.units.has(input.id)) throw conflict(`maintenance unit ${input.id} already exists`);
    return this.insertUnit({ ...input, createdAt: this.now() }, actor, input);
  }

  private insertUnit(unit: MaintenanceUnit, actor: string, detail: unknown): MaintenanceUnit {
    this.store.write(this.queries.insertUnit({ id: unit.id, name: unit.name, licence: unit.licence ?? null, phone: unit.phone, created_at: unit.createdAt }));
    this.units.set(unit.id, unit);
    this.store.notify('registry', [`unit:${unit.id}`]);
    this.audit.record(actor, 'maintenance_unit.create', `unit:${unit.id}`, detail);
    return unit;
  }

  updateMaintenanceUnit(id: string, patch: MaintenanceUnitPatch, actor: string): MaintenanceUnit {
    const before = this.units.get(id);
    if (!before) throw notFound('maintenance unit', id);
    const next: MaintenanceUnit = { ...before };
    if (patch.name !== undefined) next.name = patch.name;
    if (patch.licence !== undefined) next.licence = patch.licence;
    if (patch.phone !== undefined) next.phone = patch.phone;
    this.store.write(this.queries.updateUnit(id, { name: next.name, licence: next.licence ?? null, phone: next.phone }));
    this.store.notify('registry', [`unit:${id}`]);
    this.audit.record(actor, 'maintenance_unit.update', `unit:${id}`, patch);
    this.takeUnit(next);
    return next;
  }

  getMaintenanceUnit(id: string): MaintenanceUnit | undefined { return this.units.get(id); }
  listMaintenanceUnits(): MaintenanceUnit[] { return [...this.units.values()]; }

  /**
   * A site naming a company that is not an entry yet creates it, named by its id (clients and
   * configurations written before companies were entries keep working); an admin renames it.
   */
  private ensureCompany(id: string, actor: string): void {
    if (this.companies.has(id)) return;
    const company: Company = { id, name: id, createdAt: this.now() };
    this.store.write(this.queries.insertCompany({ id, name: id, credit_code: null, phone: null, created_at: company.createdAt }));
    this.companies.set(id, company);
    this.store.notify('registry', [`company:${id}`]);
    this.audit.record(actor, 'company.create', `company:${id}`, { id, name: id, implicit: true });
  }

  /** Likewise for a device naming a maintenance unit: named by its id, its 24 h phone not registered ('') until the operator gives it. */
  private ensureUnit(id: string | undefined, actor: string): void {
    if (id === undefined || this.units.has(id)) return;
    this.insertUnit({ id, name: id, phone: '', createdAt: this.now() }, actor, { id, name: id, phone: '', implicit: true });
  }

  // ---- devices ----

  /** Registers a device; the returned secret is shown this once and stored only as a hash. */
  createDevice(input: DeviceInput, actor: string, given?: { secret?: string | undefined; secretHash?: string | undefined; disabled?: boolean | undefined }): { device: Device; secret?: string } {
    // MQTT usernames are shared by devices and accounts, so an account's id is taken for a device too
    if (this.devices.has(input.id)) throw new IdTakenError(input.id, 'device');
    if (this.accounts.has(input.id)) throw new IdTakenError(input.id, 'account');
    const site = this.sites.get(input.siteId);
    if (!site) throw badRequest(`site ${input.siteId} does not exist`, [{ path: 'siteId', message: 'unknown site' }]);
    this.checkProtocolAddresses(input.id, input);
    this.ensureUnit(input.maintenanceUnitId, actor);
    const secret = given?.secretHash ? undefined : (given?.secret ?? generateSecret());
    // a secret an operator chose may be guessable: salted and slow; a generated one needs neither
    const secretHash = given?.secretHash ?? (given?.secret ? hashChosenSecret(given.secret) : hashSecret(secret!));
    const row = this.named({ ...input, companyId: site.companyId, siteName: site.name, companyName: '', disabled: given?.disabled ?? false, createdAt: this.now() });
    this.store.write(this.queries.insertDevice({
      id: row.id, kind: row.kind, site_id: row.siteId, location: row.location ?? null, building: row.building ?? null, model: row.model ?? null,
      imei: row.imei ?? null, uitd_address: row.uitdAddress ?? null,
      maintenance_unit_id: row.maintenanceUnitId ?? null, registration_code: row.registrationCode ?? null,
      next_inspection_due: row.nextInspectionDue ?? null, secret_hash: secretHash, disabled: row.disabled ? 1 : 0, created_at: row.createdAt,
      ...elevatorRow(row),
    }));
    const device = this.putDevice(row, secretHash);
    this.store.notify('registry', [`device:${row.id}`]);
    this.audit.record(actor, 'device.create', `device:${row.id}`, input);
    this.emit('deviceChanged', device);
    return secret === undefined ? { device } : { device, secret };
  }

  updateDevice(id: string, patch: DevicePatch, actor: string): Device {
    const row = this.devices.get(id);
    if (!row) throw notFound('device', id);
    let next: Device = { ...row };
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    if (patch.siteId) {
      const site = this.sites.get(patch.siteId);
      if (!site) throw badRequest(`site ${patch.siteId} does not exist`, [{ path: 'siteId', message: 'unknown site' }]);
    }
    if (row.kind !== 'elevator') {
      const given = ELEVATOR_FIELDS.filter((f) => patch[f] !== undefined);
      if (given.length > 0) throw badRequest(`only elevators have ${given.join(', ')}; device ${id} is a ${row.kind}`, given.map((f) => ({ path: f, message: `only elevators have ${f}` })));
    }
    if (next.topFloor !== undefined && next.bottomFloor !== undefined && next.topFloor < next.bottomFloor) {
      throw badRequest(`topFloor (${next.topFloor}) must not be below bottomFloor (${next.bottomFloor})`, [{ path: patch.topFloor !== undefined ? 'topFloor' : 'bottomFloor', message: 'top floor below bottom floor' }]);
    }
    if (row.kind !== 'fire_panel' && patch.uitdAddress !== undefined) {
      throw badRequest(`only a fire_panel has uitdAddress; device ${id} is a ${row.kind}`, [{ path: 'uitdAddress', message: 'only a fire_panel has uitdAddress' }]);
    }
    this.checkProtocolAddresses(id, patch);
    this.ensureUnit(patch.maintenanceUnitId, actor);
    next = this.named(next);
    this.store.write(this.queries.updateDevice(id, {
      site_id: next.siteId, location: next.location ?? null, building: next.building ?? null, model: next.model ?? null, maintenance_unit_id: next.maintenanceUnitId ?? null,
      imei: next.imei ?? null, uitd_address: next.uitdAddress ?? null,
      registration_code: next.registrationCode ?? null, next_inspection_due: next.nextInspectionDue ?? null, disabled: next.disabled ? 1 : 0,
      ...elevatorRow(next),
    }));
    const device = this.putDevice(next);
    this.store.notify('registry', [`device:${id}`]);
    this.audit.record(actor, 'device.update', `device:${id}`, patch);
    this.emit('deviceChanged', device);
    if (next.disabled && !row.disabled) this.emit('deviceRevoked', id);
    return device;
  }

  /**
   * Puts a fire device in test mode until `until` (epoch ms), or changes its end; `endTestMode` ends it
   * (`reason`: `ended` by a person, `expired` at its end). Both stored with the device, so a restart
   * keeps them, and audited. Which devices and who may: the alerts capability's test-mode routes.
   */
  setTestMode(id: string, until: number, note: string | undefined, actor: string): Device {
    const row = this.devices.get(id);
    if (!row) throw notFound('device', id);
    return this.writeTestMode(row, until, note, actor, 'device.test_mode.start', { until: new Date(until).toISOString(), ...(note ? { note } : {}) });
  }

  endTestMode(id: string, actor: string, reason: 'ended' | 'expired'): Device {
    const row = this.devices.get(id);
    if (!row) throw notFound('device', id);
    return this.writeTestMode(row, undefined, undefined, actor, `device.test_mode.${reason === 'expired' ? 'expire' : 'end'}`,
      row.testModeUntil === undefined ? { wasOn: false } : { until: new Date(row.testModeUntil).toISOString() });
  }

  private writeTestMode(row: Device, until: number | undefined, note: string | undefined, actor: string, action: string, detail: Record<string, unknown>): Device {
    this.store.write(this.queries.updateDevice(row.id, { test_mode_until: until ?? null, test_mode_note: note ?? null }));
    const device = this.putDevice({ ...row, testModeUntil: until, testModeNote: note });
    this.store.notify('registry', [`device:${row.id}`]);
    this.audit.record(actor, action, `device:${row.id}`, detail);
    this.emit('deviceChanged', device);
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
    this.secretHashes.set(id, secretHash);
    this.store.notify('registry', [`device:${id}`]);
    this.audit.record(actor, 'device.rotate_secret', `device:${id}`);
    this.emit('deviceChanged', row);
    this.emit('deviceRevoked', id);
    return secret;
  }

  /** The device an NB-IoT push names by its IMEI. */
  deviceByImei(imei: string): Device | undefined {
    const id = this.protocolAddresses.get(`imei:${imei}`);
    return id === undefined ? undefined : this.getDevice(id);
  }

  /** The transmission device a GB/T 26875.3 frame names by its source address (12 lower-case hex digits, wire order). */
  deviceByUitdAddress(address: string): Device | undefined {
    const id = this.protocolAddresses.get(`uitd:${address}`);
    return id === undefined ? undefined : this.getDevice(id);
  }

  /**
   * The cache of devices and the index of their field protocol addresses change together. Returns
   * the device as stored (frozen). `secretHash` only where it is set or changes.
   */
  private putDevice(device: Device, secretHash?: string): Readonly<Device> {
    const before = this.devices.get(device.id);
    if (before) for (const key of protocolKeys(before)) if (this.protocolAddresses.get(key) === device.id) this.protocolAddresses.delete(key);
    const stored = Object.freeze(device);
    this.devices.set(device.id, stored);
    if (secretHash !== undefined) this.secretHashes.set(device.id, secretHash);
    for (const key of protocolKeys(stored)) this.protocolAddresses.set(key, device.id);
    return stored;
  }

  /**
   * An IMEI or transmission device address names one device: another device's is a conflict. The
   * holder is not named: it may be another company's device.
   */
  private checkProtocolAddresses(id: string, d: { imei?: string | undefined; uitdAddress?: string | undefined }): void {
    for (const key of protocolKeys(d)) {
      const holder = this.protocolAddresses.get(key);
      if (holder !== undefined && holder !== id) {
        const imei = key.startsWith('imei:');
        const value = key.slice(key.indexOf(':') + 1);
        throw conflict(`${imei ? 'IMEI' : '传输装置地址'} ${value} 已登记在另一台设备 / ${imei ? 'imei' : 'uitdAddress'} ${value} is already registered to another device`,
          [{ path: imei ? 'imei' : 'uitdAddress', message: 'registered to another device' }]);
      }
    }
  }

  /** The device as stored: frozen, shared by every caller. */
  getDevice(id: string): Readonly<Device> | undefined { return this.devices.get(id); }

  /** A new array of the stored (frozen) devices. */
  listDevices(): Readonly<Device>[] { return [...this.devices.values()]; }

  /**
   * A device's login. Answered at once for a generated secret (one SHA-256) and for a chosen secret
   * already proven in this process; the first check of a chosen secret runs scrypt in the thread pool
   * and answers with a promise.
   */
  checkDevice(id: string, secret: Buffer | string | undefined): DeviceCheck | Promise<DeviceCheck> {
    const row = this.devices.get(id);
    const storedHash = this.secretHashes.get(id);
    if (!row || storedHash === undefined) return { ok: false, reason: 'unknown_device' };
    if (secret === undefined) return { ok: false, reason: 'bad_secret' };
    if (!isSlowHash(storedHash)) return deviceVerdict(row, secretMatches(secret, storedHash));
    const proven = this.secretProofs.check(id, storedHash, secret);
    if (proven !== undefined) return deviceVerdict(row, proven);
    return secretMatchesSlow(secret, storedHash).then((ok): DeviceCheck => {
      const current = this.devices.get(id);
      // rotated or removed while scrypt ran: the answer is about a secret that no longer counts
      if (!current) return { ok: false, reason: 'unknown_device' };
      if (this.secretHashes.get(id) !== storedHash) return { ok: false, reason: 'bad_secret' };
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

function deviceVerdict(row: Device, secretOk: boolean): DeviceCheck {
  if (!secretOk) return { ok: false, reason: 'bad_secret' };
  if (row.disabled) return { ok: false, reason: 'disabled' };
  return { ok: true };
}

function publicAccount(a: Account & { tokenHash?: string }): Account {
  const { tokenHash: _omit, ...account } = a;
  return account;
}

function companyOf(r: RegistryTables['companies']): Company {
  return { id: r.id, name: r.name, creditCode: r.credit_code ?? undefined, phone: r.phone ?? undefined, createdAt: r.created_at };
}

function unitOf(r: RegistryTables['maintenance_units']): MaintenanceUnit {
  return { id: r.id, name: r.name, licence: r.licence ?? undefined, phone: r.phone, createdAt: r.created_at };
}

function siteOf(r: RegistryTables['sites']): Site {
  const site: Site = {
    id: r.id, name: r.name, companyId: r.company_id, address: r.address ?? undefined,
    street: r.street ?? undefined, community: r.community ?? undefined, grid: r.grid ?? undefined, area: r.area === 'rural' ? 'rural' : 'urban',
    emergencyUntil: r.emergency_until ?? undefined, createdAt: r.created_at,
  };
  if (r.handover_company_id !== null && r.handover_at !== null) {
    site.pendingHandover = { companyId: r.handover_company_id, from: r.handover_at, emergencyUntil: r.handover_emergency_until ?? undefined, actor: r.handover_actor ?? 'system' };
  }
  return site;
}

type ElevatorColumns = Pick<RegistryTables['devices'], 'rated_speed' | 'top_floor' | 'bottom_floor' | 'installed_at' | 'warranty_until'>;

function elevatorOf(r: ElevatorColumns): Pick<Device, 'ratedSpeed' | 'topFloor' | 'bottomFloor' | 'installedAt' | 'warrantyUntil'> {
  // PostgreSQL's DOUBLE PRECISION and INTEGER come back as numbers; kept absent when not given
  const out: Pick<Device, 'ratedSpeed' | 'topFloor' | 'bottomFloor' | 'installedAt' | 'warrantyUntil'> = {};
  if (r.rated_speed !== null && r.rated_speed !== undefined) out.ratedSpeed = Number(r.rated_speed);
  if (r.top_floor !== null && r.top_floor !== undefined) out.topFloor = Number(r.top_floor);
  if (r.bottom_floor !== null && r.bottom_floor !== undefined) out.bottomFloor = Number(r.bottom_floor);
  if (r.installed_at) out.installedAt = r.installed_at;
  if (r.warranty_until) out.warrantyUntil = r.warranty_until;
  return out;
}

function elevatorRow(d: Pick<Device, 'ratedSpeed' | 'topFloor' | 'bottomFloor' | 'installedAt' | 'warrantyUntil'>): ElevatorColumns {
  return { rated_speed: d.ratedSpeed ?? null, top_floor: d.topFloor ?? null, bottom_floor: d.bottomFloor ?? null, installed_at: d.installedAt ?? null, warranty_until: d.warrantyUntil ?? null };
}

function protocolKeys(d: { imei?: string | undefined; uitdAddress?: string | undefined }): string[] {
  const keys: string[] = [];
  if (d.imei !== undefined) keys.push(`imei:${d.imei}`);
  if (d.uitdAddress !== undefined) keys.push(`uitd:${d.uitdAddress}`);
  return keys;
}

function accountOf(r: RegistryTables['accounts']): Account & { tokenHash: string } {
  return { id: r.id, role: r.role as Role, scope: r.scope ?? undefined, name: r.name ?? undefined, disabled: r.disabled === 1, createdAt: r.created_at, tokenHash: r.token_hash };
}
