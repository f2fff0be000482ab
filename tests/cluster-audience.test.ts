/**
 * The relay audience across a cluster (gateway/broker/forwarder.ts `RelayAudience`, redis.ts
 * `RELAY_FILTERS`): nodes on one PostgreSQL and one Redis, in this process, with real mqtt.js clients.
 * A filter granted on one node counts on the others, also on a node started later; with nobody
 * subscribed a node routes no live copy through Redis; while its notices may have been missed (Redis
 * trouble) a node routes every copy, and filters again once it has re-read the set.
 *
 * Copies are counted by `gateway_relay_copies_total`, which the forwarder increments before the
 * device's PUBACK can be sent: a count read at the PUBACK is final for that message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { startRedis, type RedisHandle } from './harness/redis.js';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';
import { audienceFilter } from '../gateway/broker/forwarder.js';
import { RELAY_FILTERS } from '../gateway/broker/redis.js';

let pgServer: PostgresHandle;
let redis: RedisHandle;
/** The test's own connection to the nodes' Redis, to look at the set and to break things. */
let probe: Redis;
let a: TestGateway;
let b: TestGateway;
let opsToken: string;
const clients: MqttClient[] = [];
const secrets = new Map<string, string>();

const node = (nodeId: string) => startTestGateway({ cluster: { databaseUrl: pgServer.url, redisUrl: redis.url, nodeId } });

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
  probe = new Redis(redis.url);
  a = await node('node-a');
  b = await node('node-b');
  const res = await a.api('POST', '/api/v1/accounts', { id: 'ops', role: 'admin' });
  expect(res.status).toBe(201);
  opsToken = res.body.token as string;
  for (const id of ['pump-1', 'pump-2', 'pump-3', 'pump-4']) secrets.set(id, await registerDevice(a, { id, kind: 'water_pump', siteId: 'site-aud', companyId: 'co-aud' }));
  await waitFor(() => b.gw.registry.getAccount('ops') !== undefined && b.gw.registry.getDevice('pump-4') !== undefined, 5000, 10);
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await a?.dispose();
  await b?.dispose();
  probe?.disconnect();
  await redis?.stop();
  await pgServer?.stop();
});

async function metric(t: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}
const copies = (t: TestGateway) => metric(t, 'gateway_relay_copies_total');
const forwardingAll = (t: TestGateway) => metric(t, 'gateway_relay_forward_all');

async function device(t: TestGateway, id: string): Promise<MqttClient> {
  const client = await connectDevice(t, id, secrets.get(id)!);
  clients.push(client);
  return client;
}

/** An admin session (client id `ops:{n}`) and the `seq` of each reading it receives. */
async function subscriber(t: TestGateway, n: number): Promise<{ client: MqttClient; seqs: number[] }> {
  const client = await connect(t.mqttUrl, { clientId: `ops:${n}`, username: 'ops', password: opsToken });
  clients.push(client);
  const seqs: number[] = [];
  client.on('message', (topic, payload) => {
    // a `#` subscription also receives status and alert messages
    if (topic.endsWith('/telemetry')) seqs.push((JSON.parse(payload.toString()) as { seq: number }).seq);
  });
  return { client, seqs };
}

async function subscribe(client: MqttClient, filter: string): Promise<void> {
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  expect(granted[0]!.qos).toBe(1);
}

/** Publishes a reading and returns how many copies the node routed for it (read at its PUBACK). */
async function routedFor(t: TestGateway, client: MqttClient, id: string, seq: number): Promise<number> {
  const before = await copies(t);
  await publish(client, `devices/${id}/telemetry`, sampleTelemetry('water_pump', seq));
  return (await copies(t)) - before;
}

describe('the relay audience in a cluster', () => {
  it('a node filters as soon as it has read the filters granted elsewhere', async () => {
    expect(await forwardingAll(a)).toBe(0);
    expect(await forwardingAll(b)).toBe(0);
  });

  it('a subscriber on node A receives what a device on node B publishes, because B heard of A\'s filter', async () => {
    const pump = await device(b, 'pump-1');
    // the first message on a topic is forwarded while the session store is asked
    expect(await routedFor(b, pump, 'pump-1', 1)).toBe(1);
    // nobody anywhere: not routed
    expect(await routedFor(b, pump, 'pump-1', 2)).toBe(0);
    const ops = await subscriber(a, 1);
    await subscribe(ops.client, 'devices/pump-1/telemetry');
    expect(await probe.sismember(RELAY_FILTERS, 'devices/pump-1/telemetry')).toBe(1);
    expect(await routedFor(b, pump, 'pump-1', 3)).toBe(1);
    await waitFor(() => ops.seqs.includes(3), 5000, 10);
    expect(ops.seqs).toEqual([3]);
  });

  it('with nobody subscribed to its topics, a node routes no copy of a device\'s messages through Redis', async () => {
    const pump = await device(b, 'pump-2');
    expect(await routedFor(b, pump, 'pump-2', 1)).toBe(1);
    for (let seq = 2; seq <= 4; seq++) expect(await routedFor(b, pump, 'pump-2', seq)).toBe(0);
  });

  it('a device\'s message routed nowhere is no Redis PUBLISH at all (not even of the packet Aedes drops)', async () => {
    const pump = await device(b, 'pump-2');
    await publish(pump, 'devices/pump-2/telemetry', sampleTelemetry('water_pump', 10));
    const watch = new Redis(redis.url);
    try {
      const channels: string[] = [];
      watch.on('pmessage', (_pattern: string, channel: string) => channels.push(channel));
      await watch.psubscribe('*');
      for (let seq = 11; seq <= 13; seq++) await publish(pump, 'devices/pump-2/telemetry', sampleTelemetry('water_pump', seq));
      // A retained reading is always routed, on the same Redis connection as the dropped packets would
      // have been and after them (Aedes emits a device's own packet once its PUBACK is written): once
      // its copy reaches the watcher, so had they.
      await pump.publishAsync('devices/pump-2/telemetry', JSON.stringify(sampleTelemetry('water_pump', 14)), { qos: 1, retain: true });
      await waitFor(() => channels.includes('devices/pump-2/telemetry'), 5000, 10);
      // the retained reading's copy, and nothing before it
      expect(channels.filter((c) => c.startsWith('$gateway/') || c.startsWith('devices/'))).toEqual(['devices/pump-2/telemetry']);
    } finally {
      watch.disconnect();
    }
  });

  it('a node started after a filter was granted on another node knows it from the set', async () => {
    const ops = await subscriber(a, 2);
    await subscribe(ops.client, 'devices/pump-3/telemetry');
    const c = await node('node-c');
    try {
      expect(await forwardingAll(c)).toBe(0);
      await waitFor(() => c.gw.registry.getAccount('ops') !== undefined, 5000, 10);
      const pump = await device(c, 'pump-3');
      expect(await routedFor(c, pump, 'pump-3', 1)).toBe(1);
      // past the first message only the filter read at C's start makes it route the copy
      expect(await routedFor(c, pump, 'pump-3', 2)).toBe(1);
      await waitFor(() => ops.seqs.includes(2), 5000, 10);
      expect(ops.seqs).toEqual([1, 2]);
      await pump.endAsync();
    } finally {
      await c.dispose();
    }
  });

  it('while its notices may have been missed a node routes every copy, and filters again once it has re-read the set', async () => {
    const pump = await device(b, 'pump-4');
    expect(await routedFor(b, pump, 'pump-4', 1)).toBe(1);
    expect(await routedFor(b, pump, 'pump-4', 2)).toBe(0);

    // B's notice connection drops, and the set cannot be read (nor added to) until repaired
    await probe.del(RELAY_FILTERS);
    await probe.set(RELAY_FILTERS, 'not a set');
    const list = (await probe.client('LIST')) as string;
    const line = list.split('\n').find((l) => /name=node-b-[^ ]*:relay /.test(l));
    expect(line).toBeDefined();
    await probe.client('KILL', 'ID', /id=(\d+)/.exec(line!)![1]!);
    await waitFor(async () => (await forwardingAll(b)) === 1, 5000, 10);
    expect(await routedFor(b, pump, 'pump-4', 3)).toBe(1);
    expect(await routedFor(b, pump, 'pump-4', 4)).toBe(1);

    // a grant Redis does not take fails the subscription: the client subscribes again later
    const ops = await subscriber(b, 3);
    await expect(ops.client.subscribeAsync('devices/pump-2/events', { qos: 1 })).rejects.toThrow();

    // repaired (empty, as after a Redis restart without persistence): B reads it, and adds back what it knows
    await probe.del(RELAY_FILTERS);
    await waitFor(async () => (await forwardingAll(b)) === 0, 10_000, 20);
    expect(await routedFor(b, pump, 'pump-4', 5)).toBe(0);
    expect(await probe.smembers(RELAY_FILTERS)).toEqual(expect.arrayContaining(['devices/pump-1/telemetry', 'devices/pump-3/telemetry']));
  });

  it('a subscription to everything counts on every node, and the emitters\' `*` pattern leaves the notices alone', async () => {
    const all = await subscriber(a, 4);
    await subscribe(all.client, '#');
    // A's emitter now PSUBSCRIBEs `*`, which also matches the notices' channel: another grant's notice must not reach
    // it (it would throw decoding it, an uncaught exception that ends the node, and fails this run)
    const ops = await subscriber(a, 5);
    await subscribe(ops.client, 'devices/pump-2/status');
    const pump = await device(b, 'pump-2');
    expect(await routedFor(b, pump, 'pump-2', 5)).toBe(1);
    await waitFor(() => all.seqs.includes(5), 5000, 10);
    expect(await probe.smembers(RELAY_FILTERS)).toEqual(expect.arrayContaining(['#', 'devices/pump-2/status']));
  });
});

describe('what a grant adds to the audience', () => {
  it('is the filter of a shared subscription, `#` for one without a filter, nothing for a filter that cannot match a device topic', () => {
    expect(audienceFilter('devices/d1/telemetry')).toBe('devices/d1/telemetry');
    expect(audienceFilter('$share/ops/devices/+/telemetry')).toBe('devices/+/telemetry');
    expect(audienceFilter('$share/ops')).toBe('#');
    expect(audienceFilter('+/+/events')).toBe('+/+/events');
    expect(audienceFilter('#')).toBe('#');
    expect(audienceFilter('alerts/property/co-1')).toBeUndefined();
    expect(audienceFilter('$share/ops/alerts/property/co-1')).toBeUndefined();
  });
});
