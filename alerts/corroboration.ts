/**
 * Fire corroboration: a fire alarm stays unconfirmed (the property company verifies it; the fire
 * service does not hear of it yet) until another source on the same site backs it within
 * `fire.corroborationWindow`: another detector or panel zone alarming, a second detector (point)
 * of the same panel zone (GB 50116 treats two detectors of one zone as a confirmed fire), or a
 * sprinkler flow switch showing water flowing. Staff confirm through the lifecycle's `confirm`.
 *
 * Keeps the active fire alarms per site (by id: the ledger holds the alerts) and the last flow per
 * site. An alarm joins the index when it opens (so later alarms of the same transaction see it),
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

export class FireCorroboration {
  private readonly alarms = new Map<string, Set<number>>();
  private readonly flowAt = new Map<string, number>();

  /** `lookup`: an alarm as it is now (in the open transaction too), if it is still active. */
  constructor(private readonly lookup: (id: number) => Readonly<Alert> | undefined, private readonly windowMs: number) {}

  /** An active fire alarm: opened now, or found active at start. */
  track(a: Readonly<Alert>): void {
    let set = this.alarms.get(a.siteId);
    if (!set) this.alarms.set(a.siteId, (set = new Set()));
    set.add(a.id);
  }

  private untrack(a: Readonly<Alert>): void {
    const set = this.alarms.get(a.siteId);
    if (set?.delete(a.id) && set.size === 0) this.alarms.delete(a.siteId);
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
    if (a.type !== 'fire.alarm' || a.confirmation !== 'unconfirmed' || previousPoint === undefined || point === undefined || point === previousPoint) return undefined;
    return { by: 'second_point', points: [previousPoint, point] };
  }

  /** Whether another source on the alarm's site backs it now; undefined when none does. */
  corroborate(a: Readonly<Alert>, at: number): Corroborated | undefined {
    const since = at - this.windowMs;
    const others: Array<Readonly<Alert>> = [];
    for (const id of this.alarms.get(a.siteId) ?? []) {
      if (id === a.id) continue;
      const o = this.lookup(id);
      if (!o || (o.deviceId === a.deviceId && o.subject === a.subject) || o.lastRaisedAt < since) continue;
      others.push(o);
    }
    const flow = (this.flowAt.get(a.siteId) ?? -Infinity) >= since;
    if (others.length === 0 && !flow) return undefined;
    return {
      self: { by: flow && others.length === 0 ? 'flow_switch' : 'second_source', sources: others.map((o) => ({ deviceId: o.deviceId, subject: o.subject, alertId: o.id })) },
      others,
    };
  }

  /** A sprinkler flow switch shows water flowing on a site: the unconfirmed recent alarms it confirms. */
  flow(siteId: string, at: number): Array<Readonly<Alert>> {
    const prev = this.flowAt.get(siteId);
    this.flowAt.set(siteId, at);
    // one flowing reading confirms; later readings of the same flow need no work
    if (prev !== undefined && at - prev < 1000) return [];
    const ids = this.alarms.get(siteId);
    if (!ids) return [];
    const since = at - this.windowMs;
    const out: Array<Readonly<Alert>> = [];
    for (const id of ids) {
      const a = this.lookup(id);
      if (a && a.confirmation === 'unconfirmed' && a.lastRaisedAt >= since) out.push(a);
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
