/**
 * What people reading logs and the delivery log may see of an address: enough to tell two contacts
 * apart and to check a number by its ends, never the whole of it (a full phone number in a log is
 * personal data leaked to everyone who can read the log).
 */

/** `13812345678` → `138****5678`; `+8613812345678` → `+86 138****5678`; anything short → `****` and its last 2 digits. */
export function maskPhone(phone: string): string {
  const compact = phone.replace(/[\s\-()]/g, '');
  const mainland = /^(?:\+?86|0086)?(1\d{10})$/.exec(compact);
  if (mainland) {
    const digits = mainland[1]!;
    const prefix = compact.length > 11 ? '+86 ' : '';
    return `${prefix}${digits.slice(0, 3)}****${digits.slice(-4)}`;
  }
  if (compact.length >= 9) return `${compact.slice(0, 3)}****${compact.slice(-4)}`;
  return `****${compact.slice(-2)}`;
}

/** `zhang.san@example.com` → `z***@example.com`; not an address → `***`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

/**
 * Masks every run of 7 or more digits (an optional `+` included) in a provider's error text: some
 * providers echo the number they refused, and the text ends up in `SendOutcome.error` and the logs.
 */
export function maskDigitRuns(text: string): string {
  return text.replace(/\+?\d{7,}/g, (run) => maskPhone(run));
}
