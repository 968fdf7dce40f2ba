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
