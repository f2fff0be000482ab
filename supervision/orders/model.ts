/**
 * A rectification order (整改通知) as the store keeps it and the API shows it, the parties that take
 * part in it, and which step is allowed in which state.
 *
 * A party is an authority or an area, not an account: 'admin' (the city platform), 'market-supervision',
 * 'fire-service', 'street:{name}', 'community:{name}'; a target is a company or a maintenance unit.
 * Every account of a party acts for it (two accounts of 南山街道 are the same issuer).
 */
import type { Principal } from '../../registry/index.js';
import type { OrderState, OrderTargetType } from '../facts.js';

export const ORDER_STATES = ['issued', 'replied', 'returned', 'overdue', 'closed'] as const satisfies readonly OrderState[];
export const TARGET_TYPES = ['company', 'maintenance-unit'] as const satisfies readonly OrderTargetType[];

/** Roles that issue, supervise and refer orders (SPEC 10). */
export const ISSUER_ROLES: ReadonlySet<string> = new Set(['admin', 'market-supervision', 'fire-service', 'street', 'community']);

export type OrderAction = 'reply' | 'return' | 'close' | 'refer';

/** Where each action may start; it ends in `to` (refer keeps the state). */
export const TRANSITIONS: Record<Exclude<OrderAction, 'refer'>, { from: readonly OrderState[]; to: OrderState }> = {
  // a late reply is accepted: the order keeps `overdue: true`
  reply: { from: ['issued', 'returned', 'overdue'], to: 'replied' },
  // 复查不合格: the issuer re-checked and the problem is still there
  return: { from: ['replied'], to: 'returned' },
  // 销号: the issuer re-checked and the problem is gone
  close: { from: ['replied'], to: 'closed' },
};

export interface AttachmentRef { id: number; name: string; type: string; size: number }

export interface Order {
  id: number;
  targetType: OrderTargetType;
  targetId: string;
  /** What people read next to the ids, as the registry had them when the order was issued (or moved). */
  targetName: string;
  siteId: string | null;
  siteName: string | null;
  deviceId: string | null;
  /** The device's kind and location, e.g. "elevator 3号楼1单元". */
  deviceLabel: string | null;
  alertId: number | null;
  /** elevator / fire: which authority fits the order when it escalates (from the target, device or alert). */
  domain: 'elevator' | 'fire' | null;
  /** The site's street and community (or the issuing area's): street / community accounts read their area's orders. */
  street: string | null;
  community: string | null;
  title: string;
  description: string;
  issuedAt: number;
  dueAt: number;
  /** The account that issued it, and its party. */
  issuedBy: string;
  issuer: string;
  /** The party that re-checks, returns and closes it: the issuer, or whoever it was referred to (移交). */
  supervising: string;
  state: OrderState;
  /** The deadline passed while the target still had to act (issued or returned); stays true after a late reply. */
  overdue: boolean;
  overdueAt: number | null;
  /** Parties the order went up to when it became overdue (community → street → city and the fitting authority). */
  escalatedTo: string[];
  repliedAt: number | null;
  closedAt: number | null;
  /** Every party that may read it: issuer, each supervising party, escalations. */
  parties: string[];
  updatedAt: number;
  /** History entries so far: the next one's `seq` is this plus one. */
  historyLength: number;
  /** Bumped by every change: a change is written over the version it read, never over another's. */
  version: number;
}

export interface HistoryEntry {
  seq: number;
  at: number;
  /** Account id, or `system` for the deadline. */
  actor: string;
  /** The actor's party (or target) label people read. */
  party: string;
  action: 'issued' | 'replied' | 'returned' | 'closed' | 'referred' | 'overdue' | 'reassigned';
  note: string | null;
  attachments: AttachmentRef[];
  /** referred: {from, to}; overdue: {escalatedTo}; reassigned: {fromCompanyId, toCompanyId, ...names}. */
  detail: Record<string, unknown> | null;
}

export const SYSTEM_ACTOR = 'system';

/** The party a principal acts for; undefined for roles that are never a party (property, maintenance act as targets). */
export function partyOf(p: Principal): string | undefined {
  switch (p.role) {
    case 'admin': return 'admin';
    case 'market-supervision': case 'fire-service': return p.role;
    case 'street': case 'community': return p.scope ? `${p.role}:${p.scope}` : undefined;
    default: return undefined;
  }
}

/** Who uploads attachments: only targets, for their replies (`property:{companyId}`, `maintenance:{unitId}`). */
export function uploaderOf(p: Principal): string | undefined {
  if (p.role === 'property' || p.role === 'maintenance') return p.scope ? `${p.role}:${p.scope}` : undefined;
  return undefined;
}

/** Whether the principal is (an account of) the order's target. */
export function isTarget(p: Principal, o: Pick<Order, 'targetType' | 'targetId'>): boolean {
  if (!p.scope) return false;
  return (p.role === 'property' && o.targetType === 'company' && o.targetId === p.scope)
    || (p.role === 'maintenance' && o.targetType === 'maintenance-unit' && o.targetId === p.scope);
}

/** Who may read an order: admins, its parties, its target, and the street / community it lies in. */
export function canSeeOrder(p: Principal, o: Order): boolean {
  if (p.role === 'admin') return true;
  if (isTarget(p, o)) return true;
  const party = partyOf(p);
  if (party !== undefined && o.parties.includes(party)) return true;
  if (p.role === 'street') return !!p.scope && o.street === p.scope;
  if (p.role === 'community') return !!p.scope && o.community === p.scope;
  return false;
}

/** The actions the principal may take on the order now (the console shows only these). */
export function allowedActions(p: Principal, o: Order): OrderAction[] {
  const out: OrderAction[] = [];
  if (isTarget(p, o) && TRANSITIONS.reply.from.includes(o.state)) out.push('reply');
  if (partyOf(p) === o.supervising && o.state !== 'closed') {
    if (TRANSITIONS.return.from.includes(o.state)) out.push('return');
    if (TRANSITIONS.close.from.includes(o.state)) out.push('close');
    out.push('refer');
  }
  return out;
}

const AUTHORITY_LABELS: Record<string, string> = {
  admin: '市级平台 / City (admin)',
  'market-supervision': '市场监督管理局 / Market supervision',
  'fire-service': '消防救援机构 / Fire service',
};

/** A party as people read it: 南山街道（街道 / street）, 市场监督管理局 / Market supervision. */
export function partyLabel(party: string): string {
  const fixed = AUTHORITY_LABELS[party];
  if (fixed) return fixed;
  if (party.startsWith('street:')) return `${party.slice(7)}（街道 / street）`;
  if (party.startsWith('community:')) return `${party.slice(10)}（社区 / community）`;
  return party;
}

/** A party that an order may be referred to (移交): an authority, or a street / community by name. */
export const REFER_RE = /^(market-supervision|fire-service|(street|community):[^\s:/][^:/]{0,99})$/;

export const STATE_LABELS: Record<OrderState, string> = {
  issued: '已下发 / issued',
  replied: '已回复 / replied',
  returned: '复查不合格 / returned',
  overdue: '已逾期 / overdue',
  closed: '已销号 / closed',
};

export const TARGET_TYPE_LABELS: Record<OrderTargetType, string> = {
  company: '物业服务企业 / property company',
  'maintenance-unit': '电梯维保单位 / maintenance unit',
};
