/**
 * The PROXY protocol (HAProxy's, versions 1 and 2: /usr/share/doc/haproxy/proxy-protocol.txt) on the
 * MQTT and MQTT-over-TLS listeners, when `mqtt.proxyProtocol` is `v1v2`, and on the HTTP port when
 * `http.proxyProtocol` is (see `readProxyHeaders` for how the HTTP port differs). Behind a TCP load balancer
 * every connection comes from the balancer's address; the header the balancer writes first names
 * the client's, and that address is then the connection's for every per-address guard, the login
 * slow-down, the logs and the audit.
 *
 * Only a trusted proxy (`mqtt.trustedProxies`) may send the header, and it must: a connection from
 * any other address is closed before a byte is read, and one from a trusted proxy whose first bytes
 * are not a complete, valid header within `mqtt.proxyHeaderTimeoutMs` is closed too (the spec forbids
 * guessing whether a header is present: that would let anyone name any address). Nothing of a
 * refused connection reaches the broker. The header is bounded (v1: 107 bytes; v2: 16 + at most 520,
 * the spec's 536-byte segment), and the bytes after it in the same read are put back on the socket
 * for the MQTT parser or the TLS handshake.
 */
import { BlockList, SocketAddress, isIP, isIPv4, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';

/** `proxy_untrusted`: the peer may not send a header; `proxy_header`: none, or a bad or incomplete one. */
export type ProxyRefusal = 'proxy_untrusted' | 'proxy_header';

/** What a complete header says: the client's address, or `undefined` for the proxy's own (LOCAL, UNKNOWN, no IP family). */
export type ParsedHeader =
  | { state: 'incomplete' }
  | { state: 'invalid'; why: string }
  | { state: 'done'; length: number; address: string | undefined };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses and ports). */
export const V1_MAX_BYTES = 107;
/** v2: the 16-byte fixed part plus at most this many address and TLV bytes (16 + 520 = the spec's 536-byte segment). */
export const V2_MAX_PAYLOAD = 520;
const PORT = /^(0|[1-9][0-9]{0,4})$/;

const INCOMPLETE: ParsedHeader = { state: 'incomplete' };
const invalid = (why: string): ParsedHeader => ({ state: 'invalid', why });

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is, so that both count as one. */
export function unmapped(address: string): string {
  return address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function canonicalIPv6(text: string): string {
  return unmapped(new SocketAddress({ address: text, family: 'ipv6' }).address);
}

/**
 * Parses the header at the start of `buf`. `incomplete`: more bytes are needed (and may still make a
 * valid header); `invalid`: no header can start like this; `done`: the header is `length` bytes long.
 */
export function parseProxyHeader(buf: Buffer): ParsedHeader {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return invalid('no PROXY header');
}

function parseV1(buf: Buffer): ParsedHeader {
  const n = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) return invalid('bad v1 signature');
  // the line is printable US-ASCII up to its CRLF: anything else is refused at once, not after 107 bytes
  for (let i = n; i < buf.length && buf[i] !== 0x0d && buf[i] !== 0x0a; i++) if (buf[i]! < 0x20 || buf[i]! > 0x7e) return invalid('v1 line is not printable ASCII');
  const cr = buf.indexOf(0x0d);
  const lf = buf.indexOf(0x0a);
  if (lf >= 0 && (cr < 0 || lf < cr)) return invalid('v1 line ends in a bare LF');
  if (cr < 0 || cr + 1 >= buf.length) {
    return buf.length >= V1_MAX_BYTES ? invalid(`v1 line longer than ${V1_MAX_BYTES} bytes`) : INCOMPLETE;
  }
  if (buf[cr + 1] !== 0x0a) return invalid('v1 line ends in a bare CR');
  const length = cr + 2;
  if (length > V1_MAX_BYTES) return invalid(`v1 line longer than ${V1_MAX_BYTES} bytes`);
  const line = buf.toString('latin1', V1_PREFIX.length, cr);
  // UNKNOWN: whatever follows up to the CRLF is to be ignored
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { state: 'done', length, address: undefined };
  const parts = line.split(' ');
  if (parts.length !== 5) return invalid('v1 line is not "PROXY TCP4|TCP6 src dst sport dport"');
  const [family, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const isFamily = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (!isFamily) return invalid('v1 protocol is not TCP4, TCP6 or UNKNOWN');
  if (!isFamily(src) || !isFamily(dst)) return invalid(`v1 address is not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  for (const port of [sport, dport]) if (!PORT.test(port) || Number(port) > 65535) return invalid('v1 port is not 0-65535');
  return { state: 'done', length, address: family === 'TCP4' ? src : canonicalIPv6(src) };
}

function parseV2(buf: Buffer): ParsedHeader {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return invalid('bad v2 signature');
  if (buf.length < 16) {
    if (buf.length > 12 && buf[12]! >> 4 !== 2) return invalid('v2 version is not 2');
    return INCOMPLETE;
  }
  const version = buf[12]! >> 4;
  const command = buf[12]! & 0x0f;
  const family = buf[13]! >> 4;
  const protocol = buf[13]! & 0x0f;
  const payload = buf.readUInt16BE(14);
  if (version !== 2) return invalid('v2 version is not 2');
  if (command > 1) return invalid('v2 command is neither LOCAL nor PROXY');
  if (family > 3 || protocol > 2) return invalid('v2 address family or protocol unknown');
  if (payload > V2_MAX_PAYLOAD) return invalid(`v2 header announces ${payload} bytes, more than ${V2_MAX_PAYLOAD}`);
  const length = 16 + payload;
  if (buf.length < length) return INCOMPLETE;
  // LOCAL (the proxy's own connection, e.g. a health check): its address block is ignored
  if (command === 0) return { state: 'done', length, address: undefined };
  // PROXY over an unspecified or UNIX family: nothing that names an IP address, so the proxy's own
  if (family === 0 || family === 3 || protocol === 0) return { state: 'done', length, address: undefined };
  // an IP family: the connection relayed is a TCP one, so its protocol must be STREAM
  if (protocol !== 1) return invalid('v2 protocol is not STREAM (TCP)');
  if (family === 1) {
    if (payload < 12) return invalid('v2 IPv4 address block shorter than 12 bytes');
    return { state: 'done', length, address: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}` };
  }
  if (payload < 36) return invalid('v2 IPv6 address block shorter than 36 bytes');
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
  return { state: 'done', length, address: canonicalIPv6(groups.join(':')) };
}

/** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`); undefined if it is neither. */
export function parseAddressOrBlock(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const text = entry.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(text) || Number(text) > max) return undefined;
    prefix = Number(text);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export function trustList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseAddressOrBlock(entry);
    if (!parsed) throw new Error(`not an IP address or CIDR block: ${entry}`);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

export interface ProxyProtocolOptions {
  trustedProxies: readonly string[];
  timeoutMs: number;
  /**
   * A connection from an address that is not a trusted proxy: `refuse` (closed unread: MQTT, where
   * every device comes through the balancer) or `direct` (served as it is, its own address counting,
   * and no header read: the HTTP port, which Prometheus and the container's health check reach
   * directly). Either way only a trusted proxy can name an address.
   */
  untrusted?: 'refuse' | 'direct';
  /** A connection closed before it reached the broker: `address` is the proxy's (the peer's). */
  refused(reason: ProxyRefusal, address: string, why: string): void;
}

/**
 * Reads the PROXY header of each accepted connection before anything else sees the socket.
 * `accept` hands the socket on with the address the header names (or the proxy's own, for LOCAL and
 * UNKNOWN), with the bytes that followed the header put back; or closes it.
 */
export class ProxyProtocol {
  private readonly trusted: BlockList;
  /** Sockets whose header is still being read: closed with the listener. */
  private readonly reading = new Set<Socket>();

  constructor(private readonly opts: ProxyProtocolOptions) {
    this.trusted = trustList(opts.trustedProxies);
  }

  isTrusted(address: string): boolean {
    try {
      return this.trusted.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
    } catch {
      return false; // e.g. an IPv6 address with a zone id: not on any list
    }
  }

  accept(socket: Socket, next: (socket: Socket, address: string) => void): void {
    // A connection reset before it was accepted has no address left (the balancer's health check on
    // a loaded machine): gone already, it is nothing to refuse or count.
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const peer = unmapped(socket.remoteAddress);
    if (!isIP(peer) || !this.isTrusted(peer)) {
      if (this.opts.untrusted === 'direct') {
        next(socket, peer);
        return;
      }
      this.opts.refused('proxy_untrusted', peer, 'not a trusted proxy');
      socket.destroy();
      return;
    }
    this.reading.add(socket);
    let buf: Buffer | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
      this.reading.delete(socket);
    };
    const fail = (why: string) => {
      done();
      this.opts.refused('proxy_header', peer, why);
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const header = parseProxyHeader(buf);
      if (header.state === 'incomplete') return;
      if (header.state === 'invalid') return fail(header.why);
      done();
      // the rest of this read (the CONNECT, or the TLS ClientHello) is the next reader's
      socket.pause();
      if (buf.length > header.length) socket.unshift(buf.subarray(header.length));
      next(socket, header.address ?? peer);
    };
    const onEnd = () => fail('closed before the header was complete');
    const onClose = () => { done(); };
    const onError = () => { /* followed by close */ };
    const timer = setTimeout(() => fail(`no complete header within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.on('error', onError);
  }

  /** Closes the connections whose header has not arrived yet (at shutdown). */
  close(): void {
    for (const socket of this.reading) socket.destroy();
    this.reading.clear();
  }
}

/**
 * The HTTP port behind a TCP balancer: each connection from a trusted proxy must start with a PROXY
 * header, read before Node's HTTP (or TLS) server sees a byte, and the address it names becomes the
 * socket's `remoteAddress`, so that `req.ip` (the public notice's rate limit, the refused-token
 * slow-down, the logs) and MQTT over WebSocket's per-address guards see the client, not the balancer.
 * Connections from other addresses are served directly (`untrusted: 'direct'`).
 */
export function readProxyHeaders(server: NetServer, proxy: ProxyProtocol): void {
  const listeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const tls = server instanceof TlsServer;
  server.on('connection', (socket: Socket) => proxy.accept(socket, (s, address) => {
    if (address !== s.remoteAddress) Object.defineProperty(s, 'remoteAddress', { value: address, configurable: true });
    for (const l of listeners) l.call(server, s);
    // accept() paused the socket to put the bytes after the header back; HTTP's reader does not
    // resume a paused socket (TLS reads the raw socket itself, put-back bytes first)
    if (!tls) s.resume();
  }));
  if (tls) {
    // TLS runs on the raw socket, which Node keeps as the TLS socket's `_parent`: the address it was given
    server.on('secureConnection', (tlsSocket: TLSSocket) => {
      const raw = (tlsSocket as unknown as { _parent?: Socket })._parent;
      if (raw) Object.defineProperty(tlsSocket, 'remoteAddress', { value: raw.remoteAddress, configurable: true });
    });
  }
}
