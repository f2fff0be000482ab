/** Load generator and subscriber, in their own process: the simulators' load mode, driven over IPC. */
import mqtt, { type MqttClient } from 'mqtt';
import { runLoad, type LoadOptions } from '../../simulators/load.js';
import { serve, settledRss } from './ipc.js';

let subscriber: MqttClient | undefined;
let received = 0;
const idle: MqttClient[] = [];

serve({
  load: (opts: LoadOptions) => runLoad(opts),
  /** One subscriber counting every message on a topic filter (the raw relay's consumer). */
  async subscribe(args: { url: string; topic: string; username?: string; password?: string }) {
    received = 0;
    subscriber = mqtt.connect(args.url, { clientId: `bench-sub-${process.pid}`, reconnectPeriod: 0, ...(args.username ? { username: args.username, password: args.password } : {}) });
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
  rss: () => settledRss(),
});
