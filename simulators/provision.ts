/**
 * Provisioning: registers the sites and devices a simulation needs over the HTTP API and keeps
 * their secrets for the run. Ids are derived from a run prefix (`sim-s01-elev01`), so provisioning
 * is idempotent: a site that exists is reused; a device that exists is reused with the secret from
 * the secrets file when one is given and knows it, otherwise it gets a new secret through the
 * rotate-secret call (the gateway stores only hashes, so an old secret cannot be read back).
 * A device id that exists with another kind is an error, never silently changed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DEVICE_KINDS, type DeviceKind } from '../ingest/index.js';
import type { GatewayApi } from './api.js';
import type { SimDevice, SimDeviceSpec } from './device.js';
import { SimError } from './errors.js';
import { DEFAULT_RATED_SPEED } from './models/elevator.js';

export type PerKind = Partial<Record<DeviceKind, number>>;

export interface FleetPlanOptions {
  /** Prefix of every id this run creates; change it to get a separate set of devices. */
  prefix: string;
  sites: number;
  perKind: PerKind;
  /** Property company the sites belong to (default `${prefix}-co`). */
  companyId?: string;
  /** Maintenance unit of the elevators (default `${prefix}-mu`). */
  maintenanceUnitId?: string;
}

export interface SiteInput {
  id: string; name: string; companyId: string; address?: string; street?: string; community?: string;
  /** The rescue arrival deadline's area (urban 30 min, rural 60). */
  area?: 'urban' | 'rural';
}

export interface DeviceInput {
  id: string;
  kind: DeviceKind;
  siteId: string;
  location?: string;
  building?: string;
  maintenanceUnitId?: string;
  registrationCode?: string;
  nextInspectionDue?: string;
  /** An elevator's rated speed (m/s): the gateway's overspeed limit is a ratio of it, the model runs at it. */
  ratedSpeed?: number;
  /** Device model (型号), e.g. `NB-SD`: the gateway may set rule settings per model (the offline timeout of a heartbeat interval). */
  model?: string;
  /** An elevator's highest and lowest served floor (overruns beyond them). */
  topFloor?: number;
  bottomFloor?: number;
}

export interface FleetPlan {
  sites: SiteInput[];
  devices: DeviceInput[];
}

export const KIND_SHORT: Record<DeviceKind, string> = {
  elevator: 'elev', fire_panel: 'panel', smoke_detector: 'smoke', fire_water: 'fwater', water_pump: 'pump', drainage: 'sump',
};

const KIND_LABEL: Record<DeviceKind, { zh: string; en: string }> = {
  elevator: { zh: '电梯', en: 'elevator' },
  fire_panel: { zh: '火灾报警控制器', en: 'fire panel' },
  smoke_detector: { zh: '独立式烟感', en: 'smoke alarm' },
  fire_water: { zh: '消防水监测', en: 'fire water monitor' },
  water_pump: { zh: '二次供水泵房', en: 'pump room' },
  drainage: { zh: '地下室集水坑', en: 'basement sump' },
};

const pad = (n: number) => String(n).padStart(2, '0');

/** The sites and devices of a fleet, with plausible labels, registration codes and inspection dates. */
export function planFleet(o: FleetPlanOptions): FleetPlan {
  const companyId = o.companyId ?? `${o.prefix}-co`;
  const unit = o.maintenanceUnitId ?? `${o.prefix}-mu`;
  const sites: SiteInput[] = [];
  const devices: DeviceInput[] = [];
  const due = new Date(Date.now() + 180 * 86_400_000).toISOString().slice(0, 10);
  for (let s = 1; s <= o.sites; s++) {
    const siteId = `${o.prefix}-s${pad(s)}`;
    sites.push({ id: siteId, name: `模拟小区${s} / Simulated community ${s}`, companyId, address: `模拟路 ${s * 100} 号 / ${s * 100} Simulation Road` });
    for (const kind of DEVICE_KINDS) {
      const n = o.perKind[kind] ?? 0;
      for (let i = 1; i <= n; i++) {
        // two elevators and two smoke alarms per building (a second detector corroborates a fire alarm
        // only in its own building); one of everything else per building in turn
        const building = `${kind === 'elevator' || kind === 'smoke_detector' ? Math.ceil(i / 2) : i}号楼`;
        const d: DeviceInput = {
          id: `${siteId}-${KIND_SHORT[kind]}${pad(i)}`, kind, siteId, building,
          location: `${building} ${KIND_LABEL[kind].zh}${kind === 'elevator' ? (i % 2 ? ' 东梯' : ' 西梯') : ''} / Building ${building.replace('号楼', '')} ${KIND_LABEL[kind].en}`,
        };
        if (kind === 'elevator') {
          d.maintenanceUnitId = unit;
          // 注册代码 is 20 digits; this one is recognisably fake (all-zero area code)
          d.registrationCode = `3110000000${pad(s)}${String(i).padStart(8, '0')}`;
          d.nextInspectionDue = due;
          d.ratedSpeed = DEFAULT_RATED_SPEED;
        }
        devices.push(d);
      }
    }
  }
  return { sites, devices };
}

/** What a secrets file holds: enough to reconnect the same devices in a later run without rotating. */
export interface SecretsFile {
  version: 1;
  apiUrl?: string;
  devices: Record<string, { kind: DeviceKind; siteId: string; secret: string; building?: string }>;
}

export function readSecrets(path: string): SecretsFile | undefined {
  if (!existsSync(path)) return undefined;
  const data = JSON.parse(readFileSync(path, 'utf8')) as SecretsFile;
  if (data.version !== 1 || typeof data.devices !== 'object') throw new SimError('SIM_BAD_ARGS', `${path} is not a simulator secrets file`);
  return data;
}

export function writeSecrets(path: string, devices: readonly SimDeviceSpec[], apiUrl?: string, previous?: SecretsFile): void {
  const data: SecretsFile = { version: 1, ...(apiUrl ? { apiUrl } : {}), devices: { ...previous?.devices } };
  for (const d of devices) data.devices[d.id] = { kind: d.kind, siteId: d.siteId ?? '', secret: d.secret, ...(d.building ? { building: d.building } : {}) };
  // secrets: readable by the owner only
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
}

export interface ProvisionResult {
  devices: SimDeviceSpec[];
  sitesCreated: number;
  devicesCreated: number;
  /** Existing devices whose secret came from the secrets file. */
  devicesReused: number;
  /** Existing devices that were given a new secret. */
  devicesRotated: number;
}

/** Registers what the plan needs (creating, reusing or rotating) and returns every device with its secret. */
export async function provision(api: GatewayApi, plan: FleetPlan, opts: { secrets?: SecretsFile | undefined; onProgress?: (line: string) => void } = {}): Promise<ProvisionResult> {
  const result: ProvisionResult = { devices: [], sitesCreated: 0, devicesCreated: 0, devicesReused: 0, devicesRotated: 0 };
  const existingSites = new Set((await api.call<Array<{ id: string }>>('GET', '/api/v1/sites')).map((s) => s.id));
  for (const site of plan.sites) {
    if (existingSites.has(site.id)) continue;
    const res = await api.request('POST', '/api/v1/sites', site);
    // 409: another simulator run created it since we listed the sites; it is the same site
    if (res.status === 201) result.sitesCreated++;
    else if (res.status !== 409) await api.call('POST', '/api/v1/sites', site);
  }
  const existing = new Map((await api.call<Array<{ id: string; kind: DeviceKind; siteId: string }>>('GET', '/api/v1/devices')).map((d) => [d.id, d]));
  let done = 0;
  for (const d of plan.devices) {
    const known = existing.get(d.id);
    let secret: string;
    const created = known ? undefined : await api.request<{ secret: string }>('POST', '/api/v1/devices', d);
    if (created?.status === 201) {
      secret = created.body.secret;
      result.devicesCreated++;
    } else if (created && created.status !== 409) {
      throw new SimError('SIM_API', `POST /api/v1/devices ${d.id} → ${created.status} ${JSON.stringify(created.body)}`, { status: created.status });
    } else if (!known) {
      // created by a concurrent run since we listed the devices: take it over with a new secret
      secret = (await api.call<{ secret: string }>('POST', `/api/v1/devices/${encodeURIComponent(d.id)}/secret`)).secret;
      result.devicesRotated++;
    } else {
      if (known.kind !== d.kind) throw new SimError('SIM_PROVISION_CONFLICT', `device ${d.id} exists as a ${known.kind}, the plan needs a ${d.kind}: use another --prefix / 设备编号冲突`);
      const saved = opts.secrets?.devices[d.id];
      if (saved && saved.kind === d.kind) {
        secret = saved.secret;
        result.devicesReused++;
      } else {
        secret = (await api.call<{ secret: string }>('POST', `/api/v1/devices/${encodeURIComponent(d.id)}/secret`)).secret;
        result.devicesRotated++;
      }
    }
    result.devices.push({ id: d.id, kind: d.kind, secret, siteId: d.siteId, building: d.building, ratedSpeed: d.ratedSpeed });
    if (++done % 100 === 0) opts.onProgress?.(`provisioned 已注册 ${done}/${plan.devices.length}`);
  }
  return result;
}

/** Parses `elevator=2,smoke_detector=3` (kinds or their short names). */
export function parsePerKind(text: string): PerKind {
  const out: PerKind = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, count] = part.split('=');
    const kind = DEVICE_KINDS.find((k) => k === name || KIND_SHORT[k] === name);
    const n = Number(count);
    if (!kind || !Number.isInteger(n) || n < 0) throw new SimError('SIM_BAD_ARGS', `bad device count "${part}": use kind=count, kinds: ${DEVICE_KINDS.join(', ')}`);
    out[kind] = n;
  }
  return out;
}

/**
 * Gives a new secret to every device whose login the broker refused (a stale secrets file, a
 * secret rotated by someone else) and waits for them to connect. Returns the devices renewed.
 */
export async function renewRefusedSecrets(api: GatewayApi, devices: readonly SimDevice[], waitMs = 5000): Promise<SimDevice[]> {
  const refused = devices.filter((d) => d.refused);
  for (const d of refused) {
    const { secret } = await api.call<{ secret: string }>('POST', `/api/v1/devices/${encodeURIComponent(d.id)}/secret`);
    d.setSecret(secret);
  }
  await Promise.all(refused.map((d) => d.connected(waitMs)));
  return refused;
}
