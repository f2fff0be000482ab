/**
 * Simulated NB-IoT carrier platforms: they push to the gateway exactly as OneNET (legacy and
 * Studio) and CTWing do (research notes §1-§3): the same envelopes, signed with the instance's
 * token, optionally AES-encrypted, and re-sent on any answer but 200 like the platform. Plus
 * encoders of the vendor payloads the gateway's built-in decoders read (protocols/nbiot/decoders.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { legacyEncrypt, onenetSignature, studioEncrypt } from '../../protocols/nbiot/index.js';

export interface PushResult {
  status: number;
  body: string;
  attempts: number;
}

/** Studio's documented re-push schedule (5 s … 1 h, 16 retries); legacy's is undocumented. */
export const STUDIO_RETRY_MS = [5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600].map((s) => s * 1000);
/** CTWing: at most 3 retries; the interval is undocumented. */
export const CTWING_RETRY_MS = [1000, 1000, 1000];

const sleep = (ms: number) => new Promise<void>((resolve) => { if (ms > 0) setTimeout(resolve, ms); else resolve(); });

async function post(url: string, body: string, retryDelaysMs: readonly number[], contentType = 'application/json'): Promise<PushResult> {
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    let text: string;
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(5000) });
      status = res.status;
      text = await res.text();
    } catch (err) {
      text = (err as Error).message; // unreachable or no answer within 5 s: a failure, retried
    }
    const delay = retryDelaysMs[attempt - 1];
    if (status === 200 || delay === undefined) return { status, body: text, attempts: attempt };
    await sleep(delay);
  }
}

/** 8 printable characters, URL-special ones included, as real nonces are (`I$TLyP&f`). */
export function randomNonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$&_+';
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('');
}

// ---------------------------------------------------------------------------------------------
// Vendor payloads

/** Status byte of our `gw-smoke-v1` frame. */
export const GW_SMOKE_STATUS = { reading: 0, alarm: 1, alarm_cleared: 2, low_battery: 3, tamper: 4, test_alarm: 5 } as const;

/** Our `gw-smoke-v1` frame: A5 01, status, smoke (u16, 0.1 dB/m), temperature (i16, 0.1 °C), battery (%). */
export function encodeGwSmokeFrame(f: { status: keyof typeof GW_SMOKE_STATUS; smoke: number; temperature: number; battery: number }): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0xa5;
  b[1] = 0x01;
  b[2] = GW_SMOKE_STATUS[f.status];
  b.writeUInt16BE(Math.round(f.smoke * 10), 3);
  b.writeInt16BE(Math.round(f.temperature * 10), 5);
  b[7] = Math.round(f.battery);
  return b;
}

/** LiAn `Alarm_Status` values (notes §3.2). */
export const LIAN_ALARM_STATUS = { alarm: 1, silenced: 2, low_battery: 4, fault: 5, normal: 7, tamper: 10, tamper_restored: 11, online: 12, test_alarm: 14 } as const;

/** A LiAn NB smoke alarm's CTWing profile report (`payload.serviceData`), shaped as the real capture. */
export function lianServiceData(imei: string, status: keyof typeof LIAN_ALARM_STATUS, battery = 100): Record<string, unknown> {
  return { TData: 30, SNR: 1, RSRP: 114, IMEI: imei, Cell_ID_Length: 8, Cell_ID: '38848339', CSQ: 5, Battery_Level: battery, Alarm_Status: LIAN_ALARM_STATUS[status], AlarmLevel: 100 };
}

/** Our `gw-water-pressure` thing-model properties. */
export function waterPressureParams(pressureKpa: number, levelCm: number, time: number): Record<string, { value: number; time: number }> {
  return { Pressure: { value: pressureKpa, time }, WaterLevel: { value: levelCm, time } };
}

/** A platform device id as CTWing makes them for LwM2M devices (32 hex). */
export function ctwingDeviceId(imei: string): string {
  return createHash('md5').update(imei).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// OneNET

export interface OneNetPushOptions {
  /** The full push URL, e.g. http://gw:8080/api/v1/ingest/onenet/main */
  url: string;
  token: string;
  dialect: 'legacy' | 'studio';
  /** 安全模式: Studio's 16-character key, or legacy's 43-character EncodingAESKey. */
  aesKey?: string;
  /** Waits between re-sends after an answer other than 200; default: Studio's schedule. */
  retryDelaysMs?: readonly number[];
  /** Escape `+` in the URL check's query (default false: OneNET leaves base64 `+` as is, notes §1.1). */
  escapePlus?: boolean;
}

export class OneNetPush {
  private nextId = Math.floor(Math.random() * 1e6);
  private readonly devIds = new Map<string, number>();

  constructor(readonly opts: OneNetPushOptions) {}

  private query(value: string): string {
    const v = encodeURIComponent(value);
    return this.opts.escapePlus ? v : v.replace(/%2B/g, '+');
  }

  /** The URL check (「验证」/ 提交): GET ?msg&nonce&signature; `ok` when the answer is `msg` exactly. */
  async verifyUrl(msg = randomBytes(12).toString('base64url'), nonce = randomNonce()): Promise<{ status: number; body: string; ok: boolean }> {
    const signature = onenetSignature(this.opts.token, nonce, msg);
    const sep = this.opts.url.includes('?') ? '&' : '?';
    const res = await fetch(`${this.opts.url}${sep}msg=${this.query(msg)}&nonce=${this.query(nonce)}&signature=${this.query(signature)}`);
    const body = await res.text();
    return { status: res.status, body, ok: res.status === 200 && body === msg };
  }

  /** Posts a body as is (no signing), re-sent like the platform until 200. */
  pushRaw(body: string, contentType = 'application/json'): Promise<PushResult> {
    return post(this.opts.url, body, this.opts.retryDelaysMs ?? STUDIO_RETRY_MS, contentType);
  }

  /** The signed (and in 安全模式 encrypted) body of a legacy push of `msg` (an object, or an array: a batch), given as JSON text so its exact spelling is kept. */
  legacyBody(msgJson: string, nonce = randomNonce()): string {
    if (this.opts.aesKey) {
      const enc = legacyEncrypt(this.opts.aesKey, msgJson);
      return JSON.stringify({ enc_msg: enc, msg_signature: onenetSignature(this.opts.token, nonce, enc), nonce });
    }
    return `{"msg":${msgJson},"msg_signature":${JSON.stringify(onenetSignature(this.opts.token, nonce, msgJson))},"nonce":${JSON.stringify(nonce)}}`;
  }

  /** The signed body of a Studio push of a rule-engine message. */
  studioBody(message: object, id = String(++this.nextId), nonce = randomNonce()): string {
    const text = JSON.stringify(message);
    const msg = this.opts.aesKey ? studioEncrypt(this.opts.aesKey, text) : text;
    return JSON.stringify({ msg, nonce, signature: onenetSignature(this.opts.token, nonce, msg), time: Date.now(), id });
  }

  private devId(imei: string): number {
    let id = this.devIds.get(imei);
    if (id === undefined) { id = 500_000_000 + (parseInt(imei.slice(-8), 10) % 100_000_000); this.devIds.set(imei, id); }
    return id;
  }

  /** A reading as the platform pushes it: legacy data point `ds_id` (hex in `3200_0_5750`), or a Studio property notify. */
  pushReading(imei: string, value: string | number | Record<string, unknown>, opts: { resource?: string; at?: number; id?: string } = {}): Promise<PushResult> {
    const resource = opts.resource ?? '3200_0_5750';
    const at = opts.at ?? Date.now();
    if (this.opts.dialect === 'legacy') {
      return this.pushRaw(this.legacyBody(JSON.stringify({ at, imei, type: 1, ds_id: resource, value, dev_id: this.devId(imei) })));
    }
    const params = typeof value === 'object' ? value : { [resource]: { time: at, value } };
    return this.pushRaw(this.studioBody({ notifyType: 'property', productId: 'sim0000001', messageType: 'notify', imei, deviceName: imei, data: { id: String(this.nextId), params } }, opts.id));
  }

  /** Online/offline: legacy type 2 (NB login_type 10), Studio lifeCycle. */
  pushLifecycle(imei: string, online: boolean): Promise<PushResult> {
    const at = Date.now();
    if (this.opts.dialect === 'legacy') {
      return this.pushRaw(this.legacyBody(JSON.stringify({ type: 2, dev_id: this.devId(imei), imei, status: online ? 1 : 0, login_type: 10, at })));
    }
    return this.pushRaw(this.studioBody({ productId: 'sim0000001', deviceName: imei, messageType: 'lifeCycle', data: { status: online ? 'online' : 'offline', time: at } }));
  }
}

// ---------------------------------------------------------------------------------------------
// CTWing

export interface CtwingPushOptions {
  /** The subscribed URL, its `?token=` included. */
  url: string;
  retryDelaysMs?: readonly number[];
}

export class CtwingPush {
  constructor(readonly opts: CtwingPushOptions) {}

  pushRaw(body: string, contentType = 'application/json'): Promise<PushResult> {
    return post(this.opts.url, body, this.opts.retryDelaysMs ?? CTWING_RETRY_MS, contentType);
  }

  /** A `dataReport` with a profile payload (`{serviceId, serviceData}`) or a transparent one (`APPdata` bytes). */
  dataReportBody(imei: string, payload: { serviceData: Record<string, unknown>; serviceId?: string } | { appData: Buffer }, timestamp = Date.now()): string {
    const p = 'appData' in payload ? { APPdata: payload.appData.toString('base64') } : { serviceId: payload.serviceId ?? 'notification', serviceData: payload.serviceData };
    return JSON.stringify({
      upPacketSN: -1, upDataSN: -1, topic: 'appData' in payload ? 'v1/up/ad' : 'v1/up/ad19prof', timestamp, tenantId: '10461180', serviceId: '',
      protocol: 'lwm2m', productId: '15014772', payload: p, messageType: 'dataReport', deviceType: '', deviceId: ctwingDeviceId(imei), assocAssetId: '', IMSI: 'undefined', IMEI: imei,
    });
  }

  pushDataReport(imei: string, payload: { serviceData: Record<string, unknown>; serviceId?: string } | { appData: Buffer }, timestamp?: number): Promise<PushResult> {
    return this.pushRaw(this.dataReportBody(imei, payload, timestamp));
  }

  /** `deviceOnlineOfflineReport`: no IMEI, as on the platform; the gateway knows the deviceId from an earlier report. */
  pushOnlineOffline(imei: string, online: boolean): Promise<PushResult> {
    return this.pushRaw(JSON.stringify({ timestamp: Date.now(), tenantId: '10461180', protocol: 'lwm2m', productId: '15014772', messageType: 'deviceOnlineOfflineReport', iccid: 'undefined', eventType: online ? 1 : 0, deviceId: ctwingDeviceId(imei) }));
  }
}

// ---------------------------------------------------------------------------------------------
// `npm run simulate -- nbiot …`

export interface NbiotSimulatorOptions {
  /** The gateway's HTTP base, e.g. http://127.0.0.1:8080 */
  api: string;
  platform: 'onenet' | 'ctwing';
  instance: string;
  token: string;
  imei: string;
  event: 'alarm' | 'clear' | 'reading' | 'heartbeat';
  /** OneNET only; default legacy. */
  dialect?: 'legacy' | 'studio';
  aesKey?: string;
  /** The device's model (registry): `gw-smoke-v1` (default on OneNET) or `lian-nb-smoke` (default on CTWing). */
  model?: 'gw-smoke-v1' | 'lian-nb-smoke';
  /** OneNET: check the URL first, as the console does when the push is saved. */
  verify?: boolean;
  retryDelaysMs?: readonly number[];
}

const SMOKE_FRAME_STATUS = { alarm: 'alarm', clear: 'alarm_cleared', reading: 'reading', heartbeat: 'reading' } as const;
const LIAN_STATUS = { alarm: 'alarm', clear: 'normal', reading: 'online', heartbeat: 'online' } as const;
const EVENT_ZH = { alarm: '报警', clear: '报警消除', reading: '读数', heartbeat: '心跳' } as const;

/** Pushes one smoke-alarm message as the platform would; resolves with the gateway's answer. */
export async function runNbiotSimulator(opts: NbiotSimulatorOptions, print: (line: string) => void): Promise<PushResult> {
  const base = `${opts.api.replace(/\/+$/, '')}/api/v1/ingest/${opts.platform}/${encodeURIComponent(opts.instance)}`;
  const model = opts.model ?? (opts.platform === 'onenet' ? 'gw-smoke-v1' : 'lian-nb-smoke');
  const frame = () => encodeGwSmokeFrame({ status: SMOKE_FRAME_STATUS[opts.event], smoke: opts.event === 'alarm' ? 12.5 : 0.3, temperature: 23.4, battery: 87 });
  let result: PushResult;
  let what: string;
  if (opts.platform === 'onenet') {
    const dialect = opts.dialect ?? 'legacy';
    const push = new OneNetPush({ url: base, token: opts.token, dialect, ...(opts.aesKey ? { aesKey: opts.aesKey } : {}), ...(opts.retryDelaysMs ? { retryDelaysMs: opts.retryDelaysMs } : {}) });
    if (opts.verify) {
      const v = await push.verifyUrl();
      print(`URL 验证${v.ok ? '成功' : '失败'} / URL verification ${v.ok ? 'succeeded' : 'failed'}: HTTP ${v.status}`);
    }
    what = `OneNET ${dialect}`;
    if (opts.event === 'heartbeat') result = await push.pushLifecycle(opts.imei, true);
    else if (model === 'lian-nb-smoke') result = await push.pushReading(opts.imei, Object.fromEntries(Object.entries(lianServiceData(opts.imei, LIAN_STATUS[opts.event])).map(([k, value]) => [k, { value, time: Date.now() }])));
    else result = await push.pushReading(opts.imei, frame().toString('hex').toUpperCase());
  } else {
    const push = new CtwingPush({ url: `${base}?token=${encodeURIComponent(opts.token)}`, ...(opts.retryDelaysMs ? { retryDelaysMs: opts.retryDelaysMs } : {}) });
    what = 'CTWing';
    result = model === 'lian-nb-smoke'
      ? await push.pushDataReport(opts.imei, { serviceData: lianServiceData(opts.imei, LIAN_STATUS[opts.event]) })
      : await push.pushDataReport(opts.imei, { appData: frame() });
  }
  const ok = result.status === 200;
  print(`${what} 推送${EVENT_ZH[opts.event]}（IMEI ${opts.imei}，型号 ${model}）→ HTTP ${result.status}，${result.attempts} 次 / ${what} pushed ${opts.event} (IMEI ${opts.imei}, model ${model}) → HTTP ${result.status} after ${result.attempts} attempt(s)${ok ? '' : `: ${result.body.slice(0, 200)}`}`);
  return result;
}
