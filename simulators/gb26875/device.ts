/**
 * A simulated user information transmission device (用户信息传输装置) speaking GB/T 26875.3 over TCP
 * to the gateway, built on the gateway's own codec. It behaves as the standard asks of a device
 * (§6.3 of the standard, gb26875-3.md §3): each upload gets a new serial, is retransmitted with the
 * same serial and bytes when no 确认 comes within `timeoutMs` (≤ 10 s), at most `retries` times.
 * A 否认 is handed back to the caller rather than retransmitted, so a test or a person sees it.
 */
import net, { type Socket } from 'node:net';
import iconv from 'iconv-lite';
import {
  CMD, FrameSplitter, encodeComponentStates, encodeFrame, encodeOperations, encodeSystemStates, encodeUitdState, type Frame,
} from '../../protocols/gb26875/index.js';
import { SimError } from '../errors.js';

export interface Gb26875DeviceOptions {
  host: string;
  port: number;
  /** Our source address: 12 hex digits in wire order, e.g. `40e201000000`. */
  address: string;
  /** The centre's address we send to (default all-zero). */
  centreAddress?: string;
  /** Wait for a 确认 before retransmitting (the standard: not more than 10 s). */
  timeoutMs?: number;
  /** Retransmissions after the first send (the standard recommends 3). */
  retries?: number;
  now?: () => number;
}

export interface ComponentStateSpec {
  sysType?: number;
  sysAddr?: number;
  /** 部件类型; default 42 点型光电感烟火灾探测器. */
  compType?: number;
  compAddr: number;
  /** 部件状态 bits: 0x0003 = normal running + 火警, 0x0005 fault, 0x0001 normal. */
  state: number;
  /** 部件说明, encoded as GB18030 (at most 31 bytes kept). */
  description?: string;
  at?: number;
}

export interface SystemStateSpec { sysType?: number; sysAddr?: number; state: number; at?: number }
export interface OperationSpec { sysType?: number; sysAddr?: number; flags: number; operator?: number; at?: number }

interface Waiter { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout | undefined }

/** Replies nobody waited for yet, kept for `waitReply`; a few suffice (one exchange at a time). */
const MAX_UNCLAIMED = 32;

export class Gb26875Device {
  private socket: Socket | undefined;
  private readonly splitter = new FrameSplitter();
  private serial = 0;
  private readonly waiters = new Map<number, Waiter>();
  private readonly unclaimed: Frame[] = [];
  private readonly now: () => number;
  /** Frames sent, retransmissions included. */
  sent = 0;
  /** True once the centre closed the connection (or it failed). */
  closed = false;

  constructor(private readonly opts: Gb26875DeviceOptions) {
    this.now = opts.now ?? Date.now;
    if (!/^[0-9a-f]{12}$/i.test(opts.address)) throw new SimError('SIM_BAD_ARGS', `地址应为 12 位十六进制 / address must be 12 hex digits: ${opts.address}`);
  }

  get address(): string { return this.opts.address.toLowerCase(); }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.opts.host, port: this.opts.port });
      const failed = (err: Error) => reject(new SimError('SIM_CONNECT', `无法连接 / cannot connect to ${this.opts.host}:${this.opts.port}: ${err.message}`));
      socket.once('connect', () => { socket.off('error', failed); resolve(); });
      socket.once('error', failed);
      socket.on('error', () => {}); // after connecting: reported through close
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => this.onClose());
      socket.setNoDelay(true);
      this.socket = socket;
    });
  }

  /** Uploads type 2 (部件运行状态) objects; resolves with the centre's answer (确认 or 否认). */
  sendComponentState(spec: ComponentStateSpec | ComponentStateSpec[]): Promise<Frame> {
    const list = Array.isArray(spec) ? spec : [spec];
    return this.send(encodeComponentStates(list.map((c) => ({
      sysType: c.sysType ?? 1, sysAddr: c.sysAddr ?? 1, compType: c.compType ?? 42, compAddr: c.compAddr, state: c.state,
      description: c.description === undefined ? undefined : iconv.encode(c.description, 'gb18030'), at: c.at ?? this.now(),
    }))));
  }

  /** Uploads type 1 (系统状态): bit8 主电故障, bit9 备电故障, bit13 复位. */
  sendSystemState(spec: SystemStateSpec | SystemStateSpec[]): Promise<Frame> {
    const list = Array.isArray(spec) ? spec : [spec];
    return this.send(encodeSystemStates(list.map((s) => ({ sysType: s.sysType ?? 1, sysAddr: s.sysAddr ?? 1, state: s.state, at: s.at ?? this.now() }))));
  }

  /** Uploads type 4 (操作信息): bit0 复位, bit2 手动报警. */
  sendOperation(spec: OperationSpec): Promise<Frame> {
    return this.send(encodeOperations([{ sysType: spec.sysType ?? 1, sysAddr: spec.sysAddr ?? 1, flags: spec.flags, operator: spec.operator ?? 1, at: spec.at ?? this.now() }]));
  }

  /** Uploads type 21 (the device's own running state); 0x01 = 正常监视. */
  sendUitdState(state = 0x01): Promise<Frame> {
    return this.send(encodeUitdState(state, this.now()));
  }

  /** 发送数据 with an empty ADU: the heartbeat of practice (not in the standard). */
  sendHeartbeat(): Promise<Frame> {
    return this.send(Buffer.alloc(0));
  }

  /** Any ADU as 发送数据, with a new serial and retransmission. */
  async send(adu: Buffer, command: number = CMD.send): Promise<Frame> {
    this.serial = (this.serial + 1) & 0xffff;
    const serial = this.serial;
    const bytes = encodeFrame({ serial, version: [1, 0], time: this.now(), source: this.address, destination: this.opts.centreAddress ?? '000000000000', command, adu });
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const retries = this.opts.retries ?? 3;
    for (let attempt = 0; attempt <= retries; attempt++) {
      this.sendRaw(bytes);
      const reply = await this.waitReply(serial, timeoutMs).catch((err: Error) => err);
      if (!(reply instanceof Error)) return reply;
      if (this.closed) throw reply;
    }
    throw new SimError('SIM_CONNECT', `${retries + 1} 次发送均未收到应答 / no answer to serial ${serial} after ${retries + 1} sends`);
  }

  /** Takes the next serial, for a frame built by hand and sent with `sendRaw`. */
  nextSerial(): number {
    this.serial = (this.serial + 1) & 0xffff;
    return this.serial;
  }

  /** Writes bytes as they are (a damaged frame, garbage); pair with `waitReply` to read the answer. */
  sendRaw(buf: Buffer): void {
    if (!this.socket || this.closed) throw new SimError('SIM_CONNECT', '未连接 / not connected');
    this.sent++;
    this.socket.write(buf);
  }

  /** The centre's next answer with this serial (one already received and unclaimed counts). */
  waitReply(serial: number, timeoutMs = 10_000): Promise<Frame> {
    const i = this.unclaimed.findIndex((f) => f.serial === serial);
    if (i >= 0) return Promise.resolve(this.unclaimed.splice(i, 1)[0]!);
    if (this.closed) return Promise.reject(new SimError('SIM_CONNECT', '连接已关闭 / connection closed'));
    this.waiters.get(serial)?.reject(new Error('superseded'));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve, reject,
        timer: setTimeout(() => { this.waiters.delete(serial); reject(new SimError('SIM_CONNECT', `超时未收到应答 / no answer to serial ${serial} within ${timeoutMs} ms`)); }, timeoutMs),
      };
      this.waiters.set(serial, w);
    });
  }

  /** Resolves when the centre closes the connection. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket?.once('close', () => resolve()));
  }

  async close(): Promise<void> {
    if (!this.socket || this.closed) return;
    const closed = this.whenClosed();
    this.socket.end();
    this.socket.destroySoon();
    await closed;
  }

  private onData(chunk: Buffer): void {
    this.splitter.push(chunk);
    for (let item = this.splitter.next(); item; item = this.splitter.next()) {
      if (item.kind !== 'frame') continue; // a centre's bad bytes: the device waits and retransmits
      const w = this.waiters.get(item.frame.serial);
      if (w) {
        this.waiters.delete(item.frame.serial);
        clearTimeout(w.timer);
        w.resolve(item.frame);
      } else {
        this.unclaimed.push(item.frame);
        if (this.unclaimed.length > MAX_UNCLAIMED) this.unclaimed.shift();
      }
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const [serial, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new SimError('SIM_CONNECT', `连接已关闭，未收到流水号 ${serial} 的应答 / connection closed before the answer to serial ${serial}`));
    }
    this.waiters.clear();
  }
}

export const GB26875_SCENARIOS = ['fire', 'fault', 'restore', 'test', 'reset', 'power', 'manual', 'heartbeat'] as const;
export type Gb26875Scenario = (typeof GB26875_SCENARIOS)[number];

export interface Gb26875SimulatorOptions {
  host: string;
  port: number;
  address: string;
  scenario: Gb26875Scenario;
  /** 部件说明 of the component the scenario reports (default 一层走廊). */
  zone?: string;
  /** 部件地址 (default 258 = 0x102, the worked example's). */
  point?: number;
  timeoutMs?: number;
}

const REPLY_NAMES: Readonly<Record<number, string>> = { [CMD.confirm]: '确认 / confirmed', [CMD.deny]: '否认 / denied' };

/**
 * One scenario against a running gateway (`npm run simulate -- gb26875 …`): connects as the device,
 * sends what the scenario says, prints each answer, disconnects. Throws a SimError when the centre
 * does not answer.
 */
export async function runGb26875Simulator(opts: Gb26875SimulatorOptions, print: (line: string) => void): Promise<void> {
  if (!(GB26875_SCENARIOS as readonly string[]).includes(opts.scenario)) {
    throw new SimError('SIM_UNKNOWN_SCENARIO', `未知场景 / unknown scenario ${opts.scenario}; one of ${GB26875_SCENARIOS.join(', ')}`);
  }
  const device = new Gb26875Device({ host: opts.host, port: opts.port, address: opts.address, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  await device.connect();
  print(`已连接 / connected to ${opts.host}:${opts.port} as ${device.address}`);
  const component = { compAddr: opts.point ?? 0x102, description: opts.zone ?? '一层走廊' };
  const show = (what: string, f: Frame) => print(`${what}: ${REPLY_NAMES[f.command] ?? `命令 ${f.command}`} (serial ${f.serial})`);
  try {
    switch (opts.scenario) {
      case 'fire': show('火警 / fire alarm', await device.sendComponentState({ ...component, state: 0x0003 })); break;
      case 'fault': show('故障 / fault', await device.sendComponentState({ ...component, state: 0x0005 })); break;
      case 'restore': show('恢复正常 / restored', await device.sendComponentState({ ...component, state: 0x0001 })); break;
      case 'test': show('测试火警 / test fire alarm', await device.sendComponentState({ ...component, state: 0x0002 })); break;
      case 'reset': show('复位 / reset', await device.sendOperation({ flags: 0x01 })); break;
      case 'power': show('主电故障 / mains power fault', await device.sendSystemState({ state: 0x0101 })); break;
      case 'manual': show('手动报警 / manual alarm', await device.sendOperation({ flags: 0x04 })); break;
      case 'heartbeat':
        show('运行状态 / UITD state', await device.sendUitdState(0x01));
        show('心跳 / heartbeat', await device.sendHeartbeat());
        break;
    }
  } finally {
    await device.close();
  }
}
