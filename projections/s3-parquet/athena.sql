-- Athena table over the PayFlow event archive (projections/s3-parquet/archive.ts).
-- Replace the bucket and prefix. Partition projection: no MSCK REPAIR or ALTER TABLE ADD
-- PARTITION is ever needed; new dt/hour folders are queryable as soon as they are written.
-- Money is amount_minor (BIGINT minor units of `currency`), never a floating-point column.

CREATE EXTERNAL TABLE IF NOT EXISTS payflow_payment_events (
  event_id              string,
  payment_id            string,
  event_type            string,
  sequence              int,
  occurred_at           timestamp,
  correlation_id        string,
  kind                  string,
  principal             string,
  sender_account_id     string,
  recipient_account_id  string,
  amount_minor          bigint,
  currency              string,
  reference             string,
  rejection_code        string,
  rejection_detail      string,
  -- when the step was decided (PaymentEvent.recordedAtMs); occurred_at is the command's time,
  -- the same on every event of a payment. Null in files written before the column existed.
  recorded_at           timestamp
)
PARTITIONED BY (dt string, hour string)
STORED AS PARQUET
LOCATION 's3://YOUR-BUCKET/payments_events/'
TBLPROPERTIES (
  'parquet.compression' = 'SNAPPY',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://YOUR-BUCKET/payments_events/dt=${dt}/hour=${hour}/'
);

-- The analyst queries (payments per day, completed volume per day and currency, a payment's
-- history) are the named statements of trino.sql: the same SQL runs on Athena (engine v3) with
-- its `?` execution parameters. trino.sql is also this table for Trino; the unit test
-- ddl.test.ts keeps the two definitions' columns and types identical.
--
-- Example: completed volume per currency and day.
-- SELECT dt, i.currency, count(*) AS payments, sum(i.amount_minor) AS amount_minor
--   FROM payflow_payment_events c
--   JOIN payflow_payment_events i ON i.payment_id = c.payment_id AND i.event_type = 'PaymentInitiated'
--  WHERE c.event_type = 'PaymentCompleted' AND c.dt >= '2026-11-01'
--  GROUP BY 1, 2 ORDER BY 1, 2;
