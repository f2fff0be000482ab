/**
 * Acceptor processes: with `mqtt.acceptors` K > 0, the devices' TCP sockets live in K child processes
 * and the gateway process holds none of them. An operating system limits the files a process may have
 * open (here 20,000, a hard limit), and each MQTT connection is one; this is how one gateway holds
 * 100,000 devices without becoming a cluster (docs/performance.md).
 *
 * The acceptors get the MQTT port's listening socket and accept from it themselves, announcing each
 * connection to the gateway with its peer's address. Until the first of them has the port, the
 * gateway accepts (paused: not a byte read) and hands what it accepted to the acceptor with the
 * fewest connections (the file is then the child's, and closed here); then it stops accepting (see
 * `share`). Either way the gateway gets a stream in the socket's place, which goes
 * through the same broker entry as any socket (`Broker.handle`: the per-address limits, the login,
 * Aedes). An acceptor only copies bytes: from each socket into one pipe to the gateway, and back, in
 * frames of [type, connection, length]. When the pipe is full it stops reading its sockets until it
 * drains, so a busy gateway slows its devices down rather than buffering; and it sends no more of one
 * socket's bytes than the gateway has room for (a credit window per connection, see `CREDIT_WINDOW`).
 *
 * An acceptor that dies takes its connections with it (the devices reconnect, as after a network cut)
 * and is started again. The TLS port and the PROXY protocol keep their sockets in the gateway process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const DATA = 1;
const END = 2;
/** From an acceptor: a connection it accepted itself; the body is the peer's address. */
const OPEN = 3;
/** From the gateway: stop reading this connection's socket (its session is not taking what it sent). */
const PAUSE = 4;
/** From the gateway: read it again. */
const RESUME = 5;
/** From the gateway: the connection's session read this many more bytes (a uint32 body): the acceptor may send as many more. */
const CREDIT = 6;
const HEADER = 9;
/** Connection ids from here on are given by the acceptors (their own accepts); below, by the gateway. */
const OWN_IDS = 0x8000_0000;
/**
 * The most bytes of one connection the gateway holds unread: an acceptor forwards a connection's
 * bytes only while it has credit for them, starting with this much, and the gateway gives credit
 * back as the connection's session reads (`AcceptedStream.grant`). Without it the bound was the
 * stream's 16 KB plus whatever the acceptor read before a request to stop reached it, which was up
 * to 1.4 MB per connection on a loaded machine (docs/security.md MQTT-13). Credit goes back half a
 * window at a time, so a session that reads steadily still has the other half and never waits for it.
 */
export const CREDIT_WINDOW = 32 * 1024;
const GRANT_STEP = CREDIT_WINDOW / 2;

/**
 * The acceptor's code, run with `node -e` (no file of its own, so it runs the same from the built
 * output and from the sources under test). Frames go over fd 4, a pipe to the gateway; sockets come
 * over the IPC channel with their `id`.
 */
const ACCEPTOR = `
const net = require('node:net');
const mux = new net.Socket({ fd: 4, readable: true, writable: true });
const sockets = new Map();
// ends the gateway sent for a socket that had not arrived yet (the two channels are not ordered)
const endedEarly = new Set();
let full = false;
// the frames of one turn go out in one write (a system call per frame was most of the pipe's cost)
let corked = false;
function uncork() { corked = false; mux.uncork(); }
function frame(type, id, body) {
  if (!corked) { corked = true; mux.cork(); process.nextTick(uncork); }
  const h = Buffer.allocUnsafe(${HEADER});
  h[0] = type; h.writeUInt32BE(id, 1); h.writeUInt32BE(body ? body.length : 0, 5);
  const ok = body ? (mux.write(h), mux.write(body)) : mux.write(h);
  if (!ok) full = true;
}
// Connections the gateway asked to stop reading: the pipe's drain does not resume them. Also one it
// handed over whose socket has not arrived yet (the two channels are not ordered): it comes paused.
const pausedByGateway = new Set();
// bytes each connection may still forward (its credit), and the connections stopped for want of it
const credits = new Map();
const starved = new Set();
// a connection stopped for one reason reads again only when no other holds it
function readAgain(id, s) {
  if (pausedByGateway.has(id) || starved.has(id)) return;
  if (full) pausedByPipe.add(id); else s.resume();
}
// Connections stopped while the pipe is full, the drain resumes these. One is stopped when it next
// delivers data, its chunk put back unread: stopping and resuming every connection on each full
// pipe was a third of an acceptor's time in a 100,000-device storm (14,000 connections each).
const pausedByPipe = new Set();
function holdBack(id, socket) { socket.pause(); pausedByPipe.add(id); }
mux.on('drain', () => {
  full = false;
  for (const id of pausedByPipe) { const s = sockets.get(id); if (s) readAgain(id, s); }
  pausedByPipe.clear();
});
function close(s) { s.end(); setTimeout(() => s.destroy(), 5000).unref(); }
function hold(id, socket) {
  sockets.set(id, socket);
  credits.set(id, ${CREDIT_WINDOW});
  socket.setNoDelay(true);
  if (pausedByGateway.has(id)) socket.pause();
  socket.on('data', (d) => {
    if (full) { holdBack(id, socket); socket.unshift(d); return; }
    const credit = credits.get(id);
    if (d.length < credit) { credits.set(id, credit - d.length); frame(${DATA}, id, d); return; }
    // what the credit covers goes now; the rest waits here, unread as far as the gateway knows
    credits.set(id, 0);
    starved.add(id);
    socket.pause();
    if (d.length > credit) socket.unshift(d.subarray(credit));
    if (credit > 0) frame(${DATA}, id, d.subarray(0, credit));
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    pausedByGateway.delete(id); pausedByPipe.delete(id); credits.delete(id); starved.delete(id);
    if (sockets.delete(id)) frame(${END}, id);
  });
  if (full) holdBack(id, socket);
}
// ids this process gives the connections it accepts itself; the gateway's are below ${OWN_IDS}
let nextOwn = ${OWN_IDS};
let listener;
process.on('message', (m, handle) => {
  if (m && m.t === 'unlisten') { if (listener) listener.close(); listener = undefined; return; }
  if (!m || !handle) return;
  if (m.t === 'socket') {
    // a connection the gateway accepted
    if (endedEarly.delete(m.id)) { handle.destroy(); return; }
    hold(m.id, handle);
  } else if (m.t === 'listen') {
    // the MQTT port itself, as a bare handle: this process accepts from it (the first lends the gateway a copy)
    if (m.lend) process.send({ t: 'lent' }, handle);
    if (listener) listener.close();
    listener = new net.Server();
    listener.listen(handle);
    listener.on('error', () => {});
    listener.on('connection', (socket) => {
      const id = nextOwn;
      nextOwn = nextOwn >= 0xfffffffe ? ${OWN_IDS} : nextOwn + 1;
      frame(${OPEN}, id, Buffer.from(socket.remoteAddress || '', 'utf8'));
      hold(id, socket);
    });
  }
});
// the bytes of a frame not complete yet
let rest;
mux.on('data', (chunk) => {
  const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
  let at = 0;
  while (buf.length - at >= ${HEADER}) {
    const type = buf[at], id = buf.readUInt32BE(at + 1), len = buf.readUInt32BE(at + 5);
    if (buf.length - at - ${HEADER} < len) break;
    const s = sockets.get(id);
    if (type === ${DATA}) { if (s) s.write(buf.subarray(at + ${HEADER}, at + ${HEADER} + len)); }
    else if (type === ${END}) { pausedByGateway.delete(id); if (s) { sockets.delete(id); close(s); } else endedEarly.add(id); }
    else if (type === ${PAUSE}) { if (s || id < ${OWN_IDS}) pausedByGateway.add(id); if (s) s.pause(); }
    else if (type === ${RESUME}) { if (pausedByGateway.delete(id) && s) readAgain(id, s); }
    else if (type === ${CREDIT}) {
      if (s) { credits.set(id, credits.get(id) + buf.readUInt32BE(at + ${HEADER})); if (starved.delete(id)) readAgain(id, s); }
    }
    at += ${HEADER} + len;
  }
  rest = at < buf.length ? buf.subarray(at) : undefined;
});
// the gateway is gone (its end of the pipe reset or closed): so are the connections' reason to be
mux.on('error', () => process.exit(0));
mux.on('close', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
`;

/** The gateway's side of one connection an acceptor holds: a stream, as a socket would be. */
class AcceptedStream extends Duplex {
  /** The device closed it (its acceptor said so): nothing to tell the acceptor. */
  remoteEnded = false;
  /** The acceptor was told to stop reading the socket (`gwHold`), until the login's turn (`gwRelease`). */
  pausedRemote = false;
  private told = false;
  /** Bytes the acceptor sent, and the credit given back for those the session read (see `CREDIT_WINDOW`). */
  private taken = 0;
  private granted = 0;

  constructor(readonly id: number, readonly remoteAddress: string | undefined, private readonly link: Link) {
    super({ allowHalfOpen: false });
  }

  /**
   * Bytes from the device, within the connection's credit: a session held back (a device over its
   * publish rate, a login being slowed down) reads nothing, gives no credit back, and the acceptor
   * stops reading its socket once `CREDIT_WINDOW` bytes wait here, as the kernel would stop a socket
   * nobody reads. A session that reads in 'data' events has read them on the push.
   */
  received(body: Buffer): void {
    this.taken += body.length;
    this.push(body);
    if (this.readableLength > this.link.peakUnread) this.link.peakUnread = this.readableLength;
    this.grant();
  }

  /** Aedes reads with `read()` (so does a stream's flowing mode): what it took is credit for the acceptor. */
  override read(size?: number): Buffer | null {
    const chunk = super.read(size) as Buffer | null;
    if (chunk !== null) this.grant();
    return chunk;
  }

  /** Gives the acceptor credit for the bytes the session read since the last grant, once they are half a window. */
  private grant(): void {
    const read = this.taken - this.readableLength;
    if (read - this.granted < GRANT_STEP || this.destroyed) return;
    const body = Buffer.allocUnsafe(4);
    body.writeUInt32BE(read - this.granted, 0);
    this.granted = read;
    this.link.grants++;
    this.link.send(CREDIT, this.id, body);
  }

  /**
   * The acceptor stops reading the socket now, until `gwRelease`. Called by the broker while the
   * connection waits for its login's turn (see login-queue.ts): a waiting connection holds only what
   * was read before PAUSE arrived (its device's CONNECT), not a credit window.
   */
  gwHold(): void {
    if (this.pausedRemote || this.destroyed) return;
    this.pausedRemote = true;
    this.link.pauses++;
    this.link.send(PAUSE, this.id);
  }

  /**
   * Its login's turn: the acceptor reads the socket again. Released here, not in `_read`: Node calls
   * `_read` right after any push, and the CONNECT on its way when PAUSE was sent used to release
   * every held connection at once.
   */
  gwRelease(): void {
    if (!this.pausedRemote || this.destroyed) return;
    this.pausedRemote = false;
    this.link.resumes++;
    this.link.send(RESUME, this.id);
  }

  /** The credit window (`grant`) is the flow control: nothing to do when the session asks for more. */
  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.link.send(DATA, this.id, chunk, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.tell();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.tell();
    this.link.forget(this.id);
    done(err);
  }

  private tell(): void {
    if (this.told || this.remoteEnded) return;
    this.told = true;
    // the gateway is stopping: the socket stays until the acceptors are closed (`holdConnections`)
    if (!this.link.holding) this.link.send(END, this.id);
  }
}

/** One acceptor process and the streams of the connections it holds. */
class Link {
  readonly streams = new Map<number, AcceptedStream>();
  /** Whether it accepts from the shared port (see `Acceptors.balance`). */
  accepting = false;
  /** A session's end no longer closes its socket (see `Acceptors.holdConnections`). */
  holding = false;
  /** Times it was told to stop reading a socket, and to read it again (`AcceptedStream.gwHold`). */
  pauses = 0;
  resumes = 0;
  /** Credit given back (`AcceptedStream.grant`), and the most bytes one connection had waiting unread here. */
  grants = 0;
  peakUnread = 0;
  /** The bytes of a frame not complete yet. */
  private rest: Buffer | undefined;
  private readonly mux: Duplex;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.mux.uncork();
  };

  constructor(readonly proc: ChildProcess, private readonly onOpen: (link: Link, id: number, address: string | undefined) => void) {
    this.mux = proc.stdio[4] as unknown as Duplex;
    this.mux.on('data', (chunk: Buffer) => this.receive(chunk));
    this.mux.on('error', () => undefined);
  }

  send(type: number, id: number, body?: Buffer, done?: (err?: Error | null) => void): void {
    if (this.mux.destroyed) {
      done?.(new Error('acceptor gone'));
      return;
    }
    // the frames of one turn (acknowledgements to many devices) go out in one write, not a system call each
    if (!this.corked) {
      this.corked = true;
      this.mux.cork();
      process.nextTick(this.uncork);
    }
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = type;
    header.writeUInt32BE(id, 1);
    header.writeUInt32BE(body ? body.length : 0, 5);
    this.mux.write(header);
    // the stream's write completes when the pipe has taken it: a slow acceptor shows as a slow socket
    if (body) this.mux.write(body, done ? (err) => done(err ?? null) : undefined);
    else done?.();
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  private receive(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= HEADER) {
      const type = buf[at]!, id = buf.readUInt32BE(at + 1), len = buf.readUInt32BE(at + 5);
      if (buf.length - at - HEADER < len) break;
      const body = buf.subarray(at + HEADER, at + HEADER + len);
      const stream = this.streams.get(id);
      if (type === OPEN) {
        this.onOpen(this, id, body.toString('utf8') || undefined);
      } else if (type === DATA) {
        // each read of the pipe is a buffer of its own: a view of it may be kept
        stream?.received(body);
      } else if (type === END && stream) {
        stream.remoteEnded = true;
        stream.push(null);
        stream.destroy();
      }
      at += HEADER + len;
    }
    this.rest = at < buf.length ? buf.subarray(at) : undefined;
  }

  /** Its process is gone: every connection it held is. */
  lost(): void {
    for (const stream of [...this.streams.values()]) {
      stream.remoteEnded = true;
      stream.destroy();
    }
    this.streams.clear();
  }
}

/** Connections an acceptor may hold past an even share before it stops accepting (see `Acceptors.balance`). */
const SLACK = 256;
/** Files an acceptor keeps for itself below its limit (its pipes, its IPC channel, what Node opens). */
const RESERVED_FILES = 64;
/**
 * How much lower the acceptors' scheduling priority is than the gateway's (nice steps). The gateway
 * process is the one that cannot spread over cores, and at equal priority seven busy acceptors left
 * it a quarter of a core: in a reconnect storm it then took 4.7 s to close while getting 1.9 s of
 * CPU (docs/performance.md). The acceptors only copy bytes; they take what the gateway leaves.
 */
const ACCEPTOR_NICENESS = 5;

/** This process's limit of open files (an acceptor has the same): Linux's /proc, else the common default. */
export function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    if (Number.isFinite(soft) && soft > 0) return soft;
  } catch { /* not Linux */ }
  return 1024;
}

export interface AcceptorsOptions {
  count: number;
  /**
   * The most connections one acceptor holds (default: its open-files limit, less what it keeps for
   * itself). Past its limit libuv would close every connection it accepts, unannounced and uncounted.
   */
  capacity?: number;
  /** A connection was closed at once because the acceptor that took it (or, handing one over, the least loaded) was at its capacity. */
  onFull?: () => void;
  /** A connection, now held by an acceptor: hand its stream to the broker. */
  onStream: (stream: Duplex, address: string | undefined) => void;
  /** An acceptor exited (it is started again unless closing). */
  onExit: (index: number, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** Raising a child's niceness needs no privilege; where the system refuses anyway, it runs at the gateway's. */
function lowerPriority(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    setPriority(proc.pid, Math.min(19, getPriority() + ACCEPTOR_NICENESS));
  } catch { /* left at the gateway's priority */ }
}

export class Acceptors {
  private readonly links: Array<Link | undefined>;
  private nextId = 1;
  private closing = false;
  /** The gateway's listener, until an acceptor lends the port back. */
  private server: Server | undefined;
  /** The copy of the port an acceptor lent back (see `share`). */
  private lentPort: { close(): void } | undefined;
  private acceptedThere = 0;
  private handedOver = 0;
  /** Connections closed at once because an acceptor was at its capacity (`onFull`). */
  private full = 0;
  private readonly capacity: number;
  private balanceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: AcceptorsOptions) {
    this.links = new Array(opts.count).fill(undefined);
    this.capacity = opts.capacity ?? Math.max(1, openFilesLimit() - RESERVED_FILES);
  }

  start(): void {
    for (let i = 0; i < this.links.length; i++) this.spawn(i);
    // an acceptor that stopped accepting starts again once it is back within its share
    this.balanceTimer = setInterval(() => { for (const l of this.links) if (l) this.balance(l); }, 500);
    this.balanceTimer.unref();
  }

  /**
   * Keeps the acceptors even, once the gateway no longer accepts (see `share`): the kernel gives a
   * connection to whichever listener asks first, and one acceptor took twice another's share of
   * 100,000 devices, close to its limit of open files. One past its share by SLACK (or at its
   * capacity) stops accepting, and starts again when back within its share. Some acceptor is always
   * within its share unless all are at capacity; then connections wait in the kernel's queue.
   */
  private balance(link: Link): void {
    if (!this.lentPort || this.closing || !link.proc.connected) return;
    let total = 0;
    for (const l of this.links) total += l?.streams.size ?? 0;
    const share = Math.ceil(total / this.links.length);
    const held = link.streams.size;
    if (link.accepting && (held > share + SLACK || held >= this.capacity)) {
      link.accepting = false;
      link.proc.send({ t: 'unlisten' });
    } else if (!link.accepting && held <= share && held < this.capacity) {
      link.accepting = true;
      link.proc.send({ t: 'listen' }, this.lentPort as never);
    }
  }

  /** The acceptors' process ids (the bench adds their memory to the gateway's). */
  pids(): number[] {
    return this.links.flatMap((l) => (l?.proc.pid === undefined ? [] : [l.proc.pid]));
  }

  /** Connections each acceptor holds, and how many connections came each way since the start. */
  stats(): {
    held: number[]; accepting: boolean[]; capacity: number; lent: boolean; acceptedThere: number; handedOver: number; full: number;
    pauses: number; resumes: number; grants: number; peakUnread: number;
  } {
    let pauses = 0, resumes = 0, grants = 0, peakUnread = 0;
    for (const l of this.links) {
      if (!l) continue;
      pauses += l.pauses; resumes += l.resumes; grants += l.grants;
      peakUnread = Math.max(peakUnread, l.peakUnread);
    }
    return {
      pauses, resumes, grants, peakUnread,
      held: this.links.map((l) => l?.streams.size ?? 0), accepting: this.links.map((l) => l?.accepting ?? false), capacity: this.capacity, lent: this.lentPort !== undefined,
      acceptedThere: this.acceptedThere, handedOver: this.handedOver, full: this.full,
    };
  }

  /** Hands a socket accepted here (paused, unread; before an acceptor lent the port back) to the acceptor holding the fewest connections. */
  adopt(socket: Socket): void {
    let best: Link | undefined;
    for (const l of this.links) if (l?.proc.connected && (!best || l.streams.size < best.streams.size)) best = l;
    if (!best || best.streams.size >= this.capacity) {
      if (best) this.countFull();
      socket.destroy();
      return;
    }
    const link = best;
    const id = this.nextId;
    this.nextId = this.nextId >= OWN_IDS - 1 ? 1 : this.nextId + 1;
    const address = socket.remoteAddress;
    this.handedOver++;
    const stream = this.open(link, id, address);
    // keepOpen, and this copy closed once written (the kernel holds the one in flight): given away
    // (keepOpen false), Node 20 sends a socket its receiver could not take (out of open files) again,
    // in a form the receiver acknowledges twice once it has room, and the second acknowledgement
    // fails an assertion that ends this process. Not sent again, the socket is closed; its device
    // reconnects, and its stream here ends at the login's connect timeout.
    link.proc.send({ t: 'socket', id }, socket, { keepOpen: true }, (err) => {
      socket.destroy();
      if (!err) return;
      stream.remoteEnded = true;
      stream.destroy();
    });
  }

  /**
   * Lets the acceptors accept from the MQTT port themselves (each gets the listening socket): a
   * connection then costs no message between processes before its first byte, which matters in a
   * reconnect storm. Then the gateway stops accepting: while it accepted too, some connections an
   * acceptor took were never announced to its code (3 to 26 in 3,000 on Node 20, with the gateway's
   * share of them; none without it): the devices waited for a CONNACK that never came. It keeps a
   * bare copy of the port, lent back by the first acceptor, for acceptors started later: a copy that
   * holds the port open (the kernel queues connections while no acceptor takes them) and accepts nothing.
   */
  share(server: Server): void {
    this.server = server;
    let lend = true;
    for (const l of this.links) {
      if (!l) continue;
      l.accepting = true;
      l.proc.send({ t: 'listen', lend }, this.port as never);
      lend = false;
    }
  }

  /** The MQTT port's handle to give an acceptor: the lent copy, or the gateway's own until then (none before `share`). */
  private get port(): object | undefined {
    return this.lentPort ?? (this.server as unknown as { _handle?: object | null } | undefined)?._handle ?? undefined;
  }

  private countFull(): void {
    this.full++;
    this.opts.onFull?.();
  }

  /** A connection an acceptor at its capacity accepted: closed there at once, and counted. */
  private refuseFull(link: Link, id: number): void {
    this.countFull();
    link.send(END, id);
  }

  /** An acceptor's copy of the port: the gateway keeps it and closes its own listener. */
  private lent(handle: { close(): void }): void {
    if (this.closing || this.lentPort) {
      handle.close();
      return;
    }
    this.lentPort = handle;
    this.server?.close();
  }

  private open(link: Link, id: number, address: string | undefined): AcceptedStream {
    const stream = new AcceptedStream(id, address, link);
    link.streams.set(id, stream);
    // accepted while the gateway stops listening: closed at once (the device reconnects to the next one)
    if (this.closing) stream.destroy();
    else this.opts.onStream(stream, address);
    return stream;
  }

  /** The gateway stops listening: so do the acceptors (the connections they hold stay until `close`). */
  stopAccepting(): void {
    if (!this.closing) {
      this.closing = true;
      clearInterval(this.balanceTimer);
      this.lentPort?.close();
      this.lentPort = undefined;
      for (const l of this.links) if (l?.proc.connected) l.proc.send({ t: 'unlisten' });
    }
  }

  /**
   * The gateway is stopping: from now on a session's end leaves its socket open, and every socket is
   * closed at once by `close`, at the end of the stop. The broker ends 100,000 sessions one by one
   * in about 2 s, and the rest of the stop takes as long again; a device whose socket closed first
   * would wait through both, failing and backing off, before the new process could take it. Held,
   * every device sees the same one drop at the very end. What a device sends after its session
   * ended is dropped here unacknowledged, and the device sends it again once reconnected.
   */
  holdConnections(): void {
    for (const l of this.links) if (l) l.holding = true;
  }

  close(): void {
    this.stopAccepting();
    for (const l of this.links) {
      if (!l) continue;
      l.lost();
      l.proc.kill('SIGTERM');
    }
  }

  private spawn(index: number): void {
    const proc = spawn(process.execPath, ['-e', ACCEPTOR], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'], serialization: 'json' });
    lowerPriority(proc);
    const link = new Link(proc, (l, id, address) => {
      this.acceptedThere++;
      // accepted before it heard it should stop (see `balance`): closed, the device tries again
      if (l.streams.size >= this.capacity) {
        this.refuseFull(l, id);
        return;
      }
      this.open(l, id, address);
      this.balance(l);
    });
    this.links[index] = link;
    proc.on('message', (m: { t?: string } | null, handle: unknown) => {
      if (m?.t === 'lent' && handle) this.lent(handle as { close(): void });
    });
    if (this.port) {
      link.accepting = true;
      // the first to listen lends the gateway a copy, if none did yet (all died before they could)
      proc.send({ t: 'listen', lend: !this.lentPort }, this.port as never);
    }
    proc.on('error', () => undefined);
    proc.once('exit', (code, signal) => {
      link.lost();
      if (this.links[index] === link) this.links[index] = undefined;
      if (this.closing) return;
      this.opts.onExit(index, code, signal);
      // a second later: an acceptor that keeps dying must not spin
      setTimeout(() => { if (!this.closing && !this.links[index]) this.spawn(index); }, 1000).unref();
    });
  }
}
