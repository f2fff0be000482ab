/**
 * Property companies and maintenance units as registry entries: the migration that carries the ids
 * already in use forward (on a database made by the previous migrations, SQLite and PostgreSQL), the
 * API with each role's scope, names next to ids, and other nodes taking the changes (`refresh`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, SqliteStore, sqliteDatabase } from '../core/db/sqlite.js';
import { PostgresStore } from '../core/db/postgres.js';
import { AuditLog } from '../core/audit.js';
import { REGISTRY_MIGRATIONS, registryQueries, type RegistryTables } from '../registry/store.js';
import { Registry } from '../registry/index.js';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { AlertWatcher, addDevice, event, startAlertGateway } from './harness/alerts.js';

/** Version 1 of the registry, as existing installations ran it. */
const OLD_STEPS = REGISTRY_MIGRATIONS.slice(0, 1);

/** Rows an installation made before companies and units were entries. */
const OLD_ROWS = [
  `INSERT INTO sites (id, name, company_id, address, created_at) VALUES ('s1', 'S1', 'co-1', NULL, 10), ('s2', 'S2', 'co-1', NULL, 20), ('s3', 'S3', 'co-2', NULL, 30)`,
  `INSERT INTO devices (id, kind, site_id, maintenance_unit_id, secret_hash, disabled, created_at) VALUES
     ('l1', 'elevator', 's1', 'mu-1', 'sha256:x', 0, 40), ('l2', 'elevator', 's3', 'mu-1', 'sha256:x', 0, 50), ('p1', 'water_pump', 's2', NULL, 'sha256:x', 0, 60)`,
  `INSERT INTO accounts (id, role, scope, name, token_hash, disabled, created_at) VALUES
     ('a1', 'property', 'co-3', NULL, 'h1', 0, 70), ('a2', 'maintenance', 'mu-9', NULL, 'h2', 0, 80), ('a3', 'property', 'co-1', NULL, 'h3', 0, 90)`,
];

const EXPECTED_COMPANIES = [
  { id: 'co-1', name: 'co-1', credit_code: null, phone: null, created_at: 10 },
  { id: 'co-2', name: 'co-2', credit_code: null, phone: null, created_at: 30 },
  { id: 'co-3', name: 'co-3', credit_code: null, phone: null, created_at: 70 },
];
const EXPECTED_UNITS = [
  { id: 'mu-1', name: 'mu-1', licence: null, phone: '', created_at: 40 },
  { id: 'mu-9', name: 'mu-9', licence: null, phone: '', created_at: 80 },
];

describe('the migration carries the ids in use forward', () => {
  it('on SQLite, on a database made by the previous migrations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orgs-'));
    const db = openDatabase(dir, 'old.sqlite');
    try {
      const store = new SqliteStore<RegistryTables>(db);
      store.migrate('registry', OLD_STEPS);
      for (const sql of OLD_ROWS) db.exec(sql);
      store.migrate('registry', REGISTRY_MIGRATIONS);
      const q = registryQueries(store.q);
      expect(store.all(q.companies().orderBy('id'))).toEqual(EXPECTED_COMPANIES);
      expect(store.all(q.units().orderBy('id'))).toEqual(EXPECTED_UNITS);
      // version 3: old sites are urban and have no street yet; old devices no elevator data
      expect(store.all(q.sites().orderBy('id'))[0]).toMatchObject({ id: 's1', street: null, community: null, grid: null, area: 'urban' });
      expect(store.all(q.devices().orderBy('id'))[0]).toMatchObject({ id: 'l1', rated_speed: null, top_floor: null, bottom_floor: null, installed_at: null, warranty_until: null });
      // running them again is a no-op
      store.migrate('registry', REGISTRY_MIGRATIONS);
      expect(store.all(q.companies())).toHaveLength(3);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on PostgreSQL, likewise', async () => {
    let server: PostgresHandle | undefined;
    try {
      server = await startPostgres();
      const store = new PostgresStore<RegistryTables>(server.pool);
      await store.migrate('registry', OLD_STEPS);
      for (const sql of OLD_ROWS) await server.pool.query(sql);
      await store.migrate('registry', REGISTRY_MIGRATIONS);
      const q = registryQueries(store.q);
      // BIGINT comes back as a string from pg
      const norm = <T extends { created_at: number }>(rows: T[]) => rows.map((r) => ({ ...r, created_at: Number(r.created_at) }));
      expect(norm(await store.all(q.companies().orderBy('id')))).toEqual(EXPECTED_COMPANIES);
      expect(norm(await store.all(q.units().orderBy('id')))).toEqual(EXPECTED_UNITS);
      expect((await store.all(q.sites().orderBy('id')))[0]).toMatchObject({ id: 's1', street: null, area: 'urban' });
      await store.run(q.updateDevice('l1', { rated_speed: 1.75, top_floor: 18, bottom_floor: -2 }));
      expect((await store.all(q.devices().orderBy('id')))[0]).toMatchObject({ rated_speed: 1.75, top_floor: 18, bottom_floor: -2 });
    } finally {
      await server?.stop();
    }
  }, 60_000);
});

describe('another node takes company and unit changes (refresh)', () => {
  it('renames reach the devices of the other registry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orgs-'));
    const db = openDatabase(dir, 'two.sqlite');
    try {
      const database = sqliteDatabase(db);
      const audit = await AuditLog.open(database);
      const one = await Registry.open(database, audit);
      one.createSite({ id: 's', name: '阳光小区', companyId: 'co' }, 'test');
      one.createDevice({ id: 'lift', kind: 'elevator', siteId: 's', maintenanceUnitId: 'mu' }, 'test');
      const two = await Registry.open(database, audit);
      expect(two.getMaintenanceUnit('mu')).toMatchObject({ name: 'mu', phone: '' });
      one.updateCompany('co', { name: '阳光物业' }, 'test');
      one.updateMaintenanceUnit('mu', { name: '快修电梯', phone: '400-100-2000' }, 'test');
      const changed: string[] = [];
      two.on('deviceChanged', (d) => changed.push(`${d.companyName}/${d.maintenanceUnitName ?? ''}`));
      await two.refresh(['company:co', 'unit:mu']);
      expect(two.getCompany('co')?.name).toBe('阳光物业');
      expect(two.getMaintenanceUnit('mu')).toMatchObject({ name: '快修电梯', phone: '400-100-2000' });
      expect(two.getDevice('lift')).toMatchObject({ companyName: '阳光物业', maintenanceUnitName: '快修电梯', siteName: '阳光小区' });
      expect(changed.at(-1)).toBe('阳光物业/快修电梯');
      one.createCompany({ id: 'co-new', name: '新物业' }, 'test');
      await two.reload();
      expect(two.getCompany('co-new')?.name).toBe('新物业');
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the companies and maintenance units API', () => {
  let t: TestGateway;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestGateway();
    expect((await t.api('POST', '/api/v1/companies', { id: 'co-a', name: '阳光物业', creditCode: '91330100MA2XXXXX1', phone: '0571-88880000' })).status).toBe(201);
    expect((await t.api('POST', '/api/v1/maintenance-units', { id: 'mu-a', name: '快修电梯维保', licence: 'TS3433001', phone: '400-820-0000' })).status).toBe(201);
    await t.api('POST', '/api/v1/sites', { id: 'site-a', name: '阳光小区', companyId: 'co-a' });
    await registerDevice(t, { id: 'lift-a', kind: 'elevator', siteId: 'site-a', maintenanceUnitId: 'mu-a' });
    // a site and a device naming a company / unit that is not registered yet create them, named by their id
    await registerDevice(t, { id: 'lift-b', kind: 'elevator', siteId: 'site-b', companyId: 'co-b', maintenanceUnitId: 'mu-b' });
    for (const [id, role, scope] of [['prop-a', 'property', 'co-a'], ['prop-b', 'property', 'co-b'], ['mu-a-acct', 'maintenance', 'mu-a'],
      ['msb', 'market-supervision', undefined], ['fire', 'fire-service', undefined]] as const) {
      const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
      expect(res.status).toBe(201);
      tokens[id] = res.body.token;
    }
  });
  afterAll(async () => { await t?.dispose(); });

  const ids = (body: Array<{ id: string }>) => body.map((x) => x.id).sort();

  it('an admin creates them; bad bodies are 400 with the path; a duplicate is 409', async () => {
    const noPhone = await t.api('POST', '/api/v1/maintenance-units', { id: 'mu-x', name: 'X' });
    expect(noPhone.status).toBe(400);
    expect(noPhone.body.error.details.map((d: { path: string }) => d.path)).toContain('body.phone');
    const badPhone = await t.api('POST', '/api/v1/companies', { id: 'co-x', name: 'X', phone: 'call me' });
    expect(badPhone.status).toBe(400);
    expect(badPhone.body.error.details[0].path).toBe('body.phone');
    expect((await t.api('POST', '/api/v1/companies', { id: 'co-a', name: 'again' })).status).toBe(409);
    expect((await t.api('POST', '/api/v1/companies', { id: 'co-y', name: 'Y' }, tokens['prop-a'])).status).toBe(403);
    expect((await t.api('POST', '/api/v1/maintenance-units', { id: 'mu-y', name: 'Y', phone: '110' }, tokens.msb)).status).toBe(403);
    expect((await t.api('GET', '/api/v1/companies/co-a')).body).toMatchObject({ id: 'co-a', name: '阳光物业', creditCode: '91330100MA2XXXXX1', phone: '0571-88880000' });
  });

  it('ids named before they were registered become entries named by their id; a unit without a phone has phone ""', async () => {
    expect((await t.api('GET', '/api/v1/companies/co-b')).body).toMatchObject({ id: 'co-b', name: 'co-b' });
    expect((await t.api('GET', '/api/v1/maintenance-units/mu-b')).body).toMatchObject({ id: 'mu-b', name: 'mu-b', phone: '' });
    const audit = await t.api('GET', '/api/v1/audit?target=unit:mu-b');
    expect(audit.body[0]).toMatchObject({ action: 'maintenance_unit.create' });
  });

  it('each role sees what its scope allows; outside it reads like missing', async () => {
    expect(ids((await t.api('GET', '/api/v1/companies')).body)).toEqual(['co-a', 'co-b']);
    expect(ids((await t.api('GET', '/api/v1/companies', undefined, tokens['prop-a'])).body)).toEqual(['co-a']);
    expect((await t.api('GET', '/api/v1/companies/co-b', undefined, tokens['prop-a'])).status).toBe(404);
    expect((await t.api('GET', '/api/v1/companies', undefined, tokens.fire)).body).toEqual([]);
    expect(ids((await t.api('GET', '/api/v1/maintenance-units', undefined, tokens['mu-a-acct'])).body)).toEqual(['mu-a']);
    expect((await t.api('GET', '/api/v1/maintenance-units/mu-b', undefined, tokens['mu-a-acct'])).status).toBe(404);
    expect(ids((await t.api('GET', '/api/v1/maintenance-units', undefined, tokens.msb)).body)).toEqual(['mu-a', 'mu-b']);
    expect((await t.api('GET', '/api/v1/maintenance-units/mu-b', undefined, tokens.msb)).status).toBe(200);
    expect((await t.api('GET', '/api/v1/maintenance-units', undefined, tokens.fire)).body).toEqual([]);
    expect((await t.api('GET', '/api/v1/maintenance-units/mu-a', undefined, tokens.fire)).status).toBe(404);
    expect((await t.api('GET', '/api/v1/maintenance-units', undefined, tokens['prop-a'])).body).toEqual([]);
  });

  it('a company or unit edits its own name and phone only; market supervision reads units but does not edit them', async () => {
    const own = await t.api('PATCH', '/api/v1/companies/co-b', { name: '幸福物业', phone: '0571 8888 1111' }, tokens['prop-b']);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: 'co-b', name: '幸福物业', phone: '0571 8888 1111' });
    expect((await t.api('PATCH', '/api/v1/companies/co-b', { creditCode: 'X' }, tokens['prop-b'])).status).toBe(403);
    expect((await t.api('PATCH', '/api/v1/companies/co-a', { name: 'mine now' }, tokens['prop-b'])).status).toBe(404);
    const unit = await t.api('PATCH', '/api/v1/maintenance-units/mu-a', { phone: '400-820-1111' }, tokens['mu-a-acct']);
    expect(unit.body).toMatchObject({ id: 'mu-a', name: '快修电梯维保', phone: '400-820-1111', licence: 'TS3433001' });
    expect((await t.api('PATCH', '/api/v1/maintenance-units/mu-a', { licence: 'L2' }, tokens['mu-a-acct'])).status).toBe(403);
    expect((await t.api('PATCH', '/api/v1/maintenance-units/mu-a', { name: 'X' }, tokens.msb)).status).toBe(403);
    expect((await t.api('PATCH', '/api/v1/maintenance-units/mu-a', { name: 'X' }, tokens.fire)).status).toBe(404);
    expect((await t.api('PATCH', '/api/v1/maintenance-units/ghost', { name: 'X' })).status).toBe(404);
    expect((await t.api('PATCH', '/api/v1/maintenance-units/mu-b', { phone: '400-000-0000', licence: 'L3' })).body).toMatchObject({ phone: '400-000-0000', licence: 'L3' });
  });

  it('sites and devices carry the names next to the ids, and follow a rename', async () => {
    expect((await t.api('GET', '/api/v1/sites/site-a')).body).toMatchObject({ companyId: 'co-a', companyName: '阳光物业' });
    expect((await t.api('GET', '/api/v1/devices/lift-a')).body).toMatchObject({
      companyId: 'co-a', companyName: '阳光物业', siteName: '阳光小区', maintenanceUnitId: 'mu-a', maintenanceUnitName: '快修电梯维保',
    });
    await t.api('PATCH', '/api/v1/companies/co-a', { name: '阳光物业服务有限公司' });
    await t.api('PATCH', '/api/v1/maintenance-units/mu-a', { name: '快修' });
    expect((await t.api('GET', '/api/v1/devices/lift-a')).body).toMatchObject({ companyName: '阳光物业服务有限公司', maintenanceUnitName: '快修' });
    expect((await t.api('GET', '/api/v1/sites')).body.find((s: { id: string }) => s.id === 'site-a')).toMatchObject({ companyName: '阳光物业服务有限公司' });
    // a device moved to another unit takes its name
    expect((await t.api('PATCH', '/api/v1/devices/lift-a', { maintenanceUnitId: 'mu-b' })).body).toMatchObject({ maintenanceUnitId: 'mu-b', maintenanceUnitName: 'mu-b' });
  });

  it('the entries survive a restart', async () => {
    await t.stop();
    await t.restart();
    expect((await t.api('GET', '/api/v1/companies/co-a')).body).toMatchObject({ name: '阳光物业服务有限公司', creditCode: '91330100MA2XXXXX1' });
    expect((await t.api('GET', '/api/v1/maintenance-units/mu-a')).body).toMatchObject({ name: '快修', phone: '400-820-1111' });
    expect((await t.api('GET', '/api/v1/devices/lift-b')).body).toMatchObject({ companyName: '幸福物业', maintenanceUnitName: 'mu-b' });
  });
});

describe('where sites are, and what elevators are', () => {
  let t: TestGateway;
  beforeAll(async () => { t = await startTestGateway(); });
  afterAll(async () => { await t?.dispose(); });

  it('sites take street, community, grid and area (urban unless said); PATCH changes them', async () => {
    const plain = await t.api('POST', '/api/v1/sites', { id: 'site-p', name: '旧小区', companyId: 'co-p' });
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({ area: 'urban', companyName: 'co-p' });
    expect(plain.body.street).toBeUndefined();
    const full = await t.api('POST', '/api/v1/sites', { id: 'site-q', name: '新小区', companyId: 'co-p', street: '西湖街道', community: '翠苑社区', grid: '3号网格', area: 'rural' });
    expect(full.body).toMatchObject({ street: '西湖街道', community: '翠苑社区', grid: '3号网格', area: 'rural' });
    const bad = await t.api('POST', '/api/v1/sites', { id: 'site-r', name: 'R', companyId: 'co-p', area: 'suburban' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('body.area');
    const patched = await t.api('PATCH', '/api/v1/sites/site-p', { street: '北山街道', community: '曙光社区', area: 'rural' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: 'site-p', name: '旧小区', street: '北山街道', community: '曙光社区', area: 'rural' });
    expect((await t.api('GET', '/api/v1/sites/site-p')).body).toMatchObject({ street: '北山街道', area: 'rural' });
    expect((await t.api('PATCH', '/api/v1/sites/ghost', { street: 'x' })).status).toBe(404);
    const acct = await t.api('POST', '/api/v1/accounts', { id: 'prop-z', role: 'property', scope: 'co-z' });
    expect((await t.api('PATCH', '/api/v1/sites/site-p', { street: 'x' }, acct.body.token)).status).toBe(404);
  });

  it('elevators take rated speed, floors and dates; other kinds refuse them with the path', async () => {
    const lift = await t.api('POST', '/api/v1/devices', {
      id: 'lift-e', kind: 'elevator', siteId: 'site-q', ratedSpeed: 1.75, topFloor: 18, bottomFloor: -2, installedAt: '2019-06-01', warrantyUntil: '2021-06-01',
    });
    expect(lift.status).toBe(201);
    expect(lift.body).toMatchObject({ ratedSpeed: 1.75, topFloor: 18, bottomFloor: -2, installedAt: '2019-06-01', warrantyUntil: '2021-06-01' });
    const paths = async (body: unknown, method = 'POST', path = '/api/v1/devices') => {
      const res = await t.api(method, path, body);
      expect(res.status).toBe(400);
      return res.body.error.details.map((d: { path: string }) => d.path);
    };
    expect(await paths({ id: 'pump-e', kind: 'water_pump', siteId: 'site-q', ratedSpeed: 1 })).toEqual(['body.ratedSpeed']);
    expect(await paths({ id: 'lift-f', kind: 'elevator', siteId: 'site-q', topFloor: 2, bottomFloor: 5 })).toEqual(['body.topFloor']);
    expect(await paths({ id: 'lift-g', kind: 'elevator', siteId: 'site-q', ratedSpeed: 0 })).toEqual(['body.ratedSpeed']);
    expect(await paths({ id: 'lift-h', kind: 'elevator', siteId: 'site-q', topFloor: 3.5, installedAt: '2019-13-01' })).toEqual(['body.topFloor', 'body.installedAt']);
    // PATCH: the registry checks the kind and the floors as they will be
    expect(await paths({ bottomFloor: 20 }, 'PATCH', '/api/v1/devices/lift-e')).toEqual(['bottomFloor']);
    await t.api('POST', '/api/v1/devices', { id: 'pump-f', kind: 'water_pump', siteId: 'site-q' });
    expect(await paths({ topFloor: 3 }, 'PATCH', '/api/v1/devices/pump-f')).toEqual(['topFloor']);
    const patched = await t.api('PATCH', '/api/v1/devices/lift-e', { ratedSpeed: 2.5, topFloor: 30 });
    expect(patched.body).toMatchObject({ ratedSpeed: 2.5, topFloor: 30, bottomFloor: -2 });
    // a device whose site moves streets follows it
    await t.api('PATCH', '/api/v1/sites/site-q', { name: '新小区二期' });
    expect((await t.api('GET', '/api/v1/devices/lift-e')).body).toMatchObject({ siteName: '新小区二期', ratedSpeed: 2.5 });
    await t.stop();
    await t.restart();
    expect((await t.api('GET', '/api/v1/devices/lift-e')).body).toMatchObject({ ratedSpeed: 2.5, topFloor: 30, bottomFloor: -2, installedAt: '2019-06-01' });
    expect((await t.api('GET', '/api/v1/sites/site-q')).body).toMatchObject({ street: '西湖街道', area: 'rural', name: '新小区二期' });
  });
});

describe('alerts carry names next to the ids', () => {
  let t: TestGateway;
  let watcher: AlertWatcher;
  beforeAll(async () => {
    ({ t } = await startAlertGateway());
    watcher = await AlertWatcher.start(t);
  });
  afterAll(async () => {
    await watcher?.close();
    await t?.dispose();
  });

  it('the alert and its queue messages name the site, company and unit (and the site\'s street and community), as they were when it opened', async () => {
    await t.api('POST', '/api/v1/companies', { id: 'co-n', name: '阳光物业' });
    await t.api('POST', '/api/v1/maintenance-units', { id: 'unit-n', name: '快修电梯', phone: '400-820-0000' });
    await t.api('POST', '/api/v1/sites', { id: 'site-n', name: '阳光小区', companyId: 'co-n', street: '西湖街道', community: '翠苑社区' });
    const lift = await addDevice(t, 'elevator', { companyId: 'co-n', siteId: 'site-n', unitId: 'unit-n' });
    await event(lift, { type: 'fault', fault: 'overspeed' });
    const names = { siteId: 'site-n', siteName: '阳光小区', companyId: 'co-n', companyName: '阳光物业', maintenanceUnitId: 'unit-n', maintenanceUnitName: '快修电梯', street: '西湖街道', community: '翠苑社区' };
    const [msg] = await watcher.waitFor(lift.id, 'elevator.overspeed', 'raised', ['maintenance/unit-n']);
    expect(msg!.alert).toMatchObject(names);
    expect((await t.api('GET', `/api/v1/alerts/${msg!.alert.id}`)).body).toMatchObject(names);
    // renamed later: the open alert keeps what it was raised with, a new one takes the new names
    await t.api('PATCH', '/api/v1/companies/co-n', { name: '阳光物业服务有限公司' });
    await t.api('PATCH', '/api/v1/maintenance-units/unit-n', { name: '快修电梯维保' });
    await event(lift, { type: 'fault', fault: 'top_overrun' });
    const [next] = await watcher.waitFor(lift.id, 'elevator.top_overrun', 'raised', ['maintenance/unit-n']);
    expect(next!.alert).toMatchObject({ companyName: '阳光物业服务有限公司', maintenanceUnitName: '快修电梯维保', siteName: '阳光小区' });
    expect((await t.api('GET', `/api/v1/alerts/${msg!.alert.id}`)).body).toMatchObject({ companyName: '阳光物业' });
  });
});
