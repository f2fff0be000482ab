/** The registry API: status codes, coded errors with field paths, and each role's scope. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

let t: TestGateway;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestGateway();
  await t.api('POST', '/api/v1/sites', { id: 'site-a', name: '阳光小区', companyId: 'co-a' });
  await t.api('POST', '/api/v1/sites', { id: 'site-b', name: '幸福小区', companyId: 'co-b' });
  await registerDevice(t, { id: 'a-lift', kind: 'elevator', siteId: 'site-a', maintenanceUnitId: 'mu-1' });
  await registerDevice(t, { id: 'a-smoke', kind: 'smoke_detector', siteId: 'site-a' });
  await registerDevice(t, { id: 'b-lift', kind: 'elevator', siteId: 'site-b', maintenanceUnitId: 'mu-2' });
  await registerDevice(t, { id: 'b-pump', kind: 'water_pump', siteId: 'site-b' });
  for (const [id, role, scope] of [['prop-a', 'property', 'co-a'], ['prop-b', 'property', 'co-b'], ['mu-1-acct', 'maintenance', 'mu-1'],
    ['msb', 'market-supervision', undefined], ['fire', 'fire-service', undefined]] as const) {
    const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
    expect(res.status).toBe(201);
    tokens[id] = res.body.token;
  }
});
afterAll(async () => { await t.dispose(); });

describe('errors', () => {
  it('401 without or with a wrong token', async () => {
    expect((await t.api('GET', '/api/v1/devices', undefined, '')).body.error.code).toBe('GW_UNAUTHORIZED');
    expect((await t.api('GET', '/api/v1/devices', undefined, 'nope')).status).toBe(401);
  });

  it('400 with field paths for a bad body', async () => {
    const res = await t.api('POST', '/api/v1/devices', { id: 'bad/id', kind: 'toaster', siteId: 'site-a', nextInspectionDue: 'soon' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('GW_BAD_REQUEST');
    const paths = res.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body.id', 'body.kind', 'body.nextInspectionDue']));
  });

  it('400 for an unknown site, 409 for a duplicate, 404 for a missing device', async () => {
    expect((await t.api('POST', '/api/v1/devices', { id: 'x1', kind: 'elevator', siteId: 'nowhere' })).status).toBe(400);
    const dup = await t.api('POST', '/api/v1/devices', { id: 'a-lift', kind: 'elevator', siteId: 'site-a' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('GW_CONFLICT');
    expect((await t.api('GET', '/api/v1/devices/ghost')).status).toBe(404);
    expect((await t.api('POST', '/api/v1/accounts', { id: 'p', role: 'property' })).body.error.details[0].path).toBe('body.scope');
  });

  it('never returns a secret hash, and the audit log records changes', async () => {
    const list = await t.api('GET', '/api/v1/devices');
    expect(JSON.stringify(list.body)).not.toMatch(/sha256|secretHash/);
    const audit = await t.api('GET', '/api/v1/audit?target=device:a-lift');
    expect(audit.body[0]).toMatchObject({ actor: 'admin', action: 'device.create', target: 'device:a-lift' });
  });
});

describe('scopes', () => {
  const visible = async (who: string) => (await t.api('GET', '/api/v1/devices', undefined, tokens[who])).body.map((d: { id: string }) => d.id).sort();

  it('each role lists only its own devices', async () => {
    expect(await visible('prop-a')).toEqual(['a-lift', 'a-smoke']);
    expect(await visible('prop-b')).toEqual(['b-lift', 'b-pump']);
    expect(await visible('mu-1-acct')).toEqual(['a-lift']);
    expect(await visible('msb')).toEqual(['a-lift', 'b-lift']);
    expect(await visible('fire')).toEqual(['a-smoke']);
  });

  it('a device outside the scope is not found, nor its telemetry or dead letters', async () => {
    for (const path of ['/api/v1/devices/b-lift', '/api/v1/devices/b-lift/telemetry', '/api/v1/dead-letters?deviceId=b-lift']) {
      expect((await t.api('GET', path, undefined, tokens['prop-a'])).status, path).toBe(404);
    }
    expect((await t.api('GET', '/api/v1/devices/b-pump', undefined, tokens.msb)).status).toBe(404);
    expect((await t.api('GET', '/api/v1/sites', undefined, tokens['prop-a'])).body.map((s: { id: string }) => s.id)).toEqual(['site-a']);
  });

  it('a property company manages only its own sites and devices, and no accounts', async () => {
    const pa = tokens['prop-a'];
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-a2', name: 'A2', companyId: 'co-a' }, pa)).status).toBe(201);
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-x', name: 'X', companyId: 'co-b' }, pa)).status).toBe(403);
    const created = await t.api('POST', '/api/v1/devices', { id: 'a2-panel', kind: 'fire_panel', siteId: 'site-a2' }, pa);
    expect(created.status).toBe(201);
    expect(created.body.secret.length).toBeGreaterThan(30);
    // another company's site is an unknown site to this account (see 'ids held by others')
    expect((await t.api('POST', '/api/v1/devices', { id: 'b-intruder', kind: 'fire_panel', siteId: 'site-b' }, pa)).status).toBe(400);
    expect((await t.api('PATCH', '/api/v1/devices/b-pump', { disabled: true }, pa)).status).toBe(404);
    expect((await t.api('PATCH', '/api/v1/devices/a-smoke', { siteId: 'site-b' }, pa)).status).toBe(400);
    expect((await t.api('GET', '/api/v1/devices/a-smoke')).body.siteId).toBe('site-a');
    expect((await t.api('POST', '/api/v1/accounts', { id: 'evil', role: 'admin' }, pa)).status).toBe(403);
    expect((await t.api('GET', '/api/v1/audit', undefined, pa)).status).toBe(403);
  });

  it('agencies cannot change the registry', async () => {
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-m', name: 'M', companyId: 'co-a' }, tokens.msb)).status).toBe(403);
    expect((await t.api('PATCH', '/api/v1/devices/a-lift', { disabled: true }, tokens.msb)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/devices/a-lift/secret', undefined, tokens['mu-1-acct'])).status).toBe(403);
    expect((await t.api('POST', '/api/v1/devices', { id: 'm-lift', kind: 'elevator', siteId: 'site-a' }, tokens.msb)).status).toBe(403);
  });
});

describe('ids held by others', () => {
  /** The error with the asked-for id blanked out: what is left must not depend on who holds the id. */
  const blank = (body: { error: unknown }, id: string) => JSON.stringify(body.error).split(id).join('<id>');

  it('LEAK-2 a taken id answers the same 409 whoever holds it (another company\'s device, an account, one\'s own device)', async () => {
    const pa = tokens['prop-a'];
    const device = (id: string) => t.api('POST', '/api/v1/devices', { id, kind: 'elevator', siteId: 'site-a' }, pa);
    const theirs = await device('b-lift');
    const anAccount = await device('msb');
    const mine = await device('a-lift');
    for (const res of [theirs, anAccount, mine]) {
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('GW_CONFLICT');
      expect(res.body.error.details).toBeUndefined();
    }
    expect(blank(theirs.body, 'b-lift')).toBe(blank(mine.body, 'a-lift'));
    expect(blank(anAccount.body, 'msb')).toBe(blank(mine.body, 'a-lift'));
    // sites: another company's site id reads like a device id that is taken
    const site = await t.api('POST', '/api/v1/sites', { id: 'site-b', name: 'B?', companyId: 'co-a' }, pa);
    expect(site.status).toBe(409);
    expect(blank(site.body, 'site-b')).toBe(blank(mine.body, 'a-lift'));
    expect((await t.api('GET', '/api/v1/sites/site-b')).body.companyId).toBe('co-b');
  });

  it('an admin, who sees every site, device and account anyway, is told what holds the id', async () => {
    const dev = await t.api('POST', '/api/v1/devices', { id: 'msb', kind: 'elevator', siteId: 'site-a' });
    expect(dev.status).toBe(409);
    expect(dev.body.error).toMatchObject({ code: 'GW_CONFLICT', details: { takenBy: 'account' } });
    const acct = await t.api('POST', '/api/v1/accounts', { id: 'b-lift', role: 'market-supervision' });
    expect(acct.status).toBe(409);
    expect(acct.body.error).toMatchObject({ code: 'GW_CONFLICT', details: { takenBy: 'device' } });
    const again = await t.api('POST', '/api/v1/accounts', { id: 'msb', role: 'market-supervision' });
    expect(again.body.error).toMatchObject({ code: 'GW_CONFLICT', details: { takenBy: 'account' } });
  });

  it('LEAK-3, LEAK-4 another company\'s site answers like a site that does not exist, on POST and PATCH /devices', async () => {
    const pa = tokens['prop-a'];
    const theirs = await t.api('POST', '/api/v1/devices', { id: 'a-new-1', kind: 'fire_panel', siteId: 'site-b' }, pa);
    const none = await t.api('POST', '/api/v1/devices', { id: 'a-new-1', kind: 'fire_panel', siteId: 'site-zz' }, pa);
    expect(theirs.status).toBe(400);
    expect(theirs.body.error.code).toBe('GW_BAD_REQUEST');
    expect(blank(theirs.body, 'site-b')).toBe(blank(none.body, 'site-zz'));
    const moved = await t.api('PATCH', '/api/v1/devices/a-smoke', { siteId: 'site-b' }, pa);
    const nowhere = await t.api('PATCH', '/api/v1/devices/a-smoke', { siteId: 'site-zz' }, pa);
    expect(moved.status).toBe(400);
    expect(blank(moved.body, 'site-b')).toBe(blank(nowhere.body, 'site-zz'));
    expect((await t.api('GET', '/api/v1/devices/a-new-1')).status).toBe(404);
  });
});
