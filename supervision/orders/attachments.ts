/**
 * Attachment files (photos, PDFs of a rectification) on disk: checked before anything is written,
 * then written to a temporary file and renamed, so a crash leaves either the whole file or a
 * `.tmp-` file that the next start removes, never a half file under a real name. A file is named by
 * a random id, never by what the client called it; the client's name is kept, cleaned, for people
 * to read and for the download's Content-Disposition.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OrderError } from './errors.js';

export type AttachmentType = 'image/jpeg' | 'image/png' | 'application/pdf';

/** The first bytes each accepted type must start with (JPEG SOI + marker, the PNG signature, the PDF header). */
const MAGIC: Record<AttachmentType, Buffer> = {
  'image/jpeg': Buffer.from([0xff, 0xd8, 0xff]),
  'image/png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'application/pdf': Buffer.from('%PDF-', 'latin1'),
};

const EXTENSIONS: Record<AttachmentType, readonly string[]> = {
  'image/jpeg': ['.jpg', '.jpeg'],
  'image/png': ['.png'],
  'application/pdf': ['.pdf'],
};

const TMP_PREFIX = '.tmp-';
const MAX_NAME = 120;

/** The media type of a Content-Type header, without parameters, lower case. */
export const mediaTypeOf = (header: string | undefined) => (header ?? '').split(';')[0]!.trim().toLowerCase();

/** Refuses (415) a file whose own first bytes are not those of the type it was declared as. */
export function checkContent(type: AttachmentType, body: Buffer): void {
  if (body.length < MAGIC[type].length || !body.subarray(0, MAGIC[type].length).equals(MAGIC[type])) {
    throw new OrderError('ATTACHMENT_UNSUPPORTED_TYPE', `文件内容不是所声明的 ${type} 格式 / the file's content is not ${type} as declared`, { declared: type });
  }
}

/**
 * The client's file name as people may read it: the last path part, no control or reserved
 * characters, at most 120 characters, ending in an extension of its type (a photo called `x.html`
 * is offered for download as `x.html.png`).
 */
export function cleanName(raw: string | undefined, type: AttachmentType): string {
  const base = (raw ?? '').normalize('NFC').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  let name = base.replace(/[\u0000-\u001f\u007f"*:<>?|]/g, '').replace(/\s+/g, ' ').trim().replace(/^\.+/, '');
  const ext = EXTENSIONS[type];
  if (!ext.some((e) => name.toLowerCase().endsWith(e))) name = `${name || 'attachment'}${ext[0]}`;
  if (name.length > MAX_NAME) name = name.slice(0, MAX_NAME - ext[0]!.length - 1) + '~' + name.slice(name.lastIndexOf('.'));
  return name;
}

/** `Content-Disposition: attachment` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987). */
export function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export class AttachmentFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'attachments');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // what a crash left between writing and renaming
    for (const f of readdirSync(this.dir)) if (f.startsWith(TMP_PREFIX)) rmSync(join(this.dir, f), { force: true });
  }

  /** Writes the file durably under a new random name; returns that name and the content's SHA-256. */
  async write(body: Buffer): Promise<{ storedName: string; sha256: string }> {
    const storedName = randomBytes(16).toString('hex');
    const tmp = join(this.dir, `${TMP_PREFIX}${storedName}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path(storedName));
    return { storedName, sha256: createHash('sha256').update(body).digest('hex') };
  }

  /** Removes a file whose row could not be stored. */
  async remove(storedName: string): Promise<void> {
    await rm(this.path(storedName), { force: true });
  }

  path(storedName: string): string {
    // stored names are ours (32 hex digits); anything else never reaches the file system
    if (!/^[0-9a-f]{32}$/.test(storedName)) throw new Error(`not an attachment file name: ${storedName}`);
    return join(this.dir, storedName);
  }
}
