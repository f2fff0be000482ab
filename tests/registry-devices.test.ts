/**
 * The registry hands its devices out as they are stored: frozen and shared, never carrying the secret
 * hash, so that a lookup or a listing of 100,000 devices copies nothing (registry/registry.ts). A
 * change replaces the stored object: what a caller holds keeps the values it was given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDatabase, sqliteDatabase, type Db } from '../core/db/sqlite.js';
import { AuditLog } from '../core/audit.js';
import { Registry } from '../registry/index.js';

let dir: string;
let db: Db;
let registry: Registry;
let secret: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-registry-'));
  db = openDatabase(dir, 'gateway.sqlite');
  const database = sqliteDatabase(db);
  registry = await Registry.open(database, await AuditLog.open(database));
  registry.createSite({ id: 's', name: '阳光小区', companyId: 'co' }, 'test');
  secret = registry.createDevice({ id: 'lift', kind: 'elevator', siteId: 's' }, 'test').secret!;
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a device is handed out frozen and shared, without its secret hash', () => {
  const device = registry.getDevice('lift')!;
  expect(Object.isFrozen(device)).toBe(true);
  expect(registry.getDevice('lift')).toBe(device);
  expect(registry.listDevices()[0]).toBe(device);
  expect(Object.keys(device)).not.toContain('secretHash');
  expect(JSON.stringify(registry.listDevices())).not.toMatch(/sha256|secret/i);
  expect(() => { (device as { location?: string }).location = 'changed'; }).toThrow(TypeError);
});

it('a change replaces the stored device; what a caller holds keeps its values', () => {
  const before = registry.getDevice('lift')!;
  const heard: unknown[] = [];
  registry.on('deviceChanged', (d) => heard.push(d));
  const after = registry.updateDevice('lift', { location: '1号楼' }, 'test');
  expect(after).not.toBe(before);
  expect(before.location).toBeUndefined();
  expect(registry.getDevice('lift')).toBe(after);
  expect(heard).toEqual([after]);
  expect(Object.isFrozen(after)).toBe(true);
});

it('a rotated secret checks against the new hash at once; a reopened registry reads the stored one', async () => {
  expect(registry.checkDevice('lift', secret)).toEqual({ ok: true });
  const next = registry.rotateSecret('lift', 'test');
  expect(registry.checkDevice('lift', secret)).toEqual({ ok: false, reason: 'bad_secret' });
  expect(registry.checkDevice('lift', next)).toEqual({ ok: true });
  const database = sqliteDatabase(db);
  const reopened = await Registry.open(database, await AuditLog.open(database));
  expect(reopened.checkDevice('lift', next)).toEqual({ ok: true });
  expect(reopened.checkDevice('nobody', next)).toEqual({ ok: false, reason: 'unknown_device' });
});

it('a bulk change that fails takes back the devices and their secrets', () => {
  expect(() => registry.atomically(() => {
    registry.createDevice({ id: 'pump', kind: 'water_pump', siteId: 's' }, 'test', { secret: 'pump-secret-0123456789' });
    throw new Error('row 2 is bad');
  })).toThrow('row 2 is bad');
  expect(registry.getDevice('pump')).toBeUndefined();
  expect(registry.checkDevice('pump', 'pump-secret-0123456789')).toEqual({ ok: false, reason: 'unknown_device' });
  expect(registry.listDevices().map((d) => d.id)).toEqual(['lift']);
});
