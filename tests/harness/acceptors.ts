/**
 * Acceptor processes (gateway/broker/acceptors.ts) driven without a broker: started behind a
 * listener of this process on a free port (accepting paused and handing over what it accepts, as the
 * gateway does until an acceptor lends the port back), and closed after each test with every
 * connection the test opened.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Acceptors, type AcceptorsOptions } from '../../gateway/broker/acceptors.js';

let current: { acceptors: Acceptors; server: Server } | undefined;
const sockets: Socket[] = [];

/** `share: false` keeps the port to this process: every connection is then handed over (`adopt`). */
export async function startAcceptors(opts: AcceptorsOptions, { share = true } = {}): Promise<{ acceptors: Acceptors; port: number }> {
  const acceptors = new Acceptors(opts);
  acceptors.start();
  const server = createServer({ pauseOnConnect: true }, (socket) => acceptors.adopt(socket));
  current = { acceptors, server };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  if (share) acceptors.share(server);
  return { acceptors, port: (server.address() as { port: number }).port };
}

/** A client connection to the acceptors' port, closed after the test; its errors are the test's to observe. */
export function openConnection(port: number): Socket {
  const socket = createConnection({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  sockets.push(socket);
  return socket;
}

/** For `afterEach`. */
export function stopAcceptors(): void {
  for (const s of sockets.splice(0)) s.destroy();
  current?.acceptors.close();
  // not waited for: a server whose sockets went to child processes asks them before it calls back
  current?.server.close();
  current = undefined;
}
