/**
 * Presence's periodic save (ingest/presence.ts) at city scale: the changed devices are saved at most
 * PERSIST_SLICE (250) per event-loop turn, in device-id order, so a save of thousands does not hold the loop (and every
 * device's acknowledgement) for hundreds of milliseconds; all of them are saved a few turns later, the
 * devices changed meanwhile wait for the next interval, and `persist()` (the stop) saves everything at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, sqliteDatabase, type Db } from '../core/db/sqlite.js';
import { Presence } from '../ingest/presence.js';
import type { Accepted } from '../ingest/index.js';

const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function presenceWith(devices: number): Promise<{ presence: Presence; db: Db; saved: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-presence-'));
  dirs.push(dir);
  const db = openDatabase(dir, 'gateway.sqlite');
  dbs.push(db);
  const presence = await Presence.open(sqliteDatabase(db), 60_000, () => 1_700_000_000_000);
  const items = Array.from({ length: devices }, (_, i) => ({ device: { id: `d${i}` }, channel: 'telemetry', data: { v: i }, ts: 1_700_000_000_000 }) as unknown as Accepted);
  presence.onAccepted(items);
  return { presence, db, saved: () => (db.prepare('SELECT count(*) AS n FROM device_state').get() as { n: number }).n };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('presence\'s periodic save', () => {
  it('saves 600 changed devices 250 per turn, all of them within three turns', async () => {
    const { presence, saved } = await presenceWith(600);
    (presence as unknown as { persistSlices(): void }).persistSlices();
    expect(saved()).toBe(250);
    await nextTurn();
    expect(saved()).toBe(500);
    await nextTurn();
    expect(saved()).toBe(600);
    presence.stop();
  });

  it('takes the devices changed when it started only: those changed meanwhile wait for the next interval', async () => {
    const { presence, saved } = await presenceWith(400);
    (presence as unknown as { persistSlices(): void }).persistSlices();
    expect(saved()).toBe(250);
    // 700 more devices heard between the turns (at city scale, every turn)
    presence.onAccepted(Array.from({ length: 700 }, (_, i) => ({ device: { id: `late${i}` }, channel: 'telemetry', data: { v: i }, ts: 1_700_000_000_000 }) as unknown as Accepted));
    await nextTurn();
    expect(saved()).toBe(400);
    await nextTurn();
    await nextTurn();
    expect(saved()).toBe(400);
    presence.persist();
    expect(saved()).toBe(1100);
    presence.stop();
  });

  it('saves a device with what it sent last, also when it changed after the save started', async () => {
    const { presence, db } = await presenceWith(600);
    const latest = (id: string) => JSON.parse((db.prepare('SELECT latest FROM device_state WHERE device_id = ?').get(id) as { latest: string }).latest) as { v: number };
    (presence as unknown as { persistSlices(): void }).persistSlices();
    // in id order: d0, d1, d10, d100, ... come first; d99 is among the last, saved a turn or two later
    expect(latest('d0').v).toBe(0);
    presence.onAccepted([{ device: { id: 'd99' }, channel: 'telemetry', data: { v: -99 }, ts: 1_700_000_000_001 } as unknown as Accepted]);
    presence.onAccepted([{ device: { id: 'd0' }, channel: 'telemetry', data: { v: -1 }, ts: 1_700_000_000_001 } as unknown as Accepted]);
    await nextTurn();
    await nextTurn();
    expect(latest('d99').v).toBe(-99);
    // saved before it changed: changed again, so it waits for the next interval (or the stop)
    expect(latest('d0').v).toBe(0);
    presence.stop();
    expect(latest('d0').v).toBe(-1);
  });

  it('a stop in the middle of a periodic save saves the rest of it with everything changed since', async () => {
    const { presence, saved } = await presenceWith(600);
    (presence as unknown as { persistSlices(): void }).persistSlices();
    expect(saved()).toBe(250);
    presence.onAccepted([{ device: { id: 'later' }, channel: 'telemetry', data: { v: 1 }, ts: 1_700_000_000_001 } as unknown as Accepted]);
    presence.stop();
    expect(saved()).toBe(601);
  });

  it('a connect or disconnect alone is not saved (a restart starts everyone offline); the next save of the device\'s data carries it', async () => {
    const { presence, db, saved } = await presenceWith(1000);
    presence.persist();
    const writes = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    const before = writes();
    // a stop with 1,000 devices connected (or a network cut): each is disconnected
    const connections = Array.from({ length: 1000 }, () => ({}));
    for (let i = 0; i < 1000; i++) presence.connected(`d${i}`, connections[i]!);
    for (let i = 0; i < 1000; i++) presence.disconnected(`d${i}`, connections[i]!);
    presence.persist();
    expect(writes()).toBe(before);
    expect(presence.get('d7')!.online).toBe(false);
    // d7 connects and sends: its row is saved with both
    presence.connected('d7', connections[7]!);
    presence.onAccepted([{ device: { id: 'd7' }, channel: 'telemetry', data: { v: 70 }, ts: 1_700_000_000_002 } as unknown as Accepted]);
    presence.persist();
    expect(writes()).toBe(before + 1);
    expect(db.prepare('SELECT online, latest FROM device_state WHERE device_id = ?').get('d7')).toEqual({ online: 1, latest: '{"v":70}' });
    expect(saved()).toBe(1000);
    presence.stop();
  });

    it('saves everything at once when asked to (the stop)', async () => {
    const { presence, saved } = await presenceWith(2500);
    presence.persist();
    expect(saved()).toBe(2500);
    presence.stop();
  });
});
