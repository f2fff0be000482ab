/**
 * The embedded MQTT broker (Aedes): TCP, TLS when a certificate is configured, and WebSocket at
 * `/mqtt` on the HTTP server. Devices log in with their id and secret; accounts (agencies, admins)
 * with their id and token. Deny by default: a device publishes only to its own telemetry, events and
 * status topics and subscribes only under `devices/{id}/`. Every device publish goes through the
 * ingest pipeline before the broker acknowledges it.
 */
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { createServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Presence } from '../presence.js';
import type { Principal } from '../access.js';
import { DeviceContext, Verdict, type IngestPipeline, type Rejection } from '../../ingest/pipeline.js';
import { canPublishAsAccount, canSubscribe } from './topics.js';
import { SqlitePersistence } from './persistence.js';
import type { Db } from '../store.js';

/** What we attach to an Aedes client once it has logged in. */
type Identity = { type: 'device'; ctx: DeviceContext } | { type: 'account'; principal: Principal };
type GatewayClient = Client & { gw?: Identity };

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** Where a rejected publish goes: `$`-topics match no `#` subscription and nobody may subscribe here, so it reaches no one. */
const DROP_TOPIC = '$gateway/dropped';

export interface BrokerDeps {
  config: Config;
  /** The gateway's store: MQTT session state lives there (`mqtt.persistence: sqlite`). */
  db: Db;
  log: Logger;
  metrics: Metrics;
  registry: Registry;
  presence: Presence;
  pipeline: IngestPipeline;
}

export class Broker {
  aedes!: Aedes;
  private tcp: NetServer | undefined;
  private tls: TlsServer | undefined;
  private ws: WebSocketServer | undefined;
  private readonly contexts = new Map<string, DeviceContext>();

  constructor(private readonly deps: BrokerDeps) {}

  async start(): Promise<void> {
    const { config } = this.deps;
    this.aedes = await Aedes.createBroker({
      drainTimeout: config.mqtt.drainTimeoutMs,
      queueLimit: config.mqtt.queueLimit,
      connectTimeout: config.mqtt.connectTimeoutMs,
      maxClientsIdLength: config.mqtt.maxClientIdLength,
      concurrency: config.mqtt.concurrency,
      ...(config.mqtt.persistence === 'sqlite' ? { persistence: new SqlitePersistence(this.deps.db) } : {}),
      authenticate: this.authenticate,
      authorizePublish: this.authorizePublish,
      authorizeSubscribe: this.authorizeSubscribe,
    });
    const { registry, presence, metrics, log } = this.deps;
    registry.on('deviceChanged', (device) => {
      this.contexts.delete(device.id);
      // a disabled device is cut off at once, not at its next reconnect
      if (device.disabled) this.disconnectDevice(device.id);
    });
    this.aedes.on('clientReady', (client: GatewayClient) => {
      metrics.connections.inc();
      if (client.gw?.type === 'device') presence.connected(client.gw.ctx.device.id, client);
    });
    this.aedes.on('clientDisconnect', (client: GatewayClient) => {
      metrics.connections.dec();
      if (client.gw?.type === 'device') presence.disconnected(client.gw.ctx.device.id, client);
    });
    this.aedes.on('clientError', (client: GatewayClient, err: Error) => {
      log.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    });
    this.aedes.on('connectionError', (client: GatewayClient, err: Error) => {
      log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error');
    });
    this.deps.pipeline.onRejected(this.explainRejections);

    this.tcp = createServer((socket) => this.handle(socket));
    await listen(this.tcp, config.mqtt.port, config.mqtt.host);
    if (config.mqtt.tls.certFile && config.mqtt.tls.keyFile) {
      this.tls = createTlsServer({
        cert: readFileSync(config.mqtt.tls.certFile),
        key: readFileSync(config.mqtt.tls.keyFile),
        ...(config.mqtt.tls.caFile ? { ca: readFileSync(config.mqtt.tls.caFile) } : {}),
      }, (socket) => this.handle(socket));
      await listen(this.tls, config.mqtt.tls.port, config.mqtt.host);
    }
  }

  /** MQTT over WebSocket on the HTTP server's `/mqtt` path. */
  attachWebSocket(server: HttpServer): void {
    this.ws = new WebSocketServer({ noServer: true, maxPayload: this.deps.config.mqtt.maxPacketBytes + 16 });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (!req.url || new URL(req.url, 'http://x').pathname !== '/mqtt') {
        socket.destroy();
        return;
      }
      this.ws!.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        this.handle(stream);
      });
    });
  }

  ports(): { mqtt: number; mqtts?: number } {
    const mqtt = (this.tcp!.address() as { port: number }).port;
    return this.tls ? { mqtt, mqtts: (this.tls.address() as { port: number }).port } : { mqtt };
  }

  private handle(stream: import('node:stream').Duplex): void {
    const client = this.aedes.handle(stream) as unknown as { _parser?: { _parseLength?: () => boolean; packet: { length: number }; emit: (e: string, err: Error) => void } };
    guardPacketSize(client, stream, this.deps.config.mqtt.maxPacketBytes, () => this.deps.metrics.connectsRefused.labels('packet_too_large').inc());
  }

  private deviceContext(id: string): DeviceContext | undefined {
    let ctx = this.contexts.get(id);
    if (!ctx) {
      const device = this.deps.registry.getDevice(id);
      if (!device) return undefined;
      ctx = new DeviceContext(device);
      this.contexts.set(id, ctx);
    }
    return ctx;
  }

  private refuse(callback: (err: AuthenticateError | null, ok: boolean | null) => void, code: number, reason: string, message: string): void {
    this.deps.metrics.connectsRefused.labels(reason).inc();
    const err = new Error(message) as AuthenticateError;
    err.returnCode = code;
    callback(err, null);
  }

  private readonly authenticate = (client: GatewayClient, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined,
    callback: (err: AuthenticateError | null, ok: boolean | null) => void): void => {
    const { registry, log } = this.deps;
    if (!username) return this.refuse(callback, BAD_USERNAME_OR_PASSWORD, 'no_credentials', 'username and password required');
    const check = registry.checkDevice(username, password);
    if (check.ok) {
      // [SPEC 2] the client id must equal the device id, so one device cannot take over another's session
      if (client.id !== username) return this.refuse(callback, IDENTIFIER_REJECTED, 'client_id_mismatch', 'client id must equal the device id');
      client.gw = { type: 'device', ctx: this.deviceContext(username)! };
      return callback(null, true);
    }
    if (check.reason === 'disabled') return this.refuse(callback, NOT_AUTHORIZED, 'disabled', 'device disabled');
    if (check.reason === 'bad_secret') {
      log.info({ deviceId: username, address: addressOf(client) }, 'mqtt login refused: wrong secret');
      return this.refuse(callback, BAD_USERNAME_OR_PASSWORD, 'bad_secret', 'bad credentials');
    }
    const principal = registry.checkAccount(username, password);
    if (principal) {
      if (registry.getDevice(client.id)) return this.refuse(callback, IDENTIFIER_REJECTED, 'client_id_mismatch', 'an account may not use a device id as client id');
      client.gw = { type: 'account', principal };
      return callback(null, true);
    }
    log.info({ username, address: addressOf(client) }, 'mqtt login refused: unknown user or wrong token');
    return this.refuse(callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user', 'bad credentials');
  };

  private readonly authorizePublish = (client: GatewayClient | null, packet: PublishPacket, callback: (err?: Error | null) => void): void => {
    const identity = client?.gw;
    if (identity?.type === 'device') {
      const ctx = identity.ctx;
      const topic = packet.topic;
      if (topic === ctx.statusTopic) this.deps.presence.statusMessage(ctx.device.id, packet.payload as Buffer);
      const verdict = this.deps.pipeline.handle(ctx, topic, packet.payload as Buffer, callback);
      if (verdict === Verdict.Drop) {
        packet.topic = DROP_TOPIC;
        packet.retain = false;
      }
      return;
    }
    if (identity?.type === 'account' && canPublishAsAccount(identity.principal, packet.topic)) return callback(null);
    // Accounts consume; only devices (and the gateway itself) publish.
    callback(new Error('not allowed to publish'));
  };

  private readonly authorizeSubscribe = (client: GatewayClient | null, sub: Subscription, callback: (err: Error | null, sub?: Subscription | null) => void): void => {
    const identity = client?.gw;
    if (identity && canSubscribe(identity.type === 'device' ? { deviceId: identity.ctx.device.id } : { principal: identity.principal }, sub.topic)) {
      return callback(null, sub);
    }
    // Negated, not an error: the SUBACK carries 0x80 and the connection stays up [MQTT-3.9.3].
    callback(null, null);
  };

  /** Tells each device why its message was rejected, on `devices/{id}/errors`. */
  private readonly explainRejections = (rejections: readonly Rejection[]): void => {
    for (const r of rejections) {
      const payload = Buffer.from(JSON.stringify({ ts: Date.now(), topic: r.topic, reason: r.reason, message: r.message, issues: r.issues, ...(r.index === undefined ? {} : { index: r.index }) }));
      this.aedes.publish({ cmd: 'publish', topic: `devices/${r.deviceId}/errors`, payload, qos: 0, retain: false, dup: false }, noop);
    }
  };

  /** Publishes a message from the gateway itself (alerts, errors). */
  publish(topic: string, payload: Buffer, qos: 0 | 1 = 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private disconnectDevice(id: string): void {
    const clients = (this.aedes as unknown as { clients: Record<string, Client> }).clients;
    const client = clients[id];
    if (client) client.close();
  }

  async close(): Promise<void> {
    this.ws?.close();
    for (const server of [this.tcp, this.tls]) if (server) server.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

function noop(): void {}

function addressOf(client: Client): string | undefined {
  return (client.conn as unknown as { remoteAddress?: string }).remoteAddress;
}

function listen(server: NetServer | TlsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Closes a connection as soon as a packet header announces more than `max` bytes, before the body
 * is buffered: mqtt-packet has no size limit of its own, so a single huge PUBLISH could take the
 * process's memory. Hooks the parser's length step (mqtt-packet 9).
 */
function guardPacketSize(client: { _parser?: { _parseLength?: () => boolean; packet: { length: number } } }, stream: import('node:stream').Duplex, max: number, onTooLarge: () => void): void {
  const parser = client._parser;
  const parseLength = parser?._parseLength;
  if (!parser || !parseLength) return;
  parser._parseLength = function (this: typeof parser) {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > max) {
      onTooLarge();
      stream.destroy();
      return false;
    }
    return ok;
  };
}
