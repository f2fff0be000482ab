/**
 * The durable MQTT persistence (gateway/broker/persistence.ts) against the conformance suite that
 * ships with aedes-persistence (`abstract.js`, written for node:test; run here through a small
 * adapter), each case on a fresh SQLite store.
 */
import assert from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { openDatabase } from '../core/db/sqlite.js';
import { SqlitePersistence } from '../gateway/broker/persistence.js';

const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as (opts: unknown) => void;

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('SqlitePersistence passes the aedes-persistence conformance suite', () => {
  abstractSuite({
    testAsync: true,
    test: (name: string, fn: (t: unknown) => Promise<void>) => it(name, async () => {
      await fn({ plan() {}, diagnostic() {}, assert });
    }),
    persistence: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mqtt-pers-'));
      dirs.push(dir);
      return new SqlitePersistence(openDatabase(dir, 'mqtt.sqlite'));
    },
  });
});
