/**
 * The GB/T 26875.3 centre (监控中心) side over TCP: user information transmission devices connect,
 * upload with 发送数据 (cmd 2) and get 确认 (cmd 3) once what they sent is durable, or 否认 (cmd 6)
 * for a frame that fails a check (§3.1, §6.5.3 of the standard). Off unless `port` is set.
 *
 * Per connection, frames are handled one at a time in arrival order and the socket is paused while
 * one is being stored: the device's stop-and-wait exchange becomes TCP backpressure, and nothing
 * buffers without bound. Everything a hostile or broken peer can send is capped: the reassembly
 * buffer (one frame), dead letters and bad frames per minute, the time to a first good frame, idle
 * time, and the number of connections.
 *
 * Decisions (see states.ts for the mapping):
 * - A well-formed frame from an address no registered device has: an `unknown_device` dead letter
 *   and 否认, so the device reports a failed transmission at once instead of believing a centre has
 *   its alarm (a 确认 would lie; silence costs it three 10 s retries). It counts as a bad frame,
 *   and the connection is closed when no registered device's frame comes within `firstFrameTimeoutMs`.
 * - A registered device that is not a `fire_panel`: an `undecodable` dead letter and 否认, likewise.
 * - One connection is one device: a frame from another address on it is a bad frame (否认).
 * - 确认 / 应答 from the device (we send no control or request frames yet) are counted `ignored`,
 *   unanswered; a 控制命令 or 请求 from the device is not its to send: 否认.
 */
import { createHash } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import type { Logger } from '../../core/log.js';
import type { DeviceIngress, FieldDevice, ProtocolRejectReason } from '../ingress.js';
import { BAD_FRAME_MESSAGES, CMD, FrameSplitter, decodeAdu, encodeReply, isAduError, type BadFrameCode, type Frame, type FrameHeader, type SplitItem } from './codec.js';
import type { Gb26875Settings } from './config.js';
import { StateMemory, mapAdu } from './states.js';

const PROTOCOL = 'gb26875';
const MINUTE = 60_000;
/** Devices whose state memory is kept (a city's UITDs); past it the least recently heard is forgotten (it costs one `restored`). */
const MAX_DEVICES = 20_000;
/** Recent frames remembered per device for retransmissions: a UITD has one exchange outstanding, a few in flight at most. */
const MAX_RECENT = 32;

export interface Gb26875Deps {
  ingress: DeviceIngress;
  settings: Gb26875Settings;
  log: Logger;
  now?: () => number;
}

/** What a 确认 / 否认 echoes of the frame it answers. */
type ReplyTo = Pick<FrameHeader, 'serial' | 'version' | 'source'>;

/** A frame stored (or being stored) recently, to recognise its retransmission. */
interface Recent { digest: string; at: number; stored: Promise<boolean> }

interface DeviceState {
  memory: StateMemory;
  /** serial → the frame last stored under it. */
  recent: Map<number, Recent>;
}

/** A per-minute budget (bad frames, dead letters). */
class MinuteBudget {
  private start = 0;
  private used = 0;
  /** Spends one; false when the minute's budget is already spent. */
  take(now: number, limit: number): boolean {
    if (now - this.start >= MINUTE) { this.start = now; this.used = 0; }
    this.used++;
    return this.used <= limit;
  }
}

interface Conn {
  socket: Socket;
  remote: string;
  splitter: FrameSplitter;
  device: FieldDevice | undefined;
  address: string | undefined;
  /** `ingress.connected` has resolved for `device`: a close must be announced. */
  announced: boolean;
  busy: boolean;
  closed: boolean;
  bad: MinuteBudget;
  deadLetters: MinuteBudget;
  idleTimer: NodeJS.Timeout;
  firstTimer: NodeJS.Timeout | undefined;
  frameTimer: NodeJS.Timeout | undefined;
}

export class Gb26875Server {
  private server: Server | undefined;
  private readonly conns = new Set<Conn>();
  private readonly devices = new Map<string, DeviceState>();
  private readonly now: () => number;

  constructor(private readonly deps: Gb26875Deps) {
    this.now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { port, host } = this.deps.settings;
    if (port === undefined || this.server) return;
    const server = net.createServer((socket) => this.accept(socket));
    server.on('error', (err) => this.deps.log.error({ err }, 'GB/T 26875.3 listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.deps.log.info({ port: this.port(), host }, 'GB/T 26875.3 listener started');
  }

  port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- connections ----

  private accept(socket: Socket): void {
    const s = this.deps.settings;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.conns.size >= s.maxConnections) {
      this.deps.ingress.count(PROTOCOL, 'connection_refused');
      this.deps.log.warn({ remote, max: s.maxConnections }, 'GB/T 26875.3 connection refused: too many connections');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const c: Conn = {
      socket, remote, splitter: new FrameSplitter(), device: undefined, address: undefined, announced: false, busy: false, closed: false,
      bad: new MinuteBudget(), deadLetters: new MinuteBudget(),
      idleTimer: setTimeout(() => this.drop(c, 'idle'), s.idleTimeoutMs),
      firstTimer: setTimeout(() => this.drop(c, 'no_good_frame'), s.firstFrameTimeoutMs),
      frameTimer: undefined,
    };
    this.conns.add(c);
    this.deps.ingress.connections(PROTOCOL, 1);
    socket.on('data', (chunk: Buffer) => {
      c.splitter.push(chunk);
      void this.pump(c);
    });
    socket.on('error', (err) => this.deps.log.debug({ err, remote }, 'GB/T 26875.3 socket error'));
    socket.on('close', () => this.closed(c));
  }

  private closed(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    clearTimeout(c.idleTimer);
    clearTimeout(c.firstTimer);
    clearTimeout(c.frameTimer);
    this.conns.delete(c);
    this.deps.ingress.connections(PROTOCOL, -1);
    if (c.device && c.announced) this.deps.ingress.disconnected(c.device, c.socket);
  }

  private drop(c: Conn, why: 'idle' | 'no_good_frame' | 'bad_frames' | 'error' | 'revoked'): void {
    if (c.closed) return;
    this.deps.log.info({ remote: c.remote, deviceId: c.device?.id, why }, 'GB/T 26875.3 connection closed by the centre');
    c.socket.destroy();
    this.closed(c);
  }

  /** Works through what the splitter has, one item at a time; a frame being stored pauses the socket. */
  private async pump(c: Conn): Promise<void> {
    if (c.busy) return; // the running pump sees the new bytes
    c.busy = true;
    let progressed = false;
    try {
      for (let item = c.splitter.next(); item && !c.closed; item = c.closed ? undefined : c.splitter.next()) {
        progressed = true;
        const pending = this.handle(c, item);
        if (pending) {
          c.socket.pause();
          await pending;
          if (!c.closed) c.socket.resume();
        }
      }
    } catch (err) {
      this.deps.log.error({ err, remote: c.remote, deviceId: c.device?.id }, 'GB/T 26875.3 connection failed');
      this.drop(c, 'error');
    } finally {
      c.busy = false;
    }
    if (c.closed) return;
    // An incomplete frame gets frameTimeoutMs from when it became the head of the buffer, then is
    // dropped as truncated; more bytes of the same frame do not extend it.
    if (progressed || c.splitter.pending() === 0) {
      clearTimeout(c.frameTimer);
      c.frameTimer = undefined;
    }
    if (c.splitter.pending() > 0 && !c.frameTimer) c.frameTimer = setTimeout(() => this.frameTimedOut(c), this.deps.settings.frameTimeoutMs);
  }

  private frameTimedOut(c: Conn): void {
    c.frameTimer = undefined;
    if (c.closed) return;
    // a frame is being stored: what is buffered has not been looked at yet; the pump re-arms the timer
    if (c.busy) return;
    const item = c.splitter.dropIncomplete();
    if (item) this.handle(c, item);
    void this.pump(c);
  }

  /** Handles one item; returns a promise only when it has to wait (storing a frame). */
  private handle(c: Conn, item: SplitItem): Promise<void> | undefined {
    if (item.kind === 'garbage') {
      this.bad(c, 'bad_frame', `${BAD_FRAME_MESSAGES.garbage} (${item.length} B)`, item.bytes, undefined);
      return undefined;
    }
    if (item.kind === 'bad') {
      this.bad(c, 'bad_frame', badFrameMessage(item.code, item.header), item.bytes, item.header);
      return undefined;
    }
    return this.frame(c, item.frame, item.bytes);
  }

  /**
   * A frame that fails: a dead letter (within the minute's budget, else only counted), 否认 when its
   * header could be read, and the connection closed past `maxBadFramesPerMinute`.
   */
  private bad(c: Conn, reason: ProtocolRejectReason, message: string, raw: Buffer, header: ReplyTo | undefined): void {
    const s = this.deps.settings;
    const now = this.now();
    if (c.deadLetters.take(now, s.deadLettersPerMinute)) {
      this.deps.ingress.reject({ protocol: PROTOCOL, reason, message, raw, deviceId: c.device?.id, source: c.remote });
    } else {
      this.deps.ingress.count(PROTOCOL, reason); // reject() counts the ones it keeps
    }
    if (header) this.reply(c, CMD.deny, header);
    if (!c.bad.take(now, s.maxBadFramesPerMinute)) {
      this.deps.log.warn({ remote: c.remote, deviceId: c.device?.id, max: s.maxBadFramesPerMinute }, 'GB/T 26875.3: too many bad frames, closing');
      this.drop(c, 'bad_frames');
    }
  }

  private reply(c: Conn, command: typeof CMD.confirm | typeof CMD.deny, to: ReplyTo): void {
    if (c.closed || c.socket.destroyed) return;
    c.socket.write(encodeReply(command, to, this.deps.settings.centreAddress, this.now()));
  }

  private frame(c: Conn, frame: Frame, bytes: Buffer): Promise<void> | undefined {
    const device = this.identify(c, frame, bytes);
    if (!device) return undefined;
    if (!c.device) return this.firstFrame(c, device, frame, bytes);
    return this.goodFrame(c, device, frame, bytes);
  }

  /** The device a frame is from, or undefined after answering it as a bad frame. */
  private identify(c: Conn, frame: Frame, bytes: Buffer): FieldDevice | undefined {
    if (c.device) {
      if (frame.source === c.address) {
        // disabled, or its address given to another device, since it connected: its connection ends
        // here (as a revoked MQTT session does), and its reconnection is refused as unknown
        if (this.deps.ingress.byUitdAddress(frame.source)?.id === c.device.id) return c.device;
        this.drop(c, 'revoked');
        return undefined;
      }
      this.bad(c, 'bad_frame', `同一连接上源地址改变（${c.address} → ${frame.source}）/ source address changed on one connection (${c.address} → ${frame.source})`, bytes, frame);
      return undefined;
    }
    const device = this.deps.ingress.byUitdAddress(frame.source);
    if (!device) {
      this.bad(c, 'unknown_device', `未登记的用户信息传输装置地址 ${frame.source}（请在设备上登记 uitdAddress）/ no registered device has UITD address ${frame.source} (register it as the device's uitdAddress)`, bytes, frame);
      return undefined;
    }
    if (device.kind !== 'fire_panel') {
      this.bad(c, 'undecodable', `地址 ${frame.source} 登记的设备 ${device.id} 不是火灾报警控制器（${device.kind}）/ device ${device.id} with UITD address ${frame.source} is a ${device.kind}, not a fire_panel`, bytes, frame);
      return undefined;
    }
    return device;
  }

  private async firstFrame(c: Conn, device: FieldDevice, frame: Frame, bytes: Buffer): Promise<void> {
    c.device = device;
    c.address = frame.source;
    clearTimeout(c.firstTimer);
    c.firstTimer = undefined;
    this.deps.log.info({ remote: c.remote, deviceId: device.id, address: frame.source }, 'GB/T 26875.3 device connected');
    await this.deps.ingress.connected(device, c.socket);
    c.announced = true;
    // closed while the gateway was getting the device ready: its disconnect is said now, after the connect
    if (c.closed) this.deps.ingress.disconnected(device, c.socket);
    else await this.goodFrame(c, device, frame, bytes);
  }

  private goodFrame(c: Conn, device: FieldDevice, frame: Frame, bytes: Buffer): Promise<void> | undefined {
    c.idleTimer.refresh();
    switch (frame.command) {
      case CMD.send:
        return this.sendData(c, device, frame, bytes);
      case CMD.confirm:
      case CMD.response:
        // answers to control or request frames, which this centre does not send yet
        this.deps.ingress.count(PROTOCOL, 'ignored');
        return undefined;
      default:
        // 控制命令 / 请求 go from the centre to the device, not the other way
        this.deps.ingress.count(PROTOCOL, 'ignored');
        this.reply(c, CMD.deny, frame);
        return undefined;
    }
  }

  /** 发送数据: stored, then 确认; a retransmission of a stored frame is confirmed again without storing it twice. */
  private async sendData(c: Conn, device: FieldDevice, frame: Frame, bytes: Buffer): Promise<void> {
    const ingress = this.deps.ingress;
    if (frame.adu.length === 0) {
      // cmd 2 with an empty ADU: the heartbeat of practice (DG, RS); the standard defines none
      ingress.heartbeat(device, PROTOCOL);
      this.reply(c, CMD.confirm, frame);
      return;
    }
    const adu = decodeAdu(frame.adu);
    if (isAduError(adu)) {
      this.bad(c, 'undecodable', `应用数据单元无法解析 / ADU cannot be decoded: ${adu.message}`, bytes, frame);
      return;
    }
    const state = this.deviceState(device.id);
    const now = this.now();
    const digest = frameDigest(bytes);
    const recent = state.recent.get(frame.serial);
    if (recent && recent.digest === digest && now - recent.at <= this.deps.settings.duplicateWindowMs) {
      if (await recent.stored) {
        ingress.count(PROTOCOL, 'duplicate');
        this.reply(c, CMD.confirm, frame);
      }
      // its first copy could not be stored: no answer, the device sends it again
      return;
    }
    const s = this.deps.settings;
    const model = device.model !== undefined ? s.models[device.model] : undefined;
    const mapped = mapAdu(adu, state.memory, { ignoreTestBit: model?.ignoreTestBit ?? false, now, maxPastMs: s.timeLabelMaxPastMs, maxFutureMs: s.timeLabelMaxFutureMs });
    let settle!: (ok: boolean) => void;
    const entry: Recent = { digest, at: now, stored: new Promise<boolean>((r) => { settle = r; }) };
    remember(state.recent, frame.serial, entry);
    try {
      if (mapped.telemetry.length > 0) await ingress.submit(device, 'telemetry', mapped.telemetry, PROTOCOL);
      if (mapped.events.length > 0) await ingress.submit(device, 'event', mapped.events, PROTOCOL);
    } catch (err) {
      // the store did not take it: no 确认, the device retransmits and we store it then
      if (state.recent.get(frame.serial) === entry) state.recent.delete(frame.serial);
      settle(false);
      this.deps.log.warn({ err, deviceId: device.id, serial: frame.serial }, 'GB/T 26875.3 frame not stored; not confirmed');
      return;
    }
    state.memory.commit(mapped.updates);
    settle(true);
    const stored = mapped.telemetry.length + mapped.events.length;
    if (mapped.heartbeat || stored === 0) {
      if (mapped.ignored > 0 && stored === 0) ingress.count(PROTOCOL, 'ignored');
      ingress.heartbeat(device, PROTOCOL);
    }
    this.reply(c, CMD.confirm, frame);
  }

  private deviceState(id: string): DeviceState {
    let s = this.devices.get(id);
    if (s) {
      // most recently heard last, so the first is the one to forget
      this.devices.delete(id);
    } else {
      s = { memory: new StateMemory(), recent: new Map() };
      if (this.devices.size >= MAX_DEVICES) this.devices.delete(this.devices.keys().next().value!);
    }
    this.devices.set(id, s);
    return s;
  }
}

function remember(recent: Map<number, Recent>, serial: number, entry: Recent): void {
  recent.delete(serial);
  recent.set(serial, entry);
  if (recent.size > MAX_RECENT) recent.delete(recent.keys().next().value!);
}

/**
 * What makes a frame the same frame: everything but the send-time label and the checksum (which
 * covers it), since a device may restamp a retransmission. The ADU carries the events' own times,
 * so a new event under a reused serial differs.
 */
function frameDigest(bytes: Buffer): string {
  return createHash('sha1').update(bytes.subarray(2, 6)).update(bytes.subarray(12, bytes.length - 3)).digest('base64');
}

function badFrameMessage(code: BadFrameCode, header: FrameHeader | undefined): string {
  const base = BAD_FRAME_MESSAGES[code];
  return header ? `${base}（流水号 ${header.serial}，源地址 ${header.source}）/ serial ${header.serial}, source ${header.source}` : base;
}

