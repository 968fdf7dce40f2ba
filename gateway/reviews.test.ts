import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';

import type { PaymentView } from './ports.js';
import { harness, token } from './test-support.js';

const T0 = 1_700_000_000_000;

function heldView(paymentId: string, heldAtMs: number, status: PaymentView['status'] = 'HELD'): PaymentView {
  const at = (type: string, sequence: number, recordedAtMs: number) => ({
    type,
    occurredAtMs: T0,
    recordedAtMs,
    sequence,
  });
  return {
    paymentId,
    kind: 'TRANSFER',
    principal: 'merchant-42',
    status,
    amountMinor: 250_000n,
    currency: 'EUR',
    senderAccountId: 'acc-alice',
    recipientAccountId: 'acc-bob',
    reference: null,
    rejection: null,
    risk: {
      score: 62,
      decision: 'HOLD',
      reasons: [{ code: 'AMOUNT_AT_REVIEW_LEVEL', points: 50, detail: null }],
    },
    events: [
      at('PaymentInitiated', 0, T0),
      at('PaymentValidated', 1, T0),
      at('PaymentScored', 2, T0),
      at('PaymentHeld', 3, heldAtMs),
      ...(status === 'HELD' ? [] : [at('PaymentDebited', 4, heldAtMs + 1)]),
    ],
    createdAtMs: T0,
    updatedAtMs: heldAtMs,
  };
}

const as = async (roles: string[], sub = 'rev-1') => ({
  authorization: `Bearer ${await token({ sub, roles })}`,
});

describe('the review queue', () => {
  it('lists held payments oldest first with their score and reasons, a page at a time, to reviewers and admins only', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    h.payments.put(heldView(ids[2]!, T0 + 3_000));
    h.payments.put(heldView(ids[0]!, T0 + 1_000));
    h.payments.put(heldView(ids[1]!, T0 + 2_000));
    h.payments.put(heldView(randomUUID(), T0 + 500, 'COMPLETED'));
    const first = await h.app.inject({ url: '/v1/reviews?limit=2', headers: await as(['reviewer']) });
    assert.equal(first.statusCode, 200, first.body);
    const page = first.json<{
      items: { paymentId: string; score: number; heldAt: string }[];
      nextCursor: string;
    }>();
    assert.deepEqual(
      page.items.map((i) => i.paymentId),
      ids.slice(0, 2),
    );
    assert.equal(page.items[0]?.score, 62);
    assert.equal(page.items[0]?.heldAt, new Date(T0 + 1_000).toISOString());
    const second = await h.app.inject({
      url: `/v1/reviews?limit=2&cursor=${page.nextCursor}`,
      headers: await as(['admin']),
    });
    const rest = second.json<{ items: { paymentId: string }[]; nextCursor: string | null }>();
    assert.deepEqual(
      rest.items.map((i) => i.paymentId),
      [ids[2]],
    );
    assert.equal(rest.nextCursor, null);
    assert.equal(
      (await h.app.inject({ url: '/v1/reviews', headers: await as(['producer']) })).statusCode,
      403,
    );
    const bad = await h.app.inject({ url: '/v1/reviews?cursor=nonsense', headers: await as(['reviewer']) });
    assert.equal(bad.statusCode, 400);
    assert.match(String(bad.headers['content-type']), /^application\/problem\+json/);
  });

  it('a decision on a held payment goes onto reviews.decisions keyed by its sender; a second one is 409, a payment never held 404', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const id = randomUUID();
    h.payments.put(heldView(id, T0 + 1_000));
    const decide = async (paymentId: string, decision: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/reviews/${paymentId}/decision`,
        headers: await as(['reviewer']),
        payload: { decision, note: 'called the customer' },
      });
    const approved = await decide(id, 'APPROVE');
    assert.equal(approved.statusCode, 202, approved.body);
    assert.equal(h.publisher.reviewDecisions.length, 1);
    const published = h.publisher.reviewDecisions[0]!.decision;
    assert.equal(published.senderAccountId, 'acc-alice');
    assert.equal(published.reviewer, 'rev-1');
    assert.equal(published.decision, 'APPROVE');
    const again = await decide(id, 'DECLINE');
    assert.equal(again.statusCode, 409);
    assert.equal(h.publisher.reviewDecisions.length, 1);
    h.payments.put(heldView(id, T0 + 1_000, 'DEBITED'));
    assert.equal((await decide(id, 'DECLINE')).statusCode, 409);
    const never = randomUUID();
    h.payments.put({
      ...heldView(never, T0),
      status: 'COMPLETED',
      events: heldView(never, T0).events.slice(0, 3),
    });
    assert.equal((await decide(never, 'APPROVE')).statusCode, 404);
    assert.equal((await decide(randomUUID(), 'APPROVE')).statusCode, 404);
    assert.equal((await decide(id, 'MAYBE')).statusCode, 400);
  });
});

describe('the deny list', () => {
  it('an admin lists and removes a device, an IP address or an account; the changes go onto risk.denylist; others are 403', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const admin = await as(['admin'], 'ops-1');
    for (const [method, url] of [
      ['PUT', '/v1/risk/denylist/device/dev-9'],
      ['PUT', '/v1/risk/denylist/ip/203.0.113.9'],
      ['PUT', '/v1/risk/denylist/account/acc-x'],
      ['DELETE', '/v1/risk/denylist/device/dev-9'],
    ] as const) {
      const response = await h.app.inject({ method, url, headers: admin });
      assert.equal(response.statusCode, 204, `${method} ${url}: ${response.body}`);
    }
    assert.deepEqual(
      h.publisher.denyList.map((c) => [c.key, c.entry?.addedBy ?? null]),
      [
        ['DEVICE:dev-9', 'ops-1'],
        ['IP:203.0.113.9', 'ops-1'],
        ['ACCOUNT:acc-x', 'ops-1'],
        ['DEVICE:dev-9', null],
      ],
    );
    const unknownKind = await h.app.inject({
      method: 'PUT',
      url: '/v1/risk/denylist/email/x',
      headers: admin,
    });
    assert.equal(unknownKind.statusCode, 400);
    const badIp = await h.app.inject({
      method: 'PUT',
      url: '/v1/risk/denylist/ip/not-an-ip',
      headers: admin,
    });
    assert.equal(badIp.statusCode, 400);
    const reviewer = await h.app.inject({
      method: 'PUT',
      url: '/v1/risk/denylist/device/dev-1',
      headers: await as(['reviewer']),
    });
    assert.equal(reviewer.statusCode, 403);
  });
});
