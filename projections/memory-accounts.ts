/**
 * The accounts projection of the embedded default: the same fold as PostgreSQL's
 * (`account-view.ts`), held in memory with bounds on the accounts and the posting ids kept.
 */
import { highestTier, type AccountQueries, type AccountView } from '../gateway/ports.js';
import type { Account, AccountCommandOutcome, KycTier, LedgerPosting } from '../schemas/types.js';
import { accountView, applyAccount, postingBalances, type BalanceView } from './account-view.js';

export interface MemoryAccountsLimits {
  /** Accounts with a record, and accounts with a balance, each at most this many. */
  readonly maxAccounts: number;
  /** Posting ids remembered to make replays harmless. */
  readonly maxPostings: number;
  /**
   * Account command outcomes kept for their status URLs (default 100,000); past it the oldest
   * is forgotten, and its status URL answers as for an unknown command.
   */
  readonly maxOutcomes?: number;
}

export class AccountsProjectionCapacityError extends Error {
  constructor(what: 'accounts' | 'postings', limit: number) {
    super(
      `the in-memory accounts projection holds its limit of ${limit} ${what}; use the PostgreSQL projection`,
    );
    this.name = 'AccountsProjectionCapacityError';
  }
}

export class MemoryAccountsProjection implements AccountQueries {
  readonly #accounts = new Map<string, Account>();
  readonly #balances = new Map<string, BalanceView>();
  readonly #appliedPostingIds = new Set<string>();
  readonly #outcomes = new Map<string, AccountCommandOutcome>();

  constructor(private readonly limits: MemoryAccountsLimits) {}

  /** Keeps the newer record of the account (see `applyAccount`). */
  applyAccount(account: Account): void {
    const before = this.#accounts.get(account.accountId);
    if (before === undefined && this.#accounts.size >= this.limits.maxAccounts) {
      throw new AccountsProjectionCapacityError('accounts', this.limits.maxAccounts);
    }
    this.#accounts.set(account.accountId, applyAccount(before, account));
  }

  /**
   * Adds the posting to the balances, once: a posting already applied changes nothing. All or
   * nothing: an unbalanced posting or one beyond the bounds throws before any balance moves.
   */
  applyPosting(posting: LedgerPosting): void {
    if (this.#appliedPostingIds.has(posting.postingId)) return;
    if (this.#appliedPostingIds.size >= this.limits.maxPostings) {
      throw new AccountsProjectionCapacityError('postings', this.limits.maxPostings);
    }
    const updated = postingBalances((accountId) => this.#balances.get(accountId), posting);
    const added = [...updated.keys()].filter((accountId) => !this.#balances.has(accountId)).length;
    if (this.#balances.size + added > this.limits.maxAccounts) {
      throw new AccountsProjectionCapacityError('accounts', this.limits.maxAccounts);
    }
    for (const [accountId, balance] of updated) this.#balances.set(accountId, balance);
    this.#appliedPostingIds.add(posting.postingId);
  }

  /** Keeps the first decision per command id (a replay changes nothing); the oldest goes past the bound. */
  applyOutcome(outcome: AccountCommandOutcome): void {
    if (this.#outcomes.has(outcome.commandId)) return;
    this.#outcomes.set(outcome.commandId, outcome);
    if (this.#outcomes.size > (this.limits.maxOutcomes ?? 100_000)) {
      const oldest = this.#outcomes.keys().next();
      if (oldest.done !== true) this.#outcomes.delete(oldest.value);
    }
  }

  /** Batch forms, for the Kafka runner: in log order. */
  applyAccounts(accounts: readonly Account[]): void {
    for (const account of accounts) this.applyAccount(account);
  }

  applyPostings(postings: readonly LedgerPosting[]): void {
    for (const posting of postings) this.applyPosting(posting);
  }

  getAccountCommand(accountId: string, commandId: string): Promise<AccountCommandOutcome | undefined> {
    const outcome = this.#outcomes.get(commandId);
    return Promise.resolve(outcome?.accountId === accountId ? outcome : undefined);
  }

  getAccount(accountId: string): Promise<AccountView | undefined> {
    return Promise.resolve(
      accountView(this.#accounts.get(accountId), this.#balances.get(accountId), accountId),
    );
  }

  highestTierOfOwner(ownerId: string): Promise<KycTier | undefined> {
    return Promise.resolve(highestTier(this.#accounts.values(), ownerId));
  }

  /** The sum of every balance in the currency: 0 whenever every applied posting was balanced. */
  totalOfAllBalances(currency: string): Promise<bigint> {
    let total = 0n;
    for (const balance of this.#balances.values()) {
      if (balance.currency === currency) total += balance.balanceMinor;
    }
    return Promise.resolve(total);
  }
}
