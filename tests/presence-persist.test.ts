/**
 * Presence's periodic save (ingest/presence.ts) at city scale: the changed devices are saved at most
 * PERSIST_SLICE (1,000) per event-loop turn, so a save of thousands does not hold the loop (and every
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

async function presenceWith(devices: number): Promise<{ presence: Presence; saved: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-presence-'));
  dirs.push(dir);
  const db = openDatabase(dir, 'gateway.sqlite');
  dbs.push(db);
  const presence = await Presence.open(sqliteDatabase(db), 60_000, () => 1_700_000_000_000);
  const items = Array.from({ length: devices }, (_, i) => ({ device: { id: `d${i}` }, channel: 'telemetry', data: { v: i }, ts: 1_700_000_000_000 }) as unknown as Accepted);
  presence.onAccepted(items);
  return { presence, saved: () => (db.prepare('SELECT count(*) AS n FROM device_state').get() as { n: number }).n };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('presence\'s periodic save', () => {
  it('saves 2,500 changed devices 1,000 per turn, all of them within three turns', async () => {
    const { presence, saved } = await presenceWith(2500);
    (presence as unknown as { persistSlices(): void }).persistSlices();
    expect(saved()).toBe(1000);
    await nextTurn();
    expect(saved()).toBe(2000);
    await nextTurn();
    expect(saved()).toBe(2500);
    presence.stop();
  });

  it('takes the devices changed when it started only: those changed meanwhile wait for the next interval', async () => {
    const { presence, saved } = await presenceWith(1500);
    (presence as unknown as { persistSlices(): void }).persistSlices();
    expect(saved()).toBe(1000);
    // 700 more devices heard between the turns (at city scale, every turn)
    presence.onAccepted(Array.from({ length: 700 }, (_, i) => ({ device: { id: `late${i}` }, channel: 'telemetry', data: { v: i }, ts: 1_700_000_000_000 }) as unknown as Accepted));
    await nextTurn();
    expect(saved()).toBe(1500);
    await nextTurn();
    await nextTurn();
    expect(saved()).toBe(1500);
    presence.persist();
    expect(saved()).toBe(2200);
    presence.stop();
  });

  it('saves everything at once when asked to (the stop)', async () => {
    const { presence, saved } = await presenceWith(2500);
    presence.persist();
    expect(saved()).toBe(2500);
    presence.stop();
  });
});
