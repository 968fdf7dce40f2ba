import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  applyPaymentEvent,
  applyPaymentEvents,
  ProjectionOrderError,
  replayPayment,
  type PaymentReadModel,
  type ProjectedPaymentEvent,
} from './payment-view.js';

const initiated: ProjectedPaymentEvent = {
  eventId: 'e0',
  paymentId: 'p-1',
  type: 'PaymentInitiated',
  sequence: 0,
  occurredAtMs: 1_000,
  correlationId: 'c-1',
  initiated: {
    kind: 'TRANSFER',
    principal: 'merchant-1',
    senderAccountId: 'acc-a',
    recipientAccountId: 'acc-b',
    amountMinor: 9_007_199_254_740_993n,
    currency: 'EUR',
    reference: null,
  },
};
const event = (
  sequence: number,
  type: string,
  extra: Partial<ProjectedPaymentEvent> = {},
): ProjectedPaymentEvent => ({
  eventId: `e${sequence}`,
  paymentId: 'p-1',
  type,
  sequence,
  occurredAtMs: 1_000 + sequence,
  correlationId: 'c-1',
  ...extra,
});
const fold = (events: ProjectedPaymentEvent[]): PaymentReadModel | undefined =>
  events.reduce<PaymentReadModel | undefined>(applyPaymentEvent, undefined);

test('a completed payment shows COMPLETED with its events in order and its exact amount', () => {
  const view = fold([
    initiated,
    event(1, 'PaymentValidated'),
    event(2, 'PaymentDebited'),
    event(3, 'PaymentCompleted'),
  ]);
  assert.equal(view?.status, 'COMPLETED');
  assert.equal(view?.amountMinor, 9_007_199_254_740_993n);
  assert.deepEqual(
    view?.events.map((e) => e.type),
    ['PaymentInitiated', 'PaymentValidated', 'PaymentDebited', 'PaymentCompleted'],
  );
  assert.equal(view?.updatedAtMs, 1_003);
});

test("a payment's history says when each step was decided (recordedAt) next to its command's time, and it was last updated when the latest step was decided", () => {
  const view = fold([
    { ...initiated, recordedAtMs: 1_010 },
    event(1, 'PaymentValidated', { occurredAtMs: 1_000, recordedAtMs: 1_020 }),
    event(2, 'PaymentDebited', { occurredAtMs: 1_000, recordedAtMs: 1_030 }),
    event(3, 'PaymentCompleted', { occurredAtMs: 1_000, recordedAtMs: 61_000 }),
  ]);
  assert.deepEqual(
    view?.events.map((e) => [e.type, e.occurredAtMs, e.recordedAtMs]),
    [
      ['PaymentInitiated', 1_000, 1_010],
      ['PaymentValidated', 1_000, 1_020],
      ['PaymentDebited', 1_000, 1_030],
      ['PaymentCompleted', 1_000, 61_000],
    ],
  );
  assert.equal(view?.createdAtMs, 1_000);
  assert.equal(view?.updatedAtMs, 61_000);
});

test('an event written before recordedAt existed counts as decided at its occurredAt', () => {
  const view = fold([initiated, event(1, 'PaymentValidated', { occurredAtMs: 1_000 })]);
  assert.deepEqual(
    view?.events.map((e) => e.recordedAtMs),
    [1_000, 1_000],
  );
  assert.equal(view?.updatedAtMs, 1_000);
});

test('a rejected payment carries the reason code and detail', () => {
  const view = fold([
    initiated,
    event(1, 'PaymentRejected', { rejection: { code: 'INSUFFICIENT_FUNDS', detail: 'balance 10 < 1250' } }),
  ]);
  assert.equal(view?.status, 'REJECTED');
  assert.deepEqual(view?.rejection, { code: 'INSUFFICIENT_FUNDS', detail: 'balance 10 < 1250' });
});

test('replaying events already projected leaves the view unchanged', () => {
  const once = fold([initiated, event(1, 'PaymentValidated')]);
  const replayed = fold([initiated, event(1, 'PaymentValidated'), initiated, event(1, 'PaymentValidated')]);
  assert.deepEqual(replayed, once);
});

test('an event that skips a sequence number is refused instead of projected', () => {
  assert.throws(() => fold([initiated, event(2, 'PaymentDebited')]), ProjectionOrderError);
});

test('an event before PaymentInitiated is refused', () => {
  assert.throws(() => fold([event(1, 'PaymentValidated')]), ProjectionOrderError);
});

test('an event type the read model does not know keeps the status and is still listed', () => {
  const view = fold([initiated, event(1, 'LoyaltyPointsAwarded')]);
  assert.equal(view?.status, 'INITIATED');
  assert.equal(view?.events.length, 2);
});

test('a slice of events reports as changed only the payments it moved, so a projection writes back nothing for a replay', () => {
  const stored = fold([initiated, event(1, 'PaymentValidated')])!;
  const other = { ...initiated, eventId: 'o0', paymentId: 'p-2' };
  const views = new Map<string, PaymentReadModel>([['p-1', stored]]);
  const changed = applyPaymentEvents(views, [
    event(1, 'PaymentValidated'),
    other,
    event(2, 'PaymentDebited'),
  ]);
  assert.deepEqual([...changed].sort(), ['p-1', 'p-2']);
  assert.equal(views.get('p-1')?.status, 'DEBITED');
  assert.equal(views.get('p-2')?.status, 'INITIATED');
  assert.deepEqual([...applyPaymentEvents(views, [event(2, 'PaymentDebited'), other])], []);
});

test('replaying a payment from its stored events, in any order and with an event stored twice, ends at the state the live fold reached', () => {
  const history = [
    initiated,
    event(1, 'PaymentScored', { risk: { score: 40, decision: 'HOLD', reasons: [] } }),
    event(2, 'PaymentHeld', { risk: { score: 40, decision: 'HOLD', reasons: [] }, recordedAtMs: 5_000 }),
    event(3, 'PaymentRejected', { rejection: { code: 'FRAUD_BLOCKED', detail: 'reviewer' } }),
  ];
  const live = fold(history);
  const stored = [history[3]!, history[1]!, history[0]!, history[2]!, history[1]!];
  assert.deepEqual(replayPayment(stored), live);
  assert.equal(replayPayment(stored)?.status, 'REJECTED');
  assert.deepEqual(replayPayment(stored)?.rejection, { code: 'FRAUD_BLOCKED', detail: 'reviewer' });
});

test('replay of no events, or of only an unread command failure, has no payment to show', () => {
  assert.equal(replayPayment([]), undefined);
  assert.equal(
    replayPayment([event(0, 'PaymentFailed', { rejection: { code: 'UNDECODABLE', detail: null } })]),
    undefined,
  );
});

test('replay refuses a stored history with a missing sequence instead of showing a state the payment never had', () => {
  assert.throws(() => replayPayment([initiated, event(2, 'PaymentDebited')]), /skips sequence 1/);
  assert.throws(() => replayPayment([event(1, 'PaymentValidated')]), ProjectionOrderError);
});
