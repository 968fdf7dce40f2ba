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
import { assertSearchesLikeReference, searchFixture } from '../support/search-cases.js';
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

  test("an account's history of 10,000 payments, paged to the end, holds every payment once, newest first; the status and time filters hold exactly the matching ones", async () => {
    const account = uniqueName('acc-hist');
    const other = uniqueName('acc-other');
    const COUNT = 10_000;
    const T0 = 1_795_000_000_000;
    const ids: string[] = [];
    const events: ProjectedPaymentEvent[] = [];
    for (let i = 0; i < COUNT; i += 1) {
      const paymentId = `${account}-${String(i).padStart(5, '0')}`;
      ids.push(paymentId);
      const [sender, recipient] = i % 3 === 0 ? [other, account] : [account, other];
      // Several payments share a millisecond: the order falls back to the payment id.
      const at = T0 + Math.floor(i / 4);
      events.push({
        paymentId,
        correlationId: null,
        eventId: `${paymentId}-0`,
        type: 'PaymentInitiated',
        sequence: 0,
        occurredAtMs: at,
        initiated: {
          kind: 'TRANSFER',
          principal: 'm',
          senderAccountId: sender,
          recipientAccountId: recipient,
          amountMinor: BigInt(i + 1),
          currency: 'EUR',
          reference: null,
        },
      });
      if (i % 7 !== 0)
        events.push({
          paymentId,
          correlationId: null,
          eventId: `${paymentId}-1`,
          type: 'PaymentValidated',
          sequence: 1,
          occurredAtMs: at,
        });
    }
    for (let start = 0; start < events.length; start += 2_000)
      await projection.apply(events.slice(start, start + 2_000));

    const seen: string[] = [];
    let after: { createdAtMs: number; paymentId: string } | undefined;
    for (;;) {
      const page = await projection.accountPayments({
        accountId: account,
        limit: 100,
        ...(after ? { after } : {}),
      });
      seen.push(...page.map((view) => view.paymentId));
      const last = page.at(-1);
      if (page.length < 100 || last === undefined) break;
      after = { createdAtMs: last.createdAtMs, paymentId: last.paymentId };
    }
    assert.deepEqual(seen, [...ids].reverse());

    const filtered = await projection.accountPayments({
      accountId: account,
      limit: 100,
      status: 'INITIATED',
      fromMs: T0 + 100,
      toMs: T0 + 200,
    });
    const expected = ids.filter(
      (_, i) => i % 7 === 0 && T0 + Math.floor(i / 4) >= T0 + 100 && T0 + Math.floor(i / 4) < T0 + 200,
    );
    assert.ok(expected.length > 0);
    assert.deepEqual(
      filtered.map((view) => view.paymentId),
      [...expected].reverse(),
    );
    assert.ok(filtered.every((view) => view.status === 'INITIATED' && view.events.length === 1));
  });

  test('the search answers every filter (reference words, amount range, currency, status, time, account) with exactly the matching set, newest first', async () => {
    const account = uniqueName('acc-search');
    const events = searchFixture(account, 600);
    await projection.apply(events);
    const matched = await assertSearchesLikeReference(projection, events, account);
    assert.ok(matched > 600, `the queries matched ${matched} payments`);
  });

  test("a payment's events come back from the event store once each, by sequence, after replays", async () => {
    const paymentId = uniqueName('pay');
    const events = history(paymentId);
    await projection.apply(events);
    await projection.apply(events.slice(1));
    const stored = await projection.paymentEvents(paymentId);
    assert.deepEqual(
      stored.map((e) => [e.eventId, e.sequence, e.type, e.correlationId]),
      events.map((e) => [e.eventId, e.sequence, e.type, e.correlationId]),
    );
    assert.deepEqual(await projection.paymentEvents(uniqueName('pay')), []);
  });

  test('rows written before the reference words existed get them at start-up by the same split, and are found by the search', async () => {
    const account = uniqueName('acc-legacy');
    const events = searchFixture(account, 30);
    await projection.apply(events);
    await pool.query(
      'UPDATE payflow.payments SET reference_words = NULL WHERE sender_account_id = $1 OR recipient_account_id = $1',
      [account],
    );
    await migratePaymentsProjection(pool);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM payflow.payments
        WHERE (sender_account_id = $1 OR recipient_account_id = $1) AND reference IS NOT NULL AND reference_words IS NULL`,
      [account],
    );
    assert.equal(rows[0]?.n, 0);
    await assertSearchesLikeReference(projection, events, account);
  });
});
