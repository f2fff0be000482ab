/**
 * How every simulated device talks MQTT: one mqtt.js client per device, logged in as the device contract
 * asks (client id = username = device id, password = secret), reconnecting by itself, with the
 * retained `offline` status as its last will. Shared by the load generator, the fleet and scenarios.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface DeviceCredentials {
  id: string;
  secret: string;
}

export interface DeviceClientOptions {
  /** ms between reconnect attempts; real terminals retry forever, so do we. */
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  /** Publish retained `online` on connect and leave `offline` as last will (the status topic). */
  status?: boolean;
}

export const topicsOf = (id: string) => ({
  telemetry: `devices/${id}/telemetry`,
  events: `devices/${id}/events`,
  status: `devices/${id}/status`,
  errors: `devices/${id}/errors`,
});

export function deviceClientOptions(device: DeviceCredentials, opts: DeviceClientOptions = {}): IClientOptions {
  const options: IClientOptions = {
    clientId: device.id,
    username: device.id,
    password: device.secret,
    clean: true,
    reconnectPeriod: opts.reconnectPeriodMs ?? 1000,
    // a refused login (wrong secret, disabled device) is retried too, as field devices do: the
    // operator may fix the registry while the device keeps trying
    reconnectOnConnackError: true,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    keepalive: opts.keepaliveS ?? 30,
  };
  if (opts.status) options.will = { topic: topicsOf(device.id).status, payload: Buffer.from('offline'), qos: 1, retain: true };
  return options;
}

/** Opens the connection and returns at once; mqtt.js keeps retrying until `end()`. */
export function openDeviceClient(url: string, device: DeviceCredentials, opts: DeviceClientOptions = {}): MqttClient {
  const client = mqtt.connect(url, deviceClientOptions(device, opts));
  if (opts.status) {
    const status = topicsOf(device.id).status;
    client.on('connect', () => { client.publish(status, 'online', { qos: 1, retain: true }); });
  }
  // mqtt.js throws an unhandled 'error' event otherwise; callers that care add their own listener
  client.on('error', noop);
  return client;
}

/** Resolves on the first CONNACK, or rejects after `timeoutMs` (the client keeps retrying anyway). */
export function whenConnected(client: MqttClient, timeoutMs: number): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { client.off('connect', onConnect); reject(new Error(`not connected within ${timeoutMs} ms`)); }, timeoutMs);
    const onConnect = () => { clearTimeout(timer); resolve(); };
    client.once('connect', onConnect);
  });
}

/** Ends a client, waiting up to `graceMs` for in-flight QoS 1 messages, then forcing it closed. */
export async function closeClient(client: MqttClient, graceMs = 2000): Promise<void> {
  if (!client.connected) {
    // nothing can be acknowledged without a connection: stop the retry loop now
    await new Promise<void>((resolve) => { client.end(true, () => resolve()); });
    return;
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { client.end(true, () => resolve()); }, graceMs);
    client.end(false, () => { clearTimeout(timer); resolve(); });
  });
}

function noop(): void {}
