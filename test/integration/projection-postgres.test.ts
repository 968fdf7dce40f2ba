/**
 * The PostgreSQL payments projection against the real server: what the gateway reads back after
 * events are applied, and that replays (the projector restarting from an older offset) change
 * nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';
import {
  migratePaymentsProjection,
  PostgresPaymentsProjection,
} from '../../projections/postgres/payments.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

function history(paymentId: string): ProjectedPaymentEvent[] {
  const base = { paymentId, correlationId: `corr-${paymentId}` };
  return [
    {
      ...base,
      eventId: `${paymentId}-0`,
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: 1_795_000_000_000,
      initiated: {
        kind: 'TRANSFER',
        principal: 'merchant-1',
        senderAccountId: 'acc-a',
        recipientAccountId: 'acc-b',
        amountMinor: 9_007_199_254_740_993n,
        currency: 'SAR',
        reference: 'invoice 42',
      },
    },
    {
      ...base,
      eventId: `${paymentId}-1`,
      type: 'PaymentValidated',
      sequence: 1,
      occurredAtMs: 1_795_000_000_010,
    },
    {
      ...base,
      eventId: `${paymentId}-2`,
      type: 'PaymentDebited',
      sequence: 2,
      occurredAtMs: 1_795_000_000_020,
    },
    {
      ...base,
      eventId: `${paymentId}-3`,
      type: 'PaymentCompleted',
      sequence: 3,
      occurredAtMs: 1_795_000_000_030,
    },
  ];
}

describe('PostgreSQL payments projection', { skip }, () => {
  let pool: pg.Pool;
  let projection: PostgresPaymentsProjection;

  before(async () => {
    if ('skip' in env) return;
    pool = new pg.Pool({
      connectionString: env.postgresUrl,
      max: 4,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 10_000,
    });
    await migratePaymentsProjection(pool);
    await migratePaymentsProjection(pool); // migrations are idempotent
    projection = new PostgresPaymentsProjection(pool);
  });
  after(async () => {
    await pool?.end();
  });

  test('a payment projected from its events reads back COMPLETED with its ordered history and exact amount', async () => {
    const paymentId = uniqueName('pay');
    await projection.apply(history(paymentId));
    const view = await projection.getPayment(paymentId);
    assert.equal(view?.status, 'COMPLETED');
    assert.equal(view?.amountMinor, 9_007_199_254_740_993n);
    assert.equal(view?.reference, 'invoice 42');
    assert.deepEqual(
      view?.events.map((e) => [e.sequence, e.type]),
      [
        [0, 'PaymentInitiated'],
        [1, 'PaymentValidated'],
        [2, 'PaymentDebited'],
        [3, 'PaymentCompleted'],
      ],
    );
  });

  test('replaying a payment history, whole or in part, leaves the rows exactly as they were', async () => {
    const paymentId = uniqueName('pay');
    const events = history(paymentId);
    await projection.apply(events.slice(0, 2));
    await projection.apply(events);
    const first = await projection.getPayment(paymentId);
    await projection.apply(events);
    await projection.apply(events.slice(1, 3));
    assert.deepEqual(await projection.getPayment(paymentId), first);
    const { rows } = await pool.query(
      'SELECT count(*)::int AS n FROM payflow.payment_events WHERE payment_id = $1',
      [paymentId],
    );
    assert.equal((rows[0] as { n: number }).n, 4);
  });

  test('a batch that contains an out-of-order event commits nothing', async () => {
    const paymentId = uniqueName('pay');
    const events = history(paymentId);
    await assert.rejects(projection.apply([events[0]!, events[2]!]), /skips sequence 1/);
    assert.equal(await projection.getPayment(paymentId), undefined);
  });

  test('an unknown payment id reads as undefined (the gateway answers 404)', async () => {
    assert.equal(await projection.getPayment(uniqueName('missing')), undefined);
  });
});
