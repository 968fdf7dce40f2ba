/**
 * One set of payments and search queries for every backend of `PaymentQueries.searchPayments`
 * and `accountPayments`: the in-memory projection is the reference, and each real backend
 * (PostgreSQL, Elasticsearch) must answer every query with exactly its set, in its order.
 */
import assert from 'node:assert/strict';

import type { PaymentSearch, PaymentSearchQuery, PaymentView } from '../../gateway/ports.js';
import { MemoryPaymentsProjection } from '../../projections/memory.js';
import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';

const REFERENCES = ['Rent March INV-', 'rent-april', null, 'Invoice 2026/0042 für Miete', 'RENT'] as const;

/**
 * `count` payments of `account` (sent, or received when i % 3 is 0) with references by i % 5,
 * amounts 100 + i, USD when i % 4 is 0, REJECTED when i % 6 is 0, several per millisecond.
 */
export function searchFixture(account: string, count: number): ProjectedPaymentEvent[] {
  const events: ProjectedPaymentEvent[] = [];
  const T0 = 1_795_000_000_000;
  for (let i = 0; i < count; i += 1) {
    const paymentId = `${account}-${String(i).padStart(5, '0')}`;
    const [sender, recipient] = i % 3 === 0 ? [`${account}-x`, account] : [account, `${account}-y`];
    const at = T0 + Math.floor(i / 3);
    const reference = REFERENCES[i % 5] ?? null;
    const base = { paymentId, correlationId: null, occurredAtMs: at };
    events.push({
      ...base,
      eventId: `${paymentId}-0`,
      type: 'PaymentInitiated',
      sequence: 0,
      initiated: {
        kind: 'TRANSFER',
        principal: 'm',
        senderAccountId: sender,
        recipientAccountId: recipient,
        amountMinor: BigInt(100 + i),
        currency: i % 4 === 0 ? 'USD' : 'EUR',
        reference: reference === 'Rent March INV-' ? `${reference}${i}` : reference,
      },
    });
    events.push(
      i % 6 === 0
        ? {
            ...base,
            eventId: `${paymentId}-1`,
            type: 'PaymentRejected',
            sequence: 1,
            recordedAtMs: at + 1,
            rejection: { code: 'INSUFFICIENT_FUNDS', detail: null },
          }
        : { ...base, eventId: `${paymentId}-1`, type: 'PaymentValidated', sequence: 1, recordedAtMs: at + 1 },
    );
  }
  return events;
}

/** The queries every backend must answer alike (all scoped to `account`, the store may hold others). */
export function searchQueries(account: string): PaymentSearchQuery[] {
  const T0 = 1_795_000_000_000;
  return [
    { accountId: account, limit: 41 },
    { accountId: account, limit: 17, text: 'rent' },
    { accountId: account, limit: 17, text: 'MARCH rent' },
    { accountId: account, limit: 17, text: 'für 0042' },
    { accountId: account, limit: 17, text: 'inv-12' },
    { accountId: account, limit: 17, text: 'nothing-like-this' },
    { accountId: account, limit: 23, minAmountMinor: 150n, maxAmountMinor: 333n, currency: 'EUR' },
    { accountId: account, limit: 9, status: 'REJECTED' },
    { accountId: account, limit: 9, status: 'VALIDATED', text: 'rent', currency: 'USD' },
    { accountId: account, limit: 31, fromMs: T0 + 20, toMs: T0 + 90 },
  ];
}

/** Every page of `query` from `backend`, followed to the end with `after` like the API does. */
export async function allSearchPages(
  backend: PaymentSearch,
  query: PaymentSearchQuery,
): Promise<PaymentView[]> {
  const views: PaymentView[] = [];
  let after = query.after;
  for (let pages = 0; ; pages += 1) {
    assert.ok(pages < 10_000, 'the pages end');
    const page = await backend.searchPayments({ ...query, ...(after === undefined ? {} : { after }) });
    views.push(...page);
    const last = page.at(-1);
    if (page.length < query.limit || last === undefined) return views;
    after = { createdAtMs: last.createdAtMs, paymentId: last.paymentId };
  }
}

/** Asserts `backend` answers each query of `account` with the reference's ids, in order; returns how many matched. */
export async function assertSearchesLikeReference(
  backend: PaymentSearch,
  events: readonly ProjectedPaymentEvent[],
  account: string,
): Promise<number> {
  const reference = new MemoryPaymentsProjection(events.length);
  reference.apply(events);
  let matched = 0;
  for (const query of searchQueries(account)) {
    const want = (await allSearchPages(reference, query)).map((view) => view.paymentId);
    const got = (await allSearchPages(backend, query)).map((view) => view.paymentId);
    assert.deepEqual(
      got,
      want,
      JSON.stringify(query, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
    );
    matched += want.length;
  }
  return matched;
}
