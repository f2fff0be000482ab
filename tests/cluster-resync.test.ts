/**
 * Cluster mode: an alert this node changes while it reads the store again (a resync after a refused
 * commit or a lost notice listener; another node's notice) is not replaced by the older copy that
 * read returns (alerts/ledger.ts `changedDuringReads`). Once, after PostgreSQL restarted under load,
 * an alarm alert showed one repeat fewer than the store held, until its next change.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

let pgServer: PostgresHandle;
let t: TestGateway;
beforeAll(async () => {
  pgServer = await startPostgres();
  t = await startTestGateway({ cluster: { databaseUrl: pgServer.url } });
});
afterAll(async () => {
  await t?.dispose();
  await pgServer?.stop();
});

it('a repeat made while the active alerts are read again keeps its count; the store gets it too', async () => {
  await registerDevice(t, { id: 'lift-rs-1', kind: 'elevator', siteId: 'site-rs', companyId: 'co-rs' });
  const device = t.gw.registry.getDevice('lift-rs-1')!;
  const raise = () => t.gw.alerts.service.raise({ device, type: 'elevator.alarm_button', subject: '', details: {}, suppressed: false, at: Date.now() });
  const first = raise();
  expect(first.count).toBe(1);
  await t.gw.database.store().durable();
  // writes to the alerts wait while this is held; reads do not
  const lock = await pgServer.pool.connect();
  await lock.query('BEGIN');
  await lock.query('LOCK TABLE alerts IN EXCLUSIVE MODE');
  try {
    // in one turn: the read starts (nothing of this node's is pending), then the repeat, whose write cannot commit yet
    const reading = t.gw.alerts.resync();
    expect(raise().count).toBe(2);
    await reading;
    // the read returned the stored copy (count 1); memory keeps the newer one
    expect(t.gw.alerts.ledger.findActive('lift-rs-1', 'elevator.alarm_button', '')?.count).toBe(2);
  } finally {
    await lock.query('COMMIT');
    lock.release();
  }
  await t.gw.database.store().durable();
  const stored = await pgServer.pool.query<{ doc: string }>('SELECT doc FROM alerts WHERE id = $1', [first.id]);
  expect(JSON.parse(stored.rows[0]!.doc).count).toBe(2);
  // and a resync now, with nothing pending, takes the store's copy (the same)
  await t.gw.alerts.resync();
  expect(t.gw.alerts.ledger.findActive('lift-rs-1', 'elevator.alarm_button', '')?.count).toBe(2);
});
