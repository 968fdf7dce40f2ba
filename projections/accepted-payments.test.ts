import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MemoryPaymentQueries, RecordingPublisher } from '../gateway/index.js';
import { paymentCommand } from '../processors/test-fixtures.js';
import {
  acceptedPaymentView,
  MemoryAcceptedPayments,
  withAcceptedPayments,
  type AcceptedPaymentsStore,
} from './accepted-payments.js';

const headers = { correlationId: 'corr-1', principal: 'merchant-42', idempotencyKey: 'k-1' };

function overlay(
  store: AcceptedPaymentsStore = new MemoryAcceptedPayments({ ttlMs: 60_000, maxEntries: 10 }),
) {
  const log = new RecordingPublisher();
  const readModel = new MemoryPaymentQueries();
  const errors: unknown[] = [];
  const wrapped = withAcceptedPayments(log, readModel, store, (error) => errors.push(error));
  return { log, readModel, errors, ...wrapped };
}

describe('read-your-writes for the status URL', () => {
  test('a payment the log acknowledged answers INITIATED before the read model has it, and the read model wins once it does', async () => {
    const o = overlay();
    const command = paymentCommand({ paymentId: 'pay-1', amountMinor: 9_007_199_254_740_993n });
    await o.publisher.publishPayment(command, headers);

    const early = await o.payments.getPayment('pay-1');
    assert.equal(early?.status, 'INITIATED');
    assert.equal(early?.amountMinor, 9_007_199_254_740_993n);
    assert.equal(early?.principal, command.principal);
    assert.deepEqual(early?.events, []);

    o.readModel.put({ ...acceptedPaymentView(command), status: 'COMPLETED' });
    assert.equal((await o.payments.getPayment('pay-1'))?.status, 'COMPLETED');
    assert.equal(await o.payments.getPayment('pay-unknown'), undefined);
  });

  test('a payment the log refused is not remembered, and a failing store costs the fallback but not the request', async () => {
    const refused = overlay();
    refused.log.failNext();
    await assert.rejects(refused.publisher.publishPayment(paymentCommand({ paymentId: 'pay-2' }), headers));
    assert.equal(await refused.payments.getPayment('pay-2'), undefined);

    const broken: AcceptedPaymentsStore = {
      remember: () => Promise.reject(new Error('redis down')),
      get: () => Promise.reject(new Error('redis down')),
    };
    const o = overlay(broken);
    await o.publisher.publishPayment(paymentCommand({ paymentId: 'pay-3' }), headers);
    assert.equal(o.log.payments.length, 1);
    assert.equal(await o.payments.getPayment('pay-3'), undefined);
    assert.equal(o.errors.length, 2);
  });

  test('the in-memory store forgets a payment after its TTL and keeps at most maxEntries, dropping the oldest', async () => {
    let now = 1_000;
    const store = new MemoryAcceptedPayments({ ttlMs: 500, maxEntries: 3, now: () => now });
    for (const id of ['a', 'b', 'c', 'd']) {
      await store.remember(acceptedPaymentView(paymentCommand({ paymentId: id })));
    }
    assert.equal(store.size, 3);
    assert.equal(await store.get('a'), undefined);
    assert.equal((await store.get('d'))?.paymentId, 'd');
    now += 501;
    assert.equal(await store.get('d'), undefined);
    await store.remember(acceptedPaymentView(paymentCommand({ paymentId: 'e' })));
    assert.equal(store.size, 1, 'expired entries are dropped as new ones come in');
  });
});
