import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { PaymentCommand } from '../../schemas/types.js';
import { paymentCommand } from '../test-fixtures.js';
import {
  decideDedupe,
  dedupeScopeOf,
  DEFAULT_DEDUPE_TTL_MS,
  MIN_DEDUPE_TTL_MS,
  type SeenEntry,
} from './logic.js';

const T0 = 1_700_000_000_000;
const first = paymentCommand({ commandId: 'cmd-1', paymentId: 'pay-1', requestHash: 'hash-1' });
const seenFirst: SeenEntry = {
  paymentId: 'pay-1',
  commandId: 'cmd-1',
  requestHash: 'hash-1',
  firstSeenMs: T0,
};

const decide = (command: PaymentCommand, seen: SeenEntry | undefined, nowMs = T0 + 1_000) =>
  decideDedupe({
    command,
    seen,
    nowMs,
    recordedAtMs: nowMs + 40,
    ttlMs: DEFAULT_DEDUPE_TTL_MS,
    correlationId: 'corr-9',
  });

test('the idempotency scope is the principal with its key, or the command id when the command has no key', () => {
  assert.equal(dedupeScopeOf(first), '["merchant-1","key-1"]');
  assert.equal(dedupeScopeOf(paymentCommand({ idempotencyKey: '', commandId: 'cmd-7' })), 'cmd-7');
  // JSON keeps a principal and a key apart however they are spelled.
  const a = dedupeScopeOf(paymentCommand({ principal: 'a","b', idempotencyKey: 'c' }));
  const b = dedupeScopeOf(paymentCommand({ principal: 'a', idempotencyKey: 'b","c' }));
  assert.notEqual(a, b);
});

test('the default TTL is 48 hours and no TTL below 24 hours is allowed', () => {
  assert.equal(DEFAULT_DEDUPE_TTL_MS, 48 * 3_600_000);
  assert.equal(MIN_DEDUPE_TTL_MS, 24 * 3_600_000);
});

test('the first command of a scope is initiated at sequence 0 and passed on with next sequence 1', () => {
  const decision = decide(first, undefined, T0);
  assert.equal(decision.outcome, 'accepted');
  assert.deepEqual(decision.seen, seenFirst);
  assert.deepEqual(decision.accepted, { command: first, nextSequence: 1, velocity: null, risk: null });
  assert.deepEqual(decision.events, [
    {
      eventId: 'pay-1:0',
      paymentId: 'pay-1',
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: T0,
      recordedAtMs: T0 + 40,
      correlationId: 'corr-9',
      initiated: {
        kind: 'TRANSFER',
        principal: 'merchant-1',
        idempotencyKey: 'key-1',
        senderAccountId: 'acc-a',
        recipientAccountId: 'acc-b',
        amountMinor: 1_250n,
        currency: 'EUR',
        reference: 'invoice 7',
      },
      rejection: null,
      risk: null,
      review: null,
    },
  ]);
});

test('the very same command seen again is dropped without any event', () => {
  assert.deepEqual(decide(first, seenFirst), {
    outcome: 'redelivered',
    scope: dedupeScopeOf(first),
    original: seenFirst,
  });
});

test('a command for a payment already started under the scope is dropped even with a new command id', () => {
  assert.equal(decide({ ...first, commandId: 'cmd-2' }, seenFirst).outcome, 'redelivered');
});

test('a command seen before under its command id is dropped, whatever payment id it names', () => {
  assert.equal(decide({ ...first, paymentId: 'pay-2' }, seenFirst).outcome, 'redelivered');
});

test('the same request under the same key as a new payment is initiated and rejected with DUPLICATE_REQUEST naming the original', () => {
  const retry = paymentCommand({ commandId: 'cmd-2', paymentId: 'pay-2', requestHash: 'hash-1' });
  const decision = decide(retry, seenFirst);
  assert.equal(decision.outcome, 'rejected');
  assert.equal(decision.code, 'DUPLICATE_REQUEST');
  const [initiated, rejected] = decision.events;
  assert.equal(initiated.eventId, 'pay-2:0');
  assert.equal(initiated.type, 'PaymentInitiated');
  assert.equal(rejected.eventId, 'pay-2:1');
  assert.equal(rejected.type, 'PaymentRejected');
  assert.equal(rejected.sequence, 1);
  assert.equal(rejected.correlationId, 'corr-9');
  assert.equal(rejected.rejection?.code, 'DUPLICATE_REQUEST');
  assert.match(rejected.rejection.detail ?? '', /payment pay-1/);
});

test('a different request under a key already used is initiated and rejected with IDEMPOTENCY_KEY_REUSED', () => {
  const other = paymentCommand({
    commandId: 'cmd-3',
    paymentId: 'pay-3',
    requestHash: 'hash-other',
    amountMinor: 99n,
  });
  const decision = decide(other, seenFirst);
  assert.equal(decision.outcome, 'rejected');
  assert.equal(decision.code, 'IDEMPOTENCY_KEY_REUSED');
  assert.deepEqual(decision.original, seenFirst);
  const rejected = decision.events[1];
  assert.equal(rejected.paymentId, 'pay-3');
  assert.equal(rejected.rejection?.code, 'IDEMPOTENCY_KEY_REUSED');
  assert.match(rejected.rejection.detail ?? '', /payment pay-1/);
});

test('a scope remembered for longer than the TTL counts as unseen, so the key can start a new payment', () => {
  const later = paymentCommand({ commandId: 'cmd-4', paymentId: 'pay-4', requestHash: 'hash-other' });
  assert.equal(decide(later, seenFirst, T0 + DEFAULT_DEDUPE_TTL_MS - 1).outcome, 'rejected');
  const decision = decide(later, seenFirst, T0 + DEFAULT_DEDUPE_TTL_MS);
  assert.equal(decision.outcome, 'accepted');
  assert.equal(decision.seen.paymentId, 'pay-4');
});

test('commands without an idempotency key never collide with each other', () => {
  const a = paymentCommand({ idempotencyKey: '', commandId: 'cmd-a', paymentId: 'pay-a' });
  const b = paymentCommand({ idempotencyKey: '', commandId: 'cmd-b', paymentId: 'pay-b' });
  assert.notEqual(dedupeScopeOf(a), dedupeScopeOf(b));
});
