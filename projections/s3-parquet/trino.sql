-- Trino table over the PayFlow event archive (projections/s3-parquet/archive.ts): the Trino
-- dialect of athena.sql, with the same columns and types (the unit test
-- projections/s3-parquet/ddl.test.ts compares the two), for the Hive connector (catalog
-- `archive` in the local stack, scripts/stack.d/trino.sh). Run with the catalog and schema of
-- the session set (X-Trino-Catalog: archive, X-Trino-Schema: payflow); replace the bucket and
-- prefix. Partition projection: no partition is ever registered, new dt/hour folders are
-- queryable as soon as they are written (the catalog needs hive.partition-projection-enabled).
-- Money is amount_minor (BIGINT minor units of `currency`), never a floating-point column.
--
-- Each statement is named by the `-- name:` line above it. The analyst queries take `?`
-- parameters (EXECUTE IMMEDIATE '...' USING ... on Trino, execution parameters on Athena) and
-- read the same on both engines.

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS payflow;

-- name: create_table
CREATE TABLE IF NOT EXISTS payflow_payment_events (
  event_id              varchar,
  payment_id            varchar,
  event_type            varchar,
  sequence              integer,
  occurred_at           timestamp(3),
  correlation_id        varchar,
  kind                  varchar,
  principal             varchar,
  sender_account_id     varchar,
  recipient_account_id  varchar,
  amount_minor          bigint,
  currency              varchar,
  reference             varchar,
  rejection_code        varchar,
  rejection_detail      varchar,
  -- when the step was decided (PaymentEvent.recordedAtMs); occurred_at is the command's time,
  -- the same on every event of a payment. Null in files written before the column existed.
  recorded_at           timestamp(3),
  dt                    varchar WITH (
    partition_projection_type = 'DATE',
    partition_projection_format = 'yyyy-MM-dd',
    partition_projection_range = ARRAY['2026-01-01', 'NOW'],
    partition_projection_interval = 1,
    partition_projection_interval_unit = 'DAYS'
  ),
  hour                  varchar WITH (
    partition_projection_type = 'INTEGER',
    partition_projection_range = ARRAY['0', '23'],
    partition_projection_digits = 2
  )
)
WITH (
  format = 'PARQUET',
  external_location = 's3://YOUR-BUCKET/payments_events/',
  partitioned_by = ARRAY['dt', 'hour'],
  partition_projection_enabled = true,
  partition_projection_location_template = 's3://YOUR-BUCKET/payments_events/dt=${dt}/hour=${hour}/'
);

-- name: payments_per_day
-- Payments initiated per day (UTC) from the first to the second date (inclusive, yyyy-MM-dd),
-- with how many stand COMPLETED and how many REJECTED: a payment's status is the one its
-- latest event moved it to (projections/payment-view.ts).
WITH payments AS (
  SELECT payment_id,
         max(dt) FILTER (WHERE event_type = 'PaymentInitiated') AS day,
         max_by(event_type, sequence) AS last_event
    FROM payflow_payment_events
   WHERE dt BETWEEN ? AND ?
   GROUP BY payment_id
)
SELECT day,
       count(*) AS payments,
       count_if(last_event = 'PaymentCompleted') AS completed,
       count_if(last_event = 'PaymentRejected') AS rejected
  FROM payments
 WHERE day IS NOT NULL
 GROUP BY day
 ORDER BY day;

-- name: completed_volume_by_currency
-- Completed payments and their volume per day (UTC, from the first to the second date) and
-- currency, in minor units: the amount and currency are the PaymentInitiated event's.
WITH payments AS (
  SELECT payment_id,
         max(dt) FILTER (WHERE event_type = 'PaymentInitiated') AS day,
         max(currency) FILTER (WHERE event_type = 'PaymentInitiated') AS currency,
         max(amount_minor) FILTER (WHERE event_type = 'PaymentInitiated') AS amount_minor,
         max_by(event_type, sequence) AS last_event
    FROM payflow_payment_events
   WHERE dt BETWEEN ? AND ?
   GROUP BY payment_id
)
SELECT day,
       currency,
       count(*) AS payments,
       sum(amount_minor) AS amount_minor
  FROM payments
 WHERE day IS NOT NULL AND last_event = 'PaymentCompleted'
 GROUP BY day, currency
 ORDER BY day, currency;

-- name: payment_history
-- One payment's full history, in order: every event with its command time, the time it was
-- decided (its command time for events written before recorded_at existed) and, on a
-- rejection, the reason. Parameters: the payment id, then the first and last day to look in.
-- Every event of a payment is in the folder of its command's time, so the payment's creation
-- day (createdAt of GET /v1/payments/{id}) as both is enough; each day more is 24 more folders
-- to list, and without any bound the query lists every folder since 2026-01-01.
SELECT sequence,
       event_type,
       event_id,
       occurred_at,
       coalesce(recorded_at, occurred_at) AS recorded_at,
       correlation_id,
       rejection_code
  FROM payflow_payment_events
 WHERE payment_id = ? AND dt BETWEEN ? AND ?
 ORDER BY sequence;
