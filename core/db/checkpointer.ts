/**
 * Checkpoints off the event loop: a worker thread, on a connection of its own, copies a SQLite
 * database's write-ahead log into the database file every 100 ms (PASSIVE: it never waits for, nor
 * blocks, the writer). Left to SQLite, the checkpoint runs inside whichever commit crosses 1,000 log
 * pages, on the event loop: at city scale that was a commit of the presence save or of an alert every
 * few seconds taking tens of milliseconds more (docs/performance.md, "City scale").
 *
 * The writer's own automatic checkpoint stays as a backstop at 64 MB of log, and is set back to
 * SQLite's default should the worker die.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './sqlite.js';

/** How often a checkpointing worker copies the log into the database file (here and in ingest/writers/embedded.ts). */
export const CHECKPOINT_INTERVAL_MS = 100;
/** Log pages (4 KB) past which the writer checkpoints itself while a worker runs: 64 MB. */
const BACKSTOP_PAGES = 16_384;
const SQLITE_DEFAULT_PAGES = 1000;

/** A worker checkpoints `db` now: its writer does so itself only past the 64 MB backstop. */
export function checkpointsElsewhere(db: Db): void {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
}

/** The worker is gone: `db`'s writer checkpoints itself again, at SQLite's default. */
export function checkpointsHere(db: Db): void {
  if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_PAGES}`);
}

/** An `eval` worker: no file of its own, so it runs the same from the built output and from the sources under test. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: next time */ }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.close(); } catch { /* already closed */ }
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the worker (before the writer's own connection closes: the last close checkpoints and removes the log). */
  close(): Promise<void>;
}

export function startCheckpointer(db: Db): Checkpointer {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { file: db.name, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
  });
  let running = true;
  const orphaned = () => {
    if (!running) return;
    running = false;
    checkpointsHere(db);
  };
  worker.on('error', orphaned);
  worker.on('exit', orphaned);
  worker.unref();
  checkpointsElsewhere(db);
  return {
    async close() {
      if (!running) return;
      running = false;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // held by the event loop until it exits: a process with nothing else left would otherwise end first
      worker.ref();
      worker.postMessage({ close: true });
      await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]);
      await worker.terminate();
    },
  };
}
