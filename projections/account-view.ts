/**
 * The accounts read model as a pure fold over two streams: the compacted `accounts` topic (the
 * latest Account per id) and `ledger.postings` (balanced journal entries). Every accounts
 * projection (in memory, PostgreSQL) uses these functions, so they agree on what an account
 * looks like and what its balance is.
 *
 * - `applyAccount(view, account)`: the newer `updatedAtMs` wins; on a tie the record that came
 *   later in the log wins (an OPEN and a CHANGE_STATUS in the same millisecond must end with the
 *   status change). Applying the same record again changes nothing.
 * - `applyPosting(ledger, posting)`: adds the posting's lines to the balances of the accounts it
 *   touches. The ledger state remembers the ids of the postings it holds, so a posting applied
 *   twice (a replay) returns the state unchanged. Balances only add, so the order in which
 *   postings arrive doesn't matter.
 * - `accountView(account, balance, accountId)`: what the gateway answers. A customer account
 *   answers once its Account record is in (balance 0 until a posting moves money); a system
 *   account (`funding:<CUR>`, `transit:<CUR>:<partition>`) has no Account record and answers
 *   once a posting has touched it.
 */
import type { AccountView } from '../gateway/ports.js';
import { currencyOfSystemAccount } from '../schemas/system-accounts.js';
import type { Account, LedgerPosting } from '../schemas/types.js';

/** The owner id of the ledger's system accounts. */
export const SYSTEM_OWNER_ID = 'system';

/**
 * The read model's view of an account's ledger balance, in the currency of the postings that made
 * it, and when they first and last touched it (the ledger's own record on ledger.balances is
 * `AccountBalance` in schemas/types.ts).
 */
export interface BalanceView {
  readonly currency: string;
  readonly balanceMinor: bigint;
  readonly firstPostedAtMs: number;
  readonly lastPostedAtMs: number;
}

export type Balances = ReadonlyMap<string, BalanceView>;

/** The ledger side of the read model: balances per account and the postings they include. */
export interface LedgerState {
  readonly balances: Balances;
  readonly appliedPostingIds: ReadonlySet<string>;
}

export const EMPTY_LEDGER: LedgerState = { balances: new Map(), appliedPostingIds: new Set() };

/** A posting the ledger must not hold: no lines, or lines that don't sum to zero. */
export class LedgerPostingError extends Error {
  readonly deadLetterCode = 'UNBALANCED_POSTING';
  constructor(posting: Pick<LedgerPosting, 'postingId'>, reason: string) {
    super(`posting ${posting.postingId} ${reason}`);
    this.name = 'LedgerPostingError';
  }
}

/** Throws LedgerPostingError unless the posting is a balanced journal entry. */
export function checkPosting(posting: LedgerPosting): void {
  if (posting.lines.length === 0) throw new LedgerPostingError(posting, 'has no lines');
  const total = posting.lines.reduce((sum, line) => sum + line.amountMinor, 0n);
  if (total !== 0n) throw new LedgerPostingError(posting, `is unbalanced: its lines sum to ${total}`);
}

/** The newer record wins; on equal `updatedAtMs` the later one (the argument) wins. */
export function applyAccount(view: Account | undefined, account: Account): Account {
  if (view !== undefined && account.updatedAtMs < view.updatedAtMs) return view;
  return account;
}

/**
 * The new balances of the accounts a posting touches (several lines on one account add up),
 * given a lookup of their current balances. Refuses an unbalanced posting.
 */
export function postingBalances(
  balanceOf: (accountId: string) => BalanceView | undefined,
  posting: LedgerPosting,
): ReadonlyMap<string, BalanceView> {
  checkPosting(posting);
  const updated = new Map<string, BalanceView>();
  for (const line of posting.lines) {
    const before = updated.get(line.accountId) ?? balanceOf(line.accountId);
    updated.set(line.accountId, {
      currency: before?.currency ?? posting.currency,
      balanceMinor: (before?.balanceMinor ?? 0n) + line.amountMinor,
      firstPostedAtMs: Math.min(before?.firstPostedAtMs ?? posting.postedAtMs, posting.postedAtMs),
      lastPostedAtMs: Math.max(before?.lastPostedAtMs ?? posting.postedAtMs, posting.postedAtMs),
    });
  }
  return updated;
}

/** Folds one posting into the ledger; a posting it already holds returns the same state. */
export function applyPosting(ledger: LedgerState, posting: LedgerPosting): LedgerState {
  if (ledger.appliedPostingIds.has(posting.postingId)) return ledger;
  const updated = postingBalances((accountId) => ledger.balances.get(accountId), posting);
  return {
    balances: new Map([...ledger.balances, ...updated]),
    appliedPostingIds: new Set([...ledger.appliedPostingIds, posting.postingId]),
  };
}

/**
 * The gateway's view of an account: its record with its balance (0 before any posting), or for
 * a system account without a record, a synthetic view once it has a balance. Undefined when
 * there is nothing to show (an unknown id, or a customer account whose record isn't in yet).
 */
export function accountView(
  account: Account | undefined,
  balance: BalanceView | undefined,
  accountId: string,
): AccountView | undefined {
  if (account !== undefined) return { ...account, balanceMinor: balance?.balanceMinor ?? 0n };
  const currency = currencyOfSystemAccount(accountId);
  if (currency === undefined || balance === undefined) return undefined;
  return {
    accountId,
    ownerId: SYSTEM_OWNER_ID,
    currency,
    kycTier: 'TIER_3',
    iban: null,
    status: 'ACTIVE',
    balanceMinor: balance.balanceMinor,
    openedAtMs: balance.firstPostedAtMs,
    updatedAtMs: balance.lastPostedAtMs,
  };
}
