/**
 * Cluster mode's MQTT layer (gateway/broker/redis.ts): two Aedes brokers, each on its own port with
 * its own Redis transport, sharing one real Redis, and real MQTT clients. A publish on one node
 * reaches subscribers on the other in order, a persistent session finds what it missed on whichever
 * node it comes back to, retained messages are shared, and a client id connecting on one node ends
 * its session on the other.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { Redis } from 'ioredis';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../bench/influxd.js';
import { within } from '../bench/procs/ipc.js';
import { createRedisTransport, type RedisTransport } from '../gateway/broker/redis.js';
import { listen } from '../gateway/broker/session.js';
import { startRedis, type RedisHandle } from './harness/redis.js';

interface Node {
  id: string;
  aedes: Aedes;
  transport: RedisTransport;
  server: Server;
  url: string;
  errors: Error[];
}

let redis: RedisHandle;
let probe: Redis;
const nodes: Node[] = [];
const clients: MqttClient[] = [];

async function startNode(name: string): Promise<Node> {
  // unique per process run, as in production (see redis.ts)
  const id = `${name}-${randomUUID()}`;
  const errors: Error[] = [];
  const transport = await createRedisTransport(redis.url, { nodeId: id, onError: (err) => errors.push(err) });
  const aedes = await Aedes.createBroker({ id, mq: transport.mq, persistence: transport.persistence });
  // a failed persistence or emitter call (not in Aedes' typed events)
  (aedes as unknown as EventEmitter).on('error', (err: Error) => errors.push(err));
  const server = createServer(aedes.handle);
  const port = await freePort();
  await listen(server, port, '127.0.0.1');
  const node = { id, aedes, transport, server, url: `mqtt://127.0.0.1:${port}`, errors };
  nodes.push(node);
  return node;
}

async function stopNode(node: Node): Promise<void> {
  await new Promise<void>((resolve) => node.server.close(() => resolve()));
  await new Promise<void>((resolve) => node.aedes.close(() => resolve()));
  await node.transport.close();
}

/** An MQTT 3.1.1 client that never reconnects by itself; resolves on CONNACK with its session-present flag. */
function connect(node: Node, opts: IClientOptions, onMessage?: (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => void): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(node.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  clients.push(client);
  // attached before CONNACK: a persistent session's queued messages follow it at once
  if (onMessage) client.on('message', onMessage);
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent }));
    client.once('error', reject);
  });
}

/** Resolves when `check` holds, re-evaluated on every message; fails with what was received so far. */
function until(what: string, check: () => boolean, client: MqttClient, timeoutMs = 20_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onMessage = () => {
      if (!check()) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve();
    };
    const timer = setTimeout(() => { client.off('message', onMessage); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
    client.on('message', onMessage);
  });
}

/** Polls a condition that no event reports (state in Redis or in another node's memory). */
async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const seq = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

let a: Node;
let b: Node;

beforeAll(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
  a = await startNode('node-a');
  b = await startNode('node-b');
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  for (const node of nodes) await stopNode(node);
  probe?.disconnect();
  await redis?.stop();
});

describe('two Aedes nodes sharing Redis', () => {
  it('delivers 200 QoS 1 messages published on node A to a QoS 1 subscriber on node B, in order', async () => {
    const topic = `fanout/${randomUUID()}`;
    const received: string[] = [];
    const qos: number[] = [];
    const { client: sub } = await connect(b, { clientId: `sub-${randomUUID()}`, clean: true }, (t, payload, packet) => {
      if (t !== topic) return;
      received.push(payload.toString());
      qos.push(packet.qos);
    });
    const [grant] = await sub.subscribeAsync(topic, { qos: 1 });
    expect(grant?.qos).toBe(1);

    const { client: pub } = await connect(a, { clientId: `pub-${randomUUID()}`, clean: true });
    const expected = seq(200, 'm');
    // all in flight at once: order must hold through node A, Redis and node B, not only one by one
    await Promise.all(expected.map((m) => pub.publishAsync(topic, m, { qos: 1 })));

    await until('200 messages on node B', () => received.length >= expected.length, sub);
    expect(received).toEqual(expected);
    expect(qos.every((q) => q === 1)).toBe(true);
  });

  it('keeps a persistent session subscribed on node A and gives it every message published on node B while it was offline, in order, when it reconnects to node B', async () => {
    const clientId = `persistent-${randomUUID()}`;
    const topic = `session/${randomUUID()}`;
    const { client: first, sessionPresent: before } = await connect(a, { clientId, clean: false });
    expect(before).toBe(false);
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();
    // node B learns of the subscription through the persistence's broadcast over Redis: until it has,
    // a publish on B would not be queued for the session (see the report on propagation)
    await eventually('node B to know the offline subscription', async () =>
      (await b.transport.persistence.subscriptionsByTopic(topic)).some((s) => s.clientId === clientId));
    await eventually('node A to register the disconnect', async () => !(a.aedes as unknown as { clients: Record<string, unknown> }).clients[clientId]);

    const { client: pub } = await connect(b, { clientId: `pub-${randomUUID()}`, clean: true });
    const missed = seq(50, 'offline');
    for (const m of missed) await pub.publishAsync(topic, m, { qos: 1 });
    // Aedes writes a QoS 1 PUBACK before it publishes (and so queues) the message: wait for the queue
    const queue = `outgoing:${encodeURIComponent(clientId)}`;
    await eventually('the messages in the offline queue in Redis', async () => (await probe.llen(queue)) === missed.length);

    const received: string[] = [];
    const { client: back, sessionPresent } = await connect(b, { clientId, clean: false }, (t, payload) => {
      if (t === topic) received.push(payload.toString());
    });
    expect(sessionPresent).toBe(true);
    await until('the missed messages on node B', () => received.length >= missed.length, back);
    expect(received).toEqual(missed);
    // acknowledged, so gone from the queue: a next reconnect gets nothing twice
    await eventually('the offline queue to drain', async () => (await probe.llen(queue)) === 0);
    // and the session still lives on: a live publish from node A reaches it on node B
    const { client: pubA } = await connect(a, { clientId: `pub-${randomUUID()}`, clean: true });
    await pubA.publishAsync(topic, 'live', { qos: 1 });
    await until('a live message after the backlog', () => received.length > missed.length, back);
    expect(received.at(-1)).toBe('live');
  });

  it('delivers a retained message published on node A to a new subscriber on node B', async () => {
    const topic = `retained/${randomUUID()}`;
    const { client: pub } = await connect(a, { clientId: `pub-${randomUUID()}`, clean: true });
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });

    const got: Array<{ payload: string; retain: boolean }> = [];
    const { client: sub } = await connect(b, { clientId: `sub-${randomUUID()}`, clean: true }, (t, payload, packet) => {
      if (t === topic) got.push({ payload: payload.toString(), retain: packet.retain });
    });
    await sub.subscribeAsync(`retained/#`, { qos: 1 });
    await until('the retained message on node B', () => got.length > 0, sub);
    expect(got[0]).toEqual({ payload: 'kept', retain: true });
  });

  it('ends a session on node A when the same client id connects to node B (takeover across nodes)', async () => {
    const clientId = `takeover-${randomUUID()}`;
    const topic = `takeover/${randomUUID()}`;
    const { client: onA } = await connect(a, { clientId, clean: true });
    const closedOnA = new Promise<void>((resolve) => onA.once('close', () => resolve()));

    const received: string[] = [];
    const { client: onB } = await connect(b, { clientId, clean: true }, (t, payload) => {
      if (t === topic) received.push(payload.toString());
    });
    await within('node A to close the older session', closedOnA, 10_000);
    expect(onA.connected).toBe(false);
    await eventually('node A to drop the client', async () => !(a.aedes as unknown as { clients: Record<string, unknown> }).clients[clientId]);
    // the new session is the one that lives: it stays connected and gets what is published on node A
    expect(onB.connected).toBe(true);
    await onB.subscribeAsync(topic, { qos: 1 });
    const { client: pub } = await connect(a, { clientId: `pub-${randomUUID()}`, clean: true });
    await pub.publishAsync(topic, 'after-takeover', { qos: 1 });
    await until('a message on the new session', () => received.length > 0, onB);
    expect(received).toEqual(['after-takeover']);
    expect(onB.connected).toBe(true);
  });

  it('reports no broker or Redis error on either node', () => {
    expect(nodes.flatMap((n) => n.errors.map((e) => `${n.id}: ${e.message}`))).toEqual([]);
  });
});
