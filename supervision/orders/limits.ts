/** Bounds of the orders capability that are not settings: what keeps one party from filling the disk or a reply. */

/** A party may hold this many uploads no reply has used yet: enough for any reply, not a free file store. */
export const MAX_UNUSED_PER_PARTY = 100;
/** At most this many attachments in one reply. */
export const MAX_REPLY_ATTACHMENTS = 20;
/** Rows one ledger export holds (newest first): a city's year of orders fits; a larger ledger is exported by period. */
export const MAX_EXPORT_ROWS = 20_000;
