import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { searchWords, type PaymentView } from './ports.js';
import { harness, testAccount, token, type Harness } from './test-support.js';

const T0 = Date.UTC(2026, 11, 1);
const COUNT = 300;
const REFERENCES = ['Rent March INV-', 'rent-april', null, 'Invoice 2026/0042'] as const;

/** Payment `i`: reference by i % 4, USD when i % 3 is 0, REJECTED when i % 5 is 0, carol's when i % 7 is 0. */
function payment(i: number): PaymentView {
  const reference = REFERENCES[i % 4] ?? null;
  return {
    paymentId: `01890000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    kind: 'TRANSFER',
    principal: 'some-producer',
    status: i % 5 === 0 ? 'REJECTED' : 'COMPLETED',
    amountMinor: BigInt(100 + i),
    currency: i % 3 === 0 ? 'USD' : 'EUR',
    senderAccountId: 'acc-alice',
    recipientAccountId: i % 7 === 0 ? 'acc-carol' : 'acc-bob',
    reference: reference === 'Rent March INV-' ? `${reference}${i}` : reference,
    rejection: null,
    risk: null,
    events: [],
    createdAtMs: T0 + Math.floor(i / 3),
    updatedAtMs: T0 + Math.floor(i / 3),
  };
}

async function withPayments(): Promise<Harness> {
  const h = await harness();
  for (const [id, owner] of [
    ['acc-alice', 'alice'],
    ['acc-bob', 'bob'],
    ['acc-carol', 'carol'],
  ] as const)
    h.accounts.put(testAccount(id, owner));
  for (let i = 0; i < COUNT; i += 1) h.payments.put(payment(i));
  return h;
}

const bearer = async (sub: string, roles: string[]) => `Bearer ${await token({ sub, roles })}`;

interface Page {
  items: { paymentId: string }[];
  nextCursor: string | null;
}

/** Every page of `query`, followed to the end. */
async function search(h: Harness, query: string, authorization: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages += 1) {
    assert.ok(pages < 200, 'the pages end');
    const url: string = `/v1/payments?${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
    const response = await h.app.inject({ method: 'GET', url, headers: { authorization } });
    assert.equal(response.statusCode, 200, response.body);
    const page: Page = response.json();
    ids.push(...page.items.map((item) => item.paymentId));
    if (page.nextCursor === null) return ids;
    cursor = page.nextCursor;
  }
}

/** The ids of the payments `keep` selects, newest first, ties by payment id descending. */
function expected(keep: (i: number) => boolean): string[] {
  return Array.from({ length: COUNT }, (_, i) => i)
    .filter(keep)
    .map(payment)
    .sort((a, b) => b.createdAtMs - a.createdAtMs || (a.paymentId < b.paymentId ? 1 : -1))
    .map((view) => view.paymentId);
}

describe('the payment search', () => {
  it('by reference text returns exactly the payments whose reference has every word, in any case', async (t) => {
    const h = await withPayments();
    t.after(() => h.app.close());
    const admin = await bearer('ops', ['admin']);
    for (const [q, keep] of [
      ['rent', (i: number) => i % 4 <= 1],
      ['MARCH%20rent', (i: number) => i % 4 === 0],
      ['0042', (i: number) => i % 4 === 3],
      ['inv-8', (i: number) => i === 8],
      ['rent%20invoice', () => false],
    ] as const) {
      const want = expected(keep);
      assert.deepEqual(await search(h, `q=${q}&limit=13`, admin), want, q);
    }
  });

  it('by amount range, currency, status and account returns exactly the matching set, paged without repeats', async (t) => {
    const h = await withPayments();
    t.after(() => h.app.close());
    const admin = await bearer('ops', ['superadmin']);
    assert.deepEqual(
      await search(h, 'minAmount=150&maxAmount=280&currency=EUR&limit=7', admin),
      expected((i) => 100 + i >= 150 && 100 + i <= 280 && i % 3 !== 0),
    );
    assert.deepEqual(
      await search(h, 'status=REJECTED&limit=5', admin),
      expected((i) => i % 5 === 0),
    );
    assert.deepEqual(
      await search(h, 'accountId=acc-carol&status=COMPLETED&q=rent&limit=3', admin),
      expected((i) => i % 7 === 0 && i % 5 !== 0 && i % 4 <= 1),
    );
    const from = new Date(T0 + 10).toISOString();
    const to = new Date(T0 + 40).toISOString();
    assert.deepEqual(
      await search(h, `from=${from}&to=${to}&limit=100`, admin),
      expected((i) => Math.floor(i / 3) >= 10 && Math.floor(i / 3) < 40),
    );
    assert.deepEqual(
      await search(h, 'limit=100', admin),
      expected(() => true),
    );
  });

  it('is for operators: a customer is refused, and a bad filter is a 400 naming it', async (t) => {
    const h = await withPayments();
    t.after(() => h.app.close());
    const customer = await h.app.inject({
      method: 'GET',
      url: '/v1/payments?q=rent',
      headers: { authorization: await bearer('alice', ['customer']) },
    });
    assert.equal(customer.statusCode, 403);
    const admin = await bearer('ops', ['admin']);
    for (const [query, field] of [
      ['q=%2F%2F--', '/q'],
      ['q=a%20b%20c%20d%20e%20f%20g%20h%20i', '/q'],
      ['minAmount=200&maxAmount=100', '/maxAmount'],
      ['minAmount=1.5', 'minAmount'],
      ['currency=XXX', 'currency'],
      ['cursor=nope', '/cursor'],
      [`cursor=${Buffer.from(JSON.stringify([0, '\u0000'])).toString('base64url')}`, '/cursor'],
      [`cursor=${Buffer.from(JSON.stringify([9e15, 'x'])).toString('base64url')}`, '/cursor'],
      ['sort=amount', 'sort'],
    ] as const) {
      const response = await h.app.inject({
        method: 'GET',
        url: `/v1/payments?${query}`,
        headers: { authorization: admin },
      });
      assert.equal(response.statusCode, 400, query);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.ok(response.body.includes(field), `${query}: ${response.body}`);
    }
  });
});

describe("a payment's events", () => {
  it('are the event store rows, oldest first, for whoever may read the payment; to anyone else it is unknown', async (t) => {
    const h = await withPayments();
    t.after(() => h.app.close());
    const view = payment(1);
    const events = [0, 1, 2].map((sequence) => ({
      eventId: `${view.paymentId}:${sequence}`,
      type: ['PaymentInitiated', 'PaymentValidated', 'PaymentCompleted'][sequence]!,
      sequence,
      occurredAtMs: T0,
      recordedAtMs: T0 + sequence,
      correlationId: 'corr-1',
    }));
    h.payments.putEvents(view.paymentId, events);
    const url = `/v1/payments/${view.paymentId}/events`;
    const own = await h.app.inject({
      method: 'GET',
      url,
      headers: { authorization: await bearer('bob', ['customer']) },
    });
    assert.equal(own.statusCode, 200, own.body);
    assert.deepEqual(own.json(), {
      paymentId: view.paymentId,
      events: events.map((event) => ({
        eventId: event.eventId,
        type: event.type,
        sequence: event.sequence,
        occurredAt: new Date(event.occurredAtMs).toISOString(),
        recordedAt: new Date(event.recordedAtMs).toISOString(),
        correlationId: 'corr-1',
      })),
    });
    const other = await h.app.inject({
      method: 'GET',
      url,
      headers: { authorization: await bearer('carol', ['customer']) },
    });
    assert.equal(other.statusCode, 404);
    const unknown = await h.app.inject({
      method: 'GET',
      url: '/v1/payments/01890000-0000-7000-8000-999999999999/events',
      headers: { authorization: await bearer('ops', ['admin']) },
    });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json<{ code: string }>().code, 'PAYMENT_NOT_FOUND');
  });
});

describe('searchWords', () => {
  it('splits at anything but letters and digits, lower case, each word once', () => {
    assert.deepEqual(searchWords('INV-2026/0042 Rent  rent Überweisung_№5'), [
      'inv',
      '2026',
      '0042',
      'rent',
      'überweisung',
      '5',
    ]);
    assert.deepEqual(searchWords(null), []);
    assert.deepEqual(searchWords(' -- '), []);
  });
});
