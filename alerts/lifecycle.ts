/**
 * The lifecycle of one alert: how it opens, repeats and ends with its condition, and the people's
 * actions (acknowledge, arrive, dispatch, resolve, close, confirm, dismiss) with their checks. Each step
 * works on the working copy the alert service hands it and says what the change is; the service
 * writes the history, routes and records it.
 */
import type { Principal } from '../registry/index.js';
import { domainOf } from './catalog.js';
import type { Responsibility } from './config.js';
import { AlertError } from './errors.js';
import type { Action, Alert, AlertState, RaiseInput } from './model.js';
import { ACTION_RULES, acknowledgedBy, alertRefusal, roleMay, roleRefusal, ROLE_LABELS } from './permissions.js';
import type { QueueEvent } from './queues.js';

/** The history word of each action. */
export const PAST: Record<Action, string> = {
  acknowledge: 'acknowledged', arrive: 'arrived', dispatch: 'dispatched', resolve: 'resolved', close: 'closed', dismiss: 'dismissed', confirm: 'confirmed',
};

/** What a step did, for the change it is recorded as. */
export interface Step { kind: QueueEvent; reason?: string | undefined }

/**
 * A new alert by its entry in the responsibility list: open, with its deadlines from now.
 * `arriveWithinMs`: the site's rescue arrival deadline, for a trapped-passenger alert (null otherwise).
 */
export function newAlert(input: RaiseInput, entry: Responsibility, verifyWindowMs: number, arriveWithinMs: number | null): Omit<Alert, 'id'> {
  const { device, type, at } = input;
  const needsConfirmation = entry.holdUntilConfirmed.length > 0;
  return {
    type, subject: input.subject, severity: entry.severity, state: 'open', label: entry.label, domain: domainOf(type, device.kind),
    deviceId: device.id, deviceKind: device.kind, siteId: device.siteId, companyId: device.companyId,
    maintenanceUnitId: device.maintenanceUnitId ?? null,
    ...named(device),
    location: device.location ?? null,
    openedAt: at, updatedAt: at, lastRaisedAt: at, count: 1, conditionActive: true, suppressed: input.suppressed,
    confirmation: needsConfirmation ? 'unconfirmed' : null, forwardedUnverified: false,
    deadlines: {
      acknowledgeBy: entry.ackWithinMs === null ? null : at + entry.ackWithinMs,
      resolveBy: entry.resolveWithinMs === null ? null : at + entry.resolveWithinMs,
      verifyBy: needsConfirmation ? at + verifyWindowMs : null,
      arrive: arriveWithinMs === null ? null : at + arriveWithinMs,
    },
    acknowledgedAt: null, acknowledgements: [], unitAcknowledgedAt: null, arrivedAt: null, arrivedBy: null, dispatchedAt: null, resolvedAt: null, closedAt: null, clearedAt: null,
    escalations: [], queues: [], details: input.details,
  };
}

/** The names and place the device info has, for what people read (absent ones are left out). */
function named(device: RaiseInput['device']): Pick<Alert, 'siteName' | 'companyName' | 'maintenanceUnitName' | 'street' | 'community' | 'building'> {
  const out: Pick<Alert, 'siteName' | 'companyName' | 'maintenanceUnitName' | 'street' | 'community' | 'building'> = {};
  if (device.siteName !== undefined) out.siteName = device.siteName;
  if (device.companyName !== undefined) out.companyName = device.companyName;
  if (device.maintenanceUnitId !== undefined && device.maintenanceUnitName !== undefined) out.maintenanceUnitName = device.maintenanceUnitName;
  if (device.street !== undefined) out.street = device.street;
  if (device.community !== undefined) out.community = device.community;
  if (device.building !== undefined) out.building = device.building;
  return out;
}

/** The condition of an active alert was reported again. */
export function repeat(draft: Alert, input: RaiseInput): void {
  draft.count++;
  draft.lastRaisedAt = input.at;
  draft.updatedAt = input.at;
  draft.conditionActive = true;
  draft.details = { ...draft.details, ...input.details };
  // the same condition outside maintenance mode is real: the withheld queues get it now
  if (draft.suppressed && !input.suppressed) draft.suppressed = false;
}

/**
 * The reason an alert was withheld from the authorities is gone while its condition still holds (an
 * elevator fault raised in inspection / maintenance mode, the car back out of that mode): it is real
 * now, as a repeat outside the mode would make it, and the withheld queues get it (`raised`).
 */
export function release(draft: Alert, at: number): Step {
  draft.suppressed = false;
  draft.updatedAt = at;
  return { kind: 'updated', reason: 'mode_ended' };
}

/**
 * The condition behind an active alert ended. An untouched alert whose type clears itself is
 * `cleared` (and its queues hear `closed`); any other stays for people to act on.
 */
export function conditionEnded(draft: Alert, at: number, autoClear: boolean): Step & { cleared: boolean } {
  draft.conditionActive = false;
  draft.updatedAt = at;
  if (draft.state === 'open' && autoClear) {
    draft.state = 'cleared';
    draft.clearedAt = at;
    return { kind: 'closed', reason: 'condition_ended', cleared: true };
  }
  return { kind: 'updated', reason: 'condition_ended', cleared: false };
}

/** The states in people's words for refusals, as the console names them. */
const STATE_ZH: Record<AlertState, string> = {
  open: '待处理', acknowledged: '已确认', dispatched: '已派单', resolved: '已处置', closed: '已销号', cleared: '已自动恢复',
};

/**
 * Whether the principal may take the action on the alert now: the role (403), then the alert (409,
 * with the reason in Chinese and English and, in the details, which check refused it). Scope comes
 * before both and is the caller's (an alert outside it is a 404).
 */
export function checkAction(p: Principal, a: Readonly<Alert>, action: Action): void {
  if (!roleMay(p, a, action)) throw new AlertError('ALERT_ACTION_FORBIDDEN', roleRefusal(p, a, action), { action, role: p.role });
  const refusal = alertRefusal(p, a, action);
  if (refusal === undefined) return;
  const from: AlertState = a.state;
  const { label, from: allowed } = ACTION_RULES[action];
  const no = `告警 ${a.id} 不能「${label.zh}」`;
  switch (refusal) {
    case 'state': {
      const why = from === 'cleared' ? 'it cleared itself when its condition ended' : from === 'closed' ? 'it is closed' : `it is ${from}`;
      throw new AlertError('ALERT_INVALID_TRANSITION',
        `${no}：当前状态为${STATE_ZH[from]}，仅限${allowed.map((s) => STATE_ZH[s]).join('、')} / cannot ${action} alert ${a.id}: ${why}; ${action} is allowed only when the alert is ${allowed.join(' or ')}`,
        { state: from, allowedFrom: allowed });
    }
    case 'unconfirmed-fire-alarm':
      throw new AlertError('ALERT_INVALID_TRANSITION', `${no}：仅限未核实的火灾报警 / cannot ${action} alert ${a.id}: only an unconfirmed fire alarm can be ${PAST[action]}`,
        { state: from, confirmation: a.confirmation });
    case 'trapped-not-arrived':
      throw new AlertError('ALERT_INVALID_TRANSITION', a.type === 'elevator.trapped'
        ? `${no}：到场时间已记录 / cannot ${action} alert ${a.id}: the arrival on site was recorded already`
        : `${no}：仅限电梯困人告警 / cannot ${action} alert ${a.id}: only a trapped-passenger alert records an arrival on site`,
      { state: from, type: a.type, arrivedAt: a.arrivedAt });
    case 'acknowledged-by-party': {
      const role = ROLE_LABELS[p.role];
      throw new AlertError('ALERT_INVALID_TRANSITION', `${no}：${role.zh}已确认过该告警 / cannot ${action} alert ${a.id}: the ${role.en} has acknowledged it already`,
        { state: from, role: p.role });
    }
  }
}

/**
 * The acting party's acknowledgement, if it had none. Acting on an alert (arriving, dispatching,
 * resolving, dismissing) is responding to it, so it counts as that party's acknowledgement, as it
 * always moved `acknowledgedAt`; closing (销号, a check by an authority) and confirming a fire do not.
 */
function acknowledge(draft: Alert, p: Pick<Principal, 'id' | 'role'>, at: number): void {
  draft.acknowledgedAt ??= at;
  if (acknowledgedBy(draft, p.role)) return;
  draft.acknowledgements.push({ role: p.role, actor: p.id, at });
  if (p.role === 'maintenance') draft.unitAcknowledgedAt ??= at;
}

/** Takes a checked action on the working copy. */
export function applyAction(draft: Alert, action: Action, p: Pick<Principal, 'id' | 'role'>, at: number): Step {
  let step: Step;
  switch (action) {
    case 'acknowledge':
      // the first party moves the alert on; another party's acknowledgement is recorded and heard, the state stays
      if (draft.state === 'open') draft.state = 'acknowledged';
      acknowledge(draft, p, at);
      step = { kind: 'acknowledged' };
      break;
    case 'arrive':
      draft.arrivedAt = at;
      draft.arrivedBy = { role: p.role, actor: p.id };
      // arriving implies the arriving party acknowledged; an alert still open moves on as with an acknowledgement
      if (draft.state === 'open') draft.state = 'acknowledged';
      acknowledge(draft, p, at);
      step = { kind: 'updated', reason: 'arrived' };
      break;
    case 'dispatch': draft.state = 'dispatched'; draft.dispatchedAt = at; acknowledge(draft, p, at); step = { kind: 'dispatched' }; break;
    case 'resolve': draft.state = 'resolved'; draft.resolvedAt = at; acknowledge(draft, p, at); step = { kind: 'resolved' }; break;
    case 'close': draft.state = 'closed'; draft.closedAt = at; step = { kind: 'closed' }; break;
    case 'dismiss':
      draft.state = 'closed'; draft.closedAt = at; acknowledge(draft, p, at); draft.details = { ...draft.details, dismissed: true };
      step = { kind: 'closed', reason: 'dismissed' };
      break;
    case 'confirm':
      draft.confirmation = 'confirmed'; draft.details = { ...draft.details, confirmedBy: { by: 'staff', actor: p.id } };
      step = { kind: 'updated', reason: 'confirmed' };
      break;
  }
  draft.updatedAt = at;
  return step;
}
