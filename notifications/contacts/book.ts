/**
 * The contact book: every party's contacts, read whole into memory at start (a few hundred rows at
 * most), so that the dispatcher's `forParty` for each alert change costs a map lookup and no query.
 *
 * Changes are checked (the fields across each other, the configured robots, the party's limit),
 * written with their audit entry in one unit of work, taken into memory at once, and announced to
 * the other nodes (`notifications` notices, ids `contact:{id}`) once they commit. Another node's
 * change comes back through `refresh`; `reload` reads everything again (missed notices, a refused commit).
 *
 * Principals and scope are the routes' business: the book takes a party and an actor.
 */
import { randomBytes } from 'node:crypto';
import { StoreConflictError, type Database, type NoticeTopic, type Store } from '../../core/db/store.js';
import type { AuditLog } from '../../core/audit.js';
import { badRequest, conflict, GatewayError } from '../../core/errors.js';
import { isQueueName, QUEUE_NAME_HINT } from '../../registry/index.js';
import { maskEmail, maskPhone } from '../channels/mask.js';
import type { Contact } from '../model.js';
import {
  contactProblems, MAX_CONTACTS_PER_PARTY, type ContactInput, type ContactPatch, type KnownRobot, type Problem,
} from './schemas.js';
import { CONTACT_MIGRATIONS, contactOf, contactQueries, rowOf, type ContactTables } from './store.js';

/** The notice topic of the notifications capability. */
export const CONTACTS_TOPIC: NoticeTopic = 'notifications';
/** The notice ids of contacts: `contact:{id}` (other parts of notifications may share the topic). */
export const CONTACT_NOTICE_PREFIX = 'contact:';

export interface ContactBookDeps {
  db: Database;
  audit: Pick<AuditLog, 'record'>;
  now: () => number;
  /** The robots the config knows, read at each change (a reloaded config takes effect). */
  robots: () => readonly KnownRobot[];
  /** New ids (tests); default `c-` + 12 random hex digits. */
  newId?: () => string;
}

/** A contact that does not exist, or that the caller may not see: the same answer. */
export const contactNotFound = (id: string) => new GatewayError('GW_NOT_FOUND', `联系人 ${id} 不存在 / contact ${id} not found`);

const EMPTY: readonly Contact[] = Object.freeze([]);

/** The on-call order first (those not on call last), then by name, then by id: the same order on every node. */
export function byDutyOrder(a: Contact, b: Contact): number {
  return (a.onCall ?? Infinity) - (b.onCall ?? Infinity) || a.name.localeCompare(b.name, 'zh-Hans-CN') || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Memory hands out the contact itself: frozen, so that no caller changes the book by accident. */
function frozen(c: Contact): Contact {
  for (const rule of c.rules) {
    Object.freeze(rule.channels);
    if (rule.types) Object.freeze(rule.types);
    Object.freeze(rule);
  }
  Object.freeze(c.rules);
  Object.freeze(c.robots);
  if (c.quietHours) Object.freeze(c.quietHours);
  return Object.freeze(c);
}

/** The audit log's copy: phone and e-mail masked. */
function masked<T extends { phone?: string | null | undefined; email?: string | null | undefined }>(v: T): T {
  return {
    ...v,
    ...(typeof v.phone === 'string' ? { phone: maskPhone(v.phone) } : {}),
    ...(typeof v.email === 'string' ? { email: maskEmail(v.email) } : {}),
  };
}

const invalid = (problems: Problem[]) =>
  badRequest(`联系人信息有误 / invalid contact: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);

/** The optional fields a patch may remove with `null`. */
const REMOVABLE = ['phone', 'email', 'quietHours', 'onCall', 'accountId'] as const;

export class ContactBook {
  private readonly contacts = new Map<string, Contact>();
  /** Per party, its enabled contacts in duty order. */
  private readonly byParty = new Map<string, readonly Contact[]>();
  private readonly queries;

  static async open(deps: ContactBookDeps): Promise<ContactBook> {
    const store = deps.db.store<ContactTables>();
    await store.migrate('notification-contacts', CONTACT_MIGRATIONS);
    const book = new ContactBook(store, deps);
    await book.reload();
    return book;
  }

  private constructor(private readonly store: Store<ContactTables>, private readonly deps: ContactBookDeps) {
    this.queries = contactQueries(store.q);
  }

  // ---- reading ----

  /** The party's enabled contacts, in duty order (on-call order, then name): what the dispatcher asks for. */
  forParty(queue: string): readonly Contact[] {
    return this.byParty.get(queue) ?? EMPTY;
  }

  get(id: string): Contact | undefined {
    return this.contacts.get(id);
  }

  /** Every contact (disabled too) of one party, or of all: by party, then in duty order. */
  list(party?: string): Contact[] {
    const all = [...this.contacts.values()].filter((c) => party === undefined || c.party === party);
    return all.sort((a, b) => (a.party < b.party ? -1 : a.party > b.party ? 1 : byDutyOrder(a, b)));
  }

  /** Undefined when every change made so far is durable; otherwise settles when it is. */
  durable(): Promise<void> | undefined {
    return this.store.durable();
  }

  // ---- changing ----

  /** A new contact of `party` (a queue name; the routes decided the caller may). */
  create(actor: string, party: string, input: Omit<ContactInput, 'party'>): Contact {
    const problems: Problem[] = isQueueName(party) ? [] : [{ path: 'party', message: QUEUE_NAME_HINT }];
    problems.push(...contactProblems(input, this.deps.robots()));
    if (problems.length > 0) throw invalid(problems);
    if (this.countOf(party) >= MAX_CONTACTS_PER_PARTY) {
      throw conflict(`每个单位最多 ${MAX_CONTACTS_PER_PARTY} 个联系人 / a party may have at most ${MAX_CONTACTS_PER_PARTY} contacts`, { max: MAX_CONTACTS_PER_PARTY });
    }
    const now = this.deps.now();
    const contact = frozen({
      id: this.newId(), party, name: input.name,
      ...(input.phone !== undefined ? { phone: input.phone } : {}),
      ...(input.email !== undefined ? { email: input.email } : {}),
      robots: [...input.robots], rules: input.rules.map((r) => ({ ...r })),
      ...(input.quietHours !== undefined ? { quietHours: { ...input.quietHours } } : {}),
      ...(input.onCall !== undefined ? { onCall: input.onCall } : {}),
      ...(input.accountId !== undefined ? { accountId: input.accountId } : {}),
      disabled: input.disabled ?? false, createdAt: now, updatedAt: now,
    });
    this.store.transaction(() => {
      this.store.write(this.queries.insert(rowOf(contact)));
      const { id: _id, createdAt: _c, updatedAt: _u, ...detail } = contact;
      this.deps.audit.record(actor, 'notification.contact.create', `contact:${contact.id}`, masked(detail));
    });
    this.changed(contact.id, contact);
    return contact;
  }

  /** Changes the fields `patch` gives (`null` removes one); the result is checked whole. */
  update(actor: string, id: string, patch: ContactPatch): Contact {
    const before = this.contacts.get(id);
    if (!before) throw contactNotFound(id);
    if (patch.party !== undefined && patch.party !== before.party) {
      throw invalid([{ path: 'party', message: '联系人所属单位不能更改，请删除后在新单位下重新添加 / a contact\'s party cannot change: delete it and add it to the other party' }]);
    }
    const { party: _party, ...changes } = patch;
    const next: Record<string, unknown> = { ...before };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      if (value === null && (REMOVABLE as readonly string[]).includes(key)) delete next[key];
      else next[key] = value;
    }
    const after = next as unknown as Contact;
    const problems = contactProblems(after, this.deps.robots());
    if (problems.length > 0) throw invalid(problems);
    const contact = frozen({ ...after, robots: [...after.robots], rules: after.rules.map((r) => ({ ...r })), updatedAt: this.deps.now() });
    try {
      this.store.transaction(() => {
        this.store.write(this.queries.update(rowOf(contact)), ({ changes: n }) => {
          // deleted on another node before its notice reached this one (PostgreSQL: the commit is refused, and memory read again)
          if (n !== 1) throw new StoreConflictError(`contact ${id} was deleted by another node`);
        });
        this.deps.audit.record(actor, 'notification.contact.update', `contact:${id}`, { party: before.party, name: contact.name, changes: masked(changes) });
      });
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      this.take(id, undefined);
      throw contactNotFound(id);
    }
    this.changed(id, contact);
    return contact;
  }

  remove(actor: string, id: string): Contact {
    const before = this.contacts.get(id);
    if (!before) throw contactNotFound(id);
    this.store.transaction(() => {
      this.store.write(this.queries.remove(id));
      this.deps.audit.record(actor, 'notification.contact.delete', `contact:${id}`, { party: before.party, name: before.name });
    });
    this.changed(id, undefined);
    return before;
  }

  // ---- other nodes ----

  /** Takes contacts another node changed (their ids, without the notice prefix): read again, or dropped if deleted. */
  async refresh(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = await this.store.all(this.queries.in(ids));
    const found = new Map(rows.map((r) => [r.id, contactOf(r)]));
    for (const id of ids) this.take(id, found.get(id));
  }

  /** Reads every contact again: after missed notices, or a commit the store refused. */
  async reload(): Promise<void> {
    const rows = await this.store.all(this.queries.all());
    this.contacts.clear();
    for (const r of rows) {
      const c = frozen(contactOf(r));
      this.contacts.set(c.id, c);
    }
    this.byParty.clear();
    for (const party of new Set([...this.contacts.values()].map((c) => c.party))) this.index(party);
  }

  // ---- memory ----

  /** Memory takes the change (the last step of a change), and the other nodes hear of it once it commits. */
  private changed(id: string, contact: Contact | undefined): void {
    this.take(id, contact);
    this.store.notify(CONTACTS_TOPIC, [`${CONTACT_NOTICE_PREFIX}${id}`]);
  }

  private take(id: string, contact: Contact | undefined): void {
    const before = this.contacts.get(id);
    if (contact) this.contacts.set(id, frozen(contact));
    else this.contacts.delete(id);
    if (before) this.index(before.party);
    if (contact && contact.party !== before?.party) this.index(contact.party);
  }

  private index(party: string): void {
    const enabled = [...this.contacts.values()].filter((c) => c.party === party && !c.disabled).sort(byDutyOrder);
    if (enabled.length > 0) this.byParty.set(party, Object.freeze(enabled));
    else this.byParty.delete(party);
  }

  private countOf(party: string): number {
    let n = 0;
    for (const c of this.contacts.values()) if (c.party === party) n++;
    return n;
  }

  private newId(): string {
    for (let i = 0; i < 100; i++) {
      const id = this.deps.newId?.() ?? `c-${randomBytes(6).toString('hex')}`;
      if (!this.contacts.has(id)) return id;
    }
    throw new Error('no free contact id');
  }
}
