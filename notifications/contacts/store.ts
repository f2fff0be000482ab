/**
 * The contacts' table (migration module 'notification-contacts'), the same queries for SQLite and
 * PostgreSQL. A contact is one row: its id, the party the lists filter on, whether it is disabled,
 * its times, and the rest as a JSON document (`data`), read whole into memory at start.
 */
import type { Kysely } from 'kysely';
import type { Migration } from '../../core/db/query.js';
import type { Contact } from '../model.js';

export interface ContactTables {
  notification_contacts: { id: string; party: string; data: string; disabled: number; created_at: number; updated_at: number };
}

const TABLE = (epoch: string, suffix: string) => `
  CREATE TABLE notification_contacts (id TEXT PRIMARY KEY, party TEXT NOT NULL, data TEXT NOT NULL, disabled INTEGER NOT NULL,
    created_at ${epoch} NOT NULL, updated_at ${epoch} NOT NULL)${suffix};
  CREATE INDEX notification_contacts_party ON notification_contacts (party, id);`;

export const CONTACT_MIGRATIONS: readonly Migration[] = [{
  sqlite: TABLE('INTEGER', ' WITHOUT ROWID'),
  // epoch milliseconds need 64 bits
  postgres: TABLE('BIGINT', ''),
}];

/** What `data` holds: everything of a contact but the columns. */
type ContactData = Omit<Contact, 'id' | 'party' | 'disabled' | 'createdAt' | 'updatedAt'>;

export function rowOf(c: Contact): ContactTables['notification_contacts'] {
  const data: ContactData = {
    name: c.name, phone: c.phone, email: c.email, robots: c.robots, rules: c.rules, quietHours: c.quietHours, onCall: c.onCall, accountId: c.accountId,
  };
  // JSON.stringify leaves the undefined fields out
  return { id: c.id, party: c.party, data: JSON.stringify(data), disabled: c.disabled ? 1 : 0, created_at: c.createdAt, updated_at: c.updatedAt };
}

export function contactOf(r: ContactTables['notification_contacts']): Contact {
  const d = JSON.parse(r.data) as ContactData;
  return {
    id: r.id, party: r.party, name: d.name,
    ...(d.phone !== undefined ? { phone: d.phone } : {}),
    ...(d.email !== undefined ? { email: d.email } : {}),
    robots: d.robots ?? [], rules: d.rules ?? [],
    ...(d.quietHours !== undefined ? { quietHours: d.quietHours } : {}),
    ...(d.onCall !== undefined ? { onCall: d.onCall } : {}),
    ...(d.accountId !== undefined ? { accountId: d.accountId } : {}),
    disabled: Number(r.disabled) !== 0, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
  };
}

/** The contacts' queries, the same for both stores. */
export const contactQueries = (q: Kysely<ContactTables>) => ({
  all: () => q.selectFrom('notification_contacts').selectAll(),
  in: (ids: readonly string[]) => q.selectFrom('notification_contacts').selectAll().where('id', 'in', ids),
  insert: (row: ContactTables['notification_contacts']) => q.insertInto('notification_contacts').values(row),
  /** The whole row but its id, party and creation time: the last change wins (contacts are edited by people, rarely at once). */
  update: (row: ContactTables['notification_contacts']) => q.updateTable('notification_contacts')
    .set({ data: row.data, disabled: row.disabled, updated_at: row.updated_at }).where('id', '=', row.id),
  remove: (id: string) => q.deleteFrom('notification_contacts').where('id', '=', id),
});
