/** A small client for the gateway's HTTP API, used for provisioning and checking scenarios. */
import { SimError } from './errors.js';

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export interface TelemetryRow {
  ts: number;
  [field: string]: unknown;
}

export interface DeadLetterRow {
  id: number;
  receivedAt: number;
  deviceId: string;
  topic: string;
  reason: string;
  message: string;
  index?: number;
}

export class GatewayApi {
  private readonly base: string;

  constructor(baseUrl: string, private readonly token: string | undefined) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      throw new SimError('SIM_API', `cannot reach the gateway API at ${this.base}: ${(err as Error).message} / 无法连接网关 API`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) { try { parsed = JSON.parse(text); } catch { parsed = text; } }
    return { status: res.status, body: parsed as T };
  }

  /** Like `request`, but an answer outside 2xx is a SIM_API error carrying the gateway's error code. */
  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await this.request<T>(method, path, body);
    if (res.status < 200 || res.status >= 300) {
      const err = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      const hint = res.status === 401 ? ' (check --token or ADMIN_TOKEN / 请检查管理员令牌)' : '';
      throw new SimError('SIM_API', `${method} ${path} → ${res.status} ${err?.code ?? ''} ${err?.message ?? ''}${hint}`.trim(), { status: res.status, code: err?.code });
    }
    return res.body;
  }

  /** Uploads a file as the raw body (attachments); an answer outside 2xx is a SIM_API error. */
  async upload<T = unknown>(path: string, contentType: string, bytes: Buffer): Promise<T> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, { method: 'POST', headers, body: new Uint8Array(bytes) });
    } catch (err) {
      throw new SimError('SIM_API', `cannot reach the gateway API at ${this.base}: ${(err as Error).message} / 无法连接网关 API`);
    }
    const body = await res.json().catch(() => undefined) as { error?: { code?: string; message?: string } } | undefined;
    if (!res.ok) throw new SimError('SIM_API', `POST ${path} → ${res.status} ${body?.error?.code ?? ''} ${body?.error?.message ?? ''}`.trim(), { status: res.status, code: body?.error?.code });
    return body as T;
  }

  async telemetry(deviceId: string, q: { channel?: 'telemetry' | 'events'; from?: number; to?: number; limit?: number } = {}): Promise<TelemetryRow[]> {
    const params = new URLSearchParams({ channel: q.channel ?? 'telemetry', limit: String(q.limit ?? 100_000) });
    if (q.from !== undefined) params.set('from', String(Math.max(0, Math.floor(q.from))));
    if (q.to !== undefined) params.set('to', String(Math.ceil(q.to)));
    const body = await this.call<{ rows: TelemetryRow[] }>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry?${params}`);
    return body.rows;
  }

  /** Dead letters of a device, newest first, following the pages back to `since` (epoch ms). */
  async deadLetters(deviceId: string, since = 0, max = 10_000): Promise<DeadLetterRow[]> {
    const out: DeadLetterRow[] = [];
    let before: number | null | undefined;
    while (out.length < max) {
      const params = new URLSearchParams({ deviceId, limit: '1000' });
      if (before) params.set('before', String(before));
      const page = await this.call<{ items: DeadLetterRow[]; next: number | null }>('GET', `/api/v1/dead-letters?${params}`);
      for (const item of page.items) {
        if (item.receivedAt < since) return out;
        out.push(item);
      }
      before = page.next;
      if (!before) break;
    }
    return out;
  }
}
