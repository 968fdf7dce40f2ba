import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IBAN_TEST_TABLE } from '../schemas/iban-test-table.js';
import { maskIban } from '../schemas/iban.js';
import { open as openSealed } from '../schemas/pii.js';
import {
  adminHeaders,
  harness,
  TEST_PII_KEY_RING,
  testAccount,
  token,
  type Harness,
} from './test-support.js';

const IBAN = 'SA0380000000608010167519';

const accountView = (accountId: string, balanceMinor: bigint) =>
  testAccount(accountId, 'owner-1', balanceMinor);

async function patch(h: Harness, accountId: string, status: string) {
  return h.app.inject({
    method: 'PATCH',
    url: `/v1/accounts/${accountId}`,
    headers: await adminHeaders(),
    payload: { status },
  });
}

async function open(h: Harness, payload: Record<string, unknown>) {
  return h.app.inject({ method: 'POST', url: '/v1/accounts', headers: await adminHeaders(), payload });
}

describe('admin account routes', () => {
  it('opening an account publishes an OPEN command and answers 202 with the account id', async (t) => {
    const h = await harness({ now: () => 1_700_000_000_000 });
    t.after(() => h.app.close());
    const payload = {
      accountId: 'acc-alice',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_1',
      iban: IBAN,
    };
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: await adminHeaders(),
      payload,
    });
    assert.equal(response.statusCode, 202);
    const command = h.publisher.accounts[0]?.command;
    assert.deepEqual(response.json(), {
      accountId: 'acc-alice',
      commandId: command?.commandId,
      statusUrl: `/v1/accounts/acc-alice/commands/${command?.commandId}`,
      accountUrl: '/v1/accounts/acc-alice',
    });
    const sealed = command?.type === 'OPEN' ? command.ibanSealed : undefined;
    assert.deepEqual(command, {
      type: 'OPEN',
      commandId: command?.commandId,
      accountId: 'acc-alice',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_1',
      iban: null,
      ibanMasked: maskIban(IBAN),
      ibanSealed: sealed,
      issuedAtMs: 1_700_000_000_000,
    });
    // The command is stored in Kafka: the IBAN travels sealed, never in clear.
    assert.equal(openSealed(sealed ?? '', 'iban', TEST_PII_KEY_RING, 'acc-alice'), IBAN);
    // Bound to its account: copied into another account's record, it does not open.
    assert.throws(() => openSealed(sealed ?? '', 'iban', TEST_PII_KEY_RING, 'acc-bob'), /does not open/);
    assert.ok(!JSON.stringify(command).includes(IBAN));
  });

  it('an account opened without an id gets a generated one', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const payload = { ownerId: 'owner-1', currency: 'USD', kycTier: 'TIER_0' };
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: await adminHeaders(),
      payload,
    });
    assert.equal(response.statusCode, 202);
    assert.equal(
      response.json<{ accountId: string }>().accountId,
      h.publisher.accounts[0]?.command.accountId,
    );
  });

  it('opening an account with an Idempotency-Key twice opens it once', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const payload = { ownerId: 'owner-1', currency: 'USD', kycTier: 'TIER_0' };
    const first = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: await adminHeaders('open-1'),
      payload,
    });
    const second = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: await adminHeaders('open-1'),
      payload,
    });
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(h.publisher.accounts.length, 1);
  });

  const badAccounts: [string, object, string][] = [
    ['an unknown KYC tier', { kycTier: 'TIER_9' }, '/kycTier'],
    ['a system account id', { accountId: 'funding:EUR' }, '/accountId'],
  ];
  for (const [what, change, field] of badAccounts) {
    it(`opening an account with ${what} is 400 naming ${field}`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const payload = { ownerId: 'owner-1', currency: 'EUR', kycTier: 'TIER_1', ...change };
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        headers: await adminHeaders(),
        payload,
      });
      assert.equal(response.statusCode, 400);
      const fields = response.json<{ errors: { field: string }[] }>().errors.map((error) => error.field);
      assert.ok(fields.includes(field), JSON.stringify(fields));
    });
  }

  for (const { what, iban, problem } of IBAN_TEST_TABLE) {
    const outcome = problem === undefined ? 'opened (202)' : 'refused with 400 problem+json naming /iban';
    it(`an account whose IBAN is ${what} is ${outcome}, as payment validation would judge it`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const payload = { ownerId: 'owner-1', currency: 'EUR', kycTier: 'TIER_1', iban };
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        headers: await adminHeaders(),
        payload,
      });
      if (problem === undefined) {
        assert.equal(response.statusCode, 202, response.body);
        const command = h.publisher.accounts[0]?.command;
        const sealed = command?.type === 'OPEN' ? command.ibanSealed : undefined;
        assert.equal(openSealed(sealed ?? '', 'iban', TEST_PII_KEY_RING, command?.accountId ?? ''), iban);
        return;
      }
      assert.equal(response.statusCode, 400, response.body);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
      const errors = response.json<{ errors: { field: string; message: string }[] }>().errors;
      assert.deepEqual(
        errors.map((error) => error.field),
        ['/iban'],
      );
      assert.equal(h.publisher.accounts.length, 0);
    });
  }

  it('changing an account status publishes CHANGE_STATUS and answers 202', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.accounts.put(accountView('acc-alice', 500n));
    const response = await h.app.inject({
      method: 'PATCH',
      url: '/v1/accounts/acc-alice',
      headers: await adminHeaders(),
      payload: { status: 'FROZEN' },
    });
    assert.equal(response.statusCode, 202);
    const command = h.publisher.accounts[0]?.command;
    assert.deepEqual(response.json(), {
      accountId: 'acc-alice',
      commandId: command?.commandId,
      status: 'FROZEN',
      statusUrl: `/v1/accounts/acc-alice/commands/${command?.commandId}`,
      accountUrl: '/v1/accounts/acc-alice',
    });
    assert.equal(command?.type, 'CHANGE_STATUS');
    assert.equal(command?.type === 'CHANGE_STATUS' ? command.status : undefined, 'FROZEN');
  });

  it('an unknown status value is 400 naming /status', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'PATCH',
      url: '/v1/accounts/acc-alice',
      headers: await adminHeaders(),
      payload: { status: 'DELETED' },
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      response.json<{ errors: { field: string }[] }>().errors.map((error) => error.field),
      ['/status'],
    );
  });

  it('a deposit publishes a DEPOSIT from the currency funding account and replays on retry', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const request = {
      method: 'POST' as const,
      url: '/v1/accounts/acc-alice/deposits',
      payload: { amount: 50_000, currency: 'EUR' },
    };
    const first = await h.app.inject({ ...request, headers: await adminHeaders('dep-1') });
    const retry = await h.app.inject({ ...request, headers: await adminHeaders('dep-1') });
    assert.equal(first.statusCode, 202);
    assert.equal(retry.body, first.body);
    assert.equal(h.publisher.payments.length, 1);
    const command = h.publisher.payments[0]?.command;
    assert.equal(command?.kind, 'DEPOSIT');
    assert.equal(command?.senderAccountId, 'funding:EUR');
    assert.equal(command?.recipientAccountId, 'acc-alice');
    assert.equal(command?.amountMinor, 50_000n);
    assert.equal(command?.principal, 'ops-1');
    assert.equal(first.json<{ paymentId: string }>().paymentId, command?.paymentId);
  });

  it('the same deposit key for another account is refused with 422', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const payload = { amount: 100, currency: 'EUR' };
    await h.app.inject({
      method: 'POST',
      url: '/v1/accounts/acc-alice/deposits',
      headers: await adminHeaders('dep-2'),
      payload,
    });
    const other = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts/acc-bob/deposits',
      headers: await adminHeaders('dep-2'),
      payload,
    });
    assert.equal(other.statusCode, 422);
  });

  it('a deposit without an Idempotency-Key is 400 naming the header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts/acc-alice/deposits',
      headers: await adminHeaders(),
      payload: { amount: 1, currency: 'EUR' },
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      response.json<{ errors: { field: string }[] }>().errors.map((error) => error.field),
      ['Idempotency-Key'],
    );
  });

  it('an account is returned with its balance as an exact decimal string', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.accounts.put({
      accountId: 'funding:EUR',
      ownerId: 'payflow',
      currency: 'EUR',
      kycTier: 'TIER_3',
      iban: null,
      status: 'ACTIVE',
      balanceMinor: -9_007_199_254_740_993n,
      openedAtMs: 0,
      updatedAtMs: 0,
    });
    const response = await h.app.inject({
      method: 'GET',
      url: '/v1/accounts/funding:EUR',
      headers: await adminHeaders(),
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json<{ balanceMinor: string }>().balanceMinor, '-9007199254740993');
  });

  it('an unknown account is 404 problem+json', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'GET',
      url: '/v1/accounts/acc-nobody',
      headers: await adminHeaders(),
    });
    assert.equal(response.statusCode, 404);
    assert.equal(response.json<{ code: string }>().code, 'ACCOUNT_NOT_FOUND');
  });

  it('PATCH of an unknown account is 404 at once and publishes nothing', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await patch(h, 'acc-nobody', 'FROZEN');
    assert.equal(response.statusCode, 404);
    assert.equal(response.json<{ code: string }>().code, 'ACCOUNT_NOT_FOUND');
    assert.equal(h.publisher.accounts.length, 0);
  });

  it('closing an account that holds money is 409 naming the balance; at zero it closes', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.accounts.put(accountView('acc-funded', 988n));
    h.accounts.put(accountView('acc-empty', 0n));
    const funded = await patch(h, 'acc-funded', 'CLOSED');
    assert.equal(funded.statusCode, 409);
    const problem = funded.json<{ code: string; detail: string; errors: { field: string }[] }>();
    assert.equal(problem.code, 'ACCOUNT_NOT_EMPTY');
    assert.match(problem.detail, /988 minor units of EUR/);
    assert.equal(problem.errors[0]?.field, '/status');
    assert.equal((await patch(h, 'acc-funded', 'FROZEN')).statusCode, 202, 'freezing needs no zero balance');
    assert.equal((await patch(h, 'acc-empty', 'CLOSED')).statusCode, 202);
    assert.equal(h.publisher.accounts.length, 2);
  });

  it('opening an existing id with another owner or currency is 409 naming the fields; the same owner and currency is 202', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.accounts.put(accountView('acc-taken', 0n));
    const other = await open(h, {
      accountId: 'acc-taken',
      ownerId: 'owner-2',
      currency: 'USD',
      kycTier: 'TIER_1',
    });
    assert.equal(other.statusCode, 409);
    const problem = other.json<{ code: string; errors: { field: string }[] }>();
    assert.equal(problem.code, 'ACCOUNT_EXISTS');
    assert.deepEqual(
      problem.errors.map((error) => error.field),
      ['/ownerId', '/currency'],
    );
    const same = await open(h, {
      accountId: 'acc-taken',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_1',
    });
    assert.equal(same.statusCode, 202);
    assert.equal(h.publisher.accounts.length, 1);
  });
});

describe("an account command's status URL", () => {
  const NOW = 1_700_000_000_000;

  it('reads PENDING right after the 202, then the refusal with its code and reason once the pipeline decided', async (t) => {
    const h = await harness({ now: () => NOW });
    t.after(() => h.app.close());
    const opened = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: await adminHeaders(),
      payload: { accountId: 'acc-taken', ownerId: 'owner-2', currency: 'EUR', kycTier: 'TIER_1' },
    });
    assert.equal(opened.statusCode, 202);
    const { statusUrl, commandId } = opened.json<{ statusUrl: string; commandId: string }>();
    const read = async () => h.app.inject({ method: 'GET', url: statusUrl, headers: await adminHeaders() });

    const pending = await read();
    assert.equal(pending.statusCode, 200);
    assert.equal(pending.json<{ outcome: string }>().outcome, 'PENDING');

    h.accounts.putOutcome({
      commandId,
      accountId: 'acc-taken',
      commandType: 'OPEN',
      outcome: 'REFUSED',
      code: 'ACCOUNT_EXISTS',
      detail: 'account acc-taken is already open with another owner or currency',
      status: null,
      decidedAtMs: NOW,
    });
    const refused = await read();
    assert.equal(refused.statusCode, 200);
    assert.deepEqual(refused.json(), {
      commandId,
      accountId: 'acc-taken',
      commandType: 'OPEN',
      outcome: 'REFUSED',
      code: 'ACCOUNT_EXISTS',
      detail: 'account acc-taken is already open with another owner or currency',
      status: null,
      decidedAt: new Date(NOW).toISOString(),
    });
  });

  it("an id the gateway never issued, one older than the outcomes are kept, or another account's command is 404 COMMAND_NOT_FOUND", async (t) => {
    const h = await harness({ now: () => NOW });
    t.after(() => h.app.close());
    const eightDaysAgo = NOW - 8 * 86_400_000;
    const old = `${eightDaysAgo.toString(16).padStart(12, '0').slice(0, 8)}-${eightDaysAgo
      .toString(16)
      .padStart(12, '0')
      .slice(8)}-7000-8000-000000000000`;
    h.accounts.putOutcome({
      commandId: '0194f2a0-0000-7000-8000-000000000001',
      accountId: 'acc-a',
      commandType: 'CHANGE_STATUS',
      outcome: 'APPLIED',
      code: null,
      detail: null,
      status: 'FROZEN',
      decidedAtMs: NOW,
    });
    for (const url of [
      '/v1/accounts/acc-a/commands/0194f2a0-0000-4000-8000-000000000000',
      `/v1/accounts/acc-a/commands/${old}`,
      '/v1/accounts/acc-b/commands/0194f2a0-0000-7000-8000-000000000001',
    ]) {
      const response = await h.app.inject({ method: 'GET', url, headers: await adminHeaders() });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json<{ code: string }>().code, 'COMMAND_NOT_FOUND');
    }
  });

  it('is for operators: a customer token is 403', async (t) => {
    const h = await harness({ now: () => NOW });
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'GET',
      url: '/v1/accounts/acc-a/commands/0194f2a0-0000-7000-8000-000000000001',
      headers: { authorization: `Bearer ${await token({ sub: 'owner-1', roles: ['customer'] })}` },
    });
    assert.equal(response.statusCode, 403);
  });
});
