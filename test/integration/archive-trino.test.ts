/**
 * The Parquet archive read by an independent engine: Trino's Hive connector over the stack's S3
 * store, with the shipped DDL (projections/s3-parquet/trino.sql) and nothing registered but the
 * table (partition projection finds every dt/hour folder). The analyst queries of that file
 * answer exactly what PostgreSQL's read model answers for the same events: payments per day,
 * completed volume per day and currency (with an amount beyond 2^53), and a payment's history.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';

import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';
import { S3ParquetArchive, type ArchivedEvent } from '../../projections/s3-parquet/archive.js';
import {
  migratePaymentsProjection,
  PostgresPaymentsProjection,
} from '../../projections/postgres/payments.js';
import { stackEnv, stackS3Client, trinoUrl, uniqueName } from '../support/stack.js';
import { executeImmediate, namedStatements, trinoQuery, type TrinoSession } from '../support/trino.js';

const env = stackEnv();
const trino = 'skip' in env ? env : trinoUrl();
const skip = 'skip' in env ? env.skip : typeof trino === 'object' ? trino.skip : false;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const PARTITIONS = 3;
/** Three UTC days ending yesterday: inside the table's projected range ('2026-01-01' to NOW). */
const DAY0 = Math.floor(Date.now() / DAY_MS) * DAY_MS - 3 * DAY_MS;
const HUGE = 9_007_199_254_740_993n; // 2^53 + 1: a double would round it
const CURRENCIES = ['SAR', 'EUR', 'USD'] as const;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

type Outcome = 'COMPLETED' | 'REJECTED' | 'HELD';

/**
 * 72 payments over three days and many hours, each day in three currencies: every 5th REJECTED (some
 * after validation, some at once), every 7th left HELD, the rest COMPLETED; one completed SAR
 * payment carries 2^53 + 1. Every event of a payment has its command's time (so one dt/hour
 * folder), each step decided a little later.
 */
function fixture(run: string): { events: ProjectedPaymentEvent[]; outcomes: Map<string, Outcome> } {
  const events: ProjectedPaymentEvent[] = [];
  const outcomes = new Map<string, Outcome>();
  for (let i = 0; i < 72; i += 1) {
    const paymentId = `${run}-pay-${String(i).padStart(3, '0')}`;
    const at = DAY0 + (i % 3) * DAY_MS + ((i * 7) % 24) * HOUR_MS + (i % 60) * 60_000 + 59_000;
    const outcome: Outcome = i % 5 === 0 ? 'REJECTED' : i % 7 === 0 ? 'HELD' : 'COMPLETED';
    outcomes.set(paymentId, outcome);
    const base = { paymentId, correlationId: `${run}-corr-${i}`, occurredAtMs: at };
    const steps: Omit<
      ProjectedPaymentEvent,
      'paymentId' | 'correlationId' | 'occurredAtMs' | 'eventId' | 'sequence'
    >[] = [
      {
        type: 'PaymentInitiated',
        initiated: {
          kind: 'TRANSFER',
          principal: 'merchant-1',
          senderAccountId: `${run}-acc-${i % 4}`,
          recipientAccountId: `${run}-acc-${(i + 1) % 4}`,
          amountMinor: i === 1 ? HUGE : BigInt(100 + i * 37),
          currency: CURRENCIES[Math.floor(i / 3) % 3]!,
          reference: i % 2 === 0 ? `invoice ${i}` : null,
        },
      },
    ];
    if (outcome === 'REJECTED' && i % 10 === 0) {
      steps.push({ type: 'PaymentRejected', rejection: { code: 'AMOUNT_NOT_POSITIVE', detail: null } });
    } else {
      steps.push({ type: 'PaymentValidated' });
      if (outcome === 'REJECTED') {
        steps.push({ type: 'PaymentRejected', rejection: { code: 'INSUFFICIENT_FUNDS', detail: 'balance' } });
      } else if (outcome === 'HELD') {
        steps.push({ type: 'PaymentHeld' });
      } else {
        steps.push({ type: 'PaymentDebited' }, { type: 'PaymentCompleted' });
      }
    }
    steps.forEach((step, sequence) => {
      events.push({
        ...base,
        ...step,
        eventId: `${paymentId}-${sequence}`,
        sequence,
        // The first event of each payment predates the column (as in older files).
        ...(sequence === 0 && i % 4 === 0 ? {} : { recordedAtMs: at + (sequence + 1) * 1_500 }),
      });
    });
  }
  // The log's order: by command time, each payment's events in sequence.
  events.sort((a, b) => a.occurredAtMs - b.occurredAtMs || a.sequence - b.sequence);
  return { events, outcomes };
}

/** Each payment's events on one Kafka partition (by payment), with that partition's offsets. */
function byPartition(events: readonly ProjectedPaymentEvent[]): Map<number, ArchivedEvent[]> {
  const partitions = new Map<number, ArchivedEvent[]>();
  for (const event of events) {
    const partition = Number(event.paymentId.slice(-3)) % PARTITIONS;
    const records = partitions.get(partition) ?? [];
    records.push({ offset: 500n + BigInt(records.length), event });
    partitions.set(partition, records);
  }
  return partitions;
}

/** A Trino timestamp(3) ('2026-12-01 06:59:00.000', UTC) as epoch milliseconds. */
const trinoMs = (value: unknown) => Date.parse(`${String(value).replace(' ', 'T')}Z`);

describe('the archive read by Trino', { skip, timeout: 300_000 }, () => {
  let s3: S3Client;
  let pool: pg.Pool;
  let session: TrinoSession;
  let statements: Map<string, string>;
  let fixtureData: ReturnType<typeof fixture>;
  const run = uniqueName('trino');
  const bucket = uniqueName('archive-trino');
  const prefix = 'payments_events';
  const schema = run.replaceAll('-', '_');
  const from = isoDay(DAY0);
  const to = isoDay(DAY0 + 2 * DAY_MS);

  before(async () => {
    if ('skip' in env || typeof trino !== 'string') return;
    s3 = stackS3Client(env);
    pool = new pg.Pool({
      connectionString: env.postgresUrl,
      max: 4,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 10_000,
    });
    session = { url: trino, catalog: 'archive', schema };
    fixtureData = fixture(run);

    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const archive = new S3ParquetArchive(s3, { bucket, prefix });
    for (const [partition, records] of byPartition(fixtureData.events)) {
      await archive.write(partition, records);
    }
    await migratePaymentsProjection(pool, schema);
    await new PostgresPaymentsProjection(pool, { schema }).apply(fixtureData.events);

    statements = namedStatements(
      await readFile(new URL('../../projections/s3-parquet/trino.sql', import.meta.url), 'utf8'),
    );
    const ddl = (name: string) =>
      statements
        .get(name)!
        .replace(/^CREATE SCHEMA IF NOT EXISTS payflow$/m, `CREATE SCHEMA IF NOT EXISTS ${schema}`)
        .replaceAll('s3://YOUR-BUCKET/payments_events/', `s3://${bucket}/${prefix}/`);
    await trinoQuery(session, ddl('create_schema'));
    await trinoQuery(session, ddl('create_table'));
  });

  after(async () => {
    if (session !== undefined) {
      await trinoQuery(session, 'DROP TABLE IF EXISTS payflow_payment_events').catch(() => undefined);
      await trinoQuery(session, `DROP SCHEMA IF EXISTS ${schema}`).catch(() => undefined);
    }
    if (pool !== undefined) {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    }
    s3?.destroy();
  });

  const analyst = async (name: string, parameters: readonly string[]) => {
    const sql = statements.get(name);
    assert.ok(sql, `trino.sql has a statement named ${name}`);
    return (await trinoQuery(session, executeImmediate(sql, parameters))).rows;
  };

  test('payments per day: the same payments, completed and rejected counts as PostgreSQL, every day', async () => {
    const fromTrino = await analyst('payments_per_day', [from, to]);
    const { rows } = await pool.query<{ day: string; payments: string; completed: string; rejected: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS payments,
              count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
              count(*) FILTER (WHERE status = 'REJECTED') AS rejected
         FROM ${schema}.payments
        WHERE created_at >= $1 AND created_at < $2
        GROUP BY 1 ORDER BY 1`,
      [new Date(DAY0), new Date(DAY0 + 3 * DAY_MS)],
    );
    const fromPostgres = rows.map((row) => ({
      day: row.day,
      payments: BigInt(row.payments),
      completed: BigInt(row.completed),
      rejected: BigInt(row.rejected),
    }));
    assert.deepEqual(fromTrino, fromPostgres);
    // Both engines saw the whole fixture: 24 payments a day, none lost to a missed partition.
    assert.deepEqual(
      fromTrino.map((row) => [row.day, row.payments]),
      [0, 1, 2].map((d) => [isoDay(DAY0 + d * DAY_MS), 24n]),
    );
    const outcomes = [...fixtureData.outcomes.values()];
    assert.equal(
      fromTrino.reduce((sum, row) => sum + row.completed, 0n),
      BigInt(outcomes.filter((o) => o === 'COMPLETED').length),
    );
    assert.equal(
      fromTrino.reduce((sum, row) => sum + row.rejected, 0n),
      BigInt(outcomes.filter((o) => o === 'REJECTED').length),
    );
  });

  test('completed volume per day and currency: the same counts and exact minor-unit sums as PostgreSQL', async () => {
    const fromTrino = await analyst('completed_volume_by_currency', [from, to]);
    const { rows } = await pool.query<{
      day: string;
      currency: string;
      payments: string;
      amount_minor: string;
    }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, count(*) AS payments,
              sum(amount_minor)::text AS amount_minor
         FROM ${schema}.payments
        WHERE status = 'COMPLETED' AND created_at >= $1 AND created_at < $2
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [new Date(DAY0), new Date(DAY0 + 3 * DAY_MS)],
    );
    const fromPostgres = rows.map((row) => ({
      day: row.day,
      currency: row.currency,
      payments: BigInt(row.payments),
      amount_minor: BigInt(row.amount_minor),
    }));
    assert.deepEqual(fromTrino, fromPostgres);
    for (const d of [0, 1, 2]) {
      const day = isoDay(DAY0 + d * DAY_MS);
      assert.ok(
        new Set(fromTrino.filter((row) => row.day === day).map((row) => row.currency)).size >= 2,
        `${day} has completed payments in several currencies`,
      );
    }
    const huge = fromTrino.find((row) => row.amount_minor > HUGE);
    assert.ok(huge, 'the sum that holds 2^53 + 1 is read exactly');
  });

  test("a payment's full history: the same events, times and rejection as PostgreSQL's event store", async () => {
    const ids = [...fixtureData.outcomes.entries()];
    const chosen = ['COMPLETED', 'REJECTED', 'HELD'].map((outcome) => ids.find(([, o]) => o === outcome)![0]);
    chosen.push(`${run}-pay-020`); // rejected at once, its first event without recorded_at
    for (const paymentId of chosen) {
      const day = isoDay(fixtureData.events.find((e) => e.paymentId === paymentId)!.occurredAtMs);
      const fromTrino = (await analyst('payment_history', [paymentId, day, day])).map((row) => ({
        ...row,
        occurred_at: trinoMs(row.occurred_at),
        recorded_at: trinoMs(row.recorded_at),
      }));
      const { rows } = await pool.query<{
        sequence: number;
        event_type: string;
        event_id: string;
        occurred_at: Date;
        recorded_at: Date;
        correlation_id: string | null;
        rejection_code: string | null;
      }>(
        `SELECT sequence, type AS event_type, event_id, occurred_at,
                COALESCE(recorded_at, occurred_at) AS recorded_at, correlation_id,
                facts -> 'rejection' ->> 'code' AS rejection_code
           FROM ${schema}.payment_events WHERE payment_id = $1 ORDER BY sequence`,
        [paymentId],
      );
      const fromPostgres = rows.map((row) => ({
        ...row,
        sequence: BigInt(row.sequence),
        occurred_at: row.occurred_at.getTime(),
        recorded_at: row.recorded_at.getTime(),
      }));
      assert.deepEqual(fromTrino, fromPostgres, paymentId);
      assert.deepEqual(
        fromTrino.map((row) => row.event_id),
        fixtureData.events.filter((e) => e.paymentId === paymentId).map((e) => e.eventId),
      );
    }
  });
});
