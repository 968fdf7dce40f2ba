import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryPaymentsProjection, ProjectionCapacityError } from './memory.js';
import type { ProjectedPaymentEvent } from './payment-view.js';

const initiated = (paymentId: string): ProjectedPaymentEvent => ({
  eventId: `${paymentId}-0`,
  paymentId,
  type: 'PaymentInitiated',
  sequence: 0,
  occurredAtMs: 1,
  correlationId: null,
  initiated: {
    kind: 'DEPOSIT',
    principal: 'admin',
    senderAccountId: 'funding:EUR',
    recipientAccountId: 'acc-a',
    amountMinor: 500n,
    currency: 'EUR',
    reference: null,
  },
});

test('the in-memory projection answers what the events said, and undefined for an unknown payment', async () => {
  const projection = new MemoryPaymentsProjection(10);
  projection.apply([initiated('p-1'), initiated('p-1')]);
  assert.equal((await projection.getPayment('p-1'))?.status, 'INITIATED');
  assert.equal((await projection.getPayment('p-2'))?.events.length, undefined);
});

test('the in-memory projection refuses a payment beyond its bound instead of growing without limit', () => {
  const projection = new MemoryPaymentsProjection(1);
  projection.apply([initiated('p-1')]);
  assert.throws(() => projection.apply([initiated('p-2')]), ProjectionCapacityError);
});

test("the in-memory projection answers an account's history from its own index: sent and received, newest first, paged", async () => {
  const projection = new MemoryPaymentsProjection(100);
  const at = (
    paymentId: string,
    occurredAtMs: number,
    senderAccountId: string,
    recipientAccountId: string,
  ) => {
    const event = initiated(paymentId);
    return {
      ...event,
      occurredAtMs,
      initiated: { ...event.initiated!, senderAccountId, recipientAccountId },
    };
  };
  projection.apply([
    at('p1', 10, 'funding:EUR', 'acc-a'),
    at('p2', 20, 'acc-a', 'acc-b'),
    at('p3', 20, 'acc-b', 'acc-a'),
    at('p4', 30, 'acc-b', 'acc-c'),
  ]);
  const ids = async (query: Parameters<typeof projection.accountPayments>[0]) =>
    (await projection.accountPayments(query)).map((view) => view.paymentId);
  assert.deepEqual(await ids({ accountId: 'acc-a', limit: 10 }), ['p3', 'p2', 'p1']);
  assert.deepEqual(
    await ids({ accountId: 'acc-a', limit: 10, after: { createdAtMs: 20, paymentId: 'p3' } }),
    ['p2', 'p1'],
  );
  assert.deepEqual(await ids({ accountId: 'acc-a', limit: 1, fromMs: 11, toMs: 21 }), ['p3']);
  assert.deepEqual(await ids({ accountId: 'acc-z', limit: 10 }), []);
});
