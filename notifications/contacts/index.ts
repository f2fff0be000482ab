/**
 * Contacts (SPEC 13): the people of each party, what each wants to hear by which channel, their
 * quiet hours and on-call order, stored in either store, with an API scoped to the caller's party.
 * The dispatcher asks `book.forParty(queue)`; the composition root mounts `routes` under /api/v1
 * and passes the `notifications` notices of other nodes to `onNotice` (and `book.reload()` after
 * missed notices or a refused commit).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AuditLog } from '../../core/audit.js';
import type { Database } from '../../core/db/store.js';
import { ContactBook, CONTACT_NOTICE_PREFIX } from './book.js';
import { contactRoutes } from './routes.js';
import type { KnownRobot } from './schemas.js';

export { ContactBook, byDutyOrder, contactNotFound, CONTACTS_TOPIC, CONTACT_NOTICE_PREFIX } from './book.js';
export {
  contactInputSchema, contactPatchSchema, contactProblems, isMobile, isAlertTypePattern, normalisePhone,
  MAX_CONTACTS_PER_PARTY, type ContactInput, type ContactPatch, type KnownRobot,
} from './schemas.js';
export { defaultPartyName } from './routes.js';

export interface ContactsDeps {
  db: Database;
  audit: AuditLog;
  now: () => number;
  /** The configured robots (`notifications.channels.robots`), read at each change. */
  robots: () => KnownRobot[];
  /** The party's name for people (the company's, the unit's); undefined for a company or unit that is not registered. */
  partyName?: (queue: string) => string | undefined;
}

export interface Contacts {
  book: ContactBook;
  routes: FastifyPluginAsync;
  /** Another node's `notifications` notice: its `contact:{id}` ids are read again (other ids are ignored). */
  onNotice(ids: readonly string[]): Promise<void>;
}

export async function openContacts(deps: ContactsDeps): Promise<Contacts> {
  const book = await ContactBook.open({ db: deps.db, audit: deps.audit, now: deps.now, robots: deps.robots });
  return {
    book,
    routes: contactRoutes(book, deps.partyName),
    async onNotice(ids) {
      const mine = ids.filter((id) => id.startsWith(CONTACT_NOTICE_PREFIX)).map((id) => id.slice(CONTACT_NOTICE_PREFIX.length));
      await book.refresh(mine);
    },
  };
}
