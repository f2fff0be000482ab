/**
 * Bulk import and export of sites and devices (批量导入导出, SPEC §9): CSV and XLSX through the real
 * gateway; every bad row reported with its line and field and nothing changed; each role's scope;
 * secrets issued once and good for an MQTT login; dry runs; export scoped and secret-free; and an
 * export that comes back unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExcelJS from 'exceljs';
import { ADMIN_TOKEN, connectDevice, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const IMPORT = '/api/v1/registry/import';
const EXPORT = '/api/v1/registry/export';

let t: TestGateway;
const tokens: Record<string, string> = {};

interface Answer { status: number; headers: Headers; text: string; buffer: Buffer; json: any } // eslint-disable-line @typescript-eslint/no-explicit-any

async function send(method: string, path: string, opts: { body?: string | Buffer; type?: string; token?: string; accept?: string } = {}): Promise<Answer> {
  const res = await fetch(t.httpUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? ADMIN_TOKEN}`,
      ...(opts.body === undefined ? {} : { 'content-type': opts.type ?? 'text/csv' }),
      ...(opts.accept ? { accept: opts.accept } : {}),
    },
    ...(opts.body === undefined ? {} : { body: typeof opts.body === 'string' ? opts.body : new Uint8Array(opts.body) }),
  });
  const buffer = Buffer.from(await res.arrayBuffer());
  const text = buffer.toString('utf8');
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, buffer, json };
}

const importCsv = (entity: string, csv: string, opts: { token?: string; query?: string; accept?: string } = {}) =>
  send('POST', `${IMPORT}?entity=${entity}${opts.query ?? ''}`, { body: csv, ...opts });
const importXlsx = (wb: Buffer, opts: { token?: string; query?: string } = {}) => send('POST', `${IMPORT}${opts.query ?? ''}`, { body: wb, type: XLSX, ...opts });

/** The registry as the admin sees it, without the live state, for before/after comparisons. */
async function snapshot() {
  const sites = (await t.api('GET', '/api/v1/sites')).body;
  const devices = (await t.api('GET', '/api/v1/devices')).body.map((d: Record<string, unknown>) => {
    const { online: _o, lastSeenAt: _l, latest: _x, latestAt: _a, lastEvent: _e, ...rest } = d;
    return rest;
  });
  const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
  return { sites: [...sites].sort(byId), devices: [...devices].sort(byId) };
}

const problems = (a: Answer) => (a.json.error.details.rows as Array<{ sheet: string; line: number; field: string; message: string }>);
const where = (a: Answer) => problems(a).map((p) => `${p.line}:${p.field}`);

async function workbook(sheets: Record<string, unknown[][]>): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const ws = wb.addWorksheet(name);
    for (const r of rows) ws.addRow(r);
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

async function readWorkbook(buf: Buffer): Promise<ExcelJS.Workbook> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as unknown as Parameters<ExcelJS.Xlsx['load']>[0]);
  return wb;
}

beforeAll(async () => {
  t = await startTestGateway();
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-a', name: '阳光小区', companyId: 'co-a' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-b', name: '幸福小区', companyId: 'co-b' })).status).toBe(201);
  await registerDevice(t, { id: 'a-lift', kind: 'elevator', siteId: 'site-a', maintenanceUnitId: 'mu-1', topFloor: 12, bottomFloor: -1 });
  // text Excel would run as a formula: the export guards it, the import takes the guard off again
  await registerDevice(t, { id: 'a-pump', kind: 'water_pump', siteId: 'site-a', location: '-1层 水泵房' });
  await registerDevice(t, { id: 'b-lift', kind: 'elevator', siteId: 'site-b' });
  for (const [id, role, scope] of [['prop-a', 'property', 'co-a'], ['prop-b', 'property', 'co-b'], ['mu-acct', 'maintenance', 'mu-1'], ['msb', 'market-supervision', undefined]] as const) {
    const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
    expect(res.status).toBe(201);
    tokens[id] = res.body.token;
  }
});
afterAll(async () => { await t?.dispose(); });

const SITES_CSV = [
  'id,name,companyId,address,street,community,grid,area',
  'imp-s1,阳光二期,co-a,1号路,南山街道,桃源社区,网格1,urban',
  'imp-s2,幸福三期,co-b,,,,,rural',
].join('\n');

const DEVICES_CSV = [
  'id,kind,siteId,location,building,maintenanceUnitId,registrationCode,nextInspectionDue,ratedSpeed,topFloor,bottomFloor,installedAt,warrantyUntil,disabled',
  'imp-lift-1,elevator,imp-s1,1号楼 东梯,1号楼,mu-1,31104403002019,2026-05-01,1.75,18,-2,2019/6/1,2027-06-01,',
  'imp-smoke-1,smoke_detector,imp-s1,1号楼 3层,,,,,,,,,,false',
].join('\r\n');

describe('who may import and export', () => {
  it('roles other than admin and property are refused (403) before their file is looked at', async () => {
    for (const who of ['mu-acct', 'msb']) {
      const res = await importCsv('sites', SITES_CSV, { token: tokens[who] });
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('GW_FORBIDDEN');
      // even an unreadable body: refused for who is asking, not for what was sent
      const junk = await send('POST', IMPORT, { body: Buffer.from('not a workbook'), type: XLSX, token: tokens[who] });
      expect(junk.json.error.code).toBe('GW_FORBIDDEN');
      expect((await send('GET', `${EXPORT}?format=xlsx`, { token: tokens[who] })).json.error.code).toBe('GW_FORBIDDEN');
      expect((await send('GET', `${EXPORT}?format=csv&entity=devices`, { token: tokens[who] })).status).toBe(403);
    }
    expect((await importCsv('sites', SITES_CSV, { token: 'wrong' })).json.error.code).toBe('GW_UNAUTHORIZED');
    expect((await t.api('GET', '/api/v1/sites/imp-s1')).status).toBe(404);
  });

  it('a CSV without entity, or a body of another type, is a bad request', async () => {
    expect((await send('POST', IMPORT, { body: SITES_CSV })).json.error.code).toBe('GW_BAD_REQUEST');
    expect((await send('POST', `${IMPORT}?entity=sites`, { body: JSON.stringify({ id: 'x' }), type: 'application/json' })).json.error.code).toBe('GW_BAD_REQUEST');
    expect((await send('POST', IMPORT, { body: Buffer.from('PK nonsense'), type: XLSX })).json.error.code).toBe('GW_BAD_REQUEST');
    expect((await send('GET', `${EXPORT}?format=csv`)).json.error.code).toBe('GW_BAD_REQUEST');
  });
});

describe('CSV import', () => {
  let secrets: Array<{ deviceId: string; secret: string }>;

  it('creates sites, then devices on them; each new device\'s secret is returned once and logs in over MQTT', async () => {
    const sites = await importCsv('sites', SITES_CSV);
    expect(sites.status).toBe(200);
    expect(sites.json).toMatchObject({ dryRun: false, sites: { created: 2, updated: 0 }, devices: { created: 0, updated: 0 }, secrets: [] });
    expect((await t.api('GET', '/api/v1/sites/imp-s1')).body).toMatchObject({ name: '阳光二期', companyId: 'co-a', street: '南山街道', community: '桃源社区', grid: '网格1', area: 'urban' });
    expect((await t.api('GET', '/api/v1/sites/imp-s2')).body).toMatchObject({ companyId: 'co-b', area: 'rural' });

    const devices = await importCsv('devices', DEVICES_CSV);
    expect(devices.status).toBe(200);
    expect(devices.json).toMatchObject({ sites: { created: 0 }, devices: { created: 2, updated: 0 } });
    secrets = devices.json.secrets;
    expect(secrets.map((s) => s.deviceId).sort()).toEqual(['imp-lift-1', 'imp-smoke-1']);
    expect((await t.api('GET', '/api/v1/devices/imp-lift-1')).body).toMatchObject({
      kind: 'elevator', siteId: 'imp-s1', companyId: 'co-a', location: '1号楼 东梯', building: '1号楼', maintenanceUnitId: 'mu-1',
      registrationCode: '31104403002019', nextInspectionDue: '2026-05-01', ratedSpeed: 1.75, topFloor: 18, bottomFloor: -2,
      installedAt: '2019-06-01', warrantyUntil: '2027-06-01', disabled: false,
    });
    for (const s of secrets) {
      const client = await connectDevice(t, s.deviceId, s.secret);
      await client.endAsync();
    }
    // never again: not in the device, and a second import of the same file creates nothing
    expect(JSON.stringify((await t.api('GET', '/api/v1/devices/imp-lift-1')).body)).not.toContain(secrets[0]!.secret);
    const again = await importCsv('devices', DEVICES_CSV);
    expect(again.json).toMatchObject({ devices: { created: 0, updated: 0, unchanged: 2 }, secrets: [] });
  });

  it('an existing id updates the fields given, and leaves the others', async () => {
    const res = await importCsv('devices', 'id,location,disabled\nimp-smoke-1,1号楼 4层,是');
    expect(res.json).toMatchObject({ devices: { created: 0, updated: 1 } });
    expect((await t.api('GET', '/api/v1/devices/imp-smoke-1')).body).toMatchObject({ kind: 'smoke_detector', siteId: 'imp-s1', location: '1号楼 4层', disabled: true });
    expect((await importCsv('devices', 'id,disabled\nimp-smoke-1,false')).json.devices.updated).toBe(1);
  });

  it('one audit record per import, besides the entries\' own', async () => {
    const audit = await t.api('GET', '/api/v1/audit?target=registry');
    expect(audit.status).toBe(200);
    const imports = audit.body.filter((e: { action: string }) => e.action === 'registry.import');
    // sites, devices, the repeat, and the two updates
    expect(imports).toHaveLength(5);
    expect(imports.at(-1)).toMatchObject({ actor: 'admin', detail: { format: 'csv', entity: 'sites', sites: { created: 2, updated: 0 } } });
    expect((await t.api('GET', '/api/v1/audit?target=device:imp-lift-1')).body[0]).toMatchObject({ action: 'device.create' });
  });

  it('takes Chinese headers, a BOM, Chinese kind names and full-width digits', async () => {
    const csv = '\uFEFF编号,类型,小区编号,位置,最高层,最低层,停用\nzh-lift-1,电梯,imp-s1,2号楼,３０,1,否\nzh-sump-1,排水,imp-s1,地下车库,,,否\n';
    const res = await importCsv('devices', csv);
    expect(res.status).toBe(200);
    expect(res.json.devices.created).toBe(2);
    expect((await t.api('GET', '/api/v1/devices/zh-lift-1')).body).toMatchObject({ kind: 'elevator', siteId: 'imp-s1', location: '2号楼', topFloor: 30, bottomFloor: 1, disabled: false });
    expect((await t.api('GET', '/api/v1/devices/zh-sump-1')).body).toMatchObject({ kind: 'drainage', siteId: 'imp-s1', location: '地下车库' });
    // and the bilingual headers the export writes
    const bilingual = await importCsv('sites', '编号 id,名称 name,物业公司编号 companyId,城乡 area\nzh-s1,双语小区,co-a,农村');
    expect(bilingual.json.sites.created).toBe(1);
    expect((await t.api('GET', '/api/v1/sites/zh-s1')).body).toMatchObject({ name: '双语小区', area: 'rural' });
  });

  it('takes a charset parameter; GBK only when the request says so', async () => {
    const utf8 = await send('POST', `${IMPORT}?entity=sites`, { body: 'id,name,companyId\nutf-s1,阳光,co-a', type: 'text/csv; charset=utf-8' });
    expect(utf8.json.sites.created).toBe(1);
    // 阳光 in GBK, as Excel's plain "CSV" writes it on a Chinese Windows
    const gbk = Buffer.concat([Buffer.from('id,name,companyId\ngbk-s1,'), Buffer.from([0xd1, 0xf4, 0xb9, 0xe2]), Buffer.from(',co-a\n')]);
    expect((await send('POST', `${IMPORT}?entity=sites`, { body: gbk })).json.error.code).toBe('GW_BAD_REQUEST');
    expect((await send('POST', `${IMPORT}?entity=sites`, { body: gbk, type: 'text/csv; charset=GBK' })).json.sites.created).toBe(1);
    expect((await t.api('GET', '/api/v1/sites/gbk-s1')).body.name).toBe('阳光');
  });

  it('with Accept: text/csv the answer is the secrets file', async () => {
    const res = await importCsv('devices', 'id,kind,siteId\ncsv-pump-1,water_pump,imp-s1\ncsv-pump-2,water_pump,imp-s1', { accept: 'text/csv' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="device-secrets-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const lines = res.text.trim().split(/\r?\n/);
    expect(lines[0]).toBe('deviceId,secret');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.map((r) => r[0]).sort()).toEqual(['csv-pump-1', 'csv-pump-2']);
    const client = await connectDevice(t, rows[0]![0]!, rows[0]![1]!);
    await client.endAsync();
  });
});

describe('bad rows', () => {
  it('every bad row and field is listed with its line, and nothing is changed', async () => {
    const before = await snapshot();
    const csv = [
      'id,kind,siteId,location,colour,topFloor,bottomFloor,ratedSpeed', // 1: colour is no column
      'bad-1,toaster,imp-s1,"1号楼\n东梯",red,,,', //                       2: a kind that does not exist (a quoted cell over two lines is one row)
      'bad-2,elevator,nowhere,,,,,', //                                     3: an unknown site
      'bad-3,smoke_detector,imp-s1,,,,,1.5', //                             4: an elevator field on a smoke detector
      'bad-3,elevator,imp-s1,,,,,', //                                      5: the same id again
      'prop-a,elevator,imp-s1,,,,,', //                                     6: an account's id
      'bad-4,elevator,imp-s1,,,3,5,', //                                    7: top floor below bottom floor
      '', //                                                                8: blank, skipped
      'good-1,water_pump,imp-s1,,,,,', //                                   9: fine, but not imported alone
      'a-lift,,,,,,20,', //                                                10: an update whose bottom floor would be above its top (12)
    ].join('\n');
    const res = await importCsv('devices', csv);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(where(res)).toEqual(['1:colour', '2:kind', '3:siteId', '4:ratedSpeed', '5:id', '6:id', '7:topFloor', '10:bottomFloor']);
    expect(problems(res).every((p) => p.sheet === 'devices' && p.message.length > 0)).toBe(true);
    expect(res.json.error.details.more).toBe(0);
    expect(await snapshot()).toEqual(before);
    expect((await t.api('GET', '/api/v1/devices/good-1')).status).toBe(404);
  });

  it('a kind is never changed, a site\'s company never by import; bad numbers, dates and ids are reported per field', async () => {
    const before = await snapshot();
    const devices = await importCsv('devices', 'id,kind,nextInspectionDue,topFloor,disabled\na-lift,smoke_detector,next year,high,maybe\nbad id,elevator,,,');
    expect(devices.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(where(devices)).toEqual(['2:nextInspectionDue', '2:topFloor', '2:disabled', '2:kind', '3:id']);
    const sites = await importCsv('sites', 'id,name,companyId\nsite-a,阳光小区,co-b\nnew-site,,co-a');
    expect(where(sites)).toEqual(['2:companyId', '3:name']);
    expect(await snapshot()).toEqual(before);
  });

  it('a CSV that cannot be read to its end (a quote left open) is reported at its line', async () => {
    const res = await importCsv('devices', 'id,kind,siteId\nq-1,water_pump,imp-s1\nq-2,"water_pump,imp-s1\n');
    expect(res.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(problems(res)).toHaveLength(1);
    expect(problems(res)[0]!.line).toBe(3);
    expect((await t.api('GET', '/api/v1/devices/q-1')).status).toBe(404);
  });

  it('lists at most 1000 problems, with a count of the rest', async () => {
    const rows = Array.from({ length: 1200 }, (_, i) => `many-${i},toaster,imp-s1`);
    const res = await importCsv('devices', ['id,kind,siteId', ...rows].join('\n'));
    expect(res.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(problems(res)).toHaveLength(1000);
    expect(res.json.error.details.more).toBe(200);
  });

  it('more rows than one import may hold is refused before any is checked, naming the limit', async () => {
    const before = await snapshot();
    const rows = Array.from({ length: 20_001 }, (_, i) => `cap-${i},smoke_detector,imp-s1`);
    const res = await importCsv('devices', ['id,kind,siteId', ...rows].join('\n'));
    expect(res.json.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: { rows: 20_001, max: 20_000 } });
    expect(await snapshot()).toEqual(before);
  });

  it('a workbook\'s bad rows carry their sheet and row; a good sheet beside a bad one is not applied', async () => {
    const before = await snapshot();
    const wb = await workbook({
      小区: [['编号', '名称', '物业公司编号'], ['wb-bad-s1', '好小区', 'co-a']],
      devices: [['id', 'kind', 'siteId'], ['wb-bad-d1', 'elevator', 'wb-bad-s1'], [], ['wb-bad-d2', 'fire_panel', 'ghost']],
    });
    const res = await importXlsx(wb);
    expect(res.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(problems(res).map((p) => `${p.sheet}:${p.line}:${p.field}`)).toEqual(['devices:4:siteId']);
    expect(await snapshot()).toEqual(before);
  });
});

describe('XLSX import', () => {
  it('a workbook brings a new site and its devices; cells typed by Excel are converted', async () => {
    const wb = await workbook({
      // devices first in the workbook: sites are applied first all the same
      devices: [
        ['编号', '类型', '小区编号', '楼栋', '额定速度', '最高层', '最低层', '安装日期', '下次检验日期', '停用'],
        ['wb-lift-1', '电梯', 'wb-s1', 3, 2.5, 26, -2, new Date(Date.UTC(2020, 0, 15)), '2026/3/9', true],
        ['wb-smoke-1', 'smoke_detector', 'wb-s1', '3号楼', null, null, null, null, null, false],
      ],
      小区: [['编号', '名称', '物业公司编号', '街道'], ['wb-s1', '工作簿小区', 'co-a', '南山街道']],
      说明: [['这张表不导入 / this sheet is not imported']],
    });
    const res = await importXlsx(wb);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ sites: { created: 1, updated: 0 }, devices: { created: 2, updated: 0 } });
    expect(res.json.secrets).toHaveLength(2);
    expect((await t.api('GET', '/api/v1/sites/wb-s1')).body).toMatchObject({ name: '工作簿小区', companyId: 'co-a', street: '南山街道' });
    expect((await t.api('GET', '/api/v1/devices/wb-lift-1')).body).toMatchObject({
      kind: 'elevator', siteId: 'wb-s1', building: '3', ratedSpeed: 2.5, topFloor: 26, bottomFloor: -2, installedAt: '2020-01-15', nextInspectionDue: '2026-03-09', disabled: true,
    });
    expect((await t.api('GET', '/api/v1/devices/wb-smoke-1')).body).toMatchObject({ kind: 'smoke_detector', building: '3号楼', disabled: false });
  });

  it('a workbook without a sites or devices sheet is a bad request', async () => {
    const res = await importXlsx(await workbook({ Sheet1: [['id'], ['x']] }));
    expect(res.json.error.code).toBe('GW_BAD_REQUEST');
  });
});

describe('dry run', () => {
  it('checks everything and writes nothing, issuing no secret', async () => {
    const before = await snapshot();
    const audited = async () => (await t.api('GET', '/api/v1/audit?limit=1000')).body.length as number;
    const auditBefore = await audited();
    const sites = await importCsv('sites', 'id,name,companyId\ndry-s1,试运行小区,co-a', { query: '&dryRun=true' });
    expect(sites.json).toMatchObject({ dryRun: true, sites: { created: 1, updated: 0 }, secrets: [] });
    const devices = await importCsv('devices', 'id,kind,siteId,location\ndry-d1,elevator,imp-s1,\nimp-lift-1,,,新位置', { query: '&dryRun=true' });
    expect(devices.json).toMatchObject({ dryRun: true, devices: { created: 1, updated: 1 }, secrets: [] });
    const wb = await workbook({ sites: [['id', 'name', 'companyId'], ['dry-s2', 'X', 'co-a']], devices: [['id', 'kind', 'siteId'], ['dry-d2', 'water_pump', 'dry-s2']] });
    expect((await importXlsx(wb, { query: '?dryRun=true' })).json).toMatchObject({ dryRun: true, sites: { created: 1 }, devices: { created: 1 }, secrets: [] });
    // and a bad row fails a dry run as it would the real one
    expect((await importCsv('devices', 'id,kind,siteId\ndry-d3,toaster,imp-s1', { query: '&dryRun=true' })).json.error.code).toBe('GW_IMPORT_INVALID');
    expect(await snapshot()).toEqual(before);
    expect(await audited()).toBe(auditBefore);
  });
});

describe('a property company', () => {
  it('imports for its own company only, and cannot probe another company\'s sites or devices', async () => {
    const before = await snapshot();
    const sites = await importCsv('sites', 'id,name,companyId\npa-s1,A新小区,co-a\npa-s2,别家小区,co-b\nsite-b,改名,co-b', { token: tokens['prop-a'] });
    expect(sites.json.error.code).toBe('GW_IMPORT_INVALID');
    expect(where(sites)).toEqual(['3:companyId', '4:id']);
    const devices = await importCsv('devices', [
      'id,kind,siteId',
      'pa-d1,smoke_detector,site-b', //     2: another company's site
      'pa-d2,smoke_detector,ghost-site', // 3: no such site
      'b-lift,elevator,site-a', //          4: another company's device
      'prop-b,elevator,site-a', //          5: an account
    ].join('\n'), { token: tokens['prop-a'] });
    expect(where(devices)).toEqual(['2:siteId', '3:siteId', '4:id', '5:id']);
    const [otherSite, noSite, otherDevice, account] = problems(devices);
    // the same answers as for what does not exist, or any id taken
    expect(otherSite!.message.replaceAll('site-b', 'X')).toBe(noSite!.message.replaceAll('ghost-site', 'X'));
    expect(otherDevice!.message.replaceAll('b-lift', 'X')).toBe(account!.message.replaceAll('prop-b', 'X'));
    expect(await snapshot()).toEqual(before);

    const good = await importCsv('sites', 'id,name,companyId\npa-s1,A新小区,co-a\nsite-a,阳光小区一期,co-a', { token: tokens['prop-a'] });
    expect(good.json).toMatchObject({ sites: { created: 1, updated: 1 } });
    const dev = await importCsv('devices', 'id,kind,siteId\npa-d1,elevator,pa-s1\na-pump,,site-a', { token: tokens['prop-a'] });
    expect(dev.json).toMatchObject({ devices: { created: 1, updated: 0, unchanged: 1 } });
    expect((await t.api('GET', '/api/v1/devices/pa-d1', undefined, tokens['prop-b'])).status).toBe(404);
    expect((await t.api('GET', '/api/v1/sites/site-a')).body.name).toBe('阳光小区一期');
  });
});

describe('export', () => {
  it('CSV: a BOM, bilingual headers, an attachment, only what the caller may see, no secrets', async () => {
    const sites = await send('GET', `${EXPORT}?format=csv&entity=sites`);
    expect(sites.status).toBe(200);
    expect(sites.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(sites.headers.get('content-disposition')).toMatch(/^attachment; filename="sites-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect([...sites.buffer.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(sites.text.slice(1).split('\r\n')[0]).toBe('编号 id,名称 name,物业公司编号 companyId,地址 address,街道 street,社区 community,网格 grid,城乡 area');
    expect(sites.text).toContain('site-b');

    const own = await send('GET', `${EXPORT}?format=csv&entity=devices`, { token: tokens['prop-a'] });
    expect(own.status).toBe(200);
    const ids = own.text.slice(1).trim().split('\r\n').slice(1).map((l) => l.split(',')[0]);
    expect(ids).toContain('a-lift');
    expect(ids).toContain('pa-d1');
    expect(ids).not.toContain('b-lift');
    expect(own.text).not.toMatch(/sha256|scrypt|secret/i);
    // text that Excel would take for a formula is guarded
    expect(own.text).toContain("'-1层 水泵房");
  });

  it('XLSX: sheets 小区 and 设备, the header row bold and frozen, scoped', async () => {
    const res = await send('GET', `${EXPORT}?format=xlsx`, { token: tokens['prop-b'] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(XLSX);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="registry-\d{4}-\d{2}-\d{2}\.xlsx"$/);
    const wb = await readWorkbook(res.buffer);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['小区', '设备']);
    const [sitesSheet, devicesSheet] = wb.worksheets;
    expect(sitesSheet!.getRow(1).getCell(1).value).toBe('编号 id');
    expect(sitesSheet!.getRow(1).font?.bold ?? sitesSheet!.getRow(1).getCell(1).font?.bold).toBe(true);
    expect(sitesSheet!.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    const column = (ws: ExcelJS.Worksheet) => (ws.getColumn(1).values as unknown[]).slice(2).filter(Boolean).sort();
    expect(column(sitesSheet!)).toEqual(['imp-s2', 'site-b']);
    expect(column(devicesSheet!)).toEqual(['b-lift']);
    expect(res.buffer.toString('latin1')).not.toMatch(/sha256/);
  });
});

describe('round trip', () => {
  it('an export imported unchanged succeeds and changes nothing', async () => {
    const before = await snapshot();
    const auditBefore = (await t.api('GET', '/api/v1/audit?limit=1000')).body.length;

    const xlsx = await send('GET', `${EXPORT}?format=xlsx`);
    const back = await importXlsx(xlsx.buffer);
    expect(back.status).toBe(200);
    expect(back.json).toMatchObject({ sites: { created: 0, updated: 0, unchanged: before.sites.length }, devices: { created: 0, updated: 0, unchanged: before.devices.length }, secrets: [] });

    for (const entity of ['sites', 'devices']) {
      const csv = await send('GET', `${EXPORT}?format=csv&entity=${entity}`);
      const res = await send('POST', `${IMPORT}?entity=${entity}`, { body: csv.buffer });
      expect(res.status).toBe(200);
      expect(res.json[entity]).toMatchObject({ created: 0, updated: 0 });
    }
    // a property company's own export too
    const own = await send('GET', `${EXPORT}?format=xlsx`, { token: tokens['prop-a'] });
    expect((await importXlsx(own.buffer, { token: tokens['prop-a'] })).json).toMatchObject({ sites: { created: 0, updated: 0 }, devices: { created: 0, updated: 0 } });

    expect(await snapshot()).toEqual(before);
    // only the four imports' own records: no entry was written
    expect((await t.api('GET', '/api/v1/audit?limit=1000')).body.length).toBe(auditBefore + 4);
  });
});

describe('the API document', () => {
  it('lists both routes under registry', async () => {
    const doc = (await t.api('GET', '/api/v1/openapi.json')).body;
    expect(doc.paths['/api/v1/registry/import'].post.tags).toEqual(['registry']);
    expect(doc.paths['/api/v1/registry/export'].get.tags).toEqual(['registry']);
  });
});

describe('size', () => {
  it('a body over 10 MB is refused with 413', async () => {
    const row = 'big-0000000000,water_pump,imp-s1,' + 'x'.repeat(150) + '\n';
    const body = 'id,kind,siteId,location\n' + row.repeat(Math.ceil((10 * 1024 * 1024) / row.length) + 10);
    expect(body.length).toBeGreaterThan(10 * 1024 * 1024);
    const res = await importCsv('devices', body);
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('GW_PAYLOAD_TOO_LARGE');
  });
});
