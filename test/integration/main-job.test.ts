/**
 * The README's main-job command (`npm start`, i.e. `tsx app/main.ts`) works on a fresh machine with
 * no servers and no configuration: it listens, prints development tokens, accepts a payment and
 * stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';

import { fetchWithRetryAfter } from '../support/http-retry.js';

const START_TIMEOUT_MS = 30_000;

function waitForOutput(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

test('the main job starts with no servers or settings, accepts a payment with its development token, and exits 0 on SIGTERM', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
    env: { PATH: process.env.PATH, PAYFLOW_HTTP_PORT: String(port), PAYFLOW_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const match = await waitForOutput(child, /producer: (\S+)\n\s+admin: +(\S+)/);
    const producerToken = match[1]!;
    const response = await fetchWithRetryAfter(`http://127.0.0.1:${port}/v1/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${producerToken}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({
        senderAccountId: 'acc-a',
        recipientAccountId: 'acc-b',
        amount: 1250,
        currency: 'EUR',
      }),
    });
    assert.equal(response.status, 202);
    const body = (await response.json()) as { paymentId: string; status: string };
    assert.equal(body.status, 'INITIATED');

    const unauthenticated = await fetchWithRetryAfter(
      `http://127.0.0.1:${port}/v1/payments/${body.paymentId}`,
    );
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.headers.get('content-type') ?? '', /application\/problem\+json/);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});

test('on the embedded default a deposit and a payment run the whole pipeline: the payment reads COMPLETED with its events and both balances move; an unknown recipient is rejected with its reason code; an account command the pipeline refuses shows the refusal and its reason at its status URL', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
    env: { PATH: process.env.PATH, PAYFLOW_HTTP_PORT: String(port), PAYFLOW_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [, producer, admin] = await waitForOutput(child, /producer: (\S+)\n\s+admin: +(\S+)/);
    const call = async (token: string, method: string, path: string, body?: unknown) => {
      const response = await fetchWithRetryAfter(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    for (const accountId of ['alice', 'bob']) {
      const opened = await call(admin!, 'POST', '/v1/accounts', {
        accountId,
        ownerId: accountId,
        currency: 'EUR',
        kycTier: 'TIER_1',
      });
      assert.equal(opened.status, 202, JSON.stringify(opened.body));
    }
    const deposit = await call(admin!, 'POST', '/v1/accounts/alice/deposits', {
      amount: 10_000,
      currency: 'EUR',
    });
    assert.equal(deposit.status, 202, JSON.stringify(deposit.body));

    const paid = await call(producer!, 'POST', '/v1/payments', {
      senderAccountId: 'alice',
      recipientAccountId: 'bob',
      amount: 2_500,
      currency: 'EUR',
    });
    assert.equal(paid.status, 202);
    const view = await call(producer!, 'GET', `/v1/payments/${String(paid.body.paymentId)}`);
    assert.equal(view.body.status, 'COMPLETED', JSON.stringify(view.body));
    const events = view.body.events as { type: string }[];
    assert.deepEqual(
      events.map((e) => e.type),
      ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentDebited', 'PaymentCompleted'],
    );
    assert.equal((await call(admin!, 'GET', '/v1/accounts/alice')).body.balanceMinor, '7500');
    assert.equal((await call(admin!, 'GET', '/v1/accounts/bob')).body.balanceMinor, '2500');

    const stray = await call(producer!, 'POST', '/v1/payments', {
      senderAccountId: 'alice',
      recipientAccountId: 'nobody',
      amount: 1,
      currency: 'EUR',
    });
    const rejected = await call(producer!, 'GET', `/v1/payments/${String(stray.body.paymentId)}`);
    assert.equal(rejected.body.status, 'REJECTED');
    assert.match(JSON.stringify(rejected.body), /RECIPIENT_NOT_FOUND/);

    // An account command only the pipeline can judge (closing is final) still ends visibly.
    const closed = await call(admin!, 'PATCH', '/v1/accounts/bob', { status: 'FROZEN' });
    assert.equal(closed.status, 202, JSON.stringify(closed.body));
    const applied = await call(admin!, 'GET', String(closed.body.statusUrl));
    assert.equal(applied.body.outcome, 'APPLIED', JSON.stringify(applied.body));
    const opened = await call(admin!, 'POST', '/v1/accounts', {
      ownerId: 'carol',
      currency: 'EUR',
      kycTier: 'TIER_1',
    });
    const carol = String(opened.body.accountId);
    assert.equal((await call(admin!, 'PATCH', `/v1/accounts/${carol}`, { status: 'CLOSED' })).status, 202);
    const reopen = await call(admin!, 'PATCH', `/v1/accounts/${carol}`, { status: 'ACTIVE' });
    assert.equal(reopen.status, 202, 'the gateway cannot judge it: the table may not have the close yet');
    const refused = await call(admin!, 'GET', String(reopen.body.statusUrl));
    assert.equal(refused.body.outcome, 'REFUSED', JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'ACCOUNT_CLOSED');
    assert.match(String(refused.body.detail), /closing is final/);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});
