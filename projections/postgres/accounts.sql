-- PayFlow's accounts read model in PostgreSQL, materialized from the compacted `accounts` topic
-- and from `ledger.postings` (see projections/account-view.ts for the fold it implements).
-- Rebuildable: drop these tables and replay both topics from the beginning; every write is
-- idempotent, so a replay converges to the same rows.

-- One migration at a time: instances starting together wait here (the file runs as one
-- implicit transaction, which holds the lock to its end).
SELECT pg_advisory_xact_lock(7372104417);

CREATE SCHEMA IF NOT EXISTS payflow;

-- The latest Account record per id: a record replaces the row only if its updated_at is not
-- older (on a tie the record later in the log wins).
CREATE TABLE IF NOT EXISTS payflow.accounts (
  account_id  text        PRIMARY KEY,
  owner_id    text        NOT NULL,
  currency    text        NOT NULL,
  kyc_tier    text        NOT NULL CHECK (kyc_tier IN ('TIER_0', 'TIER_1', 'TIER_2', 'TIER_3')),
  iban_masked text,
  iban_sealed text,
  iban_key_id text,
  status      text        NOT NULL CHECK (status IN ('ACTIVE', 'FROZEN', 'CLOSED')),
  opened_at   timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- No IBAN rests here in clear: the masked form (`SA****7519`) for reading, the sealed one
-- (schemas/pii.ts) for whoever must open it, and its key id, by which a rotation job finds the
-- rows of a retired key. A table of before sealing had a plain `iban`: it is masked and cleared,
-- then dropped. Its full IBAN is not recoverable from PayFlow's data: a plain IBAN was never
-- sealed. PostgreSQL keeps dropped values in old row versions until the table is rewritten: run
-- `VACUUM FULL payflow.accounts` once after this migration to remove them from disk. Upgrade
-- every instance together: an instance of before sealing still writes the dropped column.
ALTER TABLE payflow.accounts ADD COLUMN IF NOT EXISTS iban_masked text;
ALTER TABLE payflow.accounts ADD COLUMN IF NOT EXISTS iban_sealed text;
ALTER TABLE payflow.accounts ADD COLUMN IF NOT EXISTS iban_key_id text;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = 'payflow' AND table_name = 'accounts' AND column_name = 'iban') THEN
    UPDATE payflow.accounts
       SET iban_masked = COALESCE(iban_masked, left(iban, 2) || '****' || right(iban, 4)), iban = NULL
     WHERE iban IS NOT NULL;
    ALTER TABLE payflow.accounts DROP COLUMN iban;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS accounts_iban_key_id_idx ON payflow.accounts (iban_key_id)
  WHERE iban_key_id IS NOT NULL;

-- Every line of every posting once: the primary key makes a replayed posting insert nothing.
CREATE TABLE IF NOT EXISTS payflow.ledger_entries (
  posting_id    text        NOT NULL,
  line_no       integer     NOT NULL CHECK (line_no >= 0),
  payment_id    text        NOT NULL,
  leg           text        NOT NULL CHECK (leg IN ('DEBIT', 'CREDIT')),
  account_id    text        NOT NULL,
  amount_minor  bigint      NOT NULL,
  currency      text        NOT NULL,
  posted_at     timestamptz NOT NULL,
  PRIMARY KEY (posting_id, line_no)
);

CREATE INDEX IF NOT EXISTS ledger_entries_account_idx ON payflow.ledger_entries (account_id, posted_at);

-- The balance of every account a posting touched, maintained by the same statement that inserts
-- the entries, from the entries it actually inserted (none for a replayed posting). A sum of
-- 64-bit amounts can exceed 64 bits, so the balance is numeric.
CREATE TABLE IF NOT EXISTS payflow.balances (
  account_id       text          PRIMARY KEY,
  currency         text          NOT NULL,
  balance_minor    numeric(38,0) NOT NULL,
  first_posted_at  timestamptz   NOT NULL,
  last_posted_at   timestamptz   NOT NULL
);

CREATE INDEX IF NOT EXISTS balances_currency_idx ON payflow.balances (currency);

-- The ledger's own balance of each account, from the compacted `ledger.balances` (one record per
-- posting that moved the account, in the order the ledger applied them). This is the balance the
-- gateway answers: it is always one the ledger actually had (a wallet never below zero), whereas
-- `balances` above, summed from `ledger.postings` whose partitions are read independently, can
-- run ahead on a debit before the credit that funded it. Both converge; reconcile with
-- PostgresAccountsProjection.journalBalanceOf. A record replaces the row only if it is later in
-- the same partition (or, after a repartitioning, not older).
CREATE TABLE IF NOT EXISTS payflow.ledger_balances (
  account_id        text        PRIMARY KEY,
  currency          text        NOT NULL,
  balance_minor     bigint      NOT NULL,
  posting_id        text        NOT NULL,
  source_partition  integer     NOT NULL,
  source_offset     bigint      NOT NULL,
  first_updated_at  timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);

-- The decision on every account command (`accounts.outcomes`), one row per command id: what an
-- account command's status URL (GET /v1/accounts/{accountId}/commands/{commandId}) shows. A
-- replayed outcome changes nothing (the decision on a command never changes).
CREATE TABLE IF NOT EXISTS payflow.account_command_outcomes (
  command_id    text        PRIMARY KEY,
  account_id    text        NOT NULL,
  command_type  text        NOT NULL CHECK (command_type IN ('OPEN', 'CHANGE_STATUS')),
  outcome       text        NOT NULL CHECK (outcome IN ('APPLIED', 'UNCHANGED', 'REFUSED')),
  code          text,
  detail        text,
  status        text        CHECK (status IN ('ACTIVE', 'FROZEN', 'CLOSED')),
  decided_at    timestamptz NOT NULL
);

-- The gateway's rate limiter looks up the highest KYC tier of an owner's accounts.
CREATE INDEX IF NOT EXISTS accounts_owner_idx ON payflow.accounts (owner_id, kyc_tier);
