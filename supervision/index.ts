/**
 * Supervision (监管闭环): what the regulations ask beyond detecting and notifying. Today the
 * handover of sites between property companies (handover.ts); rescue arrival, maintenance visits,
 * rectification orders, scorecards and the ranking come next. It sits above `alerts` and `registry`
 * and reaches them through their index.ts.
 */
export { SiteHandovers, handoverSchema, EMERGENCY_MAX_MONTHS, type HandoverRequest, type HandoverResult } from './handover.js';
