/**
 * Rectification orders (整改通知) against the real gateway on a manual clock: the loop issue →
 * reply with attachments → return (复查不合格) → reply → close (销号), who may issue to whom and
 * what each party may do, attachments checked by size and by their own bytes, the deadline and
 * its escalation (community → street → city), referral (移交), the ledger's filters and export,
 * the orders moving with a site's handover, a restart, and two cluster nodes hearing of each
 * other's changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestGateway } from './harness/gateway.js';
import { account, startAlertGateway, type ManualClock } from './harness/alerts.js';
import { ADMIN_TOKEN, onPostgres, registerDevice, startTestGateway, waitFor } from './harness/gateway.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { startRedis, type RedisHandle } from './harness/redis.js';

let t: TestGateway;
let clock: ManualClock;
/** Tokens of the accounts the tests act as. */
const tok = {} as Record<'street' | 'street2' | 'streetBs' | 'community' | 'ms' | 'fire' | 'a' | 'b' | 'unit', string>;
/** The photo the first reply used: no other reply may use it again. */
let usedPhoto: number;

/** 2025-06-02T00:00Z, the clock's start, is 08:00 on 2 June in Asia/Shanghai (the default zone). */
const SHANGHAI = 8 * 3_600_000;
const endOfDay = (date: string) => Date.parse(`${date}T00:00:00Z`) - SHANGHAI + 86_400_000 - 1;

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('IHDR fake image body')]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'latin1');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function upload(token: string, body: Buffer, type: string, name?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.httpUrl}/api/v1/attachments${name === undefined ? '' : `?name=${encodeURIComponent(name)}`}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body: new Uint8Array(body),
  });
  return { status: res.status, body: await res.json() as Json };
}

const issue = (token: string, body: Json) => t.api('POST', '/api/v1/orders', body, token);
const act = (token: string, id: number, action: string, body: Json) => t.api('POST', `/api/v1/orders/${id}/${action}`, body, token);
const get = (token: string, id: number) => t.api('GET', `/api/v1/orders/${id}`, undefined, token);
const attachmentFiles = () => readdirSync(join(t.dataDir, 'attachments')).sort();

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway({ supervision: { orders: { attachmentMaxBytes: 4096 } } }));
  for (const [id, name] of [['co-a', '甲物业'], ['co-b', '乙物业'], ['co-c', '丙物业']]) {
    expect((await t.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
  }
  expect((await t.api('POST', '/api/v1/maintenance-units', { id: 'unit-x', name: '东方电梯维保', phone: '400-800-1234' })).status).toBe(201);
  const site = async (id: string, name: string, companyId: string, street: string, community: string) =>
    expect((await t.api('POST', '/api/v1/sites', { id, name, companyId, street, community })).status).toBe(201);
  await site('site-lake', '湖畔小区', 'co-a', '南山街道', '湖畔社区');
  await site('site-peach', '桃园小区', 'co-b', '南山街道', '桃园社区');
  await site('site-bay', '宝湾小区', 'co-c', '宝山街道', '宝湾社区');
  await registerDevice(t, { id: 'lift-lake-1', kind: 'elevator', siteId: 'site-lake', maintenanceUnitId: 'unit-x', location: '1号楼' });
  await registerDevice(t, { id: 'smoke-lake-1', kind: 'smoke_detector', siteId: 'site-lake', location: '1号楼' });
  await registerDevice(t, { id: 'smoke-bay-1', kind: 'smoke_detector', siteId: 'site-bay' });
  tok.street = await account(t, 'street-ns', 'street', '南山街道');
  tok.street2 = await account(t, 'street-ns-2', 'street', '南山街道');
  tok.streetBs = await account(t, 'street-bs', 'street', '宝山街道');
  tok.community = await account(t, 'community-hp', 'community', '湖畔社区');
  tok.ms = await account(t, 'ms-1', 'market-supervision');
  tok.fire = await account(t, 'fire-1', 'fire-service');
  tok.a = await account(t, 'prop-a', 'property', 'co-a');
  tok.b = await account(t, 'prop-b', 'property', 'co-b');
  tok.unit = await account(t, 'maint-x', 'maintenance', 'unit-x');
});

afterAll(async () => {
  await t?.dispose();
});

describe('the loop: issue → reply → return → reply → close', () => {
  let id: number;

  it('a street issues an order to a company of its area, with names next to the ids and the end of the day as deadline', async () => {
    const res = await issue(tok.street, {
      targetType: 'company', targetId: 'co-a', siteId: 'site-lake', title: '消防通道堆物', description: '1号楼消防通道堆放杂物，限期清理', dueAt: '2025-06-10',
    });
    expect(res.status).toBe(201);
    id = res.body.id;
    expect(res.body).toMatchObject({
      targetType: 'company', targetId: 'co-a', targetName: '甲物业', siteId: 'site-lake', siteName: '湖畔小区', state: 'issued', overdue: false,
      issuer: 'street:南山街道', issuerLabel: '南山街道（街道 / street）', supervising: 'street:南山街道', issuedBy: 'street-ns',
      dueAt: endOfDay('2025-06-10'), issuedAt: clock.now(), escalatedTo: [], allowedActions: ['refer'],
    });
    expect(res.body).not.toHaveProperty('parties');
    // the target reads it and may reply; another company does not see it at all
    expect((await get(tok.a, id)).body.allowedActions).toEqual(['reply']);
    expect((await get(tok.b, id)).body.error.code).toBe('ORDER_NOT_FOUND');
  });

  it('the target replies with a PNG and a PDF it uploaded; another account of the street returns it; the target replies again; the street closes it', async () => {
    const png = await upload(tok.a, PNG, 'image/png', '../../现场照片.png');
    expect(png).toMatchObject({ status: 201, body: { name: '现场照片.png', type: 'image/png', size: PNG.length } });
    const pdf = await upload(tok.a, PDF, 'application/pdf', '整改报告');
    expect(pdf).toMatchObject({ status: 201, body: { name: '整改报告.pdf', type: 'application/pdf', size: PDF.length } });
    expect(Object.keys(png.body).sort()).toEqual(['id', 'name', 'size', 'type']);
    usedPhoto = png.body.id;

    clock.advance(3_600_000);
    const replied = await act(tok.a, id, 'reply', { note: '已清理完毕', attachments: [png.body.id, pdf.body.id] });
    expect(replied.status).toBe(200);
    expect(replied.body).toMatchObject({ state: 'replied', repliedAt: clock.now(), overdue: false });
    // a second reply waits for the street's verdict
    const again = await act(tok.a, id, 'reply', { note: 'x', attachments: [png.body.id] });
    expect(again.body.error.code).toBe('ORDER_INVALID_TRANSITION');

    clock.advance(60_000);
    const returned = await act(tok.street2, id, 'return', { note: '复查发现仍有堆物' });
    expect(returned.body).toMatchObject({ state: 'returned' });

    clock.advance(60_000);
    expect((await act(tok.a, id, 'reply', { note: '已彻底清理' })).body.state).toBe('replied');
    clock.advance(60_000);
    const closed = await act(tok.street, id, 'close', { note: '复查合格，销号' });
    expect(closed.body).toMatchObject({ state: 'closed', closedAt: clock.now(), allowedActions: [] });

    const detail = (await get(tok.a, id)).body;
    expect(detail.history.map((h: Json) => [h.action, h.actor, h.note])).toEqual([
      ['issued', 'street-ns', null],
      ['replied', 'prop-a', '已清理完毕'],
      ['returned', 'street-ns-2', '复查发现仍有堆物'],
      ['replied', 'prop-a', '已彻底清理'],
      ['closed', 'street-ns', '复查合格，销号'],
    ]);
    expect(detail.history[1].attachments).toEqual([
      { id: png.body.id, name: '现场照片.png', type: 'image/png', size: PNG.length },
      { id: pdf.body.id, name: '整改报告.pdf', type: 'application/pdf', size: PDF.length },
    ]);
    expect(detail.history.map((h: Json) => h.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(detail.history[2].party).toBe('南山街道（街道 / street）');

    // the files: for the street and the target, as stored, never sniffed, offered as a download
    for (const token of [tok.street, tok.a]) {
      const res = await fetch(`${t.httpUrl}/api/v1/attachments/${png.body.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="____.png"; filename*=UTF-8''${encodeURIComponent('现场照片.png')}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(PNG)).toBe(true);
    }
    // another company and another street: as if it did not exist
    for (const token of [tok.b, tok.streetBs]) {
      const res = await fetch(`${t.httpUrl}/api/v1/attachments/${pdf.body.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(404);
      expect(((await res.json()) as Json).error.code).toBe('ATTACHMENT_NOT_FOUND');
    }
    const audit = (await t.api('GET', `/api/v1/audit?target=order:${id}`)).body as Json[];
    expect(audit.map((e) => e.action).reverse()).toEqual(['order.issue', 'order.reply', 'order.reply.refused', 'order.return', 'order.reply', 'order.close']);
  });
});

describe('who may issue to whom, and who may act', () => {
  const base = { title: '检查', description: '请整改', dueAt: '2025-07-01' };
  let id: number;

  it('a target, site or device outside the issuer\'s scope is 404 as if it did not exist; one of another target is 400', async () => {
    // 丙物业 runs a site in 宝山街道 only
    let res = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-c' });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'ORDER_REFERENCE_NOT_FOUND', details: [{ path: 'targetId' }] });
    const missing = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-none' });
    expect(missing.body.error.code).toBe(res.body.error.code);
    res = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a', siteId: 'site-bay' });
    expect(res.body.error).toMatchObject({ code: 'ORDER_REFERENCE_NOT_FOUND', details: [{ path: 'siteId' }] });
    res = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a', deviceId: 'smoke-bay-1' });
    expect(res.body.error).toMatchObject({ code: 'ORDER_REFERENCE_NOT_FOUND', details: [{ path: 'deviceId' }] });
    res = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a', alertId: 999 });
    expect(res.body.error).toMatchObject({ code: 'ORDER_REFERENCE_NOT_FOUND', details: [{ path: 'alertId' }] });
    // in its area, but 桃园小区 is 乙物业's
    res = await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a', siteId: 'site-peach' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'siteId' }] });
    // the unit maintains the lift of 湖畔小区, not its smoke detector
    res = await issue(tok.street, { ...base, targetType: 'maintenance-unit', targetId: 'unit-x', deviceId: 'smoke-lake-1' });
    expect(res.body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'deviceId' }] });
  });

  it('the fire service issues to companies only; property and maintenance accounts issue nothing', async () => {
    let res = await issue(tok.fire, { ...base, targetType: 'maintenance-unit', targetId: 'unit-x' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ORDER_TARGET_FORBIDDEN');
    expect(res.body.error.message).toMatch(/^消防救援机构只向物业服务企业下发整改通知/);
    res = await issue(tok.fire, { ...base, targetType: 'company', targetId: 'co-c', deviceId: 'smoke-bay-1' });
    expect(res.body).toMatchObject({ targetName: '丙物业', siteId: 'site-bay', siteName: '宝湾小区', deviceId: 'smoke-bay-1', issuerLabel: '消防救援机构 / Fire service' });
    for (const token of [tok.a, tok.unit]) {
      res = await issue(token, { ...base, targetType: 'company', targetId: 'co-a' });
      expect(res.body.error.code).toBe('ORDER_FORBIDDEN');
    }
    // market supervision: any maintenance unit, with the elevator naming its site
    res = await issue(tok.ms, { ...base, targetType: 'maintenance-unit', targetId: 'unit-x', deviceId: 'lift-lake-1' });
    expect(res.body).toMatchObject({ targetName: '东方电梯维保', siteId: 'site-lake', deviceLabel: '电梯 1号楼', domain: 'elevator' });
  });

  it('offers each issuer the targets it may name, by name, with their sites', async () => {
    const targets = async (token: string) => (await t.api('GET', '/api/v1/orders/targets', undefined, token)).body.targets as Json[];
    const brief = (list: Json[]) => list.map((x) => [x.targetType, x.targetId, x.name, x.sites.map((s: Json) => s.id)]);
    expect(brief(await targets(tok.street))).toEqual([
      ['company', 'co-a', '甲物业', ['site-lake']], ['company', 'co-b', '乙物业', ['site-peach']], ['maintenance-unit', 'unit-x', '东方电梯维保', ['site-lake']],
    ]);
    // the fire service: companies only (by their names' pinyin: bing, jia, yi), and the sites with fire equipment
    expect(brief(await targets(tok.fire))).toEqual([
      ['company', 'co-c', '丙物业', ['site-bay']], ['company', 'co-a', '甲物业', ['site-lake']], ['company', 'co-b', '乙物业', []],
    ]);
    expect(await targets(tok.a)).toEqual([]);
    // and nobody but a target uploads files
    const refused = await upload(tok.street, PNG, 'image/png', 'x.png');
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'ORDER_FORBIDDEN' } } });
  });

  it('only the target replies; only the supervising party returns or closes', async () => {
    id = (await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a', siteId: 'site-lake' })).body.id;
    // another company and a maintenance unit cannot see it; the street and the community can, but are not the target
    expect((await act(tok.b, id, 'reply', { note: 'x' })).body.error.code).toBe('ORDER_NOT_FOUND');
    expect((await act(tok.unit, id, 'reply', { note: 'x' })).body.error.code).toBe('ORDER_NOT_FOUND');
    expect((await act(tok.street, id, 'reply', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    expect((await act(tok.community, id, 'reply', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    // not replied yet: nothing to return or close
    expect((await act(tok.street, id, 'close', { note: 'x' })).body.error).toMatchObject({ code: 'ORDER_INVALID_TRANSITION', details: { state: 'issued' } });
    expect((await act(tok.a, id, 'reply', { note: '已整改' })).status).toBe(200);
    // the target may not judge its own work; another street does not see the order; the community sees but does not supervise
    expect((await act(tok.a, id, 'return', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    expect((await act(tok.streetBs, id, 'close', { note: 'x' })).body.error.code).toBe('ORDER_NOT_FOUND');
    expect((await act(tok.community, id, 'close', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    // nor does an admin that did not issue it
    expect((await act(ADMIN_TOKEN, id, 'close', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    expect((await get(tok.a, id)).body.state).toBe('replied');
    const refused = ((await t.api('GET', `/api/v1/audit?target=order:${id}`)).body as Json[]).filter((e) => e.action.endsWith('.refused'));
    expect(refused.map((e) => [e.action, e.detail.code]).reverse()).toEqual([
      ['order.reply.refused', 'ORDER_FORBIDDEN'], ['order.reply.refused', 'ORDER_FORBIDDEN'], ['order.close.refused', 'ORDER_INVALID_TRANSITION'],
      ['order.return.refused', 'ORDER_FORBIDDEN'], ['order.close.refused', 'ORDER_FORBIDDEN'], ['order.close.refused', 'ORDER_FORBIDDEN'],
    ]);
  });

  it('a reply may use only attachments of its own party', async () => {
    const other = await upload(tok.b, PNG, 'image/png', 'b.png');
    const res = await act(tok.a, id, 'reply', { note: 'x', attachments: [other.body.id] });
    expect(res.status).toBe(409); // replied already: the state is checked first
    const fresh = (await issue(tok.street, { ...base, targetType: 'company', targetId: 'co-a' })).body.id;
    const refused = await act(tok.a, fresh, 'reply', { note: 'x', attachments: [other.body.id] });
    expect(refused.body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'attachments.0' }] });
    const reused = await act(tok.a, fresh, 'reply', { note: 'x', attachments: [usedPhoto] });
    expect(reused.body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'attachments.0' }] });
    expect((await get(tok.a, fresh)).body.state).toBe('issued');
  });
});

describe('attachments', () => {
  it('over the cap is 413, an HTML file declared image/png or an undeclared type is 415, and nothing is stored', async () => {
    const before = attachmentFiles();
    const big = Buffer.concat([PNG, Buffer.alloc(4096)]);
    const tooLarge = await upload(tok.a, big, 'image/png', 'big.png');
    expect(tooLarge).toMatchObject({ status: 413, body: { error: { code: 'ATTACHMENT_TOO_LARGE' } } });
    const html = await upload(tok.a, Buffer.from('<html><script>alert(1)</script></html>'), 'image/png', 'x.png');
    expect(html).toMatchObject({ status: 415, body: { error: { code: 'ATTACHMENT_UNSUPPORTED_TYPE' } } });
    const declared = await upload(tok.a, Buffer.from('<html></html>'), 'text/html', 'x.html');
    expect(declared).toMatchObject({ status: 415, body: { error: { code: 'ATTACHMENT_UNSUPPORTED_TYPE' } } });
    expect(attachmentFiles()).toEqual(before);
    // a JPEG passes; the name keeps to its type
    const jpeg = await upload(tok.a, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 'image/jpeg', 'photo.html');
    expect(jpeg).toMatchObject({ status: 201, body: { name: 'photo.html.jpg' } });
    expect(attachmentFiles()).toHaveLength(before.length + 1);
    const refused = ((await t.api('GET', '/api/v1/audit?target=attachment:new')).body as Json[]).map((e) => e.detail.code);
    expect(refused.slice(0, 3).reverse()).toEqual(['ATTACHMENT_TOO_LARGE', 'ATTACHMENT_UNSUPPORTED_TYPE', 'ATTACHMENT_UNSUPPORTED_TYPE']);
  });
});

describe('attachments no reply used', () => {
  it('a party holds at most 100 of them', async () => {
    const token = await account(t, 'prop-c', 'property', 'co-c');
    for (let i = 0; i < 100; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => upload(token, PDF, 'application/pdf', `r${i + j}.pdf`)));
      expect(batch.map((r) => r.status)).toEqual(Array(20).fill(201));
    }
    expect((await upload(token, PDF, 'application/pdf', 'one-more.pdf')).body.error.code).toBe('ATTACHMENT_QUOTA');
    // another party is not held by it
    expect((await upload(tok.b, PDF, 'application/pdf', 'b.pdf')).status).toBe(201);
  });
});

describe('deadline and escalation', () => {
  it('a community\'s order becomes overdue exactly at its deadline and goes up to the street of its site', async () => {
    const dueAt = clock.now() + 3_600_000;
    const res = await issue(tok.community, {
      targetType: 'company', targetId: 'co-a', siteId: 'site-lake', title: '楼道电动车', description: '清理楼道电动车', dueAt: new Date(dueAt).toISOString(),
    });
    const id = res.body.id as number;
    expect(res.body).toMatchObject({ dueAt, supervising: 'community:湖畔社区', street: '南山街道', community: '湖畔社区' });
    // 宝山街道 and market supervision never see it
    expect((await get(tok.streetBs, id)).status).toBe(404);

    clock.set(dueAt - 1);
    expect((await get(tok.a, id)).body).toMatchObject({ state: 'issued', overdue: false, escalatedTo: [] });
    clock.set(dueAt);
    const overdue = (await get(tok.community, id)).body;
    expect(overdue).toMatchObject({ state: 'overdue', overdue: true, overdueAt: dueAt, escalatedTo: ['street:南山街道'], escalatedToLabels: ['南山街道（街道 / street）'] });
    expect(overdue.history.at(-1)).toMatchObject({ action: 'overdue', actor: 'system', at: dueAt, detail: { escalatedTo: ['street:南山街道'] } });

    // a late reply is accepted, and the order stays overdue
    clock.advance(60_000);
    const replied = await act(tok.a, id, 'reply', { note: '已清理（逾期）' });
    expect(replied.body).toMatchObject({ state: 'replied', overdue: true });
    const listed = (await t.api('GET', '/api/v1/orders?overdue=true&siteId=site-lake', undefined, tok.community)).body.items as Json[];
    expect(listed.map((o) => o.id)).toContain(id);
  });

  it('a street\'s order about a lift goes up to the city and market supervision, which can read it from then on', async () => {
    const dueAt = clock.now() + 60_000;
    const id = (await issue(tok.street, {
      targetType: 'maintenance-unit', targetId: 'unit-x', deviceId: 'lift-lake-1', title: '电梯维保不到位', description: '按期维保', dueAt: new Date(dueAt).toISOString(),
    })).body.id as number;
    expect((await get(tok.ms, id)).status).toBe(404);
    clock.set(dueAt);
    const o = (await get(tok.ms, id)).body;
    expect(o).toMatchObject({ state: 'overdue', escalatedTo: ['admin', 'market-supervision'], allowedActions: [] });
    expect((await get(tok.fire, id)).status).toBe(404);
    const audit = ((await t.api('GET', `/api/v1/audit?target=order:${id}`)).body as Json[]).map((e) => [e.action, e.actor]);
    expect(audit).toContainEqual(['order.overdue', 'system']);
  });
});

describe('a reply the timer did not see coming', () => {
  it('on a node that does not run the timers, a late reply records the overdue step first', async () => {
    const orders = t.gw.supervision.orders;
    const dueAt = clock.now() + 60_000;
    const id = (await issue(tok.community, { targetType: 'company', targetId: 'co-a', siteId: 'site-lake', title: '晚回复', description: 'd', dueAt: new Date(dueAt).toISOString() })).body.id as number;
    orders.setLeading(false);
    try {
      clock.set(dueAt + 5_000);
      expect((await get(tok.a, id)).body.state).toBe('issued');
      const replied = await act(tok.a, id, 'reply', { note: '迟到的回复' });
      expect(replied.body).toMatchObject({ state: 'replied', overdue: true, overdueAt: dueAt, escalatedTo: ['street:南山街道'] });
      const history = (await get(tok.a, id)).body.history as Json[];
      expect(history.map((h) => [h.action, h.at])).toEqual([['issued', dueAt - 60_000], ['overdue', dueAt], ['replied', dueAt + 5_000]]);
    } finally {
      orders.setLeading(true);
    }
  });
});

describe('referral (移交)', () => {
  it('a community refers its order to the street, which then supervises and closes it', async () => {
    const id = (await issue(tok.community, { targetType: 'company', targetId: 'co-a', siteId: 'site-lake', title: '违章搭建', description: '拆除', dueAt: '2025-08-01' })).body.id as number;
    // only the supervising party refers; to a department that exists
    expect((await act(tok.street, id, 'refer', { to: 'street:南山街道' })).body.error.code).toBe('ORDER_FORBIDDEN');
    expect((await act(tok.community, id, 'refer', { to: 'street:无名街道' })).body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'to' }] });
    expect((await act(tok.community, id, 'refer', { to: 'property:co-a' })).body.error.code).toBe('GW_BAD_REQUEST');
    const referred = await act(tok.community, id, 'refer', { to: 'street:南山街道', note: '涉及违建，移交街道' });
    expect(referred.body).toMatchObject({ supervising: 'street:南山街道', supervisingLabel: '南山街道（街道 / street）', issuer: 'community:湖畔社区', state: 'issued' });
    expect((await act(tok.a, id, 'reply', { note: '已拆除' })).status).toBe(200);
    expect((await act(tok.community, id, 'close', { note: 'x' })).body.error.code).toBe('ORDER_FORBIDDEN');
    expect((await act(tok.street2, id, 'close', { note: '复查合格' })).body.state).toBe('closed');
    const history = (await get(tok.community, id)).body.history as Json[];
    expect(history.map((h) => h.action)).toEqual(['issued', 'referred', 'replied', 'closed']);
    expect(history[1]).toMatchObject({ actor: 'community-hp', note: '涉及违建，移交街道', detail: { from: 'community:湖畔社区', to: 'street:南山街道' } });
  });
});

describe('the ledger: filters and export', () => {
  let first: number;
  let second: number;

  beforeAll(async () => {
    clock.set(Date.parse('2025-09-01T02:00:00Z'));
    first = (await issue(tok.street, { targetType: 'company', targetId: 'co-b', siteId: 'site-peach', title: '=HYPERLINK("x")', description: '井盖破损, 及时更换', dueAt: '2025-09-05' })).body.id;
    clock.set(Date.parse('2025-09-02T02:00:00Z'));
    second = (await issue(tok.street, { targetType: 'company', targetId: 'co-b', title: '绿化带', description: '修剪', dueAt: '2025-09-30T18:00:00+08:00' })).body.id;
    await act(tok.b, second, 'reply', { note: '已修剪' });
  });

  it('filters by target, site, state, overdue and period, newest first, within the caller\'s scope', async () => {
    const ids = async (query: string, token = tok.street) => ((await t.api('GET', `/api/v1/orders?${query}`, undefined, token)).body.items as Json[]).map((o) => o.id);
    expect(await ids('targetId=co-b')).toEqual([second, first]);
    expect(await ids('targetId=co-b&siteId=site-peach')).toEqual([first]);
    expect(await ids('targetId=co-b&state=replied')).toEqual([second]);
    expect(await ids('targetId=co-b&state=issued,overdue')).toEqual([first]);
    expect(await ids('targetId=co-b&state=open')).toEqual([second, first]);
    expect(await ids('targetId=co-b&overdue=false')).toEqual([second, first]);
    expect(await ids('targetId=co-b&from=2025-09-02&to=2025-09-03')).toEqual([second]);
    expect(await ids('targetId=co-b&limit=1')).toEqual([second]);
    const page = await t.api('GET', '/api/v1/orders?targetId=co-b&limit=1', undefined, tok.street);
    expect(await ids(`targetId=co-b&before=${page.body.nextBefore}`)).toEqual([first]);
    // the target sees its own; another street none of them; the community of 桃园 only the one on its site
    expect(await ids('targetId=co-b', tok.b)).toEqual([second, first]);
    expect(await ids('targetId=co-b', tok.streetBs)).toEqual([]);
    expect(await ids('targetId=co-b', tok.a)).toEqual([]);
  });

  it('gives the scorecards the orders issued in a period or still open at its start', async () => {
    const facts = (from: string, to: string) => t.gw.supervision.orders.inPeriod({ from: Date.parse(from), to: Date.parse(to), targetId: 'co-b' });
    // 1 September in Shanghai: only the first was issued
    expect(await facts('2025-09-01T00:00:00+08:00', '2025-09-02T00:00:00+08:00')).toEqual([
      { id: first, targetType: 'company', targetId: 'co-b', siteId: 'site-peach', issuedAt: Date.parse('2025-09-01T02:00:00Z'), dueAt: endOfDay('2025-09-05'), state: 'issued', closedAt: null, overdue: false },
    ]);
    // 3 September: neither issued then, both still open
    expect((await facts('2025-09-03T00:00:00+08:00', '2025-09-04T00:00:00+08:00')).map((f) => [f.id, f.state])).toEqual([[first, 'issued'], [second, 'replied']]);
    expect(await facts('2025-08-01T00:00:00+08:00', '2025-09-01T00:00:00+08:00')).toEqual([]);
  });

  it('exports the ledger as CSV with bilingual headers, names and local times, formulas defused', async () => {
    const res = await fetch(`${t.httpUrl}/api/v1/orders/export?format=csv&targetId=co-b`, { headers: { authorization: `Bearer ${tok.street}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="orders-2025-09-02.csv"');
    const text = Buffer.from(await res.arrayBuffer()).toString('utf8');
    expect(text).toBe('\ufeff' + [
      '编号 / ID,标题 / Title,整改对象类型 / Target type,整改对象 / Target,小区 / Site,设备 / Device,关联告警 / Alert,下发单位 / Issued by,监管单位 / Supervising party,下发时间 / Issued at,整改期限 / Due at,状态 / State,逾期 / Overdue,升级至 / Escalated to,回复时间 / Replied at,销号时间 / Closed at,整改要求 / Description',
      `${second},绿化带,物业服务企业 / property company,乙物业,,,,南山街道（街道 / street）,南山街道（街道 / street）,2025-09-02 10:00,2025-09-30 18:00,已回复 / replied,否 / no,,2025-09-02 10:00,,修剪`,
      `${first},"'=HYPERLINK(""x"")",物业服务企业 / property company,乙物业,桃园小区,,,南山街道（街道 / street）,南山街道（街道 / street）,2025-09-01 10:00,2025-09-05 23:59,已下发 / issued,否 / no,,,,"井盖破损, 及时更换"`,
    ].join('\r\n') + '\r\n');
    const xlsx = await fetch(`${t.httpUrl}/api/v1/orders/export?format=xlsx&targetId=co-b`, { headers: { authorization: `Bearer ${tok.street}` } });
    expect(xlsx.status).toBe(200);
    expect(Buffer.from(await xlsx.arrayBuffer()).subarray(0, 2).toString('latin1')).toBe('PK');
  });

  it('bad deadlines and periods are 400 with the field\'s path', async () => {
    const body = { targetType: 'company', targetId: 'co-b', title: 't', description: 'd' };
    expect((await issue(tok.street, { ...body, dueAt: '2025-13-01' })).body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'body.dueAt' }] });
    expect((await issue(tok.street, { ...body, dueAt: 'next week' })).body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'body.dueAt' }] });
    // today's end is still ahead (10:00 now); yesterday's and this very moment are not
    expect((await issue(tok.street, { ...body, dueAt: '2025-09-01' })).body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'dueAt' }] });
    expect((await issue(tok.street, { ...body, dueAt: new Date(clock.now()).toISOString() })).body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'dueAt' }] });
    expect((await issue(tok.street, { ...body, dueAt: '2025-09-02' })).status).toBe(201);
    const list = (q: string) => t.api('GET', `/api/v1/orders?${q}`, undefined, tok.street);
    expect((await list('from=yesterday')).body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'querystring.from' }] });
    expect((await list('from=2025-09-03&to=2025-09-01')).body.error).toMatchObject({ code: 'ORDER_INVALID', details: [{ path: 'to' }] });
    expect((await list('state=pending')).body.error).toMatchObject({ code: 'GW_BAD_REQUEST', details: [{ path: 'querystring.state' }] });
  });
});

describe('handover', () => {
  it('moves the open order about the site to the new company and leaves the closed one', async () => {
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-h', name: '和平小区', companyId: 'co-a', street: '南山街道' })).status).toBe(201);
    const body = { targetType: 'company', targetId: 'co-a', siteId: 'site-h', description: '整改', dueAt: '2025-12-31' };
    const open = (await issue(tok.street, { ...body, title: '未完成' })).body.id as number;
    const done = (await issue(tok.street, { ...body, title: '已销号' })).body.id as number;
    const elsewhere = (await issue(tok.street, { ...body, siteId: 'site-lake', title: '别的小区' })).body.id as number;
    await act(tok.a, done, 'reply', { note: 'ok' });
    await act(tok.street, done, 'close', { note: 'ok' });

    clock.advance(60_000);
    const res = await t.api('PATCH', '/api/v1/sites/site-h', { companyId: 'co-b' });
    expect(res.body.handover).toMatchObject({ applied: true, ordersMoved: 1 });

    expect((await get(tok.b, open)).body).toMatchObject({ targetId: 'co-b', targetName: '乙物业', allowedActions: ['reply'] });
    expect((await get(tok.a, open)).status).toBe(404);
    const moved = (await get(tok.street, open)).body.history.at(-1);
    expect(moved).toMatchObject({ action: 'reassigned', actor: 'admin', detail: { fromCompanyId: 'co-a', fromCompanyName: '甲物业', toCompanyId: 'co-b', toCompanyName: '乙物业' } });
    expect((await get(tok.a, done)).body).toMatchObject({ targetId: 'co-a', state: 'closed' });
    expect((await get(tok.a, elsewhere)).body.targetId).toBe('co-a');
    expect((await act(tok.b, open, 'reply', { note: '新物业已整改' })).body.state).toBe('replied');
  });
});

describe('restart', () => {
  it('reads the open orders back: their deadline still comes, and the files are still there', async () => {
    const dueAt = clock.now() + 60_000;
    const id = (await issue(tok.street, {
      targetType: 'company', targetId: 'co-a', siteId: 'site-lake', title: '重启前下发', description: '整改', dueAt: new Date(dueAt).toISOString(),
    })).body.id as number;
    await t.stop();
    await t.restart();
    expect((await get(tok.a, id)).body).toMatchObject({ state: 'issued', targetName: '甲物业' });
    clock.set(dueAt);
    expect((await get(tok.a, id)).body).toMatchObject({ state: 'overdue', escalatedTo: ['admin'] });
    const res = await fetch(`${t.httpUrl}/api/v1/attachments/${usedPhoto}`, { headers: { authorization: `Bearer ${tok.a}` } });
    expect(Buffer.from(await res.arrayBuffer()).equals(PNG)).toBe(true);
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

  it('an order issued and replied on one node is closed and moved by a handover on the other', async () => {
    for (const [id, name] of [['co-a', '甲物业'], ['co-b', '乙物业']]) expect((await a.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
    expect((await a.api('POST', '/api/v1/sites', { id: 'site-1', name: '一号小区', companyId: 'co-a', street: '南山街道' })).status).toBe(201);
    const make = async (id: string, role: string, scope: string) => (await a.api('POST', '/api/v1/accounts', { id, role, scope })).body.token as string;
    const [street, propA, propB] = [await make('street-1', 'street', '南山街道'), await make('prop-a', 'property', 'co-a'), await make('prop-b', 'property', 'co-b')];
    await waitFor(() => b.gw.registry.getAccount('prop-b') !== undefined && b.gw.registry.getSite('site-1') !== undefined, 5000, 10);

    const body = { targetType: 'company', targetId: 'co-a', siteId: 'site-1', description: '整改', dueAt: '2099-12-31' };
    const closing = (await a.api('POST', '/api/v1/orders', { ...body, title: '在 B 上销号' }, street)).body.id as number;
    const moving = (await a.api('POST', '/api/v1/orders', { ...body, title: '随小区移交' }, street)).body.id as number;
    expect((await a.api('POST', `/api/v1/orders/${closing}/reply`, { note: '已整改' }, propA)).body.state).toBe('replied');
    // B's memory of the open order follows A's commit (a stale copy would still say issued, and refuse the close)
    await waitFor(async () => (await b.api('GET', `/api/v1/orders/${closing}`, undefined, street)).body.state === 'replied', 5000, 20);
    expect((await b.api('POST', `/api/v1/orders/${closing}/close`, { note: '复查合格' }, street)).body.state).toBe('closed');

    // the handover on B moves the open order it heard of from A, and not the closed one
    const handed = await b.api('PATCH', '/api/v1/sites/site-1', { companyId: 'co-b' });
    expect(handed.body.handover).toMatchObject({ applied: true, ordersMoved: 1 });
    const moved = await waitFor(async () => {
      const res = await a.api('GET', `/api/v1/orders/${moving}`, undefined, propB);
      return res.status === 200 ? res.body : undefined;
    }, 5000, 20);
    expect(moved).toMatchObject({ targetId: 'co-b', targetName: '乙物业' });
    expect((await a.api('GET', `/api/v1/orders/${closing}`, undefined, propA)).body).toMatchObject({ targetId: 'co-a', state: 'closed' });
    // and A, having heard of the move, lets the new company reply there
    expect((await a.api('POST', `/api/v1/orders/${moving}/reply`, { note: '新物业已整改' }, propB)).body.state).toBe('replied');
  });
});
