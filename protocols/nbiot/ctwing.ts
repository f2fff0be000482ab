/**
 * China Telecom CTWing / AEP 订阅推送 (research notes §3): no envelope and no signature, the
 * message itself discriminated by `messageType`. The proof is the secret in the subscribed URL
 * (`?token=`), compared in constant time, plus HTTPS (and the operator's IP allow-list).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { dedupeKey, sha1 } from './dedupe.js';
import { epochMs, imeiOf, isRecord, rawText, type PlatformMessage } from './messages.js';

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function tokenMatches(expected: string, got: string | undefined): boolean {
  if (got === undefined) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(got, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * One push → messages. `dataReport` (profile JSON: `serviceData` or flat properties; transparent:
 * base64 `APPdata`) and `eventReport` (`eventContent`) → data; `deviceOnlineOfflineReport` →
 * status (`eventType` 1 online, 0 offline); `dataReportTupUnion` (format unknown, notes §6),
 * `commandResponse` and the rest → ignored.
 */
export function ctwingMessages(body: string, instance: string): PlatformMessage[] {
  let m: unknown;
  try { m = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body); } catch { return [{ type: 'undecodable', message: '推送内容不是 JSON / the push body is not JSON', raw: rawText(body) }]; }
  if (!isRecord(m)) return [{ type: 'undecodable', message: '推送内容不是 JSON 对象 / the push body is not a JSON object', raw: rawText(body) }];
  const alias = typeof m.deviceId === 'string' && m.deviceId ? m.deviceId : undefined;
  const payload = isRecord(m.payload) ? m.payload : undefined;
  const serviceData = payload && isRecord(payload.serviceData) ? payload.serviceData : undefined;
  const imei = imeiOf(m.IMEI, m.imei, serviceData?.IMEI);
  switch (m.messageType) {
    case 'deviceOnlineOfflineReport': {
      const e = Number(m.eventType);
      if (e !== 0 && e !== 1) return [{ type: 'ignored', what: `deviceOnlineOfflineReport eventType ${String(m.eventType)}` }];
      return [{ type: 'status', imei, alias, online: e === 1 }];
    }
    case 'dataReport':
    case 'eventReport': {
      const content = m.messageType === 'eventReport' ? m.eventContent : payload;
      if (!isRecord(content)) return [{ type: 'undecodable', message: `${m.messageType} 缺少 ${m.messageType === 'eventReport' ? 'eventContent' : 'payload'} / ${m.messageType} without its content`, raw: rawText(body) }];
      let bytes: Buffer | undefined;
      let fields: Record<string, unknown> = content;
      if (typeof content.APPdata === 'string') {
        bytes = Buffer.from(content.APPdata, 'base64');
        fields = {};
      } else if (serviceData && m.messageType === 'dataReport') {
        fields = { ...serviceData, serviceId: payload!.serviceId };
      }
      const ts = epochMs(m.timestamp);
      const key = dedupeKey('ctwing', instance, alias, m.messageType, m.timestamp as string | number | undefined, sha1(JSON.stringify(content)));
      return [{ type: 'data', imei, alias, report: { fields, bytes, ts }, keys: [key], raw: rawText(body) }];
    }
    default:
      return [{ type: 'ignored', what: String(m.messageType ?? 'unknown') }];
  }
}
