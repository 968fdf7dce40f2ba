/**
 * The ledger's system accounts. They are not in the accounts table and never belong to a
 * customer: `funding:<CUR>` is where deposits of a currency come from (the only account allowed
 * below zero), `transit:<CUR>:<partition>` holds money between a transfer's debit and credit legs,
 * `hold:<CUR>:<partition>` holds the reserved amounts of payments waiting for a manual review.
 */
const FUNDING_PREFIX = 'funding:';
const TRANSIT_PREFIX = 'transit:';
const HOLD_PREFIX = 'hold:';

export function fundingAccountOf(currency: string): string {
  return `${FUNDING_PREFIX}${currency}`;
}

export function isFundingAccount(accountId: string): boolean {
  return accountId.startsWith(FUNDING_PREFIX);
}

/** The in-transit account of one ledger partition (the partition of the leg being posted). */
export function transitAccountOf(currency: string, partition: number): string {
  return `${TRANSIT_PREFIX}${currency}:${partition}`;
}

export function isTransitAccount(accountId: string): boolean {
  return accountId.startsWith(TRANSIT_PREFIX);
}

/** The account of one ledger partition holding the reserved amounts of held payments. */
export function holdAccountOf(currency: string, partition: number): string {
  return `${HOLD_PREFIX}${currency}:${partition}`;
}

export function isHoldAccount(accountId: string): boolean {
  return accountId.startsWith(HOLD_PREFIX);
}

/** The currency named in a system account's id, or undefined for a customer account. */
export function currencyOfSystemAccount(accountId: string): string | undefined {
  if (isFundingAccount(accountId)) return accountId.slice(FUNDING_PREFIX.length);
  if (isTransitAccount(accountId)) return accountId.slice(TRANSIT_PREFIX.length).split(':')[0];
  if (isHoldAccount(accountId)) return accountId.slice(HOLD_PREFIX.length).split(':')[0];
  return undefined;
}
