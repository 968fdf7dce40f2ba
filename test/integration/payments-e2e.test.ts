/**
 * Payments end to end, over HTTP, against the main job in both of its modes — the embedded
 * default and the Kafka mode on the real stack (Kafka, schema registry, PostgreSQL read models,
 * Redis idempotency). The same assertions run against both.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { token } from '../../gateway/test-support.js';
import type { PaymentCommand } from '../../schemas/types.js';
import { JobHarness, type HttpAnswer, type Mode } from '../support/main-job-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const stack = 'skip' in env ? undefined : env;
const SETTLE_MS = 60_000;

/** ISO 13616 check digits for `country` + `bban`, so an IBAN passes mod-97 whatever its length. */
function ibanWithValidCheckDigits(country: string, bban: string): string {
  const numeric = [...`${bban}${country}00`]
    .map((c) => (c >= 'A' ? String(c.charCodeAt(0) - 55) : c))
    .join('');
  let remainder = 0;
  for (const digit of numeric) remainder = (remainder * 10 + Number(digit)) % 97;
  return `${country}${String(98 - remainder).padStart(2, '0')}${bban}`;
}

function assertProblem(answer: HttpAnswer, status: number, field?: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.contentType, /^application\/problem\+json/);
  assert.equal(answer.body.status, status);
  assert.equal(typeof answer.body.type, 'string');
  assert.equal(typeof answer.body.title, 'string');
  if (field !== undefined) {
    const fields = ((answer.body.errors ?? []) as { field: string }[]).map((e) => e.field);
    assert.ok(
      fields.some((f) => f.includes(field)),
      `expected a field error naming ${field}, got ${JSON.stringify(answer.body)}`,
    );
  }
}

function rejectionCode(view: Record<string, unknown>): string | undefined {
  return (view.rejection as { code?: string } | null)?.code;
}

for (const mode of ['embedded', 'kafka'] as const satisfies readonly Mode[]) {
  const skip = mode === 'kafka' && 'skip' in env ? env.skip : false;

  describe(`payments end to end (${mode} mode)`, { skip }, () => {
    let h: JobHarness;
    const id = (name: string) => uniqueName(name);

    before(async () => {
      h = await JobHarness.start(mode, stack);
    });
    after(async () => {
      await h?.close();
    });

    test('a deposit then a payment complete: the payment reads COMPLETED with its ordered event history and both balances move by the amount', async () => {
      const [alice, bob] = [id('alice'), id('bob')];
      await h.openAccount(alice);
      await h.openAccount(bob);
      await h.deposit(alice, 10_000);

      const accepted = await h.pay({
        senderAccountId: alice,
        recipientAccountId: bob,
        amount: 2_500,
        currency: 'EUR',
        reference: 'invoice 7',
      });
      assert.equal(accepted.status, 202);
      assert.equal(accepted.body.status, 'INITIATED');
      assert.equal(accepted.body.statusUrl, `/v1/payments/${String(accepted.body.paymentId)}`);
      // Read-your-writes: the status URL answers at once, before any read model has the payment.
      const atOnce = await h.request(h.tokens.producer, 'GET', String(accepted.body.statusUrl));
      assert.equal(atOnce.status, 200, JSON.stringify(atOnce.body));
      assert.equal(atOnce.body.amount, 2_500);

      const view = await h.settled(String(accepted.body.paymentId), SETTLE_MS);
      assert.equal(view.status, 'COMPLETED');
      assert.equal(view.amount, 2_500);
      assert.equal(view.reference, 'invoice 7');
      const events = view.events as { type: string; sequence: number }[];
      assert.deepEqual(
        events.map((e) => e.type),
        ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentDebited', 'PaymentCompleted'],
      );
      assert.deepEqual(
        events.map((e) => e.sequence),
        [0, 1, 2, 3, 4],
      );
      const own = await h.request(
        h.tokens.producer,
        'GET',
        `/v1/payments/${String(accepted.body.paymentId)}`,
      );
      assert.equal(own.status, 200, 'the producer reads its own payment');
      assert.equal(own.body.status, 'COMPLETED');
      const foreign = await h.request(
        h.tokens.otherProducer,
        'GET',
        `/v1/payments/${String(accepted.body.paymentId)}`,
      );
      assertProblem(foreign, 404);
      await h.account(bob, (b) => b.balanceMinor === '2500');
      assert.equal(await h.balance(alice), 7_500n);
      assert.equal(await h.balance(bob), 2_500n);
    });

    test("a completed payment's events come from the event store once each with the request's correlation id, and the search and the account's history find it", async () => {
      const [alice, bob] = [id('alice'), id('bob')];
      await h.openAccount(alice);
      await h.openAccount(bob);
      await h.deposit(alice, 5_000);
      const word = id('ref').replaceAll('-', '');
      const correlationId = `corr-${randomUUID()}`;
      const accepted = await h.request(h.tokens.producer, 'POST', '/v1/payments', {
        body: {
          senderAccountId: alice,
          recipientAccountId: bob,
          amount: 1_234,
          currency: 'EUR',
          reference: `Rent ${word}`,
        },
        idempotencyKey: randomUUID(),
        headers: { 'x-correlation-id': correlationId },
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const paymentId = String(accepted.body.paymentId);
      assert.equal((await h.settled(paymentId, SETTLE_MS)).status, 'COMPLETED');

      const stored = await h.request(h.tokens.producer, 'GET', `/v1/payments/${paymentId}/events`);
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      const events = stored.body.events as {
        eventId: string;
        type: string;
        sequence: number;
        correlationId: string;
      }[];
      assert.deepEqual(
        events.map((e) => [e.sequence, e.type]),
        [
          [0, 'PaymentInitiated'],
          [1, 'PaymentValidated'],
          [2, 'PaymentScored'],
          [3, 'PaymentDebited'],
          [4, 'PaymentCompleted'],
        ],
      );
      assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
      assert.ok(
        events.every((e) => e.correlationId === correlationId),
        JSON.stringify(events),
      );
      assertProblem(await h.request(h.tokens.otherProducer, 'GET', `/v1/payments/${paymentId}/events`), 404);

      const found = await h.request(
        h.tokens.admin,
        'GET',
        `/v1/payments?q=${word.toUpperCase()}%20rent&minAmount=1234&maxAmount=1234`,
      );
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.deepEqual(
        (found.body.items as { paymentId: string }[]).map((item) => item.paymentId),
        [paymentId],
      );
      assertProblem(await h.request(h.tokens.producer, 'GET', `/v1/payments?q=${word}`), 403);
      const history = await h.request(h.tokens.admin, 'GET', `/v1/accounts/${bob}/payments?status=COMPLETED`);
      assert.deepEqual(
        (history.body.items as { paymentId: string }[]).map((item) => item.paymentId),
        [paymentId],
      );
    });

    test("an account command the gateway can't judge ends visibly: re-opening a closed account reads REFUSED ACCOUNT_CLOSED at its status URL", async () => {
      const closing = id('closing');
      await h.openAccount(closing);
      const close = await h.request(h.tokens.admin, 'PATCH', `/v1/accounts/${closing}`, {
        body: { status: 'CLOSED' },
      });
      assert.equal(close.status, 202, JSON.stringify(close.body));
      const closed = await h.commandOutcome(String(close.body.statusUrl));
      assert.equal(closed.outcome, 'APPLIED', JSON.stringify(closed));
      assert.equal(closed.status, 'CLOSED');
      await h.account(closing, (view) => view.status === 'CLOSED');
      const reopen = await h.request(h.tokens.admin, 'PATCH', `/v1/accounts/${closing}`, {
        body: { status: 'ACTIVE' },
      });
      assert.equal(reopen.status, 202, JSON.stringify(reopen.body));
      const refused = await h.commandOutcome(String(reopen.body.statusUrl));
      assert.equal(refused.outcome, 'REFUSED', JSON.stringify(refused));
      assert.equal(refused.code, 'ACCOUNT_CLOSED');
      assert.match(String(refused.detail), /closing is final/);
    });

    test('every validation rule rejects with its own reason code, and an unknown or frozen account is rejected', async () => {
      const [eur, eur2, usd, frozen] = [id('eur'), id('eur2'), id('usd'), id('frozen')];
      await h.openAccount(eur);
      await h.openAccount(eur2);
      await h.openAccount(usd, 'USD');
      await h.openAccount(frozen);
      // Mod-97 passes, but a German IBAN has 22 characters, not 21: the gateway applies the
      // validator's IBAN rule, so the account is never opened to fail its payments INVALID_IBAN.
      const badIban = await h.request(h.tokens.admin, 'POST', '/v1/accounts', {
        body: {
          accountId: id('iban'),
          ownerId: 'owner-iban',
          currency: 'EUR',
          kycTier: 'TIER_1',
          iban: ibanWithValidCheckDigits('DE', '37040044053201300'),
        },
        idempotencyKey: randomUUID(),
      });
      assertProblem(badIban, 400, '/iban');
      await h.deposit(eur, 1_000);
      await h.deposit(frozen, 1_000);
      await h.freeze(frozen);

      const cases: [string, Record<string, unknown>][] = [
        [
          'SENDER_NOT_FOUND',
          { senderAccountId: id('ghost'), recipientAccountId: eur2, amount: 100, currency: 'EUR' },
        ],
        [
          'RECIPIENT_NOT_FOUND',
          { senderAccountId: eur, recipientAccountId: id('ghost'), amount: 100, currency: 'EUR' },
        ],
        [
          'SENDER_NOT_ACTIVE',
          { senderAccountId: frozen, recipientAccountId: eur2, amount: 100, currency: 'EUR' },
        ],
        [
          'RECIPIENT_NOT_ACTIVE',
          { senderAccountId: eur, recipientAccountId: frozen, amount: 100, currency: 'EUR' },
        ],
        [
          'CURRENCY_MISMATCH',
          { senderAccountId: eur, recipientAccountId: usd, amount: 100, currency: 'EUR' },
        ],
        [
          'INSUFFICIENT_FUNDS',
          { senderAccountId: eur, recipientAccountId: eur2, amount: 1_001, currency: 'EUR' },
        ],
      ];
      const submitted = await Promise.all(
        cases.map(async ([code, body]) => {
          const answer = await h.pay(body);
          assert.equal(answer.status, 202, `${code}: ${JSON.stringify(answer.body)}`);
          return [code, String(answer.body.paymentId)] as const;
        }),
      );

      // What the gateway refuses (400) is also refused by the processors when a record carrying
      // it reaches the ingress topic some other way.
      const sameAccount = await h.pay({
        senderAccountId: eur,
        recipientAccountId: eur,
        amount: 100,
        currency: 'EUR',
      });
      assertProblem(sameAccount, 400, 'recipientAccountId');
      assertProblem(
        await h.pay({ senderAccountId: eur, recipientAccountId: eur2, amount: 0, currency: 'EUR' }),
        400,
        'amount',
      );
      const injected = (amountMinor: bigint, recipientAccountId = eur2): PaymentCommand => {
        const paymentId = randomUUID();
        return {
          commandId: paymentId,
          paymentId,
          kind: 'TRANSFER',
          principal: 'e2e-injector',
          idempotencyKey: randomUUID(),
          requestHash: '0'.repeat(64),
          senderAccountId: eur,
          recipientAccountId,
          amountMinor,
          currency: 'EUR',
          reference: null,
          device: null,
          submittedAtMs: Date.now(),
          authority: { kind: 'SERVICE', owners: ['*'] },
        };
      };
      // A currency PayFlow does not move money in is the schema's enum at the gateway (400) and
      // UNSUPPORTED_CURRENCY in the pipeline, one list for both (schemas/currencies.ts).
      assertProblem(
        await h.pay({ senderAccountId: eur, recipientAccountId: eur2, amount: 100, currency: 'MXN' }),
        400,
        'currency',
      );
      const mxn = { ...injected(100n), currency: 'MXN' };
      const zero = injected(0n);
      const beyondScale = injected(2n ** 63n / 10n + 1n);
      const toSelf = injected(100n, eur);
      for (const command of [mxn, zero, beyondScale, toSelf]) await h.injectCommand(command);
      submitted.push(
        ['UNSUPPORTED_CURRENCY', mxn.paymentId],
        ['AMOUNT_NOT_POSITIVE', zero.paymentId],
        ['AMOUNT_LIMIT_EXCEEDED', beyondScale.paymentId],
        ['SAME_ACCOUNT', toSelf.paymentId],
      );

      for (const [code, paymentId] of submitted) {
        const view = await h.settled(paymentId, SETTLE_MS);
        assert.equal(view.status, 'REJECTED', `${code}: ${JSON.stringify(view)}`);
        assert.equal(rejectionCode(view), code, JSON.stringify(view));
      }
      // Nothing moved: the only postings are the two deposits.
      assert.equal(await h.balance(eur), 1_000n);
      assert.equal(await h.balance(eur2), 0n);
      assert.equal(await h.balance(frozen), 1_000n);
    });

    test('the same request retried five times over HTTP and a duplicate record on the ingress topic move the money exactly once', async () => {
      const [payer, payee] = await h.openFundedPair(5_000);
      const body = { senderAccountId: payer, recipientAccountId: payee, amount: 1_200, currency: 'EUR' };
      const key = randomUUID();

      const first = await h.pay(body, key);
      assert.equal(first.status, 202);
      const paymentId = String(first.body.paymentId);
      for (let retry = 0; retry < 5; retry += 1) {
        const again = await h.pay(body, key);
        assert.ok(again.status === 202 || again.status === 409, `retry ${retry}: ${again.status}`);
        if (again.status === 202)
          assert.equal(again.body.paymentId, paymentId, 'a retry answers the original payment');
      }
      await h.duplicateIngressRecord(paymentId);
      await h.duplicateIngressRecord(paymentId);

      const view = await h.settled(paymentId, SETTLE_MS);
      assert.equal(view.status, 'COMPLETED');
      assert.deepEqual(
        (view.events as { type: string }[]).map((e) => e.type),
        ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentDebited', 'PaymentCompleted'],
      );
      await h.account(payee, (v) => v.balanceMinor !== '0');
      // Give a wrongly applied duplicate time to show.
      await new Promise((resolve) => setTimeout(resolve, mode === 'kafka' ? 3_000 : 0));
      assert.equal(await h.balance(payer), 3_800n);
      assert.equal(await h.balance(payee), 1_200n);
      assert.equal((await h.debitPostings()).get(paymentId), 1, 'one debit posting on the ledger');
    });

    test('idempotency keys: concurrent identical requests make one payment, a key in flight elsewhere is 409, a reused key with a different body is 422, keys are per principal', async (t) => {
      const [payer, payee] = await h.openFundedPair(5_000);
      const body = { senderAccountId: payer, recipientAccountId: payee, amount: 300, currency: 'EUR' };

      const key = randomUUID();
      const answers = await Promise.all(Array.from({ length: 20 }, () => h.pay(body, key)));
      const accepted = answers.filter((a) => a.status === 202);
      const inFlight = answers.filter((a) => a.status === 409);
      assert.equal(
        accepted.length + inFlight.length,
        answers.length,
        JSON.stringify(answers.map((a) => a.status)),
      );
      for (const answer of inFlight) assertProblem(answer, 409);
      assert.equal(new Set(accepted.map((a) => a.body.paymentId)).size, 1, 'one payment for one key');
      const paymentId = String(accepted[0]!.body.paymentId);

      const reused = await h.pay({ ...body, amount: 301 }, key);
      assertProblem(reused, 422);
      assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');

      // Another service acting for every owner, under its own principal.
      const otherService = await token({ sub: `service-${randomUUID()}`, roles: ['producer'] });
      const otherPrincipal = await h.pay(body, key, otherService);
      assert.equal(otherPrincipal.status, 202, 'the same key is independent per principal');
      assert.notEqual(otherPrincipal.body.paymentId, paymentId);

      await h.settled(paymentId, SETTLE_MS);
      await h.settled(String(otherPrincipal.body.paymentId), SETTLE_MS);
      await h.account(payee, (v) => v.balanceMinor === '600');
      assert.equal(await h.balance(payer), 4_400n);

      const heldKey = randomUUID();
      const held = await h.holdInFlight(heldKey, body);
      if (held === undefined) return t.skip('needs the shared Redis of the stack');
      try {
        const busy = await h.pay(body, heldKey);
        assertProblem(busy, 409);
        assert.equal(busy.body.code, 'IDEMPOTENCY_KEY_IN_FLIGHT');
      } finally {
        await held.release();
      }
      const afterRelease = await h.pay(body, heldKey);
      assert.equal(afterRelease.status, 202, 'once the other request gives the key up, a retry goes through');
      assert.equal((await h.settled(String(afterRelease.body.paymentId), SETTLE_MS)).status, 'COMPLETED');
    });

    test('authentication and roles: no or a bad token is 401, the wrong role is 403, both as problem+json', async () => {
      const body = { senderAccountId: 'a', recipientAccountId: 'b', amount: 1, currency: 'EUR' };
      assertProblem(
        await h.request(undefined, 'POST', '/v1/payments', { body, idempotencyKey: randomUUID() }),
        401,
      );
      assertProblem(
        await h.request('not-a-jwt', 'POST', '/v1/payments', { body, idempotencyKey: randomUUID() }),
        401,
      );
      assertProblem(
        await h.request(h.tokens.admin, 'POST', '/v1/payments', { body, idempotencyKey: randomUUID() }),
        403,
      );
      assertProblem(
        await h.request(h.tokens.producer, 'POST', '/v1/accounts', {
          body: { ownerId: 'o', currency: 'EUR', kycTier: 'TIER_1' },
          idempotencyKey: randomUUID(),
        }),
        403,
      );
      assertProblem(await h.request(h.tokens.producer, 'GET', `/v1/accounts/${id('any')}`), 403);
      assertProblem(await h.request(undefined, 'GET', `/v1/payments/${randomUUID()}`), 401);
      assertProblem(await h.request(h.tokens.producer, 'GET', `/v1/payments/${randomUUID()}`), 404);
    });

    test('bad input is a 4xx problem naming the field, never a 5xx: malformed JSON, wrong types, negative or fractional amounts, missing key, huge bodies', async () => {
      const good = { senderAccountId: 'acc-a', recipientAccountId: 'acc-b', amount: 100, currency: 'EUR' };
      const post = (options: Parameters<JobHarness['request']>[3]) =>
        h.request(h.tokens.producer, 'POST', '/v1/payments', { idempotencyKey: randomUUID(), ...options });

      assertProblem(await post({ rawBody: '{"senderAccountId": "a",' }), 400);
      assertProblem(await post({ body: { ...good, amount: '100' } }), 400, 'amount');
      assertProblem(await post({ body: { ...good, amount: -5 } }), 400, 'amount');
      assertProblem(await post({ body: { ...good, amount: 0 } }), 400, 'amount');
      assertProblem(await post({ body: { ...good, amount: 12.5 } }), 400, 'amount');
      assertProblem(await post({ body: { ...good, amount: 1e300 } }), 400, 'amount');
      assertProblem(await post({ body: { ...good, currency: 'euro' } }), 400, 'currency');
      assertProblem(await post({ body: { ...good, currency: 'XYZ' } }), 400, 'currency');
      assertProblem(await post({ body: { ...good, senderAccountId: 42 } }), 400, 'senderAccountId');
      assertProblem(
        await post({ body: { recipientAccountId: 'b', amount: 1, currency: 'EUR' } }),
        400,
        'senderAccountId',
      );
      assertProblem(await post({ body: { ...good, extra: true } }), 400);
      assertProblem(await post({ body: [good] }), 400);
      assertProblem(await post({ body: good, headers: { 'idempotency-key': '' } }), 400);
      assertProblem(await post({ body: good, headers: { 'idempotency-key': 'k'.repeat(256) } }), 400);
      assertProblem(
        await h.request(h.tokens.producer, 'POST', '/v1/payments', { body: good }),
        400,
        'Idempotency-Key',
      );
      assertProblem(await post({ body: { ...good, reference: 'x'.repeat(2_000_000) } }), 413);
      assertProblem(
        await post({ rawBody: JSON.stringify(good), headers: { 'content-type': 'text/plain' } }),
        415,
      );
    });
  });
}
