/**
 * The outage buffer in front of InfluxDB: a durable, append-only, segmented write-ahead log of
 * line-protocol text in `${dataDir}/spool/`.
 *
 * Why a file and not memory: `TimeSeriesWriter.append` must be durable against a process crash
 * when it returns (the device is acknowledged right after), and an InfluxDB outage can last hours.
 * influxdb-client-js keeps its retry buffer in memory and drops lines when it overflows; here the
 * disk is the buffer.
 *
 * Layout
 *   000000000042.lp   segments: complete lines, each ending in '\n', appended with one
 *                     fs.writeSync per append() call (no fsync by default: surviving SIGKILL is the
 *                     requirement, the page cache survives a process crash; `fsync: true` adds
 *                     fdatasync for OS-crash safety at the cost of one disk flush per append)
 *   cursor.json       {"segment":42,"offset":1234}: the first byte not yet confirmed written to
 *                     the backend; replaced atomically (write tmp + rename) on every commit
 *
 * Reading: `read(maxLines, maxBytes)` returns whole lines starting at the committed cursor (never a
 * part of a line, never across two segments) and marks them in flight; the forwarder calls
 * `commit(batch.next)` when the backend has them, or `release()` when the write failed (the same
 * lines are read again next time). Anything appended but not committed is replayed, in order, after
 * a restart. Fully consumed segments are deleted at commit.
 *
 * Crash recovery: a crash in the middle of append() can leave a partial last line (no '\n'). On
 * open, everything after the last '\n' of a segment is ignored (the last segment is truncated to
 * it), so a torn write is never sent and never glued to the next line. The caller was never
 * acknowledged for that partial append, so nothing acknowledged is lost.
 *
 * The cap (documented behaviour when full): when the segments on disk total more than `maxBytes`,
 * the OLDEST segments are deleted, even if unsent, until the total is under the cap again (the
 * newest segment, holding the append that just happened, is always kept). The lines deleted that
 * had not been sent are counted in `droppedLines` and in
 * `metrics.pointsDropped{reason="buffer_cap"}`, and each deleted segment is logged with a warning
 * (segment id, lines dropped, total dropped). Lines of a batch that is in flight when its segment
 * is deleted are not counted then: if that write succeeds they are in the backend; if it fails
 * they are counted as dropped at `release()`. To make the cap work in reasonably small steps, the
 * segment size is at most a quarter of the cap.
 *
 * Counts (pending lines and bytes, bytes on disk) are kept in memory and recounted by one scan of
 * the remaining segments at open.
 *
 * Not thread-safe and not multi-process: one gateway process owns a data directory.
 */
import {
  closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync,
  readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';

export interface SpoolCursor {
  /** Segment id (the file name's number). */
  segment: number;
  /** Byte offset inside that segment; always at a line start. */
  offset: number;
}

export interface SpoolBatch {
  /** Complete lines, each ending in '\n' (InfluxDB accepts the trailing newline). */
  text: string;
  lines: number;
  bytes: number;
  start: SpoolCursor;
  /** Pass this to `commit()` once the backend has the lines. */
  next: SpoolCursor;
}

export interface SpoolOptions {
  /** The spool directory itself, e.g. `${dataDir}/spool`. Created if missing. */
  dir: string;
  /** Cap on the bytes of all segments on disk (`timeseries.bufferMaxBytes`). */
  maxBytes: number;
  /** Roll to a new segment past this size (`timeseries.bufferSegmentBytes`; at most maxBytes / 4 is used). */
  segmentBytes: number;
  /** fdatasync after every append and fsync the cursor: survives an OS crash / power loss too. */
  fsync?: boolean;
  metrics?: Pick<Metrics, 'pointsDropped' | 'pointsBuffered' | 'bufferBytes'>;
  log?: Pick<Logger, 'warn' | 'info'>;
}

export class SpoolError extends Error {
  constructor(readonly code: 'INGEST_SPOOL_NOT_OPEN' | 'INGEST_SPOOL_WRITE' | 'INGEST_SPOOL_BAD_COMMIT', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpoolError';
  }
}

interface Segment {
  id: number;
  /** Bytes of complete lines (the file may hold a torn tail after this, which is ignored). */
  bytes: number;
  /** Complete lines in the segment. */
  lines: number;
}

interface InFlight {
  start: SpoolCursor;
  next: SpoolCursor;
  lines: number;
  bytes: number;
  /** Its segment was deleted by the cap while the write was in progress. */
  detached: boolean;
}

const SEGMENT_RE = /^(\d{12})\.lp$/;
const CURSOR_FILE = 'cursor.json';
const NEWLINE = 0x0a;
const SCAN_CHUNK = 1 << 20;

function segmentName(id: number): string {
  return String(id).padStart(12, '0') + '.lp';
}

export class Spool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private segments: Segment[] = [];
  /** The newest segment while it is open for appending; null until the next append creates one. */
  private writable: Segment | null = null;
  private writeFd: number | null = null;
  private readFd: { id: number; fd: number } | null = null;
  private cursor: SpoolCursor = { segment: 0, offset: 0 };
  /** Lines of the head segment before the cursor. */
  private consumedLines = 0;
  private lastId = 0;
  private totalBytes = 0;
  private totalLines = 0;
  private inflight: InFlight | null = null;
  private detachedLines = 0;
  private detachedBytes = 0;
  private dropped = 0;
  private appended = 0;
  private opened = false;

  constructor(private readonly opts: SpoolOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = Math.max(1, Math.min(opts.segmentBytes, Math.floor(opts.maxBytes / 4)));
    this.fsync = opts.fsync ?? false;
  }

  /** Lines accepted but not yet committed (including a batch in flight). */
  get pendingLines(): number {
    return this.totalLines - this.consumedLines + this.detachedLines;
  }

  /** Bytes of the pending lines. */
  get pendingBytes(): number {
    const head = this.segments[0];
    const consumed = head && head.id === this.cursor.segment ? this.cursor.offset : 0;
    return this.totalBytes - consumed + this.detachedBytes;
  }

  /** Bytes of all segments on disk (what the cap applies to). */
  get diskBytes(): number {
    return this.totalBytes;
  }

  /** Lines deleted unsent by the cap since open. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Lines ever accepted (pending at open + appended since): `appendedLines - pendingLines` only grows. */
  get appendedLines(): number {
    return this.appended;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Recovers the spool left by a previous run: cursor, segments, counts; truncates a torn tail. */
  open(): void {
    if (this.opened) return;
    mkdirSync(this.dir, { recursive: true });
    this.cursor = this.readCursor();
    const ids = readdirSync(this.dir)
      .map((name) => SEGMENT_RE.exec(name)?.[1])
      .filter((m): m is string => m !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    this.lastId = Math.max(this.cursor.segment, ids.length > 0 ? ids[ids.length - 1]! : 0);
    for (const id of ids) {
      const path = join(this.dir, segmentName(id));
      if (id < this.cursor.segment) {
        // Consumed before the crash; the cursor was persisted but the unlink did not happen.
        unlinkSync(path);
        continue;
      }
      const isCursorSegment = id === this.cursor.segment;
      const scan = scanSegment(path, isCursorSegment ? this.cursor.offset : 0);
      if (scan.validBytes < scan.fileBytes) {
        this.opts.log?.warn({ segment: id, ignoredBytes: scan.fileBytes - scan.validBytes }, 'spool: ignoring a partial line left by a crash');
        // Later appends go to a new segment, but truncating keeps the files clean for anyone reading them.
        const fd = openSync(path, 'r+');
        try { ftruncateSync(fd, scan.validBytes); } finally { closeSync(fd); }
      }
      if (isCursorSegment) {
        if (scan.boundary !== this.cursor.offset) {
          this.opts.log?.warn({ segment: id, offset: this.cursor.offset, resumeAt: scan.boundary }, 'spool: cursor was not at a line start; resuming at the next line');
        }
        this.cursor = { segment: id, offset: scan.boundary };
        this.consumedLines = scan.linesBefore;
      }
      this.segments.push({ id, bytes: scan.validBytes, lines: scan.lines });
      this.totalBytes += scan.validBytes;
      this.totalLines += scan.lines;
    }
    this.normalizeCursor();
    // Drop exhausted leading segments now, so counts and disk usage are right from the start.
    this.dropExhaustedHead();
    this.appended = this.pendingLines;
    this.opened = true;
    this.updateGauges();
  }

  /**
   * Appends lines durably (against a process crash) before returning. Empty lines are skipped; a
   * line break inside a line would split it into two invalid lines, so it is replaced by a space.
   * Throws SpoolError INGEST_SPOOL_WRITE when the disk write fails (nothing of this call is kept).
   */
  append(lines: readonly string[]): void {
    if (!this.opened) throw new SpoolError('INGEST_SPOOL_NOT_OPEN', 'spool is not open');
    let text = '';
    let count = 0;
    for (let line of lines) {
      if (line.length === 0) continue;
      if (line.indexOf('\n') !== -1 || line.indexOf('\r') !== -1) line = line.replace(/[\r\n]/g, ' ');
      text += line + '\n';
      count++;
    }
    if (count === 0) return;
    const buf = Buffer.from(text, 'utf8');
    let seg = this.writable;
    try {
      if (seg === null || (seg.bytes > 0 && seg.bytes + buf.length > this.segmentBytes)) seg = this.roll();
    } catch (err) {
      throw new SpoolError('INGEST_SPOOL_WRITE', `spool append failed: ${(err as Error).message}`, { cause: err });
    }
    const fd = this.writeFd!;
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      if (this.fsync) fdatasyncSync(fd);
    } catch (err) {
      // Undo a partial write so the next append does not glue onto a torn line.
      try {
        ftruncateSync(fd, seg.bytes);
      } catch {
        // Could not even truncate: seal this segment; open() ignores its torn tail.
        this.sealWritable();
      }
      throw new SpoolError('INGEST_SPOOL_WRITE', `spool append failed: ${(err as Error).message}`, { cause: err });
    }
    seg.bytes += buf.length;
    seg.lines += count;
    this.totalBytes += buf.length;
    this.totalLines += count;
    this.appended += count;
    if (this.totalBytes > this.maxBytes) this.enforceCap();
    this.updateGauges();
  }

  /**
   * The next batch from the committed cursor: at most `maxLines` lines and `maxBytes` bytes (a
   * single line longer than maxBytes is returned alone rather than blocking the queue), all from
   * one segment. Null when nothing is pending. Marks the batch in flight until commit/release.
   */
  read(maxLines: number, maxBytes: number): SpoolBatch | null {
    if (!this.opened) throw new SpoolError('INGEST_SPOOL_NOT_OPEN', 'spool is not open');
    this.dropExhaustedHead();
    const head = this.segments[0];
    if (!head || this.cursor.offset >= head.bytes) return null;
    const offset = this.cursor.offset;
    const available = head.bytes - offset;
    let len = Math.min(Math.max(1, maxBytes), available);
    let buf: Buffer;
    let cut: number;
    let lines: number;
    for (;;) {
      buf = this.readAt(head.id, offset, len);
      cut = 0;
      lines = 0;
      let pos = 0;
      while (lines < maxLines) {
        const nl = buf.indexOf(NEWLINE, pos);
        if (nl === -1) break;
        lines++;
        cut = nl + 1;
        pos = cut;
      }
      // `available` ends at a line end, so widening the window always finds one.
      if (lines > 0 || len >= available) break;
      len = Math.min(available, len * 2);
    }
    const start = { segment: head.id, offset };
    const next = { segment: head.id, offset: offset + cut };
    this.inflight = { start, next, lines, bytes: cut, detached: false };
    return { text: buf.toString('utf8', 0, cut), lines, bytes: cut, start: { ...start }, next: { ...next } };
  }

  /** The backend has the batch that ends at `next`: advance and persist the cursor, delete consumed segments. */
  commit(next: SpoolCursor): void {
    const f = this.inflight;
    if (!f || f.next.segment !== next.segment || f.next.offset !== next.offset) {
      throw new SpoolError('INGEST_SPOOL_BAD_COMMIT', `commit of a cursor that is not the batch in flight (${next.segment}:${next.offset})`);
    }
    this.inflight = null;
    if (f.detached) {
      // The cap deleted its segment meanwhile and moved the cursor on; only the in-memory count remains.
      this.detachedLines -= f.lines;
      this.detachedBytes -= f.bytes;
      this.updateGauges();
      return;
    }
    this.cursor = { segment: next.segment, offset: next.offset };
    this.consumedLines += f.lines;
    const head = this.segments[0];
    if (head && head.id === this.cursor.segment && this.cursor.offset >= head.bytes) {
      // Segment fully consumed. Persist first, then delete: a crash in between leaves a segment
      // before the cursor, which open() removes. When it was the last segment (the one being
      // appended to), the cursor stays at its end and the next append starts a new file.
      const following = this.segments[1];
      if (following) this.cursor = { segment: following.id, offset: 0 };
      this.persistCursor();
      this.removeHead();
      this.consumedLines = 0;
    } else {
      this.persistCursor();
    }
    this.updateGauges();
  }

  /**
   * The write of the batch in flight failed: its lines stay pending and are read again. Returns
   * the number of lines lost because the cap deleted their segment during the write (counted as
   * dropped, reason buffer_cap).
   */
  release(): number {
    const f = this.inflight;
    this.inflight = null;
    if (!f || !f.detached) return 0;
    this.detachedLines -= f.lines;
    this.detachedBytes -= f.bytes;
    this.countDropped(f.lines, f.start.segment);
    this.updateGauges();
    return f.lines;
  }

  /** Closes the files; the pending lines stay on disk for the next open(). */
  close(): void {
    if (!this.opened) return;
    if (this.inflight) this.release();
    if (this.writeFd !== null) closeSync(this.writeFd);
    this.writeFd = null;
    this.writable = null;
    this.closeReadFd();
    this.opened = false;
  }

  // --- internals ---

  private roll(): Segment {
    this.sealWritable();
    const id = ++this.lastId;
    const seg: Segment = { id, bytes: 0, lines: 0 };
    // 'a' = O_APPEND: every write lands at the end even if a previous write was truncated away.
    this.writeFd = openSync(join(this.dir, segmentName(id)), 'a');
    this.writable = seg;
    this.segments.push(seg);
    this.normalizeCursor();
    return seg;
  }

  private sealWritable(): void {
    if (this.writeFd !== null) {
      try { closeSync(this.writeFd); } catch { /* already broken */ }
    }
    this.writeFd = null;
    this.writable = null;
  }

  /** Keeps the cursor on the head segment (at its start when the previous head was deleted). */
  private normalizeCursor(): void {
    const head = this.segments[0];
    if (head && this.cursor.segment < head.id) {
      this.cursor = { segment: head.id, offset: 0 };
      this.consumedLines = 0;
    }
  }

  /** Deletes head segments the cursor has fully consumed (including the open one: the next append starts a new file). */
  private dropExhaustedHead(): void {
    for (;;) {
      const head = this.segments[0];
      if (!head || head.id !== this.cursor.segment || this.cursor.offset < head.bytes) return;
      if (this.inflight && !this.inflight.detached && this.inflight.start.segment === head.id) return;
      this.removeHead();
      // The cursor stays {id, end} until the next head exists; persisted ids stay monotonic via lastId.
      this.normalizeCursor();
    }
  }

  private removeHead(): Segment {
    const head = this.segments.shift()!;
    if (this.writable === head) this.sealWritable();
    if (this.readFd?.id === head.id) this.closeReadFd();
    try {
      unlinkSync(join(this.dir, segmentName(head.id)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.totalBytes -= head.bytes;
    this.totalLines -= head.lines;
    if (this.cursor.segment === head.id) this.consumedLines = 0;
    return head;
  }

  /** Deletes the oldest segments until the disk total is under the cap; counts what was unsent. */
  private enforceCap(): void {
    while (this.totalBytes > this.maxBytes && this.segments.length > 1) {
      const head = this.segments[0]!;
      let unsent = head.lines - (this.cursor.segment === head.id ? this.consumedLines : 0);
      const f = this.inflight;
      if (f && !f.detached && f.start.segment === head.id) {
        // Those lines are on their way to the backend; their fate is settled by commit/release.
        f.detached = true;
        unsent -= f.lines;
        this.detachedLines += f.lines;
        this.detachedBytes += f.bytes;
      }
      this.removeHead();
      this.normalizeCursor();
      this.countDropped(unsent, head.id);
    }
  }

  private countDropped(lines: number, segment: number): void {
    if (lines <= 0) return;
    this.dropped += lines;
    this.opts.metrics?.pointsDropped.labels('buffer_cap').inc(lines);
    this.opts.log?.warn({ segment, droppedLines: lines, totalDropped: this.dropped, maxBytes: this.maxBytes },
      'spool over its cap: oldest buffered points dropped');
  }

  private readAt(id: number, position: number, length: number): Buffer {
    if (this.readFd?.id !== id) {
      this.closeReadFd();
      this.readFd = { id, fd: openSync(join(this.dir, segmentName(id)), 'r') };
    }
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.readFd.fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  private closeReadFd(): void {
    if (this.readFd) {
      try { closeSync(this.readFd.fd); } catch { /* ignore */ }
      this.readFd = null;
    }
  }

  private readCursor(): SpoolCursor {
    const path = join(this.dir, CURSOR_FILE);
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<SpoolCursor>;
      if (Number.isSafeInteger(raw.segment) && Number.isSafeInteger(raw.offset) && raw.segment! >= 0 && raw.offset! >= 0) {
        return { segment: raw.segment!, offset: raw.offset! };
      }
      this.opts.log?.warn({ path }, 'spool: cursor file is invalid; replaying every segment');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Replaying too much is better than losing data: duplicates are idempotent in InfluxDB.
        this.opts.log?.warn({ path, err: (err as Error).message }, 'spool: cursor file unreadable; replaying every segment');
      }
    }
    return { segment: 0, offset: 0 };
  }

  private persistCursor(): void {
    const path = join(this.dir, CURSOR_FILE);
    const tmp = path + '.tmp';
    const body = JSON.stringify(this.cursor);
    if (this.fsync) {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      writeFileSync(tmp, body);
    }
    // rename() is atomic: a reader (or a restart) sees the old cursor or the new one, never half of one.
    renameSync(tmp, path);
    if (this.fsync) {
      const dfd = openSync(this.dir, 'r');
      try { fsyncSync(dfd); } finally { closeSync(dfd); }
    }
  }

  private updateGauges(): void {
    const m = this.opts.metrics;
    if (!m) return;
    m.pointsBuffered.set(this.pendingLines);
    m.bufferBytes.set(this.totalBytes);
  }
}

interface SegmentScan {
  fileBytes: number;
  /** Up to and including the last '\n'. */
  validBytes: number;
  lines: number;
  /** First line start at or after the requested offset (clamped to validBytes). */
  boundary: number;
  /** Lines before `boundary`. */
  linesBefore: number;
}

/** One pass over a segment: complete lines, the torn tail, and where a cursor offset really starts. */
function scanSegment(path: string, offset: number): SegmentScan {
  const fileBytes = statSync(path).size;
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(1, fileBytes)));
  let lines = 0;
  let validBytes = 0;
  let boundary = offset === 0 ? 0 : -1;
  let linesBefore = 0;
  try {
    let pos = 0;
    while (pos < fileBytes) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, fileBytes - pos), pos);
      if (n === 0) break;
      let i = buf.indexOf(NEWLINE, 0);
      while (i !== -1 && i < n) {
        const lineEnd = pos + i + 1;
        lines++;
        validBytes = lineEnd;
        if (boundary === -1 && lineEnd >= offset) {
          boundary = lineEnd;
          linesBefore = lines;
        }
        i = buf.indexOf(NEWLINE, i + 1);
      }
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  if (boundary === -1) {
    // The cursor is past the complete lines (the file lost its tail): everything is consumed.
    boundary = validBytes;
    linesBefore = lines;
  }
  return { fileBytes, validBytes, lines, boundary, linesBefore };
}
