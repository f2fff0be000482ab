/**
 * The tables of rectification orders (migration module 'orders'), the same queries for SQLite and
 * PostgreSQL. An order is one row: the columns the lists filter on, and the whole order as a JSON
 * document (`doc`), as the alert ledger keeps alerts. Its history is append-only; the parties who
 * may read it are rows of their own, so that a list is one indexed condition per role.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { Migration } from '../../core/db/query.js';
import type { Principal } from '../../registry/index.js';
import type { OrderState, OrderTargetType } from '../facts.js';
import { partyOf } from './model.js';

export interface OrderTables {
  orders: {
    id: number; target_type: string; target_id: string; site_id: string | null; device_id: string | null; alert_id: number | null;
    state: string; overdue: number; issued_at: number; due_at: number; closed_at: number | null; supervising: string;
    street: string | null; community: string | null; updated_at: number; version: number; doc: string;
  };
  order_history: { order_id: number; seq: number; at: number; actor: string; action: string; note: string | null; detail: string | null };
  order_parties: { order_id: number; party: string };
  attachments: {
    id: number; stored_name: string; name: string; type: string; size: number; sha256: string; uploaded_by: string; party: string;
    uploaded_at: number; order_id: number | null;
  };
}

const TABLES = (big: string, serial: string) => `
  CREATE TABLE orders (id ${serial}, target_type TEXT NOT NULL, target_id TEXT NOT NULL, site_id TEXT, device_id TEXT, alert_id ${big},
    state TEXT NOT NULL, overdue INTEGER NOT NULL, issued_at ${big} NOT NULL, due_at ${big} NOT NULL, closed_at ${big},
    supervising TEXT NOT NULL, street TEXT, community TEXT, updated_at ${big} NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX orders_state ON orders (state, id);
  CREATE INDEX orders_target ON orders (target_type, target_id, id);
  CREATE INDEX orders_site ON orders (site_id, id);
  CREATE INDEX orders_issued ON orders (issued_at);
  CREATE INDEX orders_street ON orders (street, id);
  CREATE INDEX orders_community ON orders (community, id);
  CREATE TABLE order_history (order_id ${big} NOT NULL, seq INTEGER NOT NULL, at ${big} NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, note TEXT, detail TEXT, PRIMARY KEY (order_id, seq));
  CREATE TABLE order_parties (order_id ${big} NOT NULL, party TEXT NOT NULL, PRIMARY KEY (party, order_id));
  CREATE TABLE attachments (id ${serial}, stored_name TEXT NOT NULL UNIQUE, name TEXT NOT NULL, type TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, uploaded_by TEXT NOT NULL, party TEXT NOT NULL, uploaded_at ${big} NOT NULL, order_id ${big});
  CREATE INDEX attachments_order ON attachments (order_id);
  CREATE INDEX attachments_unused ON attachments (party, order_id);`;

export const ORDER_MIGRATIONS: readonly Migration[] = [{
  sqlite: TABLES('INTEGER', 'INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: TABLES('BIGINT', 'BIGSERIAL PRIMARY KEY'),
}];

export interface ListFilter {
  states?: OrderState[] | undefined;
  targetType?: OrderTargetType | undefined;
  targetId?: string | undefined;
  siteId?: string | undefined;
  overdue?: boolean | undefined;
  /** Issued in [from, to). */
  from?: number | undefined;
  to?: number | undefined;
  before?: number | undefined;
  limit: number;
}

type OrdersEb = ExpressionBuilder<OrderTables, 'orders'>;

/** `canSeeOrder` (model.ts) as a condition on the `orders` table. */
function orderScope(eb: OrdersEb, p: Principal): Expression<SqlBool> {
  if (p.role === 'admin') return eb.lit(true);
  const scope = p.scope ?? '';
  const inParties = (party: string) => eb('id', 'in', eb.selectFrom('order_parties').select('order_id').where('party', '=', party));
  switch (p.role) {
    case 'property': return eb.and([eb('target_type', '=', 'company'), eb('target_id', '=', scope)]);
    case 'maintenance': return eb.and([eb('target_type', '=', 'maintenance-unit'), eb('target_id', '=', scope)]);
    case 'street': return scope ? eb.or([eb('street', '=', scope), inParties(partyOf(p)!)]) : eb.lit(false);
    case 'community': return scope ? eb.or([eb('community', '=', scope), inParties(partyOf(p)!)]) : eb.lit(false);
    default: return inParties(partyOf(p)!);
  }
}

export const orderQueries = (q: Kysely<OrderTables>) => ({
  insert: (row: OrderTables['orders']) => q.insertInto('orders').values(row),
  /** Over the version this node read: another node's change meanwhile makes it match nothing (refused, never overwritten). */
  update: (id: number, seenVersion: number, set: Omit<OrderTables['orders'], 'id' | 'issued_at'>) =>
    q.updateTable('orders').set(set).where('id', '=', id).where('version', '=', seenVersion),
  doc: (id: number) => q.selectFrom('orders').select('doc').where('id', '=', id),
  docs: (ids: readonly number[]) => q.selectFrom('orders').select(['id', 'doc']).where('id', 'in', ids),
  openDocs: () => q.selectFrom('orders').select('doc').where('state', '!=', 'closed'),
  list: (f: ListFilter, viewer: Principal) => {
    let s = q.selectFrom('orders').select('doc').where((eb) => orderScope(eb, viewer));
    if (f.states) s = s.where('state', 'in', f.states);
    if (f.targetType) s = s.where('target_type', '=', f.targetType);
    if (f.targetId) s = s.where('target_id', '=', f.targetId);
    if (f.siteId) s = s.where('site_id', '=', f.siteId);
    if (f.overdue !== undefined) s = s.where('overdue', '=', f.overdue ? 1 : 0);
    if (f.from !== undefined) s = s.where('issued_at', '>=', f.from);
    if (f.to !== undefined) s = s.where('issued_at', '<', f.to);
    if (f.before !== undefined) s = s.where('id', '<', f.before);
    return s.orderBy('id', 'desc').limit(f.limit);
  },
  /** Issued in [from, to), or issued before and still open at `from` (not closed before it). */
  inPeriod: (f: { from: number; to: number; targetType?: string | undefined; targetId?: string | undefined }) => {
    let s = q.selectFrom('orders').select('doc').where('issued_at', '<', f.to)
      .where((eb) => eb.or([eb('issued_at', '>=', f.from), eb('closed_at', 'is', null), eb('closed_at', '>', f.from)]));
    if (f.targetType) s = s.where('target_type', '=', f.targetType);
    if (f.targetId) s = s.where('target_id', '=', f.targetId);
    return s.orderBy('issued_at').orderBy('id');
  },
  history: (orderId: number) => q.selectFrom('order_history').selectAll().where('order_id', '=', orderId).orderBy('seq'),
  addHistory: (row: OrderTables['order_history']) => q.insertInto('order_history').values(row),
  addParty: (orderId: number, party: string) => q.insertInto('order_parties').values({ order_id: orderId, party }).onConflict((oc) => oc.doNothing()),
  insertAttachment: (row: OrderTables['attachments']) => q.insertInto('attachments').values(row),
  attachment: (id: number) => q.selectFrom('attachments').selectAll().where('id', '=', id),
  attachments: (ids: readonly number[]) => q.selectFrom('attachments').selectAll().where('id', 'in', ids),
  /** Takes an unused attachment for an order: matches nothing if another reply took it first. */
  useAttachment: (id: number, orderId: number) => q.updateTable('attachments').set({ order_id: orderId }).where('id', '=', id).where('order_id', 'is', null),
  unusedCount: (party: string) => q.selectFrom('attachments').select(sql<number>`COUNT(*)`.as('n')).where('party', '=', party).where('order_id', 'is', null),
});
