/**
 * What the broker keeps per connection and per session, and the socket-level guards: the identity a
 * session logged in as, the remote address (a WebSocket stream has none of its own), what a client
 * certificate proved, the packet-size guard on the MQTT parser and the WebSocket frame limit.
 */
import type { Client } from 'aedes';
import type { Server as NetServer } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Principal } from '../../registry/index.js';
import type { DeviceContext } from '../../ingest/index.js';
import type { RateBucket } from './guards.js';
import type { RelayStream } from './forwarder.js';

/**
 * What we attach to an Aedes client once it has logged in. `epoch` is the party's revocation count
 * at login: a session registered after a revocation it did not see is cut off (see `revoke`). A
 * device's `rate` is its publish-rate bucket, held here so that the hot path reaches it without a
 * lookup.
 */
export type Identity = { type: 'device'; ctx: DeviceContext; epoch: number; rate: RateBucket } | { type: 'account'; principal: Principal; epoch: number };
export type GatewayClient = Client & { gw?: Identity };
/** What a client certificate proved, on the TLS port when client certificates are asked for. */
export interface CertificateProof { verified: boolean; names: readonly string[] }
export type AddressedStream = Duplex & Pick<RelayStream, 'gwRelayReserved' | 'gwRelayBehind'> & {
  /** The remote address, kept on the stream: a WebSocket stream has no remoteAddress of its own. */
  gwAddress?: string;
  /** Still counted among its address's connections that have not logged in. */
  gwPending?: boolean;
  gwCert?: CertificateProof;
  /** Raises the WebSocket frame limit from the pre-login size once logged in. */
  gwLoggedIn?: () => void;
  /** Stops reading at the source while the connection waits for its login's turn (an acceptor's stream: see acceptors.ts). */
  gwHold?: () => void;
  /** Its login's turn: reading at the source again (after `gwHold`). */
  gwRelease?: () => void;
};

export function addressOf(client: Client): string {
  return (client.conn as AddressedStream).gwAddress ?? 'unknown';
}

export function identityId(identity: Identity): string {
  return identity.type === 'device' ? identity.ctx.device.id : identity.principal.id;
}

/**
 * The names a verified client certificate vouches for: its subject CN and its DNS and URI SANs.
 * Node prints a SAN value with special characters as a JSON string; such a value can never equal
 * an id (ids have none), but it is decoded rather than split blindly, so a crafted value cannot
 * smuggle in a name of its own.
 */
export function certificateProof(socket: TLSSocket): CertificateProof {
  if (!socket.authorized) return { verified: false, names: [] };
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject) return { verified: false, names: [] };
  const names: string[] = [];
  for (const cn of [cert.subject.CN as string | string[] | undefined].flat()) if (typeof cn === 'string') names.push(cn);
  for (const [type, value] of altNames(cert.subjectaltname ?? '')) if (type === 'DNS' || type === 'URI') names.push(value);
  return { verified: true, names };
}

export function altNames(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      let k = colon + 2;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      end = k + 1;
      try { value = JSON.parse(text.slice(colon + 1, end)) as string; } catch { value = ''; }
    } else {
      const comma = text.indexOf(', ', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    out.push([type, value]);
    i = end + 2;
  }
  return out;
}

/**
 * Sets the WebSocket's frame limit to `before` until the client has logged in, and returns what
 * raises it to `after`. Reaches into ws's receiver (ws 8), which has no public setter; without it
 * the server-wide limit (`after`) stays in force.
 */
export function frameLimit(ws: WebSocket, before: number, after: number): () => void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') return () => undefined;
  receiver._maxPayload = before;
  return () => { receiver._maxPayload = after; };
}

export function listen(server: NetServer | TlsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export type ParserHooks = { _parser?: { _parseLength?: () => boolean; packet: { length: number } } };

/**
 * Closes a connection as soon as a packet header announces more than `max()` bytes, before the body
 * is buffered: mqtt-packet has no size limit of its own, so a single huge PUBLISH could take the
 * process's memory. `max` is asked per packet: before login it is the small CONNECT limit. Hooks the
 * parser's length step (mqtt-packet 9).
 */
export function guardPacketSize(client: ParserHooks, stream: Duplex, max: () => number, onTooLarge: () => void): void {
  const parser = client._parser;
  const parseLength = parser?._parseLength;
  if (!parser || !parseLength) return;
  parser._parseLength = function (this: typeof parser) {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > max()) {
      onTooLarge();
      stream.destroy();
      return false;
    }
    return ok;
  };
}
