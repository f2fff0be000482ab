/**
 * The query layer speaks both stores: every query of the capabilities converted to it (registry,
 * audit, dead letters, presence, the alert queues, webhook cursors, rule state and ledger) runs,
 * from the same builder calls, on the embedded SQLite store and on a real PostgreSQL server, after
 * each capability's migrations for that dialect, and both answer the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, SqliteStore, type Db } from '../core/db/sqlite.js';
import { PostgresStore } from '../core/db/postgres.js';
import { queryBuilder } from '../core/db/query.js';
import { AUDIT_MIGRATIONS, auditQueries, type AuditTables } from '../core/audit.js';
import { DEAD_LETTER_MIGRATIONS, deadLetterQueries, type DeadLetterTables } from '../ingest/dead-letters.js';
import { KV_MIGRATIONS, REGISTRY_MIGRATIONS, registryQueries, type RegistryTables } from '../registry/store.js';
import { PRESENCE_MIGRATIONS, presenceQueries, type PresenceTables } from '../ingest/presence.js';
import { QUEUE_MIGRATIONS, queueQueries, type QueueTables } from '../alerts/queues.js';
import { WEBHOOK_MIGRATIONS, webhookQueries, type WebhookTables } from '../alerts/delivery/webhooks.js';
import type { Principal } from '../registry/index.js';
import { LEDGER_MIGRATIONS, ledgerQueries, type AlertFilter, type LedgerTables } from '../alerts/ledger.js';
import { RULE_STATE_MIGRATIONS, ruleStateQueries, type RuleStateTables } from '../alerts/rules/engine.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';

type Tables = AuditTables & DeadLetterTables & RegistryTables & PresenceTables & QueueTables & WebhookTables & RuleStateTables & LedgerTables;

let pgServer: PostgresHandle;
let dir: string;
let db: Db;
let lite: SqliteStore<Tables>;
let pgs: PostgresStore<Tables>;

beforeAll(async () => {
  pgServer = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'dialects-'));
  db = openDatabase(dir, 'test.sqlite');
  lite = new SqliteStore<Tables>(db);
  pgs = new PostgresStore<Tables>(pgServer.pool);
  for (const [module, steps] of [['registry', REGISTRY_MIGRATIONS], ['kv', KV_MIGRATIONS], ['audit', AUDIT_MIGRATIONS], ['dead_letters', DEAD_LETTER_MIGRATIONS], ['presence', PRESENCE_MIGRATIONS],
    ['alert-queues', QUEUE_MIGRATIONS], ['alert-webhooks', WEBHOOK_MIGRATIONS], ['alert-rules', RULE_STATE_MIGRATIONS], ['alerts', LEDGER_MIGRATIONS]] as const) {
    lite.migrate(module, steps);
    await pgs.migrate(module, steps);
  }
}, 60_000);
afterAll(async () => {
  await pgServer?.stop();
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The same queries, built once per dialect from the capability's own query functions. */
const both = <Q>(make: (dialect: 'sqlite' | 'postgres') => Q) => ({ lite: make('sqlite'), pg: make('postgres') });

describe('one query layer, two stores', () => {
  it('migrations run on both, and running them again is a no-op', async () => {
    lite.migrate('registry', REGISTRY_MIGRATIONS);
    await pgs.migrate('registry', REGISTRY_MIGRATIONS);
    const versions = (await pgServer.pool.query<{ module: string; version: number }>('SELECT module, version FROM schema_migrations ORDER BY module')).rows;
    expect(versions).toEqual(db.prepare('SELECT module, version FROM schema_migrations ORDER BY module').all());
  });

  it('the registry: inserts, updates and reads answer the same', async () => {
    const q = both((d) => registryQueries(queryBuilder<RegistryTables>(d)));
    const created = 1_764_460_800_123; // epoch ms beyond 32 bits: PostgreSQL needs BIGINT and must give back a number
    const writes = (r: typeof q.lite) => [
      r.insertSite({ id: 's1', name: '阳光小区', company_id: 'c1', address: null, created_at: created }),
      r.insertDevice({ id: 'lift-1', kind: 'elevator', site_id: 's1', location: '3号楼 东梯', building: '3', maintenance_unit_id: 'mu-1', registration_code: '31103201', next_inspection_due: '2027-05-01', secret_hash: 'sha256:ab', disabled: 0, created_at: created }),
      r.insertDevice({ id: 'smoke-1', kind: 'smoke_detector', site_id: 's1', location: null, building: null, maintenance_unit_id: null, registration_code: null, next_inspection_due: null, secret_hash: 'sha256:cd', disabled: 0, created_at: created + 1 }),
      r.updateDevice('lift-1', { disabled: 1, location: '3号楼 西梯' }),
      r.insertAccount({ id: 'fire-119', role: 'fire-service', scope: null, name: '消防', token_hash: 'sha256:ef', disabled: 0, created_at: created }),
      r.updateAccount('fire-119', { token_hash: 'sha256:01' }),
      r.kvInsertIfAbsent('admin_token_hash', 'sha256:02'),
    ];
    for (const w of writes(q.lite)) lite.run(w);
    for (const w of writes(q.pg)) await pgs.run(w);
    expect(await pgs.all(q.pg.sites())).toEqual(lite.all(q.lite.sites()));
    const byId = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(await pgs.all(q.pg.devices()))).toEqual(byId(lite.all(q.lite.devices())));
    expect(await pgs.all(q.pg.accounts())).toEqual(lite.all(q.lite.accounts()));
    expect(await pgs.get(q.pg.kvGet('admin_token_hash'))).toEqual(lite.get(q.lite.kvGet('admin_token_hash')));
    expect(lite.all(q.lite.devices()).find((d) => d.id === 'lift-1')).toMatchObject({ disabled: 1, location: '3号楼 西梯', created_at: created });
    // a device on an unknown site is refused by both
    const orphan = (r: typeof q.lite) => r.insertDevice({ id: 'x', kind: 'elevator', site_id: 'nowhere', location: null, building: null, maintenance_unit_id: null, registration_code: null, next_inspection_due: null, secret_hash: 'sha256:00', disabled: 0, created_at: 0 });
    expect(() => lite.run(orphan(q.lite))).toThrow(/FOREIGN KEY/);
    await expect(pgs.run(orphan(q.pg))).rejects.toThrow(/foreign key/);
  });

  it('the audit log: the same entries, newest first, filtered by target', async () => {
    const q = both((d) => auditQueries(queryBuilder<AuditTables>(d)));
    const rows = [
      { at: 1, actor: 'admin', action: 'site.create', target: 'site:s1', detail: '{"name":"阳光小区"}' },
      { at: 2, actor: 'admin', action: 'device.create', target: 'device:lift-1', detail: null },
      { at: 3, actor: 'fire-119', action: 'alert.acknowledge', target: 'site:s1', detail: '{"note":"on the way"}' },
    ];
    for (const r of rows) { lite.run(q.lite.insert(r)); await pgs.run(q.pg.insert(r)); }
    for (const opts of [{ limit: 10 }, { target: 'site:s1', limit: 10 }, { limit: 1 }]) {
      expect(await pgs.all(q.pg.list(opts))).toEqual(lite.all(q.lite.list(opts)));
    }
    expect(lite.all(q.lite.list({ target: 'site:s1', limit: 10 })).map((r) => r.at)).toEqual([3, 1]);
  });

  it('dead letters: multi-row inserts, paging, counting and pruning to the cap', async () => {
    const q = both((d) => deadLetterQueries(queryBuilder<DeadLetterTables>(d)));
    const letters = Array.from({ length: 70 }, (_, i) => ({
      receivedAt: 1000 + i, deviceId: i % 2 ? 'd-odd' : 'd-even', topic: `devices/d/telemetry`, reason: 'schema' as const,
      message: `bad ${i}`, issues: [{ path: `[${i}].floor`, message: 'expected number' }], index: i % 3 ? i : undefined, payload: '{"floor":"x"}',
    }));
    lite.run(q.lite.insert(letters));
    await pgs.run(q.pg.insert(letters));
    expect((await pgs.get(q.pg.count()))?.n).toBe(70);
    expect(lite.get(q.lite.count())?.n).toBe(70);
    for (const opts of [{ limit: 5 }, { deviceIds: ['d-odd'], limit: 100 }, { deviceIds: ['d-even', 'd-odd'], beforeId: 20, limit: 7 }]) {
      expect(await pgs.all(q.pg.list(opts))).toEqual(lite.all(q.lite.list(opts)));
    }
    expect(lite.run(q.lite.prune(50)).changes).toBe(20);
    expect((await pgs.run(q.pg.prune(50))).changes).toBe(20);
    expect(await pgs.all(q.pg.list({ limit: 100 }))).toEqual(lite.all(q.lite.list({ limit: 100 })));
    expect(lite.all(q.lite.list({ limit: 100 })).at(-1)?.id).toBe(21);
  });

  it('presence: multi-row upserts insert and replace device state, read back the same', async () => {
    const q = both((d) => presenceQueries(queryBuilder<PresenceTables>(d)));
    const seen = 1_764_460_800_123;
    const first = Array.from({ length: 5 }, (_, i) => ({
      device_id: `lift-${i}`, online: i % 2, last_seen_at: i === 4 ? null : seen + i, changed_at: seen - i,
      latest: JSON.stringify({ floor: i, door: '关' }), latest_at: i === 4 ? null : seen + i, last_event: i === 0 ? '{"type":"fault","fault":"trapped"}' : null,
    }));
    // lift-1 and lift-3 again, changed, plus one new device: the conflict replaces every column but the id
    const second = [
      { ...first[1]!, online: 0, last_seen_at: seen + 100, latest: '{"floor":9}', latest_at: seen + 100, last_event: '{"type":"door"}' },
      { ...first[3]!, online: 1, changed_at: null },
      { device_id: 'smoke-1', online: 1, last_seen_at: null, changed_at: null, latest: '{}', latest_at: null, last_event: null },
    ];
    for (const rows of [first, second]) {
      expect(lite.run(q.lite.upsert(rows)).changes).toBe(rows.length);
      expect((await pgs.run(q.pg.upsert(rows))).changes).toBe(rows.length);
    }
    const byId = <T extends { device_id: string }>(rows: T[]) => [...rows].sort((a, b) => a.device_id.localeCompare(b.device_id));
    const rows = byId(lite.all(q.lite.all()));
    expect(byId(await pgs.all(q.pg.all()))).toEqual(rows);
    expect(rows).toHaveLength(6);
    expect(rows.find((r) => r.device_id === 'lift-1')).toEqual(second[0]);
    expect(rows.find((r) => r.device_id === 'lift-3')).toEqual(second[1]);
    expect(rows.find((r) => r.device_id === 'lift-0')).toEqual(first[0]);
  });

  it('alert queues: appends numbered by the head, reads after a cursor, heads and pruning by age', async () => {
    const q = both((d) => queueQueries(queryBuilder<QueueTables>(d)));
    const at = 1_764_460_800_000;
    const queues = ['fire-service', 'market-supervision', 'property/c1'];
    const messages = Array.from({ length: 12 }, (_, i) => {
      const queue = queues[i % 3]!;
      const cursor = Math.floor(i / 3) + 1;
      return { queue, cursor, at: at + i * 1000, event: i % 4 ? 'updated' : 'raised', alert_id: 100 + i, rest: JSON.stringify({ queue, note: '困人' }).slice(1) };
    });
    for (const m of messages) {
      // the database numbers each message: the head moves on, the message takes it, and its JSON starts with it
      lite.run(q.lite.advanceHead(m.queue));
      expect(lite.all(q.lite.insertAtHead(m.queue, m.at, m.event, m.alert_id, m.rest))).toEqual([{ cursor: m.cursor }]);
      await pgs.run(q.pg.advanceHead(m.queue));
      expect(await pgs.all(q.pg.insertAtHead(m.queue, m.at, m.event, m.alert_id, m.rest))).toEqual([{ cursor: m.cursor }]);
    }
    for (const row of lite.all(q.lite.readRaw('property/c1', 0, 100))) {
      expect(JSON.parse(row.payload)).toEqual({ cursor: row.cursor, queue: 'property/c1', note: '困人' });
    }
    expect(await pgs.all(q.pg.heads())).toEqual(lite.all(q.lite.heads()));
    expect(lite.all(q.lite.heads())).toEqual(queues.map((queue) => ({ queue, cursor: 4 })));
    for (const queue of [...queues, 'maintenance/none']) {
      expect(await pgs.get(q.pg.head(queue))).toEqual(lite.get(q.lite.head(queue)));
      for (const [after, limit] of [[0, 100], [1, 2], [4, 10]] as const) {
        expect(await pgs.all(q.pg.read(queue, after, limit))).toEqual(lite.all(q.lite.read(queue, after, limit)));
        expect(await pgs.all(q.pg.readRaw(queue, after, limit))).toEqual(lite.all(q.lite.readRaw(queue, after, limit)));
      }
    }
    expect(lite.all(q.lite.readRaw('fire-service', 1, 2)).map((r) => r.cursor)).toEqual([2, 3]);
    // pruning old messages leaves the heads alone
    expect(lite.run(q.lite.prune(at + 6000)).changes).toBe(6);
    expect((await pgs.run(q.pg.prune(at + 6000))).changes).toBe(6);
    expect(await pgs.all(q.pg.readRaw('property/c1', 0, 100))).toEqual(lite.all(q.lite.readRaw('property/c1', 0, 100)));
    expect(await pgs.all(q.pg.heads())).toEqual(lite.all(q.lite.heads()));
    expect(lite.get(q.lite.head('fire-service'))?.cursor).toBe(4);
  });

  it('webhook cursors: saved, moved and moved to another queue by upsert', async () => {
    const q = both((d) => webhookQueries(queryBuilder<WebhookTables>(d)));
    const saves: Array<[string, string, number]> = [['agency-a', 'fire-service', 0], ['agency-b', 'property/c1', 7], ['agency-a', 'fire-service', 3], ['agency-b', 'maintenance/mu-1', 2_200_000_000]];
    for (const [id, queue, cursor] of saves) {
      expect(lite.run(q.lite.saveCursor(id, queue, cursor)).changes).toBe(1);
      expect((await pgs.run(q.pg.saveCursor(id, queue, cursor))).changes).toBe(1);
    }
    for (const id of ['agency-a', 'agency-b', 'agency-none']) expect(await pgs.get(q.pg.cursor(id))).toEqual(lite.get(q.lite.cursor(id)));
    expect(lite.get(q.lite.cursor('agency-a'))).toEqual({ queue: 'fire-service', cursor: 3 });
    expect(lite.get(q.lite.cursor('agency-b'))).toEqual({ queue: 'maintenance/mu-1', cursor: 2_200_000_000 });
  });

  it('alert rule state: both migration steps, multi-row upserts and the read at start', async () => {
    const q = both((d) => ruleStateQueries(queryBuilder<RuleStateTables>(d)));
    const first = 1_764_460_800_000;
    const data = (since: number[], active: number[], x?: unknown) => JSON.stringify({ since, active, x });
    const rows1 = Array.from({ length: 70 }, (_, i) => ({ device_id: `dev-${String(i).padStart(2, '0')}`, first_seen_at: first + i, data: data([0, first + i], [0, i % 2]) }));
    const rows2 = [
      { device_id: 'dev-03', first_seen_at: first - 5, data: data([0, 0], [0, 0], { lastDate: '2026-05-01' }) },
      { device_id: 'smoke-9', first_seen_at: first, data: data([0], [0]) },
    ];
    // 64 rows then the rest, as a flush of more than one chunk does, then a flush replacing and adding
    for (const rows of [rows1.slice(0, 64), rows1.slice(64), rows2]) {
      expect(lite.run(q.lite.upsert(rows)).changes).toBe(rows.length);
      expect((await pgs.run(q.pg.upsert(rows))).changes).toBe(rows.length);
    }
    const byId = <T extends { device_id: string }>(rows: T[]) => [...rows].sort((a, b) => a.device_id.localeCompare(b.device_id));
    const saved = byId(lite.all(q.lite.all()));
    expect(byId(await pgs.all(q.pg.all()))).toEqual(saved);
    expect(saved).toHaveLength(71);
    expect(saved.find((r) => r.device_id === 'dev-03')).toEqual(rows2[0]);
    // the dropped columns are gone in both: an upsert of only these three columns needs no default
    expect(Object.keys(saved[0]!).sort()).toEqual(['data', 'device_id', 'first_seen_at']);
    const cols = (await pgServer.pool.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'alert_rule_state' ORDER BY column_name")).rows.map((r) => r.column_name);
    expect(cols).toEqual(['data', 'device_id', 'first_seen_at']);
  });

  it('the alert ledger: ids given, one active alert per key, updates, scoped lists and counts, history numbered by the database', async () => {
    const q = both((d) => ledgerQueries(queryBuilder<LedgerTables>(d)));
    const t0 = 1_764_460_800_000;
    const alerts = [
      { type: 'trapped', subject: '', device_id: 'lift-1', device_kind: 'elevator', site_id: 's1', company_id: 'c1', maintenance_unit_id: 'mu-1', domain: 'elevator', suppressed: 0 },
      { type: 'door_fault', subject: '', device_id: 'lift-1', device_kind: 'elevator', site_id: 's1', company_id: 'c1', maintenance_unit_id: 'mu-1', domain: 'elevator', suppressed: 1 },
      { type: 'smoke', subject: 'zone-2', device_id: 'smoke-1', device_kind: 'smoke_detector', site_id: 's2', company_id: 'c2', maintenance_unit_id: null, domain: 'fire', suppressed: 0 },
      { type: 'offline', subject: '', device_id: 'lift-2', device_kind: 'elevator', site_id: 's2', company_id: 'c2', maintenance_unit_id: 'mu-2', domain: 'elevator', suppressed: 0 },
    ].map((a, i) => ({ ...a, state: 'open', severity: 'critical', opened_at: t0 + i, updated_at: t0 + i }));
    for (const [i, a] of alerts.entries()) {
      lite.run(q.lite.insert({ ...a, id: i + 1 }));
      await pgs.run(q.pg.insert({ ...a, id: i + 1 }));
    }
    const NO_FACTS = {
      acknowledged_at: null, unit_acknowledged_at: null, arrived_at: null, arrive_by: null, resolve_by: null, resolved_at: null, closed_at: null, cleared_at: null,
      confirmation: null, dismissed: null,
    };
    const update = (id: number, state: string, at: number) => ({ state, severity: 'critical', suppressed: alerts[id - 1]!.suppressed, company_id: alerts[id - 1]!.company_id, maintenance_unit_id: id === 1 ? 'mu-9' : alerts[id - 1]!.maintenance_unit_id, updated_at: at, doc: JSON.stringify({ id, state }), ...NO_FACTS });
    for (const [id, state] of [[1, 'acknowledged'], [2, 'open'], [3, 'closed'], [4, 'resolved']] as const) {
      expect(lite.run(q.lite.update(id, update(id, state, t0 + 100))).changes).toBe(1);
      expect((await pgs.run(q.pg.update(id, update(id, state, t0 + 100)))).changes).toBe(1);
    }
    // once closed, the key is free again
    const again = { ...alerts[2]!, opened_at: t0 + 200, updated_at: t0 + 200 };
    lite.run(q.lite.insert({ ...again, id: 5 }));
    await pgs.run(q.pg.insert({ ...again, id: 5 }));
    const docs = (rows: Array<{ doc: string }>) => rows.map((r) => r.doc).sort();
    expect(docs(await pgs.all(q.pg.activeDocs()))).toEqual(docs(lite.all(q.lite.activeDocs())));
    expect(docs(lite.all(q.lite.activeDocs()))).toHaveLength(4);
    for (const id of [1, 3, 5, 99]) expect(await pgs.get(q.pg.get(id))).toEqual(lite.get(q.lite.get(id)));

    const viewers = [
      { role: 'admin' }, { role: 'property', scope: 'c1' }, { role: 'maintenance', scope: 'mu-2' }, { role: 'market-supervision' }, { role: 'fire-service' },
    ].map((v): Principal => ({ id: `acct-${v.role}`, ...v } as Principal));
    const byKey = (rows: Array<{ type: string; state: string; n: number }>) => [...rows].sort((a, b) => `${a.type}/${a.state}`.localeCompare(`${b.type}/${b.state}`));
    for (const viewer of viewers) {
      const filters: Array<Omit<AlertFilter, 'viewer'>> = [{ limit: 10 }, { states: ['open', 'acknowledged'], limit: 10 }, { type: 'smoke', limit: 10 }, { deviceId: 'lift-1', before: 2, limit: 10 }, { siteId: 's2', limit: 1 }];
      for (const f of filters) {
        const filter = { ...f, viewer };
        expect(await pgs.all(q.pg.list(filter))).toEqual(lite.all(q.lite.list(filter)));
      }
      expect(byKey(await pgs.all(q.pg.countByTypeAndState(viewer)))).toEqual(byKey(lite.all(q.lite.countByTypeAndState(viewer))));
    }
    const ids = (viewer: Principal) => lite.all(q.lite.list({ viewer, limit: 10 })).map((r) => r.id);
    expect(viewers.map(ids)).toEqual([[5, 4, 3, 2, 1], [2, 1], [4], [4, 1], [5, 3]]);
    expect(lite.all(q.lite.countByTypeAndState(viewers[4]!))).toEqual([{ type: 'smoke', state: 'closed', n: 1 }, { type: 'smoke', state: 'open', n: 1 }].sort((a, b) => a.state.localeCompare(b.state)));

    const entries = [
      { alert_id: 1, at: t0, actor: 'system', action: 'raised', note: null, detail: '{"fault":"trapped"}' },
      { alert_id: 1, at: t0 + 50, actor: 'fire-119', action: 'acknowledged', note: '已出警', detail: null },
      { alert_id: 3, at: t0, actor: 'system', action: 'raised', note: null, detail: null },
      { alert_id: 1, at: t0 + 90, actor: 'mu-1', action: 'dispatched', note: null, detail: null },
    ];
    for (const e of entries) { lite.run(q.lite.addHistory(e)); await pgs.run(q.pg.addHistory(e)); }
    for (const id of [1, 3, 4]) expect(await pgs.all(q.pg.history(id))).toEqual(lite.all(q.lite.history(id)));
    expect(lite.all(q.lite.history(1)).map((h) => h.action)).toEqual(['raised', 'acknowledged', 'dispatched']);
    const seqs = 'SELECT alert_id, seq FROM alert_history ORDER BY alert_id, seq';
    expect(lite.db.prepare(seqs).all()).toEqual([{ alert_id: 1, seq: 1 }, { alert_id: 1, seq: 2 }, { alert_id: 1, seq: 3 }, { alert_id: 3, seq: 1 }]);
    expect((await pgServer.pool.query(seqs)).rows).toEqual(lite.db.prepare(seqs).all());

    // a second active alert for the same device, type and subject is refused by both (last: a refused
    // insert uses up a BIGSERIAL id in PostgreSQL, sequences are not transactional, so ids may have gaps there)
    expect(() => lite.run(q.lite.insert({ ...alerts[0]!, id: 6 }))).toThrow(/UNIQUE/);
    await expect(pgs.run(q.pg.insert({ ...alerts[0]!, id: 6 }))).rejects.toThrow(/duplicate key/);
  });

  it('a PostgreSQL transaction commits all or nothing', async () => {
    const q = registryQueries(queryBuilder<RegistryTables>('postgres'));
    await expect(pgs.transaction(async (tx) => {
      await tx.run(q.insertSite({ id: 'tx-site', name: 'T', company_id: 'c9', address: null, created_at: 5 }));
      await tx.run(q.insertSite({ id: 'tx-site', name: 'again', company_id: 'c9', address: null, created_at: 6 }));
    })).rejects.toThrow(/duplicate key/);
    expect((await pgs.all(q.sites())).some((s) => s.id === 'tx-site')).toBe(false);
    await pgs.transaction(async (tx) => { await tx.run(q.insertSite({ id: 'tx-site', name: 'T', company_id: 'c9', address: null, created_at: 5 })); });
    expect((await pgs.all(q.sites())).some((s) => s.id === 'tx-site')).toBe(true);
  });
});
