import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { PaymentView } from './ports.js';
import { harness, testAccount, token, type Harness } from './test-support.js';

const T0 = Date.UTC(2026, 11, 1);

const accountView = testAccount;

/** Payment `i`: alice pays bob (even i) or bob pays alice (odd i), two per millisecond, every fifth REJECTED. */
function paymentView(i: number): PaymentView {
  const [sender, recipient] = i % 2 === 0 ? ['acc-alice', 'acc-bob'] : ['acc-bob', 'acc-alice'];
  return {
    paymentId: `01890000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    kind: 'TRANSFER',
    principal: 'some-producer',
    status: i % 5 === 0 ? 'REJECTED' : 'COMPLETED',
    amountMinor: BigInt(100 + i),
    currency: 'EUR',
    senderAccountId: sender,
    recipientAccountId: recipient,
    reference: null,
    rejection: null,
    risk: null,
    events: [],
    createdAtMs: T0 + Math.floor(i / 2),
    updatedAtMs: T0 + Math.floor(i / 2),
  };
}

const COUNT = 250;

async function withHistory(): Promise<Harness> {
  const h = await harness();
  h.accounts.put(accountView('acc-alice', 'alice'));
  h.accounts.put(accountView('acc-bob', 'bob'));
  h.accounts.put(accountView('acc-carol', 'carol'));
  for (let i = 0; i < COUNT; i += 1) h.payments.put(paymentView(i));
  return h;
}

const bearer = async (sub: string, roles: string[]) => `Bearer ${await token({ sub, roles })}`;

interface Page {
  items: { paymentId: string; createdAt: string; status: string }[];
  nextCursor: string | null;
}

async function allPages(h: Harness, url: string, authorization: string): Promise<Page['items']> {
  const items: Page['items'] = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages += 1) {
    const target: string = cursor === null ? url : `${url}${url.includes('?') ? '&' : '?'}cursor=${cursor}`;
    assert.ok(pages < 100, 'the pages end');
    const response = await h.app.inject({ method: 'GET', url: target, headers: { authorization } });
    assert.equal(response.statusCode, 200, response.body);
    const page: Page = response.json();
    items.push(...page.items);
    if (page.nextCursor === null) return items;
    cursor = page.nextCursor;
  }
}

describe("an account's history", () => {
  it('paged to the end, the owner sees every payment it sent or received once, newest first, ties by payment id', async (t) => {
    const h = await withHistory();
    t.after(() => h.app.close());
    const items = await allPages(
      h,
      '/v1/accounts/acc-alice/payments?limit=7',
      await bearer('alice', ['customer']),
    );
    const expected = Array.from({ length: COUNT }, (_, i) => paymentView(i))
      .sort((a, b) => b.createdAtMs - a.createdAtMs || (a.paymentId < b.paymentId ? 1 : -1))
      .map((view) => view.paymentId);
    assert.deepEqual(
      items.map((item) => item.paymentId),
      expected,
    );
  });

  it('status and time filters return exactly the matching payments', async (t) => {
    const h = await withHistory();
    t.after(() => h.app.close());
    const admin = await bearer('ops', ['admin']);
    const from = new Date(T0 + 10).toISOString();
    const to = new Date(T0 + 20).toISOString();
    const items = await allPages(
      h,
      `/v1/accounts/acc-bob/payments?status=REJECTED&from=${from}&to=${to}&limit=100`,
      admin,
    );
    const expected = Array.from({ length: COUNT }, (_, i) => paymentView(i))
      .filter(
        (view) => view.status === 'REJECTED' && view.createdAtMs >= T0 + 10 && view.createdAtMs < T0 + 20,
      )
      .map((view) => view.paymentId)
      .sort()
      .reverse();
    assert.ok(expected.length > 0);
    assert.deepEqual(
      items.map((item) => item.paymentId),
      expected,
    );
  });

  it("another owner's account looks unknown, and a cursor or limit the API did not give out is a 400 naming the field", async (t) => {
    const h = await withHistory();
    t.after(() => h.app.close());
    const carol = await bearer('carol', ['customer']);
    const other = await h.app.inject({
      method: 'GET',
      url: '/v1/accounts/acc-alice/payments',
      headers: { authorization: carol },
    });
    assert.equal(other.statusCode, 404);
    assert.equal(other.json<{ code: string }>().code, 'ACCOUNT_NOT_FOUND');
    const alice = await bearer('alice', ['customer']);
    for (const [query, field] of [
      ['cursor=not-a-cursor', '/cursor'],
      ['limit=101', '/limit'],
      ['from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z', '/to'],
    ] as const) {
      const response = await h.app.inject({
        method: 'GET',
        url: `/v1/accounts/acc-alice/payments?${query}`,
        headers: { authorization: alice },
      });
      assert.equal(response.statusCode, 400, query);
      assert.match(response.body, new RegExp(field.replace('/', '\\/')));
    }
  });
});
