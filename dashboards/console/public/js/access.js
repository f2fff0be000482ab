// Which console pages a role may use. The gateway decides what each call may do (registry/scope.ts);
// this only keeps the console from offering what would be refused.

/** The pages, in the navigation's order, and the roles that see each. */
export const VIEW_ROLES = {
  alerts: null,
  devices: null,
  overview: null,
  sites: ['admin', 'property'],
  accounts: ['admin'],
  orgs: ['admin', 'property', 'maintenance'],
  import: ['admin', 'property'],
  visits: ['admin', 'maintenance', 'property', 'market-supervision', 'street', 'community'],
  orders: ['admin', 'property', 'maintenance', 'market-supervision', 'fire-service', 'street', 'community'],
  scorecards: ['admin', 'market-supervision', 'fire-service', 'street', 'community', 'property', 'maintenance'],
  // the roles with a party (a queue: notifications/model.ts Contact.party), and admin for all of them;
  // linked from the header's tools, not the navigation (it is a setting, not a place to work)
  contacts: ['admin', 'property', 'maintenance', 'street', 'market-supervision', 'fire-service'],
};

export const VIEWS = Object.keys(VIEW_ROLES);

export const canUse = (me, view) => !!me && view in VIEW_ROLES && (VIEW_ROLES[view] === null || VIEW_ROLES[view].includes(me.role));

export const isAdmin = (me) => me?.role === 'admin';

/** Registering devices and changing sites: an admin, or a property company on its own. */
export const canManageRegistry = (me) => me?.role === 'admin' || me?.role === 'property';
