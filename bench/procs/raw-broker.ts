/**
 * The ceilings: a plain Aedes broker with no authentication, no pipeline, default in-memory persistence.
 *
 * `RAW_BROKER_MODE=ack` (the acknowledge-only ceiling): `authorizePublish` just calls back, so a QoS 1
 * publish is parsed, authorised and acknowledged, and routed to nobody (the run has no subscriber).
 * That is the least any broker does per message; the gateway's ingest is reported as a share of it.
 * Without it (the relay ceiling): Aedes' defaults, and the benchmark adds one subscriber.
 */
import { Aedes, type AedesOptions } from 'aedes';
import { createServer } from 'node:net';
import { profilerHandlers, serve, settledRss } from './ipc.js';

const ackOnly = process.env.RAW_BROKER_MODE === 'ack';
const options: Partial<AedesOptions> = { concurrency: 1000 };
if (ackOnly) options.authorizePublish = (_client, _packet, callback) => callback(null);
const aedes = await Aedes.createBroker(options);
const server = createServer(aedes.handle);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serve({
  ...profilerHandlers(),
  ports: () => ({ mqtt: (server.address() as { port: number }).port }),
  rss: () => settledRss(),
  clients: () => aedes.connectedClients,
});
