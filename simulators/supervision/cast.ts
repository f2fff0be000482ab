/**
 * The people and the elevator that the supervision scenarios and the history need: a property
 * company, a maintenance unit, market supervision and a street office, each with an API account,
 * and elevators that publish what the script says, stamped with the script's clock. Registered over
 * the API with ids from a prefix, so running again reuses them (an account or device that exists is
 * given a new token / secret, since the gateway keeps only hashes).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { GatewayApi } from '../api.js';
import { SimError } from '../errors.js';
import { provision } from '../provision.js';

/** Time as the script sees it: the wall clock (scaled) from the CLI, a manual clock in the tests. */
export interface PeopleClock {
  now(): number;
  /** Lets `ms` of script time pass. */
  wait(ms: number): Promise<void>;
}

export function wallClock(timeScale = 1): PeopleClock {
  return { now: () => Date.now(), wait: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms / timeScale))) };
}

/** A clock that jumps (e.g. the gateway's ManualClock in the same process): waiting moves it. */
export function steppedClock(clock: { now(): number; advance(ms: number): void }): PeopleClock {
  return { now: () => clock.now(), wait: async (ms) => { clock.advance(ms); await new Promise((resolve) => setImmediate(resolve)); } };
}

export type Party = 'property' | 'maintenance' | 'market-supervision' | 'street';

export interface CastOptions {
  apiUrl: string;
  mqttUrl: string;
  adminToken: string | undefined;
  prefix: string;
  clock: PeopleClock;
}

/** Readings of an elevator in service, idle at a landing with the door open. */
export const IN_SERVICE = { mode: 'normal', running: false, direction: 'none', floor: 1, doorZone: true, door: 'open', occupied: false, speed: 0, safetyCircuit: 'closed', powerOk: true } as const;

export class SimElevator {
  private seq = 0;
  constructor(readonly id: string, readonly registrationCode: string, private readonly client: MqttClient, private readonly clock: PeopleClock) {}

  /** One reading, stamped with the script's time; resolves once the gateway has stored it (QoS 1). */
  async report(fields: Record<string, unknown> = {}): Promise<void> {
    await this.client.publishAsync(`devices/${this.id}/telemetry`, JSON.stringify({ ...IN_SERVICE, ...fields, ts: this.clock.now(), seq: this.seq++ }), { qos: 1 });
  }

  async event(body: Record<string, unknown>): Promise<void> {
    await this.client.publishAsync(`devices/${this.id}/events`, JSON.stringify({ ...body, ts: this.clock.now(), seq: this.seq++ }), { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/** The parties of one run, with an API client each. */
export class Cast {
  private readonly apis = new Map<Party, GatewayApi>();
  private readonly elevators: SimElevator[] = [];
  readonly companyId: string;
  readonly unitId: string;
  readonly siteId: string;
  readonly street: string;

  private constructor(readonly admin: GatewayApi, private readonly opts: CastOptions) {
    this.companyId = `${opts.prefix}-co`;
    this.unitId = `${opts.prefix}-mu`;
    this.siteId = `${opts.prefix}-sup`;
    this.street = '模拟街道';
  }

  /** Registers the company, unit, site and accounts (reusing what exists). */
  static async assemble(opts: CastOptions): Promise<Cast> {
    const admin = new GatewayApi(opts.apiUrl, opts.adminToken);
    const cast = new Cast(admin, opts);
    await ensure(admin, '/api/v1/companies', { id: cast.companyId, name: '模拟物业 / Simulated Property', phone: '0513-80000001' });
    await ensure(admin, '/api/v1/maintenance-units', { id: cast.unitId, name: '模拟维保 / Simulated Lift Care', phone: '400-800-0001' });
    await ensure(admin, '/api/v1/sites', { id: cast.siteId, name: '模拟小区 / Simulated Garden', companyId: cast.companyId, street: cast.street, community: '模拟社区', area: 'urban' });
    const scopes: Record<Party, string | undefined> = { property: cast.companyId, maintenance: cast.unitId, 'market-supervision': undefined, street: cast.street };
    for (const party of Object.keys(scopes) as Party[]) {
      const id = `${opts.prefix}-${party === 'market-supervision' ? 'ms' : party}`;
      cast.apis.set(party, new GatewayApi(opts.apiUrl, await accountToken(admin, id, party, scopes[party])));
    }
    return cast;
  }

  as(party: Party): GatewayApi {
    return this.apis.get(party)!;
  }

  /** An elevator of the site, maintained by the cast's unit, connected and reporting in service. */
  async elevator(name: string): Promise<SimElevator> {
    const id = `${this.siteId}-${name}`;
    const registrationCode = `SIM${id.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`.slice(0, 40);
    const { devices: [lift] } = await provision(this.admin, {
      sites: [], devices: [{ id, kind: 'elevator', siteId: this.siteId, maintenanceUnitId: this.unitId, location: `${name} 号梯`, registrationCode }],
    });
    const e = await connectElevator(this.opts.mqttUrl, id, registrationCode, lift!.secret, this.opts.clock);
    this.elevators.push(e);
    return e;
  }

  async close(): Promise<void> {
    for (const e of this.elevators.splice(0)) await e.close();
  }
}

/** Connects a registered elevator and has it report once, in service. */
export async function connectElevator(mqttUrl: string, id: string, registrationCode: string, secret: string, clock: PeopleClock): Promise<SimElevator> {
  const client = await mqtt.connectAsync(mqttUrl, { clientId: id, username: id, password: secret, reconnectPeriod: 0, connectTimeout: 5000 })
    .catch((err: Error) => { throw new SimError('SIM_CONNECT', `elevator ${id} could not connect to ${mqttUrl}: ${err.message} / 电梯无法连接 MQTT`); });
  const e = new SimElevator(id, registrationCode, client, clock);
  await e.report();
  return e;
}

/** Creates a registry entry, or leaves the one that exists (409). */
export async function ensure(api: GatewayApi, path: string, body: Record<string, unknown>): Promise<void> {
  const res = await api.request('POST', path, body);
  if (res.status === 201 || res.status === 409) return;
  await api.call('POST', path, body);
}

export async function accountToken(admin: GatewayApi, id: string, role: Party, scope: string | undefined): Promise<string> {
  const res = await admin.request<{ token: string }>('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  if (res.status === 201) return res.body.token;
  if (res.status !== 409) return (await admin.call<{ token: string }>('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) })).token;
  await admin.call('PATCH', `/api/v1/accounts/${encodeURIComponent(id)}`, { disabled: false });
  return (await admin.call<{ token: string }>('POST', `/api/v1/accounts/${encodeURIComponent(id)}/token`)).token;
}

/** Polls `read` (real time, the gateway works on its own) until it returns something. */
export async function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new SimError('SIM_EXPECTATION_FAILED', `${what}: not seen within ${timeoutMs} ms / 超时未见`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
