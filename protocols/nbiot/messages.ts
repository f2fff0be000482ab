/** What the platform parsers (onenet.ts, ctwing.ts) hand the adapter (routes.ts): platform-neutral messages. */
import type { VendorReport } from './decoders.js';

export type PlatformMessage =
  /** A device report to decode; `keys`: its dedupe keys (delivered if any one was). */
  | { type: 'data'; imei: string | undefined; alias: string | undefined; report: VendorReport; keys: string[]; raw: string }
  /** Online/offline (lifecycle); `alias`: the platform's own device id, when there is no IMEI. */
  | { type: 'status'; imei: string | undefined; alias: string | undefined; online: boolean }
  /** A message type we do not use (command results, scene logs, TUP unions). */
  | { type: 'ignored'; what: string }
  /** Well-formed platform JSON that is not a message we can read. */
  | { type: 'undecodable'; message: string; raw: string };

const IMEI = /^\d{15}$/;

/** An IMEI, or undefined (CTWing sends the literal "undefined" for an unknown IMSI/IMEI). */
export function imeiOf(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    const s = typeof c === 'number' ? String(c) : c;
    if (typeof s === 'string' && IMEI.test(s)) return s;
  }
  return undefined;
}

/** A platform timestamp (epoch ms) we can store, or undefined (the gateway's receive time is used). */
export function epochMs(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 8_640_000_000_000_000 ? n : undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Dead-letter text of a message: JSON, cut to a size a dead letter keeps anyway. */
export function rawText(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  return s.length > 4096 ? s.slice(0, 4096) : s;
}
