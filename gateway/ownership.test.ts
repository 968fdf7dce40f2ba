import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PaymentView } from './ports.js';
import { harness, testAccount, token, validPayment, type Harness } from './test-support.js';

/** acc-alice belongs to alice, acc-bob to bob, acc-carol to carol (o1 is a producer's client). */
const accountView = (accountId: string, ownerId: string) => testAccount(accountId, ownerId, 5_000n);

async function withAccounts(): Promise<Harness> {
  const h = await harness();
  h.accounts.put(accountView('acc-alice', 'alice'));
  h.accounts.put(accountView('acc-bob', 'bob'));
  h.accounts.put(accountView('acc-carol', 'carol'));
  h.accounts.put(accountView('acc-o1', 'o1'));
  return h;
}

async function bearer(claims: Parameters<typeof token>[0]): Promise<string> {
  return `Bearer ${await token(claims)}`;
}

async function pay(h: Harness, authorization: string, senderAccountId: string, key = 'key-1') {
  return h.app.inject({
    method: 'POST',
    url: '/v1/payments',
    headers: { authorization, 'idempotency-key': key },
    payload: { ...validPayment, senderAccountId, recipientAccountId: 'acc-bob' },
  });
}

function paymentView(paymentId: string, senderAccountId: string, recipientAccountId: string): PaymentView {
  return {
    paymentId,
    kind: 'TRANSFER',
    principal: 'some-producer',
    status: 'COMPLETED',
    amountMinor: 100n,
    currency: 'EUR',
    senderAccountId,
    recipientAccountId,
    reference: null,
    rejection: null,
    risk: null,
    events: [],
    createdAtMs: 0,
    updatedAtMs: 0,
  };
}

const PAY = {
  out: '01890000-0000-7000-8000-000000000001',
  in: '01890000-0000-7000-8000-000000000002',
  other: '01890000-0000-7000-8000-000000000003',
  o1: '01890000-0000-7000-8000-000000000004',
};

const get = async (h: Harness, url: string, authorization: string) =>
  h.app.inject({ method: 'GET', url, headers: { authorization } });

describe('who may pay from an account', () => {
  it('a customer pays from its own account, and the command carries its OWNER authority', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const response = await pay(h, await bearer({ sub: 'alice', roles: ['customer'] }), 'acc-alice');
    assert.equal(response.statusCode, 202);
    assert.deepEqual(h.publisher.payments[0]?.command.authority, { kind: 'OWNER', owners: ['alice'] });
  });

  it("a customer token can't pay from another owner's account: 404, the same answer as an unknown account, and nothing is published", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const authorization = await bearer({ sub: 'alice', roles: ['customer'] });
    const foreign = await pay(h, authorization, 'acc-carol', 'key-1');
    const unknown = await pay(h, authorization, 'acc-nobody', 'key-2');
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json<{ code: string }>().code, 'ACCOUNT_NOT_FOUND');
    assert.equal(unknown.statusCode, 404);
    // Byte for byte the unknown account's answer, but for the id the request named.
    assert.equal(foreign.body.replaceAll('acc-carol', 'acc-nobody'), unknown.body);
    assert.equal(h.publisher.payments.length, 0);
  });

  it("a merchant token can't pay from another owner's account either", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const response = await pay(h, await bearer({ sub: 'bob', roles: ['merchant'] }), 'acc-alice');
    assert.equal(response.statusCode, 404);
    assert.equal(h.publisher.payments.length, 0);
  });

  it("a producer with owners ['o1'] pays from o1's accounts only (403 for another owner's)", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const authorization = await bearer({ sub: 'shop-service', roles: ['producer'], owners: ['o1'] });
    const own = await pay(h, authorization, 'acc-o1', 'key-1');
    const foreign = await pay(h, authorization, 'acc-alice', 'key-2');
    assert.equal(own.statusCode, 202);
    assert.deepEqual(h.publisher.payments[0]?.command.authority, { kind: 'SERVICE', owners: ['o1'] });
    assert.equal(foreign.statusCode, 403);
    assert.equal(foreign.json<{ code: string }>().code, 'ACCOUNT_FORBIDDEN');
    assert.equal(h.publisher.payments.length, 1);
  });

  it('a producer token without an owners claim acts for no owner', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const response = await pay(h, await bearer({ roles: ['producer'], owners: null }), 'acc-o1');
    assert.equal(response.statusCode, 403);
    assert.equal(h.publisher.payments.length, 0);
  });

  it("a producer with owners ['*'] pays from any owner's account", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const response = await pay(h, await bearer({ roles: ['producer'], owners: ['*'] }), 'acc-carol');
    assert.equal(response.statusCode, 202);
    assert.deepEqual(h.publisher.payments[0]?.command.authority, { kind: 'SERVICE', owners: ['*'] });
  });

  it('an owners claim that is not a list of owner ids is refused with 401 and its challenge', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const { SignJWT } = await import('jose');
    const { TEST_SECRET } = await import('./test-support.js');
    const bad = await new SignJWT({ roles: ['producer'], owners: 'o1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('svc')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(TEST_SECRET));
    const response = await pay(h, `Bearer ${bad}`, 'acc-o1');
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="payflow", error="invalid_token"');
  });

  it('deposits stay with operators: a customer gets 403, an admin and a superadmin stamp ADMIN authority', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const deposit = async (authorization: string, key: string) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/accounts/acc-alice/deposits',
        headers: { authorization, 'idempotency-key': key },
        payload: { amount: 100, currency: 'EUR' },
      });
    assert.equal((await deposit(await bearer({ sub: 'alice', roles: ['customer'] }), 'k1')).statusCode, 403);
    assert.equal((await deposit(await bearer({ sub: 'ops', roles: ['admin'] }), 'k2')).statusCode, 202);
    assert.equal((await deposit(await bearer({ sub: 'root', roles: ['superadmin'] }), 'k3')).statusCode, 202);
    assert.deepEqual(
      h.publisher.payments.map((p) => p.command.authority),
      [
        { kind: 'ADMIN', owners: [] },
        { kind: 'ADMIN', owners: [] },
      ],
    );
  });
});

describe('who may read an account and its payments', () => {
  it("a customer reads its own account; another owner's account looks unknown (404)", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const authorization = await bearer({ sub: 'alice', roles: ['customer'] });
    const own = await get(h, '/v1/accounts/acc-alice', authorization);
    const foreign = await get(h, '/v1/accounts/acc-carol', authorization);
    assert.equal(own.statusCode, 200);
    assert.equal(own.json<{ balanceMinor: string }>().balanceMinor, '5000');
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json<{ code: string }>().code, 'ACCOUNT_NOT_FOUND');
    assert.doesNotMatch(foreign.body, /5000/);
  });

  it("a producer can't read an account's balance", async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    const response = await get(
      h,
      '/v1/accounts/acc-o1',
      await bearer({ roles: ['producer'], owners: ['o1'] }),
    );
    assert.equal(response.statusCode, 403);
  });

  it('a customer sees payments from or to its accounts, and no others (404), also when the payment has no recorded principal', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    h.payments.put(paymentView(PAY.out, 'acc-alice', 'acc-bob'));
    h.payments.put(paymentView(PAY.in, 'acc-carol', 'acc-alice'));
    h.payments.put(paymentView(PAY.other, 'acc-carol', 'acc-bob'));
    const authorization = await bearer({ sub: 'alice', roles: ['customer'] });
    assert.equal((await get(h, `/v1/payments/${PAY.out}`, authorization)).statusCode, 200);
    assert.equal((await get(h, `/v1/payments/${PAY.in}`, authorization)).statusCode, 200);
    const other = await get(h, `/v1/payments/${PAY.other}`, authorization);
    assert.equal(other.statusCode, 404);
    assert.equal(other.json<{ code: string }>().code, 'PAYMENT_NOT_FOUND');
    h.payments.put({ ...paymentView(PAY.o1, 'acc-carol', 'acc-bob'), principal: null });
    assert.equal((await get(h, `/v1/payments/${PAY.o1}`, authorization)).statusCode, 404);
  });

  it('a producer sees the payments of the owners it acts for, and no others (404)', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    h.payments.put(paymentView(PAY.o1, 'acc-o1', 'acc-bob'));
    h.payments.put(paymentView(PAY.other, 'acc-carol', 'acc-bob'));
    const authorization = await bearer({ sub: 'shop-service', roles: ['producer'], owners: ['o1'] });
    assert.equal((await get(h, `/v1/payments/${PAY.o1}`, authorization)).statusCode, 200);
    assert.equal((await get(h, `/v1/payments/${PAY.other}`, authorization)).statusCode, 404);
  });

  it('a superadmin may do what an admin does: read any account and payment', async (t) => {
    const h = await withAccounts();
    t.after(() => h.app.close());
    h.payments.put(paymentView(PAY.other, 'acc-carol', 'acc-bob'));
    const authorization = await bearer({ sub: 'root', roles: ['superadmin'] });
    assert.equal((await get(h, '/v1/accounts/acc-carol', authorization)).statusCode, 200);
    assert.equal((await get(h, `/v1/payments/${PAY.other}`, authorization)).statusCode, 200);
  });
});
