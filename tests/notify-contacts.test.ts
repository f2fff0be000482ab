/**
 * Notification contacts (SPEC 13): the schemas and the checks across fields, the contact book on a
 * real SQLite store (memory, duty order, audit with masked numbers, another node's change), and the
 * API on the real gateway: each party manages its own contacts and sees no one else's, an admin names
 * the party, bad input is refused with the field's path, and contacts outlive a restart; two cluster
 * nodes hear of each other's changes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../core/audit.js';
import { openDatabase, sqliteDatabase } from '../core/db/sqlite.js';
import type { Database } from '../core/db/store.js';
import {
  ContactBook, contactInputSchema, contactPatchSchema, contactProblems, isAlertTypePattern, type ContactInput, type KnownRobot,
} from '../notifications/contacts/index.js';
import { account } from './harness/alerts.js';
import { onPostgres, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { startRedis, type RedisHandle } from './harness/redis.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROBOTS: KnownRobot[] = [{ name: 'duty-wecom', kind: 'wecom' }, { name: 'duty-ding', kind: 'dingtalk' }];
const input = (fields: Record<string, unknown>): ContactInput => contactInputSchema.parse(fields);
const paths = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } }) => r.error?.issues.map((i) => i.path.join('.')) ?? [];

describe.skipIf(onPostgres())('the schemas', () => {
  it('keeps a phone as digits with its leading +, and refuses what is not one', () => {
    expect(input({ name: '张三', phone: '0755-1234 5678' }).phone).toBe('075512345678');
    expect(input({ name: '张三', phone: '+86 138 1234 5678' }).phone).toBe('+8613812345678');
    expect(input({ name: '张三', phone: '13812345678' }).phone).toBe('13812345678');
    for (const phone of ['12345', '2381234567', '138123456789', 'call me']) {
      expect(paths(contactInputSchema.safeParse({ name: '张三', phone })), phone).toEqual(['phone']);
    }
    expect(paths(contactInputSchema.safeParse({ name: '张三', email: 'not-an-address' }))).toEqual(['email']);
  });

  it('defaults robots and rules to none, and checks each rule', () => {
    expect(input({ name: '值班室' })).toMatchObject({ robots: [], rules: [] });
    expect(paths(contactInputSchema.safeParse({ name: '值班室', rules: [{ channels: [] }] }))).toEqual(['rules.0.channels']);
    expect(paths(contactInputSchema.safeParse({ name: '值班室', rules: [{ channels: ['sms', 'sms'] }] }))).toEqual(['rules.0.channels']);
    expect(paths(contactInputSchema.safeParse({ name: '值班室', rules: [{ channels: ['fax'] }] }))).toEqual(['rules.0.channels.0']);
    expect(paths(contactInputSchema.safeParse({ name: '值班室', rules: [{ channels: ['sms'], minSeverity: 'huge' }] }))).toEqual(['rules.0.minSeverity']);
  });

  it('takes alert types and prefixes of the catalogue, nothing else', () => {
    for (const t of ['elevator.trapped', 'elevator.*', 'fire.*', 'fire_water.*', 'water.*', 'device.*', 'device.offline']) expect(isAlertTypePattern(t), t).toBe(true);
    for (const t of ['elevator.nope', 'bogus.*', 'elevator', '*', 'elevator.trapped.*']) expect(isAlertTypePattern(t), t).toBe(false);
    const r = contactInputSchema.safeParse({ name: '张三', rules: [{ channels: ['email'], types: ['elevator.*', 'elevator.nope'] }] });
    expect(paths(r)).toEqual(['rules.0.types.1']);
    expect(r.error?.issues[0]?.message).toMatch(/^须为告警类型.* \/ must be an alert type/);
  });

  it('quiet hours are HH:MM, may wrap midnight, and do not start where they end', () => {
    expect(input({ name: '张三', quietHours: { from: '22:00', to: '07:00' } }).quietHours).toEqual({ from: '22:00', to: '07:00' });
    expect(paths(contactInputSchema.safeParse({ name: '张三', quietHours: { from: '24:00', to: '07:00' } }))).toEqual(['quietHours.from']);
    expect(paths(contactInputSchema.safeParse({ name: '张三', quietHours: { from: '7:00', to: '22:00' } }))).toEqual(['quietHours.from']);
    expect(paths(contactInputSchema.safeParse({ name: '张三', quietHours: { from: '08:00', to: '08:00' } }))).toEqual(['quietHours.to']);
  });

  it('onCall is 1-20; a patch may remove optional fields with null', () => {
    expect(paths(contactInputSchema.safeParse({ name: '张三', onCall: 0 }))).toEqual(['onCall']);
    expect(paths(contactInputSchema.safeParse({ name: '张三', onCall: 21 }))).toEqual(['onCall']);
    expect(contactPatchSchema.parse({ phone: null, onCall: null, quietHours: null })).toEqual({ phone: null, onCall: null, quietHours: null });
    expect(contactPatchSchema.parse({})).toEqual({});
  });

  it('each channel needs its address, each robot must be configured, and on call needs a phone', () => {
    const check = (fields: Record<string, unknown>) => contactProblems(input({ name: '张三', ...fields }), ROBOTS).map((p) => p.path);
    expect(check({ rules: [{ channels: ['sms'] }] })).toEqual(['rules.0.channels']);
    expect(check({ phone: '0755-12345678', rules: [{ channels: ['sms'] }] })).toEqual(['rules.0.channels']); // a landline takes no SMS
    expect(check({ phone: '0755-12345678', rules: [{ channels: ['voice'] }] })).toEqual([]);
    expect(check({ rules: [{ channels: ['voice'] }, { channels: ['email'] }] })).toEqual(['rules.0.channels', 'rules.1.channels']);
    expect(check({ robots: ['duty-wecom'], rules: [{ channels: ['dingtalk'] }] })).toEqual(['rules.0.channels']);
    expect(check({ robots: ['duty-wecom', 'duty-ding'], rules: [{ channels: ['dingtalk', 'wecom'] }] })).toEqual([]);
    expect(check({ robots: ['duty-wecom', 'ghost'], rules: [{ channels: ['wecom'] }] })).toEqual(['robots.1']);
    expect(check({ onCall: 1 })).toEqual(['onCall']);
    expect(check({ phone: '13812345678', email: 'a@example.com', onCall: 1, rules: [{ channels: ['sms', 'voice', 'email'] }] })).toEqual([]);
  });
});

describe.skipIf(onPostgres())('the contact book on SQLite', () => {
  let dir: string;
  let db: Database;
  let audit: AuditLog;
  let now = 1_000;
  const open = () => ContactBook.open({ db, audit, now: () => now, robots: () => ROBOTS });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'contacts-'));
    db = sqliteDatabase(openDatabase(dir, 'x.sqlite'));
    audit = await AuditLog.open(db);
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps each party\'s enabled contacts in duty order, frozen, and audits with masked numbers', async () => {
    const book = await open();
    const add = (party: string, fields: Record<string, unknown>) => book.create('prop-a', party, input({ name: 'x', ...fields }));
    const wang = add('property/co-a', { name: '王五', phone: '13800000003', onCall: 2, rules: [{ channels: ['sms'] }] });
    const zhang = add('property/co-a', { name: '张三', phone: '+8613812345678', email: 'zhang@example.com', onCall: 1, rules: [{ channels: ['sms', 'email'] }] });
    const desk = add('property/co-a', { name: '值班室', robots: ['duty-wecom'], rules: [{ channels: ['wecom'], types: ['elevator.*'] }] });
    const off = add('property/co-a', { name: '停用', disabled: true });
    add('property/co-b', { name: '乙物业值班' });
    expect(zhang.id).toMatch(/^c-[0-9a-f]{12}$/);
    expect(book.forParty('property/co-a').map((c) => c.name)).toEqual(['张三', '王五', '值班室']);
    expect(book.forParty('property/co-none')).toEqual([]);
    // disabled ones too, in the same order: on call first, then by name (停用 tíng before 值班室 zhí)
    expect(book.list('property/co-a').map((c) => c.id)).toEqual([zhang.id, wang.id, off.id, desk.id]);
    expect(book.list().map((c) => c.party)).toEqual(['property/co-a', 'property/co-a', 'property/co-a', 'property/co-a', 'property/co-b']);
    expect(Object.isFrozen(book.get(zhang.id)) && Object.isFrozen(book.get(zhang.id)!.rules[0]!.channels)).toBe(true);

    const entry = (await audit.list({ target: `contact:${zhang.id}`, limit: 5 }))[0]!;
    expect(entry).toMatchObject({ actor: 'prop-a', action: 'notification.contact.create', detail: { party: 'property/co-a', name: '张三', phone: '+86 138****5678', email: 'z***@example.com' } });
    expect(JSON.stringify(entry)).not.toContain('13812345678');
  });

  it('a change is checked whole: removing the phone of a contact with SMS is refused, the party never changes', async () => {
    const book = await open();
    const zhang = book.list('property/co-a').find((c) => c.name === '张三')!;
    expect(() => book.update('prop-a', zhang.id, { phone: null })).toThrow(expect.objectContaining({ code: 'GW_BAD_REQUEST', details: [expect.objectContaining({ path: 'rules.0.channels' }), expect.objectContaining({ path: 'onCall' })] }));
    expect(() => book.update('prop-a', zhang.id, { party: 'property/co-b' })).toThrow(expect.objectContaining({ details: [expect.objectContaining({ path: 'party' })] }));
    now = 2_000;
    const changed = book.update('prop-a', zhang.id, { party: 'property/co-a', onCall: null, rules: [{ channels: ['email'] }], phone: null, quietHours: { from: '22:00', to: '07:00' } });
    expect(changed).toMatchObject({ id: zhang.id, party: 'property/co-a', name: '张三', email: 'zhang@example.com', rules: [{ channels: ['email'] }], quietHours: { from: '22:00', to: '07:00' }, createdAt: 1_000, updatedAt: 2_000 });
    expect(changed).not.toHaveProperty('phone');
    expect(changed).not.toHaveProperty('onCall');
    expect(book.forParty('property/co-a').map((c) => c.name)).toEqual(['王五', '张三', '值班室']); // by name once off call: zhāng before zhí
    const entry = (await audit.list({ target: `contact:${zhang.id}`, limit: 1 }))[0]!;
    expect(entry).toMatchObject({ action: 'notification.contact.update', detail: { party: 'property/co-a', changes: { phone: null, onCall: null } } });
  });

  it('reads what another node changed, and what is stored after a reopen', async () => {
    const here = await open();
    const there = await open(); // another node on the same store
    const added = there.create('admin', 'fire-service', input({ name: '消防值班', phone: '0755-88880000' }));
    expect(here.get(added.id)).toBeUndefined();
    await here.refresh([added.id]);
    expect(here.forParty('fire-service').map((c) => c.name)).toEqual(['消防值班']);
    there.remove('admin', added.id);
    await here.refresh([added.id]);
    expect(here.get(added.id)).toBeUndefined();
    expect(here.forParty('fire-service')).toEqual([]);
    const reopened = await open();
    expect(reopened.list().map((c) => c.name)).toEqual(here.list().map((c) => c.name));
    expect((await audit.list({ target: `contact:${added.id}`, limit: 1 }))[0]).toMatchObject({ action: 'notification.contact.delete', detail: { name: '消防值班' } });
  });
});

describe('the contacts API', () => {
  let t: TestGateway;
  const tok = {} as Record<'a' | 'b' | 'unit' | 'community' | 'fire', string>;
  const api = (method: string, path: string, body?: unknown, token?: string) => t.api<Json>(method, `/api/v1${path}`, body, token);
  let zhangId: string;

  beforeAll(async () => {
    t = await startTestGateway({
      notifications: {
        channels: {
          robots: {
            'duty-wecom': { kind: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=test-key' },
            'duty-ding': { kind: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=test-token' },
          },
        },
      },
    });
    for (const [id, name] of [['co-a', '甲物业'], ['co-b', '乙物业']]) expect((await api('POST', '/companies', { id, name })).status).toBe(201);
    expect((await api('POST', '/maintenance-units', { id: 'unit-x', name: '东方电梯维保', phone: '400-800-1234' })).status).toBe(201);
    tok.a = await account(t, 'prop-a', 'property', 'co-a');
    tok.b = await account(t, 'prop-b', 'property', 'co-b');
    tok.unit = await account(t, 'maint-x', 'maintenance', 'unit-x');
    tok.community = await account(t, 'community-hp', 'community', '湖畔社区');
    tok.fire = await account(t, 'fire-1', 'fire-service');
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('a property company adds, reads, changes and lists its own contacts, with its name', async () => {
    const created = await api('POST', '/contacts', {
      name: '张三', phone: '138 1234 5678', email: 'zhang@example.com', robots: ['duty-wecom'], onCall: 1,
      rules: [{ channels: ['sms', 'wecom'], types: ['elevator.*'], minSeverity: 'major' }, { channels: ['email'] }],
      quietHours: { from: '22:00', to: '07:00' },
    }, tok.a);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ party: 'property/co-a', partyName: '甲物业', name: '张三', phone: '13812345678', disabled: false });
    zhangId = created.body.id;
    expect((await api('GET', `/contacts/${zhangId}`, undefined, tok.a)).body).toMatchObject({ id: zhangId, onCall: 1, robots: ['duty-wecom'] });

    const changed = await api('PATCH', `/contacts/${zhangId}`, { quietHours: null, rules: [{ channels: ['voice'] }] }, tok.a);
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ rules: [{ channels: ['voice'] }] });
    expect(changed.body).not.toHaveProperty('quietHours');

    expect((await api('POST', '/contacts', { party: 'property/co-a', name: '值班室', robots: ['duty-ding'], rules: [{ channels: ['dingtalk'] }] }, tok.a)).status).toBe(201);
    const list = await api('GET', '/contacts', undefined, tok.a);
    expect(list.body).toMatchObject({ total: 2, items: [{ id: zhangId, partyName: '甲物业' }, { name: '值班室' }] });
  });

  it('another party sees none of them: 404 on the id, not in its list; it cannot add to another party', async () => {
    for (const [method, body] of [['GET', undefined], ['PATCH', { name: '李四' }], ['DELETE', undefined]] as const) {
      const res = await api(method, `/contacts/${zhangId}`, body, tok.b);
      expect(res.status, method).toBe(404);
      expect(res.body.error.code).toBe('GW_NOT_FOUND');
      expect((await api(method, '/contacts/c-000000000000', body, tok.b)).status).toBe(404);
    }
    expect((await api('GET', '/contacts', undefined, tok.b)).body).toEqual({ items: [], total: 0 });
    expect((await api('GET', '/contacts?party=property/co-a', undefined, tok.b)).body).toEqual({ items: [], total: 0 });
    const foreign = await api('POST', '/contacts', { party: 'property/co-a', name: '李四' }, tok.b);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.details).toEqual([expect.objectContaining({ path: 'party' })]);
    expect((await api('GET', `/contacts/${zhangId}`, undefined, tok.a)).body.name).toBe('张三');
  });

  it('a maintenance unit and an authority keep their own; a community has none (403), and 404 on an id', async () => {
    const unit = await api('POST', '/contacts', { name: '维保值班', phone: '0755-12345678', onCall: 1, rules: [{ channels: ['voice'], types: ['elevator.trapped'] }] }, tok.unit);
    expect(unit.body).toMatchObject({ party: 'maintenance/unit-x', partyName: '东方电梯维保', phone: '075512345678' });
    expect((await api('POST', '/contacts', { name: '消防值班', email: 'duty@fire.example.cn', rules: [{ channels: ['email'], types: ['fire.*'] }] }, tok.fire)).body.party).toBe('fire-service');
    expect((await api('GET', '/contacts', undefined, tok.community)).status).toBe(403);
    expect((await api('POST', '/contacts', { name: '社区' }, tok.community)).body.error.code).toBe('GW_FORBIDDEN');
    expect((await api('GET', `/contacts/${zhangId}`, undefined, tok.community)).status).toBe(404);
    expect((await api('GET', `/contacts/${unit.body.id}`, undefined, tok.a)).status).toBe(404);
  });

  it('an admin sees every party, filters by one, and must name the party', async () => {
    const all = await api('GET', '/contacts');
    expect(all.body.items.map((c: Json) => c.party)).toEqual(['fire-service', 'maintenance/unit-x', 'property/co-a', 'property/co-a']);
    expect((await api('GET', '/contacts?party=maintenance/unit-x')).body.items.map((c: Json) => c.name)).toEqual(['维保值班']);
    expect((await api('GET', '/contacts?party=nowhere')).body.error.details[0].path).toBe('querystring.party');
    const unnamed = await api('POST', '/contacts', { name: '王五' });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.error.details).toEqual([expect.objectContaining({ path: 'party' })]);
    expect((await api('POST', '/contacts', { party: 'property/co-none', name: '王五' })).body.error.details).toEqual([expect.objectContaining({ path: 'party' })]);
    const added = await api('POST', '/contacts', { party: 'property/co-b', name: '乙物业值班', phone: '13900000000', rules: [{ channels: ['sms'] }] });
    expect(added.body).toMatchObject({ party: 'property/co-b', partyName: '乙物业' });
    expect((await api('GET', `/contacts/${added.body.id}`, undefined, tok.b)).status).toBe(200);
    expect((await api('DELETE', `/contacts/${added.body.id}`)).status).toBe(204);
    expect((await api('GET', `/contacts/${added.body.id}`, undefined, tok.b)).status).toBe(404);
  });

  it('refuses bad input with the field\'s path', async () => {
    const refused = async (body: Json, path: string) => {
      const res = await api('POST', '/contacts', { name: '张三', ...body }, tok.a);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('GW_BAD_REQUEST');
      expect(res.body.error.details.map((d: Json) => d.path), JSON.stringify(body)).toContain(path);
    };
    await refused({ rules: [{ channels: ['sms'] }] }, 'rules.0.channels');
    await refused({ robots: ['ghost'], rules: [{ channels: ['wecom'] }] }, 'robots.0');
    await refused({ quietHours: { from: '22:00', to: '25:00' } }, 'body.quietHours.to');
    await refused({ quietHours: { from: '22:00', to: '22:00' } }, 'body.quietHours.to');
    await refused({ rules: [{ channels: ['email'], types: ['elevator.nope'] }], email: 'a@example.com' }, 'body.rules.0.types.0');
    await refused({ phone: '12345' }, 'body.phone');
    await refused({ onCall: 1 }, 'onCall');
    const patch = await api('PATCH', `/contacts/${zhangId}`, { phone: null }, tok.a);
    expect(patch.body.error.details.map((d: Json) => d.path)).toEqual(['rules.0.channels', 'onCall']);
    const move = await api('PATCH', `/contacts/${zhangId}`, { party: 'property/co-b' }, tok.a);
    expect(move.body.error.details).toEqual([expect.objectContaining({ path: 'party' })]);
  });

  it('audits each change with the phone and e-mail masked', async () => {
    const entries = (await api('GET', `/audit?target=contact:${zhangId}`)).body as Json[];
    expect(entries.map((e) => e.action)).toEqual(['notification.contact.update', 'notification.contact.create']);
    expect(entries[1]).toMatchObject({ actor: 'prop-a', detail: { party: 'property/co-a', phone: '138****5678', email: 'z***@example.com' } });
    expect(JSON.stringify(entries)).not.toMatch(/13812345678|zhang@/);
  });

  it('is described in the OpenAPI document under notifications', async () => {
    const doc = (await api('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/contacts', '/api/v1/contacts/{id}']));
    expect(doc.paths['/api/v1/contacts'].post.tags).toEqual(['notifications']);
    expect(Object.keys(doc.paths['/api/v1/contacts'].post.requestBody.content['application/json'].schema.properties)).toContain('quietHours');
  });

  it('keeps the contacts over a restart', async () => {
    const before = (await api('GET', '/contacts')).body;
    await t.stop();
    await t.restart();
    expect((await api('GET', '/contacts')).body).toEqual(before);
    expect((await api('GET', `/contacts/${zhangId}`, undefined, tok.a)).body).toMatchObject({ name: '张三', phone: '13812345678', onCall: 1 });
  });
});

// two nodes of their own on one PostgreSQL and Redis: once, from the SQLite project (the postgres
// project's gateways are single nodes of a cluster already)
describe.skipIf(onPostgres())('cluster mode: two nodes', () => {
  let pgServer: PostgresHandle;
  let redis: RedisHandle;
  let a: TestGateway;
  let b: TestGateway;
  const node = (nodeId: string) => startTestGateway({ cluster: { databaseUrl: pgServer.url, redisUrl: redis.url, nodeId } });

  beforeAll(async () => {
    [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
    a = await node('node-a');
    b = await node('node-b');
  });
  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await redis?.stop();
    await pgServer?.stop();
  });

  it('a contact added on one node is read, changed and removed on the other', async () => {
    expect((await a.api('POST', '/api/v1/companies', { id: 'co-a', name: '甲物业' })).status).toBe(201);
    const prop = await account(a, 'prop-a', 'property', 'co-a');
    await waitFor(() => b.gw.registry.getAccount('prop-a') !== undefined, 5000, 10);
    const created = await a.api<Json>('POST', '/api/v1/contacts', { name: '张三', phone: '13812345678', rules: [{ channels: ['sms'] }] }, prop);
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // B answers from its memory: it holds the contact once A's notice reached it
    const onB = await waitFor(async () => {
      const res = await b.api<Json>('GET', `/api/v1/contacts/${id}`, undefined, prop);
      return res.status === 200 ? res.body : undefined;
    }, 5000, 20);
    expect(onB).toMatchObject({ name: '张三', partyName: '甲物业' });
    expect((await b.api('PATCH', `/api/v1/contacts/${id}`, { name: '张三（夜班）' }, prop)).status).toBe(200);
    await waitFor(async () => (await a.api<Json>('GET', `/api/v1/contacts/${id}`, undefined, prop)).body.name === '张三（夜班）', 5000, 20);
    expect((await a.api('DELETE', `/api/v1/contacts/${id}`, undefined, prop)).status).toBe(204);
    await waitFor(async () => (await b.api('GET', `/api/v1/contacts/${id}`, undefined, prop)).status === 404, 5000, 20);
    expect((await b.api<Json>('GET', '/api/v1/contacts', undefined, prop)).body).toEqual({ items: [], total: 0 });
  });
});
