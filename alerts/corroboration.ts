/**
 * Fire corroboration: a fire alarm stays unconfirmed (the property company verifies it; the fire
 * service does not hear of it yet) until another source in the same building backs it within
 * `fire.corroborationWindow`: another detector or panel zone alarming, a second detector (point)
 * of the same panel zone (GB 50116 treats two detectors of one zone as a confirmed fire), or a
 * sprinkler flow switch showing water flowing. Staff confirm through the lifecycle's `confirm`.
 *
 * "The same building" is the registry device's `building` when the alarm opened (`alert.building`),
 * within one site: a 小区 has many buildings, and a sprinkler test or a burnt pan in one says nothing
 * about another (DOMAIN.md, practitioner review). Devices without a building, and alarms stored
 * before alerts carried one, form one group per site among themselves (the site-wide behaviour
 * they had): a building's detector is not backed by an unplaced one, nor the other way round.
 * `fire.corroborateWithin: 'site'` groups by site alone. Alarms in test mode (`details.testMode`)
 * neither back nor are backed: a test proves the detector, not a fire.
 *
 * Keeps the active fire alarms per group (by id: the ledger holds the alerts) and the last flow per
 * group. An alarm joins the index when it opens (so later alarms of the same transaction see it),
 * leaves it when a committed change ends it, and is forgotten when its opening is rolled back.
 */
import { ACTIVE_STATES, type Alert } from './model.js';
import type { AlertChange } from './changes.js';

/** Who backed the alarm, as kept in `details.confirmedBy` and the history. */
export type Corroboration = Record<string, unknown> & { by: string };

export interface Corroborated {
  /** What confirms the alarm itself. */
  self: Corroboration;
  /** The site's other recent alarms; the unconfirmed ones are confirmed by this one in turn. */
  others: Array<Readonly<Alert>>;
}

/** Where a source is: its site and its registry device's building. */
export interface Place { siteId: string; building?: string | undefined }

/** Whether a fire alarm was raised in test mode: recorded, but no evidence of a fire. */
export const isTest = (a: Readonly<Alert>): boolean => a.details.testMode === true;

export class FireCorroboration {
  private readonly alarms = new Map<string, Set<number>>();
  private readonly flowAt = new Map<string, number>();
  private readonly group: (p: Place) => string;

  /** `lookup`: an alarm as it is now (in the open transaction too), if it is still active. */
  constructor(private readonly lookup: (id: number) => Readonly<Alert> | undefined, private readonly windowMs: number, within: 'building' | 'site') {
    // NUL cannot occur in an id, so site and building never run into each other
    this.group = within === 'site' ? (p) => p.siteId : (p) => `${p.siteId}\u0000${p.building ?? ''}`;
  }

  /** An active fire alarm: opened now, or found active at start. */
  track(a: Readonly<Alert>): void {
    const key = this.group(a);
    let set = this.alarms.get(key);
    if (!set) this.alarms.set(key, (set = new Set()));
    set.add(a.id);
  }

  private untrack(a: Readonly<Alert>): void {
    const key = this.group(a);
    const set = this.alarms.get(key);
    if (set?.delete(a.id) && set.size === 0) this.alarms.delete(key);
  }

  /** After a commit: a fire alarm that left the active states corroborates nothing any more. */
  committed(c: AlertChange): void {
    if (c.alert.type === 'fire.alarm' && !ACTIVE_STATES.has(c.alert.state)) this.untrack(c.alert);
  }

  /** After a rollback: alarms whose opening was rolled back were never stored. */
  forget(created: ReadonlyArray<Readonly<Alert>>): void {
    for (const a of created) if (a.type === 'fire.alarm') this.untrack(a);
  }

  /** A repeat of a panel zone's alarm from a different detector (point) than the last one. */
  secondPoint(a: Readonly<Alert>, previousPoint: unknown, point: unknown): Corroboration | undefined {
    if (a.type !== 'fire.alarm' || a.confirmation !== 'unconfirmed' || isTest(a) || previousPoint === undefined || point === undefined || point === previousPoint) return undefined;
    return { by: 'second_point', points: [previousPoint, point] };
  }

  /** Whether another source in the alarm's building (site) backs it now; undefined when none does. */
  corroborate(a: Readonly<Alert>, at: number): Corroborated | undefined {
    if (isTest(a)) return undefined;
    const since = at - this.windowMs;
    const key = this.group(a);
    const others: Array<Readonly<Alert>> = [];
    for (const id of this.alarms.get(key) ?? []) {
      if (id === a.id) continue;
      const o = this.lookup(id);
      if (!o || (o.deviceId === a.deviceId && o.subject === a.subject) || o.lastRaisedAt < since || isTest(o)) continue;
      others.push(o);
    }
    const flow = (this.flowAt.get(key) ?? -Infinity) >= since;
    if (others.length === 0 && !flow) return undefined;
    return {
      self: { by: flow && others.length === 0 ? 'flow_switch' : 'second_source', sources: others.map((o) => ({ deviceId: o.deviceId, subject: o.subject, alertId: o.id })) },
      others,
    };
  }

  /** A sprinkler flow switch shows water flowing in a building (site): the unconfirmed recent alarms it confirms. */
  flow(where: Place, at: number): Array<Readonly<Alert>> {
    const key = this.group(where);
    const prev = this.flowAt.get(key);
    this.flowAt.set(key, at);
    // one flowing reading confirms; later readings of the same flow need no work
    if (prev !== undefined && at - prev < 1000) return [];
    const ids = this.alarms.get(key);
    if (!ids) return [];
    const since = at - this.windowMs;
    const out: Array<Readonly<Alert>> = [];
    for (const id of ids) {
      const a = this.lookup(id);
      if (a && a.confirmation === 'unconfirmed' && a.lastRaisedAt >= since && !isTest(a)) out.push(a);
    }
    return out;
  }
}

/** Marks a fire alarm confirmed by `by` (another source, or staff through the lifecycle). */
export function confirmFire(draft: Alert, at: number, by: Corroboration): void {
  draft.confirmation = 'confirmed';
  draft.updatedAt = at;
  draft.details = { ...draft.details, confirmedBy: by };
}
