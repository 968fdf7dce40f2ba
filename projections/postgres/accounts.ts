/**
 * The PostgreSQL accounts projection: the latest Account per id (`payflow.accounts`), the
 * decision on every account command (`payflow.account_command_outcomes`), every
 * posting line once (`payflow.ledger_entries`) and a maintained balance per account
 * (`payflow.balances`, the journal's sum), and the ledger's own balance per account
 * (`payflow.ledger_balances`, from `ledger.balances`). It answers the gateway's `AccountQueries`
 * from one snapshot, with the ledger's balance: always one the ledger had, never a wallet below
 * zero, even while the journal's partitions are read at different speeds.
 *
 * Idempotence: a posting's lines are inserted with ON CONFLICT DO NOTHING on
 * (posting_id, line_no), and the same statement adds to the balances only the lines it actually
 * inserted, so a replayed posting (or two projectors racing on one batch during a rebalance)
 * moves no balance twice. Account rows only move to a record whose updated_at is not older.
 */
import { readFile } from 'node:fs/promises';

import type pg from 'pg';

import type { AccountQueries, AccountView } from '../../gateway/ports.js';
import type {
  Account,
  AccountBalance,
  AccountCommandOutcome,
  AccountStatus,
  KycTier,
  LedgerPosting,
} from '../../schemas/types.js';
import { maskIban } from '../../schemas/iban.js';
import { keyIdOf } from '../../schemas/pii.js';
import { accountView, applyAccount, checkPosting, type BalanceView } from '../account-view.js';
import { inTransaction } from './transaction.js';

/** Bound on one transaction: larger batches are split. */
export const MAX_RECORDS_PER_TRANSACTION = 1_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

const DDL_URL = new URL('./accounts.sql', import.meta.url);

/** Creates the accounts tables if they are missing (every statement is IF NOT EXISTS). */
export async function migrateAccountsProjection(pool: pg.Pool): Promise<void> {
  await pool.query(await readFile(DDL_URL, 'utf8'));
}

export interface PostgresAccountsOptions {
  /** Bound on every statement of a write transaction (SET LOCAL statement_timeout). */
  readonly statementTimeoutMs?: number;
}

interface AccountBalanceRow {
  account_id: string | null;
  owner_id: string;
  currency: string;
  kyc_tier: KycTier;
  iban_masked: string | null;
  iban_sealed: string | null;
  status: AccountStatus;
  opened_at: Date;
  updated_at: Date;
  balance_account_id: string | null;
  balance_currency: string;
  balance_minor: string;
  first_posted_at: Date;
  last_posted_at: Date;
}

function accountOf(row: AccountBalanceRow): Account | undefined {
  if (row.account_id === null) return undefined;
  return {
    accountId: row.account_id,
    ownerId: row.owner_id,
    currency: row.currency,
    kycTier: row.kyc_tier,
    iban: null,
    ibanMasked: row.iban_masked,
    ibanSealed: row.iban_sealed,
    status: row.status,
    openedAtMs: row.opened_at.getTime(),
    updatedAtMs: row.updated_at.getTime(),
  };
}

function balanceOf(row: AccountBalanceRow): BalanceView | undefined {
  if (row.balance_account_id === null) return undefined;
  return {
    currency: row.balance_currency,
    balanceMinor: BigInt(row.balance_minor),
    firstPostedAtMs: row.first_posted_at.getTime(),
    lastPostedAtMs: row.last_posted_at.getTime(),
  };
}

/** The masked IBAN; a record of before sealing has it in clear, which never reaches a row. */
function maskedIbanOf(account: Account): string | null {
  if (account.ibanMasked !== undefined && account.ibanMasked !== null) return account.ibanMasked;
  return account.iban === null ? null : maskIban(account.iban);
}

/** The latest record per account within a batch (one row per key for ON CONFLICT DO UPDATE). */
function latestPerAccount(accounts: readonly Account[]): Account[] {
  const latest = new Map<string, Account>();
  for (const account of accounts)
    latest.set(account.accountId, applyAccount(latest.get(account.accountId), account));
  return [...latest.values()];
}

/** The first occurrence of each posting id within a batch, lines flattened with their numbers. */
function entriesOf(postings: readonly LedgerPosting[]) {
  const seen = new Set<string>();
  const entries: { posting: LedgerPosting; lineNo: number; accountId: string; amountMinor: bigint }[] = [];
  for (const posting of postings) {
    if (seen.has(posting.postingId)) continue;
    seen.add(posting.postingId);
    posting.lines.forEach((line, lineNo) => entries.push({ posting, lineNo, ...line }));
  }
  return entries;
}

const UPSERT_ACCOUNTS = `
  INSERT INTO payflow.accounts (account_id, owner_id, currency, kyc_tier, iban_masked, iban_sealed, iban_key_id, status, opened_at, updated_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])
  ON CONFLICT (account_id) DO UPDATE SET
    owner_id = EXCLUDED.owner_id, currency = EXCLUDED.currency, kyc_tier = EXCLUDED.kyc_tier,
    iban_masked = EXCLUDED.iban_masked, iban_sealed = EXCLUDED.iban_sealed, iban_key_id = EXCLUDED.iban_key_id, status = EXCLUDED.status, opened_at = EXCLUDED.opened_at, updated_at = EXCLUDED.updated_at
  WHERE payflow.accounts.updated_at <= EXCLUDED.updated_at`;

/**
 * One statement: insert the lines, then add to the balances exactly the lines inserted. Balance
 * rows are locked in account id order, so concurrent batches can't deadlock on them.
 */
const INSERT_ENTRIES_AND_ADD_TO_BALANCES = `
  WITH inserted AS (
    INSERT INTO payflow.ledger_entries (posting_id, line_no, payment_id, leg, account_id, amount_minor, currency, posted_at)
    SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[])
    ON CONFLICT (posting_id, line_no) DO NOTHING
    RETURNING account_id, amount_minor, currency, posted_at
  )
  INSERT INTO payflow.balances (account_id, currency, balance_minor, first_posted_at, last_posted_at)
  SELECT account_id, min(currency), sum(amount_minor), min(posted_at), max(posted_at)
    FROM inserted GROUP BY account_id ORDER BY account_id
  ON CONFLICT (account_id) DO UPDATE SET
    balance_minor = payflow.balances.balance_minor + EXCLUDED.balance_minor,
    first_posted_at = least(payflow.balances.first_posted_at, EXCLUDED.first_posted_at),
    last_posted_at = greatest(payflow.balances.last_posted_at, EXCLUDED.last_posted_at)`;

const UPSERT_LEDGER_BALANCES = `
  INSERT INTO payflow.ledger_balances
    (account_id, currency, balance_minor, posting_id, source_partition, source_offset, first_updated_at, updated_at)
  SELECT a, c, b, p, sp, so, u, u
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::bigint[], $7::timestamptz[])
      AS t(a, c, b, p, sp, so, u)
   ORDER BY a
  ON CONFLICT (account_id) DO UPDATE SET
    currency = EXCLUDED.currency, balance_minor = EXCLUDED.balance_minor, posting_id = EXCLUDED.posting_id,
    source_partition = EXCLUDED.source_partition, source_offset = EXCLUDED.source_offset,
    updated_at = EXCLUDED.updated_at
  WHERE (payflow.ledger_balances.source_partition = EXCLUDED.source_partition
         AND payflow.ledger_balances.source_offset < EXCLUDED.source_offset)
     OR (payflow.ledger_balances.source_partition <> EXCLUDED.source_partition
         AND payflow.ledger_balances.updated_at <= EXCLUDED.updated_at)`;

const INSERT_OUTCOMES = `
  INSERT INTO payflow.account_command_outcomes
    (command_id, account_id, command_type, outcome, code, detail, status, decided_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
  ON CONFLICT (command_id) DO NOTHING`;

interface OutcomeRow {
  command_id: string;
  account_id: string;
  command_type: AccountCommandOutcome['commandType'];
  outcome: AccountCommandOutcome['outcome'];
  code: AccountCommandOutcome['code'];
  detail: string | null;
  status: AccountStatus | null;
  decided_at: Date;
}

/** A `ledger.balances` record with its position in the log (the order of an account's balances). */
export interface PositionedBalance {
  readonly balance: AccountBalance;
  readonly partition: number;
  readonly offset: bigint;
}

/** The last record per account within a batch (one row per key for ON CONFLICT DO UPDATE). */
function latestBalancePerAccount(records: readonly PositionedBalance[]): PositionedBalance[] {
  const latest = new Map<string, PositionedBalance>();
  for (const record of records) {
    const before = latest.get(record.balance.accountId);
    if (before === undefined || before.partition !== record.partition || before.offset < record.offset)
      latest.set(record.balance.accountId, record);
  }
  return [...latest.values()];
}

export class PostgresAccountsProjection implements AccountQueries {
  readonly #statementTimeoutMs: number;

  constructor(
    private readonly pool: pg.Pool,
    options: PostgresAccountsOptions = {},
  ) {
    this.#statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  }

  async applyAccount(account: Account): Promise<void> {
    await this.applyAccounts([account]);
  }

  /** Applies account records (in log order); a record older than the stored one changes nothing. */
  async applyAccounts(accounts: readonly Account[]): Promise<void> {
    await this.#inSlices(accounts, (client, records) => {
      const slice = latestPerAccount(records);
      return client.query(UPSERT_ACCOUNTS, [
        slice.map((a) => a.accountId),
        slice.map((a) => a.ownerId),
        slice.map((a) => a.currency),
        slice.map((a) => a.kycTier),
        slice.map(maskedIbanOf),
        slice.map((a) => a.ibanSealed ?? null),
        slice.map((a) =>
          a.ibanSealed === undefined || a.ibanSealed === null ? null : keyIdOf(a.ibanSealed),
        ),
        slice.map((a) => a.status),
        slice.map((a) => new Date(a.openedAtMs)),
        slice.map((a) => new Date(a.updatedAtMs)),
      ]);
    });
  }

  /** Applies `accounts.outcomes` records; an outcome already stored (a replay) changes nothing. */
  async applyOutcomes(outcomes: readonly AccountCommandOutcome[]): Promise<void> {
    await this.#inSlices(outcomes, (client, slice) => {
      const first = [...new Map(slice.map((o) => [o.commandId, o] as const)).values()];
      return client.query(INSERT_OUTCOMES, [
        first.map((o) => o.commandId),
        first.map((o) => o.accountId),
        first.map((o) => o.commandType),
        first.map((o) => o.outcome),
        first.map((o) => o.code),
        first.map((o) => o.detail),
        first.map((o) => o.status),
        first.map((o) => new Date(o.decidedAtMs)),
      ]);
    });
  }

  /** The decision on one command of the account, once the projection has it. */
  async getAccountCommand(accountId: string, commandId: string): Promise<AccountCommandOutcome | undefined> {
    const { rows } = await this.pool.query<OutcomeRow>(
      'SELECT * FROM payflow.account_command_outcomes WHERE command_id = $1 AND account_id = $2',
      [commandId, accountId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      commandId: row.command_id,
      accountId: row.account_id,
      commandType: row.command_type,
      outcome: row.outcome,
      code: row.code,
      detail: row.detail,
      status: row.status,
      decidedAtMs: row.decided_at.getTime(),
    };
  }

  async applyPosting(posting: LedgerPosting): Promise<void> {
    await this.applyPostings([posting]);
  }

  /**
   * Applies postings idempotently: a posting id already stored moves no balance. Refuses the
   * whole batch, before writing, if a posting is unbalanced (LedgerPostingError). Each slice of
   * at most MAX_RECORDS_PER_TRANSACTION postings commits atomically or not at all.
   */
  async applyPostings(postings: readonly LedgerPosting[]): Promise<void> {
    postings.forEach(checkPosting);
    await this.#inSlices(postings, (client, records) => {
      const entries = entriesOf(records);
      return client.query(INSERT_ENTRIES_AND_ADD_TO_BALANCES, [
        entries.map((e) => e.posting.postingId),
        entries.map((e) => e.lineNo),
        entries.map((e) => e.posting.paymentId),
        entries.map((e) => e.posting.leg),
        entries.map((e) => e.accountId),
        entries.map((e) => e.amountMinor.toString()),
        entries.map((e) => e.posting.currency),
        entries.map((e) => new Date(e.posting.postedAtMs)),
      ]);
    });
  }

  /**
   * Applies `ledger.balances` records: an account's row moves only to a record later in the log
   * than the one it holds, so a replay or a late batch never takes a balance back in time.
   */
  async applyLedgerBalances(records: readonly PositionedBalance[]): Promise<void> {
    await this.#inSlices(records, (client, slice) => {
      const latest = latestBalancePerAccount(slice);
      return client.query(UPSERT_LEDGER_BALANCES, [
        latest.map((r) => r.balance.accountId),
        latest.map((r) => r.balance.currency),
        latest.map((r) => r.balance.balanceMinor.toString()),
        latest.map((r) => r.balance.postingId),
        latest.map((r) => r.partition),
        latest.map((r) => r.offset.toString()),
        latest.map((r) => new Date(r.balance.updatedAtMs)),
      ]);
    });
  }

  /**
   * The account and the ledger's balance of it (from `ledger.balances`), from one snapshot; an
   * account the ledger has not moved yet has balance 0.
   */
  async getAccount(accountId: string): Promise<AccountView | undefined> {
    const { rows } = await this.pool.query<AccountBalanceRow>(
      `SELECT a.*, b.account_id AS balance_account_id, b.currency AS balance_currency,
              b.balance_minor::text AS balance_minor, b.first_updated_at AS first_posted_at,
              b.updated_at AS last_posted_at
         FROM (SELECT $1::text AS id) k
         LEFT JOIN payflow.accounts a ON a.account_id = k.id
         LEFT JOIN payflow.ledger_balances b ON b.account_id = k.id`,
      [accountId],
    );
    const row = rows[0];
    return row === undefined ? undefined : accountView(accountOf(row), balanceOf(row), accountId);
  }

  /** One index range read (`accounts_owner_idx`): the owner's highest tier, CLOSED accounts aside. */
  async highestTierOfOwner(ownerId: string): Promise<KycTier | undefined> {
    const { rows } = await this.pool.query<{ tier: KycTier | null }>(
      "SELECT max(kyc_tier) AS tier FROM payflow.accounts WHERE owner_id = $1 AND status <> 'CLOSED'",
      [ownerId],
    );
    return rows[0]?.tier ?? undefined;
  }

  /** The account's balance as the sum of its journal (`ledger.postings`), for reconciliation. */
  async journalBalanceOf(accountId: string): Promise<bigint> {
    const { rows } = await this.pool.query<{ balance: string }>(
      'SELECT coalesce((SELECT balance_minor FROM payflow.balances WHERE account_id = $1), 0)::text AS balance',
      [accountId],
    );
    return BigInt(rows[0]!.balance);
  }

  /** The sum of every balance in the currency: 0 whenever every posting applied was balanced. */
  async totalOfAllBalances(currency: string): Promise<bigint> {
    const { rows } = await this.pool.query<{ total: string }>(
      'SELECT coalesce(sum(balance_minor), 0)::text AS total FROM payflow.balances WHERE currency = $1',
      [currency],
    );
    return BigInt(rows[0]!.total);
  }

  /**
   * Reconciliation: accounts whose maintained balance differs from the sum of their entries
   * (none, unless the tables were edited by hand). Scans the entries of the given accounts.
   */
  async balanceMismatches(
    accountIds: readonly string[],
  ): Promise<readonly { accountId: string; balanceMinor: bigint; entriesMinor: bigint }[]> {
    const { rows } = await this.pool.query<{
      account_id: string;
      balance_minor: string;
      entries_minor: string;
    }>(
      `SELECT id AS account_id, coalesce(b.balance_minor, 0)::text AS balance_minor,
              coalesce((SELECT sum(amount_minor) FROM payflow.ledger_entries e WHERE e.account_id = id), 0)::text AS entries_minor
         FROM unnest($1::text[]) AS id LEFT JOIN payflow.balances b ON b.account_id = id`,
      [accountIds],
    );
    return rows
      .map((row) => ({
        accountId: row.account_id,
        balanceMinor: BigInt(row.balance_minor),
        entriesMinor: BigInt(row.entries_minor),
      }))
      .filter((row) => row.balanceMinor !== row.entriesMinor);
  }

  /** One transaction per slice of at most MAX_RECORDS_PER_TRANSACTION records, in order. */
  async #inSlices<R>(
    records: readonly R[],
    write: (client: pg.PoolClient, slice: readonly R[]) => Promise<unknown>,
  ): Promise<void> {
    for (let start = 0; start < records.length; start += MAX_RECORDS_PER_TRANSACTION) {
      const slice = records.slice(start, start + MAX_RECORDS_PER_TRANSACTION);
      await inTransaction(this.pool, (client) => write(client, slice), {
        statementTimeoutMs: this.#statementTimeoutMs,
      });
    }
  }
}
