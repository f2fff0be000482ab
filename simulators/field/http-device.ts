/**
 * A device that sends its readings over the HTTP device API (`POST /api/v1/devices/{id}/telemetry`
 * with its secret as Basic auth) instead of MQTT: what a cheap 4G module with only an HTTP stack does.
 * It resends what got no 200 (after Retry-After when it was told one), as firmware should.
 */
import type { DeviceKind } from '../../ingest/index.js';
import { sampleEvent, sampleTelemetry } from '../samples.js';

export interface HttpDeviceOptions {
  api: string;
  id: string;
  secret: string;
  kind: DeviceKind;
}

export interface HttpSendResult { status: number; body: unknown; attempts: number }

export class HttpDevice {
  private readonly auth: string;

  constructor(private readonly opts: HttpDeviceOptions) {
    this.auth = `Basic ${Buffer.from(`${opts.id}:${opts.secret}`).toString('base64')}`;
  }

  /** Sends one message; a 429 or 5xx is resent (at most `retries` times), anything else is final. */
  async send(channel: 'telemetry' | 'events', payload: unknown, retries = 3): Promise<HttpSendResult> {
    const url = `${this.opts.api.replace(/\/$/, '')}/api/v1/devices/${encodeURIComponent(this.opts.id)}/${channel}`;
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: this.auth }, body: JSON.stringify(payload) });
      const text = await res.text();
      const body: unknown = text ? JSON.parse(text) : undefined;
      const retry = res.status === 429 || res.status >= 500;
      if (!retry || attempt > retries) return { status: res.status, body, attempts: attempt };
      const after = Number(res.headers.get('retry-after'));
      await new Promise((resolve) => setTimeout(resolve, Number.isFinite(after) && after > 0 ? after * 1000 : 500 * attempt));
    }
  }

  reading(seq: number): Promise<HttpSendResult> {
    return this.send('telemetry', { ...sampleTelemetry(this.opts.kind, seq), ts: Date.now() });
  }

  event(): Promise<HttpSendResult> {
    return this.send('events', { ...sampleEvent(this.opts.kind), ts: Date.now() });
  }
}

/** `simulate http-device`: a reading every `intervalMs` (and an event with `--event`) until stopped. */
export async function runHttpDevice(opts: HttpDeviceOptions & { intervalMs: number; count: number; event: boolean }, signal: AbortSignal, print: (line: string) => void): Promise<void> {
  const device = new HttpDevice(opts);
  if (opts.event) {
    const r = await device.event();
    print(`event 事件 → HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (let seq = 0; (opts.count === 0 || seq < opts.count) && !signal.aborted; seq++) {
    const r = await device.reading(seq);
    print(`reading 读数 #${seq} → HTTP ${r.status}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''} ${JSON.stringify(r.body)}`);
    if (opts.count !== 0 && seq + 1 >= opts.count) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.intervalMs);
      signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}
