/**
 * The query layer speaks both stores: every query of the capabilities converted to it (registry,
 * audit, dead letters) runs, from the same builder calls, on the embedded SQLite store and on a real
 * PostgreSQL server, after each capability's migrations for that dialect, and both answer the same.
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
import { startPostgres, type PostgresHandle } from './harness/postgres.js';

type Tables = AuditTables & DeadLetterTables & RegistryTables;

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
  for (const [module, steps] of [['registry', REGISTRY_MIGRATIONS], ['kv', KV_MIGRATIONS], ['audit', AUDIT_MIGRATIONS], ['dead_letters', DEAD_LETTER_MIGRATIONS]] as const) {
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
      r.kvInsert('admin_token_hash', 'sha256:02'),
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
