/**
 * The embedded MQTT broker (Aedes): TCP, TLS when a certificate is configured, and WebSocket at
 * `/mqtt` on the HTTP server. Devices log in with their id and secret; accounts (agencies, admins)
 * with their id and token. Deny by default: a device publishes only to its own telemetry, events and
 * status topics and subscribes only under `devices/{id}/`. Every device publish goes through the
 * ingest pipeline before the broker acknowledges it.
 */
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
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
import { ConnectionLimiter, LoginThrottle, PublishRateLimiter } from './guards.js';
import { LiveForwarder } from './forwarder.js';
import { SqlitePersistence } from './persistence.js';
import type { Db } from '../store.js';

/** What we attach to an Aedes client once it has logged in. */
type Identity = { type: 'device'; ctx: DeviceContext } | { type: 'account'; principal: Principal };
type GatewayClient = Client & { gw?: Identity };
/** The remote address, kept on the stream: a WebSocket stream has no remoteAddress of its own. */
type AddressedStream = import('node:stream').Duplex & { gwAddress?: string };

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
  private readonly connections: ConnectionLimiter;
  private readonly logins: LoginThrottle;
  private readonly rate: PublishRateLimiter;
  private forwarder!: LiveForwarder;

  constructor(private readonly deps: BrokerDeps) {
    const limits = deps.config.mqtt.limits;
    this.connections = new ConnectionLimiter(limits.maxConnectionsPerAddress);
    this.logins = new LoginThrottle({ freeFailures: limits.loginFailuresBeforeDelay, windowMs: limits.loginFailureWindowMs, baseDelayMs: limits.loginDelayMs, maxDelayMs: limits.loginMaxDelayMs });
    this.rate = new PublishRateLimiter(limits.publishPerSecond, limits.publishBurst);
  }

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
      authorizeForward: this.authorizeForward,
    });
    const { registry, presence, metrics, log } = this.deps;
    this.forwarder = new LiveForwarder(this.aedes, config.mqtt.limits.relayInFlight, () => metrics.relaySkipped.inc());
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

    this.tcp = createServer((socket) => this.handle(socket, socket.remoteAddress));
    await listen(this.tcp, config.mqtt.port, config.mqtt.host);
    if (config.mqtt.tls.certFile && config.mqtt.tls.keyFile) {
      this.tls = createTlsServer({
        cert: readFileSync(config.mqtt.tls.certFile),
        key: readFileSync(config.mqtt.tls.keyFile),
        ...(config.mqtt.tls.caFile ? { ca: readFileSync(config.mqtt.tls.caFile) } : {}),
      }, (socket) => this.handle(socket, socket.remoteAddress));
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
        this.handle(stream, req.socket.remoteAddress);
      });
    });
  }

  ports(): { mqtt: number; mqtts?: number } {
    const mqtt = (this.tcp!.address() as { port: number }).port;
    return this.tls ? { mqtt, mqtts: (this.tls.address() as { port: number }).port } : { mqtt };
  }

  private handle(stream: AddressedStream, address = 'unknown'): void {
    if (!this.connections.acquire(address)) {
      this.deps.metrics.connectsRefused.labels('too_many_connections').inc();
      stream.destroy();
      return;
    }
    stream.gwAddress = address;
    stream.once('close', () => this.connections.release(address));
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

  private refuse(callback: (err: AuthenticateError | null, ok: boolean | null) => void, code: number, reason: string, message: string, delayMs = 0): void {
    this.deps.metrics.connectsRefused.labels(reason).inc();
    const err = new Error(message) as AuthenticateError;
    err.returnCode = code;
    if (delayMs > 0) setTimeout(callback, delayMs, err, null);
    else callback(err, null);
  }

  /** A wrong secret or token: refused, and slower each time from an address that keeps trying. */
  private refuseBadCredentials(client: GatewayClient, callback: (err: AuthenticateError | null, ok: boolean | null) => void, reason: string): void {
    const delay = this.logins.failed(addressOf(client));
    if (delay > 0) this.deps.metrics.connectsRefused.labels('login_throttled').inc();
    this.refuse(callback, BAD_USERNAME_OR_PASSWORD, reason, 'bad credentials', delay);
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
      this.logins.succeeded(addressOf(client));
      return callback(null, true);
    }
    if (check.reason === 'disabled') return this.refuse(callback, NOT_AUTHORIZED, 'disabled', 'device disabled');
    if (check.reason === 'bad_secret') {
      log.info({ deviceId: username, address: addressOf(client) }, 'mqtt login refused: wrong secret');
      return this.refuseBadCredentials(client, callback, 'bad_secret');
    }
    const principal = registry.checkAccount(username, password);
    if (principal) {
      if (registry.getDevice(client.id)) return this.refuse(callback, IDENTIFIER_REJECTED, 'client_id_mismatch', 'an account may not use a device id as client id');
      client.gw = { type: 'account', principal };
      this.logins.succeeded(addressOf(client));
      return callback(null, true);
    }
    log.info({ username, address: addressOf(client) }, 'mqtt login refused: unknown user or wrong token');
    return this.refuseBadCredentials(client, callback, 'unknown_user');
  };

  private readonly authorizePublish = (client: GatewayClient | null, packet: PublishPacket, callback: (err?: Error | null) => void): void => {
    const identity = client?.gw;
    if (identity?.type === 'device') {
      const ctx = identity.ctx;
      if (this.rate.enabled) {
        const delay = this.rate.delayFor(ctx.rate);
        if (delay > 0) {
          // held back, not refused: the device's next packets wait behind this one (backpressure)
          this.deps.metrics.publishThrottled.inc();
          setTimeout(this.ingestDevicePublish, delay, ctx, packet, callback);
          return;
        }
      }
      this.ingestDevicePublish(ctx, packet, callback);
      return;
    }
    if (identity?.type === 'account' && canPublishAsAccount(identity.principal, packet.topic)) return callback(null);
    // Accounts consume; only devices (and the gateway itself) publish.
    callback(new Error('not allowed to publish'));
  };

  /**
   * A device's publish goes to the ingest pipeline, which acknowledges it once stored. The packet
   * itself is then routed nowhere; subscribers get a copy from the forwarder, so a subscriber that
   * stops reading can never hold up a device (see forwarder.ts).
   */
  private readonly ingestDevicePublish = (ctx: DeviceContext, packet: PublishPacket, callback: (err?: Error | null) => void): void => {
    const topic = packet.topic;
    const payload = packet.payload as Buffer;
    if (topic === ctx.statusTopic) this.deps.presence.statusMessage(ctx.device.id, payload);
    const verdict = this.deps.pipeline.handle(ctx, topic, payload, callback);
    if (verdict === Verdict.Forward) this.forwarder.forward(topic, payload, packet.qos === 0 ? 0 : 1, packet.retain);
    packet.topic = DROP_TOPIC;
    packet.retain = false;
  };

  private readonly authorizeSubscribe = (client: GatewayClient | null, sub: Subscription, callback: (err: Error | null, sub?: Subscription | null) => void): void => {
    const identity = client?.gw;
    if (identity && canSubscribe(identity.type === 'device' ? { deviceId: identity.ctx.device.id } : { principal: identity.principal }, sub.topic)) {
      return callback(null, sub);
    }
    // Negated, not an error: the SUBACK carries 0x80 and the connection stays up [MQTT-3.9.3].
    callback(null, null);
  };

  /**
   * Live device data is not sent to a subscriber whose socket is still full (the kernel buffer and
   * Node's 16 KiB on top): that subscriber misses messages (counted) instead of the broker holding a
   * fan-out slot for each of them until the drain timeout, which would soon hold up everyone. Alert
   * queues are never skipped: an agency's copy is kept in order (see alerts/delivery/mqtt.ts).
   */
  private readonly authorizeForward = (client: GatewayClient, packet: AedesPublishPacket): AedesPublishPacket | null => {
    if ((client.conn as AddressedStream).writableNeedDrain && packet.topic.startsWith('devices/')) {
      this.deps.metrics.relaySkipped.inc();
      return null;
    }
    return packet;
  };

  /** Tells each device why its message was rejected, on `devices/{id}/errors`. */
  private readonly explainRejections = (rejections: readonly Rejection[]): void => {
    for (const r of rejections) {
      const payload = Buffer.from(JSON.stringify({ ts: Date.now(), topic: r.topic, reason: r.reason, message: r.message, issues: r.issues, ...(r.index === undefined ? {} : { index: r.index }) }));
      this.forwarder.forward(`devices/${r.deviceId}/errors`, payload, 0);
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

function addressOf(client: Client): string {
  return (client.conn as AddressedStream).gwAddress ?? 'unknown';
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
