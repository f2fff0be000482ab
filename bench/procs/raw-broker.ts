/** The ceiling: a plain Aedes broker with no authentication, no pipeline, default in-memory persistence. */
import { Aedes } from 'aedes';
import { createServer } from 'node:net';
import { serve, settledRss } from './ipc.js';

const aedes = await Aedes.createBroker({ concurrency: 1000 });
const server = createServer(aedes.handle);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serve({
  ports: () => ({ mqtt: (server.address() as { port: number }).port }),
  rss: () => settledRss(),
  clients: () => aedes.connectedClients,
});
