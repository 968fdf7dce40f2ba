import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';

import { EmbeddedPipeline } from './embedded.js';
import { paymentCommand } from '../processors/test-fixtures.js';

test('in the embedded mode each step is recorded at the time it is decided, never before its command', async () => {
  let nowMs = 1_700_000_000_000;
  const pipeline = new EmbeddedPipeline({ metricsRegistry: new Registry(), now: () => nowMs });
  // the clock moves on with no timer running: the next commands must still be recorded at nowMs
  nowMs += 30_000;
  const headers = { correlationId: 'corr-1', principal: 'merchant-1', idempotencyKey: null };
  await pipeline.publishAccount(
    {
      type: 'OPEN',
      commandId: 'open-acc-b',
      accountId: 'acc-b',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_1',
      iban: null,
      issuedAtMs: nowMs,
    },
    headers,
  );
  const submittedAtMs = nowMs - 200;
  await pipeline.publishPayment(
    paymentCommand({
      kind: 'DEPOSIT',
      senderAccountId: 'funding:EUR',
      recipientAccountId: 'acc-b',
      submittedAtMs,
    }),
    { ...headers, idempotencyKey: 'key-1' },
  );

  const view = await pipeline.payments.getPayment('pay-1');
  assert.equal(view?.status, 'COMPLETED');
  assert.deepEqual(
    view?.events.map((e) => [e.type, e.occurredAtMs, e.recordedAtMs]),
    [
      ['PaymentInitiated', submittedAtMs, nowMs],
      ['PaymentValidated', submittedAtMs, nowMs],
      ['PaymentScored', submittedAtMs, nowMs],
      ['PaymentDebited', submittedAtMs, nowMs],
      ['PaymentCompleted', submittedAtMs, nowMs],
    ],
  );
});
