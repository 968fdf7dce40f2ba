/**
 * The event store against the real PostgreSQL: `payflow.payment_events` holds every event of
 * 10,000 payments exactly once even when the log delivers them twice, and replaying each
 * payment's stored events (replayPayment) gives exactly its `payflow.payments` row.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import { replayPayment, type ProjectedPaymentEvent } from '../../projections/payment-view.js';
import {
  migratePaymentsProjection,
  PostgresPaymentsProjection,
} from '../../projections/postgres/payments.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const T0 = 1_795_000_000_000;
const RISK = {
  score: 72,
  decision: 'HOLD' as const,
  reasons: [{ code: 'VELOCITY', points: 72, detail: '9 payments in 60 s' }],
};

/** Five kinds of history: completed, rejected, held after scoring, failed, only initiated. */
function history(paymentId: string, i: number): ProjectedPaymentEvent[] {
  const at = T0 + i;
  const step = (sequence: number, type: string, extra: Partial<ProjectedPaymentEvent> = {}) => ({
    eventId: `${paymentId}-${sequence}`,
    paymentId,
    type,
    sequence,
    occurredAtMs: at,
    recordedAtMs: at + 10 * sequence,
    correlationId: i % 2 === 0 ? `corr-${i}` : null,
    ...extra,
  });
  const initiated = step(0, 'PaymentInitiated', {
    initiated: {
      kind: i % 9 === 0 ? 'DEPOSIT' : 'TRANSFER',
      principal: `merchant-${i % 13}`,
      senderAccountId: `acc-${i % 97}`,
      recipientAccountId: `acc-${(i + 1) % 97}`,
      amountMinor: 9_007_199_254_740_993n + BigInt(i),
      currency: 'SAR',
      // A NUL byte is stored as U+FFFD in both the row and the event's facts.
      reference: i % 4 === 0 ? null : `invoice ${i}${i % 17 === 0 ? '\u0000' : ''}`,
    },
  });
  switch (i % 5) {
    case 0:
      return [initiated, step(1, 'PaymentValidated'), step(2, 'PaymentDebited'), step(3, 'PaymentCompleted')];
    case 1:
      return [
        initiated,
        step(1, 'PaymentRejected', { rejection: { code: 'INSUFFICIENT_FUNDS', detail: null } }),
      ];
    case 2:
      return [
        initiated,
        step(1, 'PaymentValidated'),
        step(2, 'PaymentScored', { risk: RISK }),
        step(3, 'PaymentHeld', { risk: RISK }),
      ];
    case 3:
      return [
        initiated,
        step(1, 'PaymentValidated'),
        step(2, 'PaymentDebited'),
        step(3, 'PaymentFailed', { rejection: { code: 'PARTNER_TIMEOUT', detail: 'bank-a after 30 s' } }),
      ];
    default:
      return [initiated];
  }
}

describe('event store and replay', { skip }, () => {
  let pool: pg.Pool;
  let projection: PostgresPaymentsProjection;

  before(async () => {
    if ('skip' in env) return;
    pool = new pg.Pool({
      connectionString: env.postgresUrl,
      max: 4,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 30_000,
    });
    await migratePaymentsProjection(pool);
    projection = new PostgresPaymentsProjection(pool);
  });
  after(async () => {
    await pool?.end();
  });

  test('10,000 payments delivered twice: payment_events holds each event exactly once, and replaying each payment from its stored events equals its payments row', async () => {
    const prefix = uniqueName('replay');
    const COUNT = 10_000;
    const ids: string[] = [];
    const events: ProjectedPaymentEvent[] = [];
    for (let i = 0; i < COUNT; i += 1) {
      const paymentId = `${prefix}-${String(i).padStart(5, '0')}`;
      ids.push(paymentId);
      events.push(...history(paymentId, i));
    }
    // The log in order, then redelivered from the start in differently cut batches (a consumer
    // that crashed before committing its offsets).
    for (let start = 0; start < events.length; start += 2_000)
      await projection.apply(events.slice(start, start + 2_000));
    for (let start = 0; start < events.length; start += 1_500)
      await projection.apply(events.slice(start, start + 1_500));

    const { rows } = await pool.query<{ total: string; distinct_ids: string; payments: string }>(
      `SELECT count(*) AS total, count(DISTINCT event_id) AS distinct_ids, count(DISTINCT payment_id) AS payments
         FROM payflow.payment_events WHERE payment_id LIKE $1`,
      [`${prefix}-%`],
    );
    assert.deepEqual(rows[0], {
      total: String(events.length),
      distinct_ids: String(events.length),
      payments: String(COUNT),
    });

    let compared = 0;
    for (let start = 0; start < ids.length; start += 1_000) {
      const page = ids.slice(start, start + 1_000);
      const [stored, readModel] = await Promise.all([
        projection.storedEvents(page),
        projection.readModels(page),
      ]);
      for (const paymentId of page) {
        const row = readModel.get(paymentId);
        assert.ok(row, `${paymentId} is in the read model`);
        assert.deepEqual(replayPayment(stored.get(paymentId) ?? []), row, `replay of ${paymentId}`);
        compared += 1;
      }
    }
    assert.equal(compared, COUNT);
    const held = await projection.readModels([ids[2]!]);
    assert.equal(held.get(ids[2]!)?.status, 'HELD');
    assert.deepEqual(held.get(ids[2]!)?.risk, RISK);
  });

  test('an event stored before its facts were kept gets them from a replay of the log, and nothing else of it changes', async () => {
    const paymentId = uniqueName('replay-old');
    const events = history(paymentId, 1);
    await projection.apply(events);
    await pool.query('UPDATE payflow.payment_events SET facts = NULL WHERE payment_id = $1', [paymentId]);
    const before = await projection.readModels([paymentId]);
    await projection.apply(events);
    const stored = await projection.storedEvents([paymentId]);
    assert.deepEqual(replayPayment(stored.get(paymentId) ?? []), before.get(paymentId));
  });
});
