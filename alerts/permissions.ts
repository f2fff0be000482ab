/**
 * Who may do what to an alert: the one role × action table, for the API (`checkAction` in
 * lifecycle.ts), for the buttons the console shows (`allowedActions` in the API's answers) and for
 * the READMEs (a test reads their tables back and compares them with this one).
 *
 * Scope comes first and is not decided here: an alert a principal may not see (registry/scope.ts)
 * does not exist for it (404). Then the role (403 ALERT_ACTION_FORBIDDEN), then the alert (409
 * ALERT_INVALID_TRANSITION): its state; for confirm / dismiss, whether it is an unconfirmed fire alarm;
 * for arrive, whether it is a trapped-passenger alert without a recorded arrival; for acknowledge,
 * whether the caller's party has acknowledged it already. The role is asked before the alert so that
 * a refusal for the role reads the same in every state.
 *
 * To add an action: add it to ACTIONS in model.ts, give it a row here (the compiler asks for it), a
 * case in `applyAction` (lifecycle.ts), and a row in both READMEs.
 */
import { AUTHORITY_QUEUES, ownQueue, type Principal, type Role } from '../registry/index.js';
import { ACTIONS, type Action, type Alert, type AlertState } from './model.js';

/**
 * A condition on the alert for everyone, admins included: `unconfirmed-fire-alarm` (confirm, dismiss);
 * `trapped-not-arrived`: a trapped-passenger alert whose rescuers' arrival is not recorded yet (arrive).
 */
export type Only = 'unconfirmed-fire-alarm' | 'trapped-not-arrived';

/**
 * `if-routed-to-it`: an authority, when the alert was routed to its queue (its `queues` include
 * `market-supervision` / `fire-service`): the closing check (销号) belongs to whoever received it.
 * `if-no-authority`: when no authority received the alert at all.
 */
export type Grant = 'yes' | 'no' | 'if-routed-to-it' | 'if-no-authority';

export interface ActionRule {
  label: { zh: string; en: string };
  /** The states the alert must be in. */
  from: readonly AlertState[];
  only?: Only;
  /**
   * Once per party (a role: acknowledge): the first party's acknowledgement moves the alert on, and
   * each other party may still acknowledge it in any of `from`, once.
   */
  oncePerParty?: true;
  roles: Record<Role, Grant>;
}

const OPEN_WORK: readonly AlertState[] = ['open', 'acknowledged', 'dispatched'];

export const ACTION_RULES: Record<Action, ActionRule> = {
  // every party's response is its own (the maintenance unit's counts in its 3-minute response rate,
  // the property company's does not), so one party's acknowledgement does not close it for the others
  acknowledge: {
    label: { zh: '确认', en: 'Acknowledge' }, from: OPEN_WORK, oncePerParty: true,
    roles: { admin: 'yes', property: 'yes', maintenance: 'yes', 'market-supervision': 'yes', 'fire-service': 'yes', street: 'no', community: 'no' },
  },
  // the maintenance unit arrived on site (到场) for trapped passengers: its own sign-in, or the property
  // company seeing it arrive; supervision counts it against the site's arrival deadline
  arrive: {
    label: { zh: '到场', en: 'Arrived on site' }, from: OPEN_WORK, only: 'trapped-not-arrived',
    roles: { admin: 'yes', property: 'yes', maintenance: 'yes', 'market-supervision': 'no', 'fire-service': 'no', street: 'no', community: 'no' },
  },
  dispatch: {
    label: { zh: '派单', en: 'Dispatch' }, from: ['open', 'acknowledged'],
    roles: { admin: 'yes', property: 'yes', maintenance: 'yes', 'market-supervision': 'no', 'fire-service': 'no', street: 'no', community: 'no' },
  },
  resolve: {
    label: { zh: '处置完成', en: 'Resolve' }, from: OPEN_WORK,
    roles: { admin: 'yes', property: 'yes', maintenance: 'yes', 'market-supervision': 'no', 'fire-service': 'no', street: 'no', community: 'no' },
  },
  // the party that repaired must not verify its own repair
  close: {
    label: { zh: '销号', en: 'Close' }, from: ['resolved'],
    roles: { admin: 'yes', property: 'if-no-authority', maintenance: 'no', 'market-supervision': 'if-routed-to-it', 'fire-service': 'if-routed-to-it', street: 'no', community: 'no' },
  },
  confirm: {
    label: { zh: '核实为火警', en: 'Confirm fire' }, from: OPEN_WORK, only: 'unconfirmed-fire-alarm',
    roles: { admin: 'yes', property: 'yes', maintenance: 'no', 'market-supervision': 'no', 'fire-service': 'yes', street: 'no', community: 'no' },
  },
  dismiss: {
    label: { zh: '核实为误报', en: 'Dismiss as false alarm' }, from: OPEN_WORK, only: 'unconfirmed-fire-alarm',
    roles: { admin: 'yes', property: 'yes', maintenance: 'no', 'market-supervision': 'no', 'fire-service': 'yes', street: 'no', community: 'no' },
  },
};


export const ROLE_LABELS: Record<Role, { zh: string; en: string }> = {
  admin: { zh: '管理员', en: 'admin' },
  property: { zh: '物业', en: 'property company' },
  maintenance: { zh: '维保单位', en: 'maintenance unit' },
  'market-supervision': { zh: '市场监督管理局', en: 'market supervision' },
  'fire-service': { zh: '消防救援', en: 'fire service' },
  street: { zh: '街道', en: 'street office' },
  community: { zh: '社区', en: 'community' },
};

/** Whether the principal's role may take this action on this alert, whatever its state. */
export function roleMay(p: Principal, a: Pick<Alert, 'queues'>, action: Action): boolean {
  switch (ACTION_RULES[action].roles[p.role]) {
    case 'yes': return true;
    case 'no': return false;
    case 'if-routed-to-it': {
      const q = ownQueue(p);
      return q !== undefined && AUTHORITY_QUEUES.includes(q) && a.queues.includes(q);
    }
    case 'if-no-authority': return !a.queues.some((q) => AUTHORITY_QUEUES.includes(q));
  }
}

type Checked = Pick<Alert, 'state' | 'confirmation' | 'type' | 'arrivedAt' | 'acknowledgements'>;

/** Why the alert does not allow the principal's action now (its role aside), or undefined when it does. */
export type AlertRefusal = 'state' | Only | 'acknowledged-by-party';

export function alertRefusal(p: Pick<Principal, 'role'>, a: Checked, action: Action): AlertRefusal | undefined {
  const rule = ACTION_RULES[action];
  if (!rule.from.includes(a.state)) return 'state';
  if (rule.only === 'unconfirmed-fire-alarm' && a.confirmation !== 'unconfirmed') return rule.only;
  if (rule.only === 'trapped-not-arrived' && (a.type !== 'elevator.trapped' || a.arrivedAt !== null)) return rule.only;
  if (rule.oncePerParty && acknowledgedBy(a, p.role)) return 'acknowledged-by-party';
  return undefined;
}

/** Whether the role's party has acknowledged the alert. */
export function acknowledgedBy(a: Pick<Alert, 'acknowledgements'>, role: Role): boolean {
  return a.acknowledgements.some((k) => k.role === role);
}

export function mayAct(p: Principal, a: Alert, action: Action): boolean {
  return roleMay(p, a, action) && alertRefusal(p, a, action) === undefined;
}

/** The actions the principal may take on the alert now, in the order of ACTIONS (the console's buttons). */
export function allowedActions(p: Principal, a: Alert): Action[] {
  return ACTIONS.filter((action) => mayAct(p, a, action));
}

/** Why the role may not: for the 403's message, in Chinese and English. */
export function roleRefusal(p: Principal, a: Pick<Alert, 'id' | 'queues'>, action: Action): string {
  const { label, roles } = ACTION_RULES[action];
  const role = ROLE_LABELS[p.role];
  const grant = roles[p.role];
  if (grant === 'if-routed-to-it') {
    return `该告警未推送给${role.zh}，不能「${label.zh}」 / alert ${a.id} was not routed to the ${role.en}, so it may not ${action} it`;
  }
  if (grant === 'if-no-authority') {
    const by = a.queues.filter((q) => AUTHORITY_QUEUES.includes(q)).join(', ');
    return `该告警已推送给监管部门（${by}），由其「${label.zh}」 / alert ${a.id} was routed to ${by}, which may ${action} it; the ${role.en} may not`;
  }
  return `${role.zh}不能「${label.zh}」告警 / a ${role.en} may not ${action} alerts`;
}
