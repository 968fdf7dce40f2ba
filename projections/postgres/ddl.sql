-- PayFlow's PostgreSQL read model, materialized from `payments.events`.
-- Rebuildable: drop the schema and replay the topic from the beginning; every write is an
-- idempotent upsert keyed by event id or payment id, so a replay converges to the same rows.
-- The accounts read model (accounts, ledger entries, balances) is in accounts.sql.

CREATE SCHEMA IF NOT EXISTS payflow;

-- The event store: every payment event once, in the order of its payment's history.
CREATE TABLE IF NOT EXISTS payflow.payment_events (
  event_id        text        PRIMARY KEY,
  payment_id      text        NOT NULL,
  sequence        integer     NOT NULL CHECK (sequence >= 0),
  type            text        NOT NULL,
  occurred_at     timestamptz NOT NULL,
  correlation_id  text,
  UNIQUE (payment_id, sequence)
);

-- The current state of each payment (the fold of its events, see projections/payment-view.ts).
CREATE TABLE IF NOT EXISTS payflow.payments (
  payment_id            text        PRIMARY KEY,
  kind                  text        NOT NULL CHECK (kind IN ('TRANSFER', 'DEPOSIT')),
  principal             text,
  status                text        NOT NULL,
  amount_minor          bigint      NOT NULL,
  currency              char(3)     NOT NULL,
  sender_account_id     text        NOT NULL,
  recipient_account_id  text        NOT NULL,
  reference             text,
  rejection_code        text,
  rejection_detail      text,
  last_sequence         integer     NOT NULL,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL
);

-- A rejected payment keeps the amount its command carried, also a zero or negative one (the
-- processors reject it with AMOUNT_NOT_POSITIVE); tables created before this rule lose the check.
ALTER TABLE payflow.payments DROP CONSTRAINT IF EXISTS payments_amount_minor_check;

-- When each step was decided (PaymentEvent.recordedAtMs); null for events written before the
-- field existed, which read as their occurred_at.
ALTER TABLE payflow.payment_events ADD COLUMN IF NOT EXISTS recorded_at timestamptz;

CREATE INDEX IF NOT EXISTS payments_sender_idx ON payflow.payments (sender_account_id, created_at DESC);
CREATE INDEX IF NOT EXISTS payments_recipient_idx ON payflow.payments (recipient_account_id, created_at DESC);

-- The fraud score of a payment and its reasons ({score, decision, reasons: [{code, points,
-- detail}]}, as on PaymentScored), once scored.
ALTER TABLE payflow.payments ADD COLUMN IF NOT EXISTS risk jsonb;
-- When a payment was held for review (its PaymentHeld event's recorded time); the review queue
-- reads the held payments oldest first.
ALTER TABLE payflow.payments ADD COLUMN IF NOT EXISTS held_at timestamptz;
CREATE INDEX IF NOT EXISTS payments_held_idx ON payflow.payments (held_at, payment_id) WHERE status = 'HELD';

-- The words of each reference (gateway/ports.ts `searchWords`: lower case, split at anything but
-- letters and digits), for `GET /v1/payments?q=`. Written with the payment; rows from before the
-- column existed are filled after this file by the same function, in batches outside this
-- transaction (migratePaymentsProjection), found through the partial index below.
ALTER TABLE payflow.payments ADD COLUMN IF NOT EXISTS reference_words text[];
CREATE INDEX IF NOT EXISTS payments_reference_words_missing_idx ON payflow.payments (payment_id)
  WHERE reference_words IS NULL AND reference IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_reference_words_idx ON payflow.payments USING gin (reference_words);
-- Search without an account filter pages through all payments newest first.
CREATE INDEX IF NOT EXISTS payments_created_idx ON payflow.payments (created_at DESC, payment_id DESC);
-- What an event carries beyond its type and times, so a payment's state can be replayed from
-- its stored events alone (replayPayment, projections/payment-view.ts): {initiated, rejection,
-- risk} as on the event, amounts as decimal strings. Null for events stored before the column;
-- a rebuild from the log fills it in (the only change a stored event ever takes).
ALTER TABLE payflow.payment_events ADD COLUMN IF NOT EXISTS facts jsonb;
