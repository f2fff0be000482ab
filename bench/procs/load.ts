/** Load generator and subscriber, in their own process: the simulators' load mode, driven over IPC. */
import { execFileSync } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { runLoad, type LoadOptions } from '../../simulators/load.js';
import { serve, settledRss, within } from './ipc.js';

let subscriber: MqttClient | undefined;
let received = 0;
const idle: MqttClient[] = [];

/** `ss` on the TCP connections with this port at either end (their owners, queues and states). */
function socketsOf(port: number): string {
  try {
    return execFileSync('ss', ['-tnpiH', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch (err) {
    return `ss failed: ${(err as Error).message}`;
  }
}

serve({
  load: (opts: LoadOptions) => runLoad(opts),
  /** One subscriber counting every message on a topic filter (the raw relay's consumer). */
  async subscribe(args: { url: string; topic: string; username?: string; password?: string }) {
    received = 0;
    // an account's client id is its id or `{id}:{suffix}`
    subscriber = mqtt.connect(args.url, { clientId: args.username ? `${args.username}:bench-sub-${process.pid}` : `bench-sub-${process.pid}`, reconnectPeriod: 0, ...(args.username ? { username: args.username, password: args.password } : {}) });
    await new Promise<void>((resolve, reject) => { subscriber!.once('connect', () => resolve()); subscriber!.once('error', reject); });
    subscriber.on('message', () => { received++; });
    await subscriber.subscribeAsync(args.topic, { qos: 1 });
    return true;
  },
  received: () => received,
  async unsubscribe() {
    await subscriber?.endAsync();
    subscriber = undefined;
    return true;
  },
  /** Connects devices and leaves them idle (memory per idle connection); returns the connect time. */
  async connectIdle(args: { url: string; devices: Array<{ id: string; secret: string }>; concurrency: number }) {
    const started = performance.now();
    let failed = 0;
    for (let i = 0; i < args.devices.length; i += args.concurrency) {
      await Promise.all(args.devices.slice(i, i + args.concurrency).map((d) => new Promise<void>((resolve) => {
        const c = mqtt.connect(args.url, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0, keepalive: 300 });
        c.once('connect', () => { idle.push(c); resolve(); });
        c.once('error', () => { failed++; c.end(true); resolve(); });
      })));
    }
    return { ms: performance.now() - started, connected: idle.length, failed };
  },
  async disconnectIdle() {
    await Promise.all(idle.splice(0).map((c) => c.endAsync(true)));
    return true;
  },
  /**
   * Alert latency: elevators each report a trapped passenger, one after another; an agency
   * subscriber on alerts/market-supervision notes when each `raised` arrives. Publisher and
   * subscriber share this process, so both ends read the same clock. `agencyUrl` (default `url`)
   * puts the subscriber on another node of a cluster than the elevators.
   */
  async latency(args: { url: string; agencyUrl?: string; agency: { id: string; token: string }; elevators: Array<{ id: string; secret: string }>; intervalMs: number }) {
    const agency = await mqtt.connectAsync(args.agencyUrl ?? args.url, { clientId: args.agency.id, username: args.agency.id, password: args.agency.token, reconnectPeriod: 0, connectTimeout: 10_000 });
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    agency.on('message', (_topic, payload) => {
      const m = JSON.parse(payload.toString()) as { event: string; alert: { type: string; deviceId: string } };
      const t0 = sentAt.get(m.alert.deviceId);
      if (m.event === 'raised' && m.alert.type === 'elevator.trapped' && t0 !== undefined) {
        latencies.push(performance.now() - t0);
        sentAt.delete(m.alert.deviceId);
      }
    });
    await within('the agency\'s SUBACK', agency.subscribeAsync('alerts/market-supervision', { qos: 1 }), 15_000);
    const lifts: MqttClient[] = [];
    // Logins left without an answer: a CONNECT read and never answered did not end mqtt.js' connectAsync
    // in 100,000-device runs (a connection closed before its CONNACK does not either). Each is tried
    // again, up to three times, and reported, so that a run shows how often it happens.
    const stalls: Array<{ id: string; localPort?: number; sockets?: string; why: string; at: number }> = [];
    for (const e of args.elevators) {
      for (let attempt = 1; ; attempt++) {
        const c = mqtt.connect(args.url, { clientId: e.id, username: e.id, password: e.secret, reconnectPeriod: 0, connectTimeout: 60_000 });
        const why = await new Promise<string | undefined>((resolve) => {
          const timer = setTimeout(() => resolve('no CONNACK within 10 s'), 10_000);
          c.once('connect', () => { clearTimeout(timer); resolve(undefined); });
          c.once('error', (err) => { clearTimeout(timer); resolve(`error: ${err.message}`); });
          c.once('close', () => { clearTimeout(timer); resolve('closed before its CONNACK'); });
        });
        if (why === undefined) { lifts.push(c); break; }
        const localPort = (c.stream as { localPort?: number } | undefined)?.localPort;
        // both ends of the connection as the kernel has them: which process holds the gateway's end, and what each has not read
        const sockets = localPort === undefined ? '' : socketsOf(localPort);
        stalls.push({ id: e.id, ...(localPort === undefined ? {} : { localPort, sockets }), why, at: Date.now() });
        c.end(true);
        if (attempt === 3) throw new Error(`${e.id}: no login in 3 attempts (${stalls.filter((x) => x.id === e.id).map((x) => x.why).join('; ')})`);
      }
    }
    for (let i = 0; i < lifts.length; i++) {
      const id = args.elevators[i]!.id;
      sentAt.set(id, performance.now());
      lifts[i]!.publish(`devices/${id}/events`, JSON.stringify({ type: 'fault', fault: 'trapped' }), { qos: 1 });
      await new Promise((r) => setTimeout(r, args.intervalMs));
    }
    await new Promise((r) => setTimeout(r, 2000));
    await within('the probe\'s clients to end', Promise.all([agency, ...lifts].map((c) => c.endAsync(true))), 10_000).catch(() => undefined);
    return { latencies, lost: sentAt.size, stalls };
  },
  rss: () => settledRss(),
});
