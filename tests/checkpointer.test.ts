/**
 * gateway.sqlite's checkpoints run on a worker thread (core/db/checkpointer.ts), not inside a commit on
 * the event loop: the log reaches the database file without the writer ever checkpointing.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../core/db/sqlite.js';
import { startCheckpointer } from '../core/db/checkpointer.js';

const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function database(): { db: Db; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-checkpoint-'));
  dirs.push(dir);
  const db = openDatabase(dir, 'gateway.sqlite');
  dbs.push(db);
  db.exec('CREATE TABLE blobs (b BLOB NOT NULL)');
  return { db, file: join(dir, 'gateway.sqlite') };
}

/** 8 MB in one transaction: 2,000 log pages, past SQLite's own threshold (1,000) and below the backstop (16,384). */
function write8MB(db: Db): void {
  const insert = db.prepare('INSERT INTO blobs (b) VALUES (?)');
  db.transaction(() => { for (let i = 0; i < 2048; i++) insert.run(Buffer.alloc(4000, i % 256)); })();
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('checkpoints off the event loop', () => {
  it('the worker copies the log into the database file; the writer no longer checkpoints at 1,000 pages', async () => {
    const { db, file } = database();
    const checkpointer = startCheckpointer(db);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(16_384);
    write8MB(db);
    expect(await until(() => statSync(file).size >= 8_000_000, 5000)).toBe(true);
    await checkpointer.close();
    db.close();
    // the last connection's close checkpointed and removed the log
    expect(() => statSync(`${file}-wal`)).toThrow();
  });

  it('without it, SQLite checkpoints inside the commit (what the worker takes off the event loop)', () => {
    const { db, file } = database();
    write8MB(db);
    expect(statSync(file).size).toBeGreaterThanOrEqual(8_000_000);
  });
});
