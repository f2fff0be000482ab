/**
 * GB/T 26875.3-2011 wire codec (用户信息传输装置 ↔ 监控中心): the TCP stream splitter, frame
 * decode / encode, application data units and time labels. Pure: no sockets, no clock (the caller
 * passes the time), no exceptions on bad input: a bad frame is a value the server answers.
 *
 * Section numbers (§) are those of docs `protocols/gb26875-3.md`, which cites the standard's own.
 */

/** '@@' (§1, 启动符 "固定值64，64"). */
export const START = 0x40;
/** '##' (§1, 结束符 "固定值35，35": decimal, i.e. 0x23; CS's 0x35 is a bug). */
export const END = 0x23;
/** Control unit (业务流水号 … 命令字节): offsets 2..26. */
export const HEADER_BYTES = 27;
/** '@@' + 25 control bytes + checksum + '##'. */
export const FRAME_OVERHEAD = 30;
/** 应用数据单元长度 ≤ 1024 (§1, §6.5.3: 超限 is a check failure). */
export const MAX_ADU = 1024;
export const MAX_FRAME = FRAME_OVERHEAD + MAX_ADU;

/** 命令字节 (§1.2, STD Table 2). 0, 7–127 reserved, 128–255 user-defined: neither is recognised here. */
export const CMD = { control: 1, send: 2, confirm: 3, request: 4, response: 5, deny: 6 } as const;

/** A frame whose structure checked out (markers, length, checksum, a known command). */
export interface Frame {
  serial: number;
  /** 协议版本号 [main, user]: not validated (field devices send 10 00, 01 02, 02 03; §4). */
  version: readonly [number, number];
  /** 时间标签 as sent (6 bytes) and as epoch ms (undefined when not a valid date). */
  time: Buffer;
  sentAt: number | undefined;
  /** 12 lower-case hex digits in wire order (low byte first), compared as opaque strings (§1 Addresses). */
  source: string;
  destination: string;
  command: number;
  adu: Buffer;
}

/** The control unit of a candidate frame: what a 否认 needs even when the rest is wrong. */
export interface FrameHeader {
  serial: number;
  version: readonly [number, number];
  source: string;
  destination: string;
  command: number;
  length: number;
}

export type BadFrameCode = 'checksum' | 'end_marker' | 'length' | 'command' | 'truncated';

export type SplitItem =
  | { kind: 'frame'; bytes: Buffer; frame: Frame }
  /** A frame that failed a check (§6.5.3); `header` is set when its control unit could be read, so a 否认 can echo the serial. */
  | { kind: 'bad'; code: BadFrameCode; bytes: Buffer; header: FrameHeader | undefined }
  /** Bytes before any '@@': not a frame at all; `length` may exceed the bytes kept. */
  | { kind: 'garbage'; bytes: Buffer; length: number };

/** What a person reads about a bad frame (Chinese first, then English). */
export const BAD_FRAME_MESSAGES: Readonly<Record<BadFrameCode | 'garbage', string>> = {
  checksum: '校验和错误 / checksum mismatch',
  end_marker: '结束符错误（应为 ##）/ end marker is not ##',
  length: `应用数据单元长度超限（>${MAX_ADU}）/ ADU length over ${MAX_ADU}`,
  command: '不可识别的命令字节 / unknown command byte',
  truncated: '数据包不完整（超时未收齐）/ truncated frame (rest not received in time)',
  garbage: '非数据包字节（无启动符 @@）/ bytes outside any frame (no @@ start marker)',
};

/** Garbage kept per item for the dead letter: the first bytes are what identifies a wrong protocol. */
const GARBAGE_KEEP = 256;

export function addressHex(buf: Buffer, offset: number): string {
  return buf.toString('hex', offset, offset + 6);
}

const ADDRESS_RE = /^[0-9a-f]{12}$/;
export function isAddress(s: string): boolean {
  return ADDRESS_RE.test(s);
}

/** 8-bit arithmetic sum (§1.1: not XOR, not CRC). */
export function checksum(buf: Buffer, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += buf[i]!;
  return sum & 0xff;
}

function readHeader(buf: Buffer): FrameHeader {
  return {
    serial: buf.readUInt16LE(2),
    version: [buf[4]!, buf[5]!],
    source: addressHex(buf, 12),
    destination: addressHex(buf, 18),
    length: buf.readUInt16LE(24),
    command: buf[26]!,
  };
}

function isKnownCommand(c: number): boolean {
  return c >= CMD.control && c <= CMD.deny;
}

/**
 * Checks one complete candidate (starts with '@@', is exactly 30+L bytes) and decodes its control unit.
 * Order of checks: end marker (is this a frame at all), checksum (is it intact), command (do we know it).
 */
export function checkFrame(bytes: Buffer): { ok: true; frame: Frame } | { ok: false; code: BadFrameCode; header: FrameHeader | undefined } {
  if (bytes.length < FRAME_OVERHEAD || bytes[0] !== START || bytes[1] !== START) return { ok: false, code: 'truncated', header: bytes.length >= HEADER_BYTES ? readHeader(bytes) : undefined };
  const header = readHeader(bytes);
  if (header.length > MAX_ADU) return { ok: false, code: 'length', header };
  if (bytes.length !== FRAME_OVERHEAD + header.length) return { ok: false, code: 'truncated', header };
  const end = HEADER_BYTES + header.length;
  if (bytes[end + 1] !== END || bytes[end + 2] !== END) return { ok: false, code: 'end_marker', header };
  if (checksum(bytes, 2, end) !== bytes[end]) return { ok: false, code: 'checksum', header };
  if (!isKnownCommand(header.command)) return { ok: false, code: 'command', header };
  const time = Buffer.from(bytes.subarray(6, 12));
  return {
    ok: true,
    frame: {
      serial: header.serial, version: header.version, time, sentAt: decodeTime(time, 0), source: header.source,
      destination: header.destination, command: header.command, adu: Buffer.from(bytes.subarray(HEADER_BYTES, end)),
    },
  };
}

/**
 * Splits a TCP byte stream into frames (§1.3). Frames are found by '@@' and their length field,
 * never by '##' (0x23 and 0x40 occur freely in data). Handles several frames per read and a frame
 * split over reads. The buffer never holds more than one incomplete frame (≤ 1053 bytes) plus the
 * chunk being worked through, so a flood cannot grow it.
 *
 * Lazy: `push` appends, `next` yields one item at a time, so a caller that gives up on a connection
 * (too many bad frames) stops paying for the rest of a garbage chunk.
 */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Bytes up to the next '@@' are the rest of a candidate already reported as bad. */
  private quiet = false;

  push(chunk: Buffer): void {
    const rest = this.buf.subarray(this.pos);
    this.buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    this.pos = 0;
  }

  /** Bytes held waiting for the rest of a frame. */
  pending(): number {
    return this.buf.length - this.pos;
  }

  /** The next frame, bad frame or garbage run; undefined when more bytes are needed. */
  next(): SplitItem | undefined {
    for (;;) {
      const buf = this.buf;
      const avail = buf.length - this.pos;
      if (avail === 0) return undefined;
      const start = this.findStart();
      // no '@@': all garbage, except a last 0x40 that may be the first half of one
      const length = start < 0 ? avail - (buf[buf.length - 1] === START ? 1 : 0) : start - this.pos;
      if (length > 0) {
        const bytes = Buffer.from(buf.subarray(this.pos, this.pos + Math.min(length, GARBAGE_KEEP)));
        this.pos += length;
        // the rest of a refused candidate was reported with it: not a second item
        if (this.quiet) continue;
        return { kind: 'garbage', bytes, length };
      }
      if (start < 0) return undefined;
      // a candidate starts at pos
      if (avail < HEADER_BYTES) return undefined;
      this.quiet = false;
      const aduLength = buf.readUInt16LE(this.pos + 24);
      if (aduLength > MAX_ADU) {
        // the header is all we read; skip the '@@' only, in case a real frame starts inside it
        const bytes = Buffer.from(buf.subarray(this.pos, this.pos + HEADER_BYTES));
        this.skipStart();
        return { kind: 'bad', code: 'length', bytes, header: readHeader(bytes) };
      }
      const size = FRAME_OVERHEAD + aduLength;
      if (avail < size) return undefined;
      const bytes = Buffer.from(buf.subarray(this.pos, this.pos + size));
      const checked = checkFrame(bytes);
      if (checked.ok) {
        this.pos += size;
        return { kind: 'frame', bytes, frame: checked.frame };
      }
      // With its end marker in place the candidate was a frame whose content is damaged: drop all of it
      // (rescanning its data could find '@@' inside and answer phantom frames). Without, it may have been
      // a false start or a truncated frame followed by a good one: skip only the '@@' and rescan.
      if (checked.code === 'end_marker') this.skipStart();
      else this.pos += size;
      return { kind: 'bad', code: checked.code, bytes, header: checked.header };
    }
  }

  private skipStart(): void {
    this.pos += 2;
    this.quiet = true;
  }

  /**
   * Gives up on the incomplete frame at the head of the buffer (the rest did not come in time: a
   * truncated frame, or a false '@@' whose "length" would stall the frames behind it) and rescans
   * after its start marker. Undefined when nothing incomplete is held.
   */
  dropIncomplete(): SplitItem | undefined {
    const avail = this.buf.length - this.pos;
    if (avail < 2 || this.buf[this.pos] !== START || this.buf[this.pos + 1] !== START) return undefined;
    const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + Math.min(avail, MAX_FRAME)));
    this.skipStart();
    return { kind: 'bad', code: 'truncated', bytes, header: avail >= HEADER_BYTES ? readHeader(bytes) : undefined };
  }

  private findStart(): number {
    const buf = this.buf;
    for (let i = this.pos; i < buf.length - 1; i++) if (buf[i] === START && buf[i + 1] === START) return i;
    return -1;
  }
}

// ---- time labels (§1 Time labels; STD §8.2.2 Fig.17) ----

/** China Standard Time, no daylight saving: the time labels' zone (UNCONFIRMED in the standard; what every implementation uses). */
const CST_OFFSET_MS = 8 * 3600_000;

/** sec, min, hour, day, month, year(0–99) binary at `offset` → epoch ms, or undefined when not a real date. */
export function decodeTime(buf: Buffer, offset: number): number | undefined {
  if (buf.length < offset + 6) return undefined;
  const sec = buf[offset]!, min = buf[offset + 1]!, hour = buf[offset + 2]!, day = buf[offset + 3]!, month = buf[offset + 4]!, year = buf[offset + 5]!;
  if (sec > 59 || min > 59 || hour > 23 || day < 1 || day > 31 || month < 1 || month > 12 || year > 99) return undefined;
  const local = Date.UTC(2000 + year, month - 1, day, hour, min, sec);
  // Date.UTC rolls 31 February into March: such a label is not a date
  if (new Date(local).getUTCDate() !== day) return undefined;
  return local - CST_OFFSET_MS;
}

/** Epoch ms → the 6-byte label in China local time. Years outside 2000–2099 are clamped (the field holds 0–99). */
export function encodeTime(ms: number, out: Buffer = Buffer.alloc(6), offset = 0): Buffer {
  const d = new Date(ms + CST_OFFSET_MS);
  const year = Math.min(99, Math.max(0, d.getUTCFullYear() - 2000));
  out[offset] = d.getUTCSeconds();
  out[offset + 1] = d.getUTCMinutes();
  out[offset + 2] = d.getUTCHours();
  out[offset + 3] = d.getUTCDate();
  out[offset + 4] = d.getUTCMonth() + 1;
  out[offset + 5] = year;
  return out;
}

// ---- encoding ----

export interface FrameSpec {
  serial: number;
  version?: readonly [number, number];
  /** Send time (epoch ms), written as the time label. */
  time: number;
  source: string;
  destination: string;
  command: number;
  adu?: Buffer;
}

function writeAddress(out: Buffer, offset: number, hex: string): void {
  // an invalid address is a programming error of the caller; write zeros rather than throw on a hot path
  if (isAddress(hex)) out.write(hex, offset, 6, 'hex');
  else out.fill(0, offset, offset + 6);
}

/** Any frame: '@@', control unit, ADU, checksum, '##'. The checksum is always computed, never copied (§4). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const adu = spec.adu ?? Buffer.alloc(0);
  const out = Buffer.alloc(FRAME_OVERHEAD + adu.length);
  out[0] = START;
  out[1] = START;
  out.writeUInt16LE(spec.serial & 0xffff, 2);
  out[4] = spec.version?.[0] ?? 1;
  out[5] = spec.version?.[1] ?? 0;
  encodeTime(spec.time, out, 6);
  writeAddress(out, 12, spec.source);
  writeAddress(out, 18, spec.destination);
  out.writeUInt16LE(adu.length, 24);
  out[26] = spec.command;
  adu.copy(out, HEADER_BYTES);
  const end = HEADER_BYTES + adu.length;
  out[end] = checksum(out, 2, end);
  out[end + 1] = END;
  out[end + 2] = END;
  return out;
}

/**
 * The centre's 确认 (cmd 3) or 否认 (cmd 6) to a frame (§3.2): 30 bytes, the frame's serial and
 * version echoed, the centre's send time, the centre as source, the UITD as destination, no ADU.
 */
export function encodeReply(command: typeof CMD.confirm | typeof CMD.deny, to: Pick<FrameHeader, 'serial' | 'version' | 'source'>, centreAddress: string, now: number): Buffer {
  return encodeFrame({ serial: to.serial, version: to.version, time: now, source: centreAddress, destination: to.source, command });
}

// ---- application data units (§2) ----

const gb18030 = new TextDecoder('gb18030');

/** GB18030 text up to the first NUL, trimmed of spaces (ASCII and full-width) and control characters. */
export function decodeText(buf: Buffer): string {
  const nul = buf.indexOf(0);
  const text = gb18030.decode(nul < 0 ? buf : buf.subarray(0, nul));
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, '').replace(/^[\s\u3000]+|[\s\u3000]+$/g, '');
}

export interface SystemState { sysType: number; sysAddr: number; state: number; at: number | undefined }
export interface ComponentState { sysType: number; sysAddr: number; compType: number; compAddr: number; state: number; description: string; at: number | undefined }
export interface AnalogValue { sysType: number; sysAddr: number; compType: number; compAddr: number; analogType: number; value: number; at: number | undefined }
export interface Operation { sysType: number; sysAddr: number; flags: number; operator: number; at: number | undefined }
export interface UitdState { state: number; at: number | undefined }
export interface UitdOperation { flags: number; operator: number; at: number | undefined }
export interface UitdTime { at: number | undefined }

export type Adu =
  | { type: 1; objects: SystemState[] }
  | { type: 2; objects: ComponentState[] }
  | { type: 3; objects: AnalogValue[] }
  | { type: 4; objects: Operation[] }
  | { type: 21; objects: UitdState[] }
  | { type: 24; objects: UitdOperation[] }
  | { type: 28; objects: UitdTime[] }
  /** A type this gateway does not use (versions, configuration, reserved, user-defined): kept, not failed. */
  | { type: number; unknown: true; count: number; body: Buffer };

export type AduError = { error: 'empty' | 'object_size'; message: string };

/** Uplink ADU types decoded here, with their object size (§2.1). */
const OBJECT_SIZE: Readonly<Record<number, number>> = { 1: 10, 2: 46, 3: 16, 4: 10, 21: 7, 24: 8, 28: 6 };

export function isAduError(a: Adu | AduError): a is AduError {
  return 'error' in a;
}

/** Decodes an uplink ADU (类型标志, 信息对象数目, objects). A known type whose size does not add up is an error; an unknown type is kept. */
export function decodeAdu(adu: Buffer): Adu | AduError {
  if (adu.length < 2) return { error: 'empty', message: `应用数据单元过短（${adu.length} 字节）/ ADU too short (${adu.length} bytes)` };
  const type = adu[0]!, n = adu[1]!;
  const size = OBJECT_SIZE[type];
  if (size === undefined) return { type, unknown: true, count: n, body: Buffer.from(adu.subarray(2)) };
  if (n * size !== adu.length - 2) {
    return { error: 'object_size', message: `类型 ${type} 的 ${n} 个信息对象应为 ${n * size} 字节，实为 ${adu.length - 2} / type ${type}: ${n} objects should be ${n * size} bytes, got ${adu.length - 2}` };
  }
  const objects = [];
  for (let i = 0, o = 2; i < n; i++, o += size) {
    switch (type) {
      case 1: objects.push({ sysType: adu[o]!, sysAddr: adu[o + 1]!, state: adu.readUInt16LE(o + 2), at: decodeTime(adu, o + 4) }); break;
      case 2: objects.push({
        sysType: adu[o]!, sysAddr: adu[o + 1]!, compType: adu[o + 2]!, compAddr: adu.readUInt32LE(o + 3), state: adu.readUInt16LE(o + 7),
        description: decodeText(adu.subarray(o + 9, o + 40)), at: decodeTime(adu, o + 40),
      }); break;
      case 3: objects.push({
        sysType: adu[o]!, sysAddr: adu[o + 1]!, compType: adu[o + 2]!, compAddr: adu.readUInt32LE(o + 3), analogType: adu[o + 7]!,
        value: adu.readInt16LE(o + 8), at: decodeTime(adu, o + 10),
      }); break;
      case 4: objects.push({ sysType: adu[o]!, sysAddr: adu[o + 1]!, flags: adu[o + 2]!, operator: adu[o + 3]!, at: decodeTime(adu, o + 4) }); break;
      case 21: objects.push({ state: adu[o]!, at: decodeTime(adu, o + 1) }); break;
      case 24: objects.push({ flags: adu[o]!, operator: adu[o + 1]!, at: decodeTime(adu, o + 2) }); break;
      case 28: objects.push({ at: decodeTime(adu, o) }); break;
    }
  }
  return { type, objects } as Adu;
}

// ---- uplink ADU builders (the simulator's, and the tests') ----

function aduOf(type: number, size: number, n: number, write: (buf: Buffer, i: number, o: number) => void): Buffer {
  const buf = Buffer.alloc(2 + size * n);
  buf[0] = type;
  buf[1] = n;
  for (let i = 0; i < n; i++) write(buf, i, 2 + i * size);
  return buf;
}

/** Type 2 objects; `description` is GB18030 bytes (≤ 31, NUL-padded here). */
export function encodeComponentStates(objects: readonly { sysType: number; sysAddr: number; compType: number; compAddr: number; state: number; description?: Buffer; at: number }[]): Buffer {
  return aduOf(2, 46, objects.length, (buf, i, o) => {
    const c = objects[i]!;
    buf[o] = c.sysType; buf[o + 1] = c.sysAddr; buf[o + 2] = c.compType;
    buf.writeUInt32LE(c.compAddr >>> 0, o + 3);
    buf.writeUInt16LE(c.state & 0xffff, o + 7);
    c.description?.copy(buf, o + 9, 0, Math.min(31, c.description.length));
    encodeTime(c.at, buf, o + 40);
  });
}

export function encodeSystemStates(objects: readonly { sysType: number; sysAddr: number; state: number; at: number }[]): Buffer {
  return aduOf(1, 10, objects.length, (buf, i, o) => {
    const s = objects[i]!;
    buf[o] = s.sysType; buf[o + 1] = s.sysAddr;
    buf.writeUInt16LE(s.state & 0xffff, o + 2);
    encodeTime(s.at, buf, o + 4);
  });
}

export function encodeOperations(objects: readonly { sysType: number; sysAddr: number; flags: number; operator: number; at: number }[]): Buffer {
  return aduOf(4, 10, objects.length, (buf, i, o) => {
    const s = objects[i]!;
    buf[o] = s.sysType; buf[o + 1] = s.sysAddr; buf[o + 2] = s.flags; buf[o + 3] = s.operator;
    encodeTime(s.at, buf, o + 4);
  });
}

export function encodeUitdState(state: number, at: number): Buffer {
  return aduOf(21, 7, 1, (buf, _i, o) => { buf[o] = state; encodeTime(at, buf, o + 1); });
}
