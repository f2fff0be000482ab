/**
 * The elevator's public notice (SPEC §9, DOMAIN "Public notice", 004 art. 16): no login, for the
 * residents who scan the label in the car.
 *
 * - `GET /public/elevators/{registrationCode}`: the page (JSON with `Accept: application/json`) with
 *   the maintenance unit's name and 24 h phone, the last valid maintenance visit, the next inspection
 *   date and the state in words; nothing else. Built from a whitelist (`publicFacts`), so a field the
 *   composition root adds to its answer never reaches the page.
 * - `GET /public/elevators/{registrationCode}/qr.svg`: the QR code of that page's address under
 *   `publicBaseUrl` (it encodes only the address).
 * - `GET /public/elevators/{registrationCode}/print`: the A6 label to print and post in the car.
 *
 * An unknown code, a malformed one and the code of a device that is not an elevator all get the same
 * 404, byte for byte. Every request, found or not, costs a token from its address's bucket, so the
 * codes cannot be enumerated quickly. The pages carry no script (`script-src 'none'`) and nothing
 * from another origin; every value is escaped on its way into the markup (dashboards/notice/render.ts).
 *
 * Registered outside /api/v1 (`app.register(publicNoticeRoutes(deps))`), so the gateway asks no token.
 */
import { isIPv6 } from 'node:net';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import {
  PUBLIC_STATES, STATE_TEXT, STYLE_HASHES, renderBusyPage, renderNotFoundPage, renderNoticePage, renderPrintPage,
  type NoticeFacts, type PublicState,
} from '../../../dashboards/notice/render.js';

export { PUBLIC_STATES, STATE_TEXT, type NoticeFacts, type PublicState };

/** What the composition root knows of one elevator; only these fields, cleaned, are ever shown. */
export interface ElevatorNotice {
  registrationCode: string;
  /** The site's (小区) name, so that a resident can tell the notice belongs to this car. */
  siteName: string;
  /** Free-text location of the car, e.g. "3号楼 1单元 客梯". */
  location?: string | null | undefined;
  maintenanceUnit?: { name: string; phone?: string | null | undefined } | null | undefined;
  /** YYYY-MM-DD of the last valid maintenance visit; null or absent: none recorded. */
  lastMaintenanceVisit?: string | null | undefined;
  /** YYYY-MM-DD of the next periodic inspection (年检). */
  nextInspectionDue?: string | null | undefined;
  state: PublicState;
}

export interface NoticeDeps {
  /** The elevator registered under this code; undefined for an unknown code and for any device that is not an elevator. */
  elevator(registrationCode: string): ElevatorNotice | undefined | Promise<ElevatorNotice | undefined>;
  /** The address residents reach the gateway at (printed in the QR code), e.g. https://gateway.example.cn. */
  publicBaseUrl: string;
  /** ms since the epoch; the rate limit's clock. Default Date.now. */
  now?: (() => number) | undefined;
  /** Per client address (IPv6: per /64): `perMinute` requests a minute, up to `burst` at once; `maxAddresses` tracked, least recently seen forgotten first. */
  rateLimit?: { perMinute?: number | undefined; burst?: number | undefined; maxAddresses?: number | undefined } | undefined;
  /** Called for each request refused by the rate limit (a prom-client Counter's `inc`). */
  onLimited?: (() => void) | undefined;
}

export const NOTICE_PREFIX = '/public/elevators';

/** Defaults: a resident opens the page once or twice; a whole building behind one NAT address does not scan 30 labels in a minute. */
const RATE_DEFAULTS = { perMinute: 30, burst: 30, maxAddresses: 10_000 };

/** Registration codes (注册代码, usually 20 digits; older ones with letters): checked before any lookup. */
export const REGISTRATION_CODE_RE = /^[A-Za-z0-9-]{4,64}$/;

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

// ---- state in words ----

/** Faults that stop the car (or take it from the public): the elevator is out of service. */
const STOPPING_ALERTS: ReadonlySet<string> = new Set([
  'elevator.safety_circuit_open', 'elevator.stopped_outside_door_zone', 'elevator.unintended_movement',
  'elevator.door_open_while_running', 'elevator.moving_with_door_open', 'elevator.top_overrun', 'elevator.bottom_overrun',
  'elevator.overspeed', 'elevator.restart_blocked', 'elevator.power_lost', 'elevator.special_mode',
]);
/** Faults the car may still run with. */
const FAULT_ALERTS: ReadonlySet<string> = new Set([
  'elevator.door_open_fault', 'elevator.door_close_fault', 'elevator.repeated_door_cycling',
  'elevator.motor_runtime_limiter', 'elevator.position_lost',
]);
const STOPPED_MODES: ReadonlySet<string> = new Set(['out_of_service', 'fire_return', 'firefighter', 'emergency_power', 'earthquake']);
const SERVICE_MODES: ReadonlySet<string> = new Set(['inspection', 'maintenance']);

/**
 * The public state from what the gateway knows: the elevator's active alerts (only those whose
 * condition still holds and that were not suppressed by inspection mode), whether it is offline,
 * and the mode of its latest telemetry (not trusted once it is offline). In order: trapped, a
 * stopping fault, offline, a stopped or service mode, a lesser fault, in service. Other alert types
 * (e-bike, alarm button, idle, inspection or maintenance overdue) do not change the state.
 */
export function publicState(input: {
  offline: boolean;
  mode?: unknown;
  alerts: Iterable<{ type: string; conditionActive?: boolean; suppressed?: boolean }>;
}): PublicState {
  let stopped = false, fault = false;
  for (const a of input.alerts) {
    if (a.conditionActive === false || a.suppressed === true) continue;
    if (a.type === 'elevator.trapped') return 'trapped';
    if (STOPPING_ALERTS.has(a.type)) stopped = true;
    else if (FAULT_ALERTS.has(a.type)) fault = true;
  }
  if (stopped) return 'out_of_service';
  if (input.offline) return 'offline';
  if (typeof input.mode === 'string' && STOPPED_MODES.has(input.mode)) return 'out_of_service';
  if (typeof input.mode === 'string' && SERVICE_MODES.has(input.mode)) return 'inspection';
  return fault ? 'fault' : 'in_service';
}

// ---- the facts shown ----

const text = (s: unknown, max: number): string | null => {
  if (typeof s !== 'string') return null;
  const t = s.trim();
  return t === '' ? null : t.slice(0, max);
};
const date = (s: unknown): string | null => (typeof s === 'string' && DATE_RE.test(s) ? s : null);

/** The whitelist: exactly these keys, each cleaned; the code is the one asked for (already validated). */
export function publicFacts(code: string, n: ElevatorNotice): NoticeFacts {
  const state: PublicState = (PUBLIC_STATES as readonly string[]).includes(n.state) ? n.state : 'offline';
  const unitName = text(n.maintenanceUnit?.name, 200);
  return {
    registrationCode: code,
    siteName: text(n.siteName, 200) ?? '',
    location: text(n.location, 200),
    maintenanceUnit: unitName === null ? null : { name: unitName, phone: text(n.maintenanceUnit?.phone, 40) },
    lastMaintenanceVisit: date(n.lastMaintenanceVisit),
    nextInspectionDue: date(n.nextInspectionDue),
    state,
    stateText: { ...STATE_TEXT[state] },
  };
}

// ---- rate limit ----

/** The bucket key of an address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64 (one host usually holds a whole /64). */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) return ip;
  const [head = '', tail] = bare.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Token buckets per address, at most `maxAddresses` of them (the least recently seen is forgotten). */
export class AddressBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(private readonly burst: number, perMinute: number, private readonly maxAddresses: number) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes a token: 0 when allowed, otherwise the whole seconds until the next token. */
  take(address: string, now: number): number {
    const key = addressKey(address);
    let b = this.buckets.get(key);
    if (b !== undefined) {
      this.buckets.delete(key); // re-inserted below: the Map's order is least recently seen first
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.perMs);
      b.at = now;
    } else {
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  get size(): number { return this.buckets.size; }
}

// ---- HTTP ----

const csp = (style: string, images: boolean) => `default-src 'none'; script-src 'none'; style-src ${style}; img-src ${images ? "'self'" : "'none'"}; `
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const PAGE_CSP = csp(STYLE_HASHES.page, false);
const PRINT_CSP = csp(STYLE_HASHES.print, true);
const SVG_CSP = "default-src 'none'; frame-ancestors 'none'";

const HTML = 'text/html; charset=utf-8';
const CACHE = 'public, max-age=60';

/** Whether the client prefers JSON to HTML (browsers send text/html; anything unclear gets the page). */
export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = -1, json = -1;
  for (const range of accept.toLowerCase().split(',')) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/json') json = Math.max(json, q);
    else if (type === 'text/html') html = Math.max(html, q);
  }
  return json > 0 && json > html;
}

function secure(reply: FastifyReply, policy: string, cache: string): FastifyReply {
  return reply.header('content-security-policy', policy).header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY').header('cache-control', cache);
}

const NOT_FOUND_PAGE = renderNotFoundPage();
const LIMITED_PAGE = renderBusyPage('limited');
const UNAVAILABLE_PAGE = renderBusyPage('unavailable');

function refuse(req: FastifyRequest, reply: FastifyReply, status: 404 | 429 | 503) {
  const [code, message, page] = status === 404
    ? ['GW_NOT_FOUND', '未找到该电梯 / no elevator with this registration code', NOT_FOUND_PAGE]
    : status === 429
      ? ['GW_RATE_LIMITED', '请求过于频繁 / too many requests from this address; try again later', LIMITED_PAGE]
      : ['GW_UNAVAILABLE', '暂时无法查询 / the notice cannot be read right now; try again later', UNAVAILABLE_PAGE];
  secure(reply, PAGE_CSP, status === 404 ? CACHE : 'no-store').header('vary', 'Accept').status(status);
  if (wantsJson(req.headers.accept)) return reply.type('application/json; charset=utf-8').send({ error: { code, message } });
  return reply.type(HTML).send(page);
}

export function publicNoticeRoutes(deps: NoticeDeps): FastifyPluginAsync {
  const base = new URL(deps.publicBaseUrl);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error(`publicBaseUrl must be an http(s) address, not ${deps.publicBaseUrl}`);
  if (base.search !== '' || base.hash !== '') throw new Error(`publicBaseUrl must have no query or fragment: ${deps.publicBaseUrl}`);
  const root = base.href.replace(/\/+$/, '');
  const pageUrl = (code: string) => `${root}${NOTICE_PREFIX}/${encodeURIComponent(code)}`;

  const now = deps.now ?? Date.now;
  const rl = deps.rateLimit ?? {};
  const [burst, perMinute, maxAddresses] = [rl.burst ?? RATE_DEFAULTS.burst, rl.perMinute ?? RATE_DEFAULTS.perMinute, rl.maxAddresses ?? RATE_DEFAULTS.maxAddresses];
  if (!(burst >= 1 && perMinute > 0 && maxAddresses >= 1)) throw new Error('public notice: rateLimit needs burst >= 1, perMinute > 0 and maxAddresses >= 1');
  const buckets = new AddressBuckets(burst, perMinute, maxAddresses);

  /** The facts, or undefined once the refusal is sent. */
  const lookup = async (req: FastifyRequest, reply: FastifyReply): Promise<NoticeFacts | undefined> => {
    const code = (req.params as { registrationCode?: unknown }).registrationCode;
    if (typeof code !== 'string' || !REGISTRATION_CODE_RE.test(code)) {
      refuse(req, reply, 404);
      return undefined;
    }
    let notice: ElevatorNotice | undefined;
    try {
      notice = await deps.elevator(code);
    } catch (err) {
      req.log.error({ err }, 'public notice: elevator lookup failed');
      refuse(req, reply, 503);
      return undefined;
    }
    if (notice === undefined) {
      refuse(req, reply, 404);
      return undefined;
    }
    return publicFacts(code, notice);
  };

  const route = { schema: { tags: ['public'], security: [] } };

  return async (app) => {
    // every request of these routes, found or not, before anything is looked up
    app.addHook('onRequest', async (req, reply) => {
      const wait = buckets.take(req.ip, now());
      if (wait === 0) return;
      deps.onLimited?.();
      reply.header('retry-after', String(wait));
      return refuse(req, reply, 429);
    });

    app.get(`${NOTICE_PREFIX}/:registrationCode`, {
      schema: { ...route.schema, summary: 'Public notice of an elevator: maintenance unit, 24 h phone, last visit, next inspection, state (HTML, or JSON with Accept: application/json)' },
    }, async (req, reply) => {
      const facts = await lookup(req, reply);
      if (facts === undefined) return reply;
      secure(reply, PAGE_CSP, CACHE).header('vary', 'Accept');
      if (wantsJson(req.headers.accept)) return reply.type('application/json; charset=utf-8').send(facts);
      return reply.type(HTML).send(renderNoticePage(facts));
    });

    app.get(`${NOTICE_PREFIX}/:registrationCode/qr.svg`, {
      schema: { ...route.schema, summary: "QR code (SVG) of the elevator's public notice address" },
    }, async (req, reply) => {
      const facts = await lookup(req, reply);
      if (facts === undefined) return reply;
      const svg = await QRCode.toString(pageUrl(facts.registrationCode), { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
      return secure(reply, SVG_CSP, 'public, max-age=3600').type('image/svg+xml').send(svg);
    });

    app.get(`${NOTICE_PREFIX}/:registrationCode/print`, {
      schema: { ...route.schema, summary: 'Printable A6 label with the QR code, the registration code and the 24 h phone' },
    }, async (req, reply) => {
      const facts = await lookup(req, reply);
      if (facts === undefined) return reply;
      return secure(reply, PRINT_CSP, CACHE).type(HTML).send(renderPrintPage(facts));
    });
  };
}
