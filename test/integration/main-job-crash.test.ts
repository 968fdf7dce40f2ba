/**
 * The main job on the real stack (`npm start` in the Kafka mode: gateway, processors and the
 * PostgreSQL read models in one process) SIGKILLed while producers pay over HTTP, and restarted.
 * Producers behave as the API asks: an answer that never came, 409, 429 or 503 is retried with
 * the same Idempotency-Key and body until a 202.
 *
 * Afterwards, over HTTP only, as a producer and an operator would see it: every payment a producer
 * sent got a 202 and ends COMPLETED or REJECTED under that one payment id (a retry whose first
 * attempt reached the log before the kill republishes the same command, so it is never a
 * DUPLICATE_REQUEST of itself); and each account's balance is its deposit plus exactly the
 * payments that completed, once each.
 * Bounded: 10 accounts, 600 payments, 3 kills, loopback only, a deadline on every wait.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { TEST_SECRET, token } from '../../gateway/test-support.js';
import { seededRandom } from '../../processors/test-fixtures.js';
import { kill, sleep } from '../support/eos-harness.js';
import { freePort, waitHttpOk } from '../support/processes.js';
import { stackEnv, uniqueName, type StackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const ACCOUNTS = 10;
const PAYMENTS = 600;
const CLIENTS = 8;
const KILLS = 3;
const DEPOSIT = 1_000_000;
const MAX_AMOUNT = 10_000;
const READY_TIMEOUT_MS = 90_000;
const SEND_DEADLINE_MS = 240_000;
const SETTLE_TIMEOUT_MS = 180_000;
const RETRYABLE = new Set([0, 409, 429, 503]);
const TERMINAL = new Set(['COMPLETED', 'REJECTED']);

interface Answer {
  /** 0 when no answer came (the process was killed, or the port was closed). */
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface Planned {
  readonly key: string;
  readonly sender: string;
  readonly recipient: string;
  readonly amount: number;
  /** The payment id of the 202 the producer finally got. */
  paymentId?: string;
}

function startJob(stack: StackEnv, port: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    env: {
      ...process.env,
      PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      PAYFLOW_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      PAYFLOW_POSTGRES_URL: stack.postgresUrl,
      PAYFLOW_REDIS_URL: stack.redisUrl,
      PAYFLOW_HTTP_HOST: '127.0.0.1',
      PAYFLOW_HTTP_PORT: String(port),
      PAYFLOW_JWT_SECRET: TEST_SECRET,
      PAYFLOW_LOG_LEVEL: 'warn',
      PAYFLOW_RATE_LIMIT_PER_MINUTE: '1000000',
      // A key whose holder was killed is free again after 2 s instead of 30.
      PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS: '2000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

describe('the main job on Kafka under SIGKILL', { skip }, () => {
  test(
    '600 payments over HTTP while the main job is killed with SIGKILL 3 times: every one is answered 202 and ends under one payment id, none moves money twice, balances are deposits plus completed payments exactly',
    { timeout: 720_000 },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const random = seededRandom(20261202);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const producer = await token(
        { sub: `merchant-${randomUUID()}`, roles: ['producer'] },
        { expiresIn: '1h' },
      );
      const admin = await token({ sub: 'ops', roles: ['admin'] }, { expiresIn: '1h' });
      const call = async (
        method: string,
        path: string,
        bearer: string,
        body?: unknown,
        key?: string,
      ): Promise<Answer> => {
        try {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: {
              authorization: `Bearer ${bearer}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
              ...(key === undefined ? {} : { 'idempotency-key': key }),
            },
            body: body === undefined ? null : JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          });
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        } catch {
          return { status: 0, body: {} };
        }
      };
      /** Sends until a 202, as a well-behaved producer does; anything else but a retryable answer fails. */
      /** Sends that got no answer (the job killed with them in flight, or not up yet) and were sent again. */
      let unanswered = 0;
      const until202 = async (path: string, bearer: string, body: unknown, key: string): Promise<string> => {
        const deadline = Date.now() + SEND_DEADLINE_MS;
        for (;;) {
          const answer = await call('POST', path, bearer, body, key);
          if (answer.status === 202) return answer.body.paymentId as string;
          if (answer.status === 0) unanswered += 1;
          assert.ok(
            RETRYABLE.has(answer.status),
            `POST ${path}: ${answer.status} ${JSON.stringify(answer.body)}`,
          );
          assert.ok(Date.now() < deadline, `POST ${path} was not accepted within ${SEND_DEADLINE_MS} ms`);
          await sleep(200);
        }
      };
      const settle = async (paymentId: string): Promise<Record<string, unknown>> => {
        const deadline = Date.now() + SETTLE_TIMEOUT_MS;
        for (;;) {
          const answer = await call('GET', `/v1/payments/${paymentId}`, admin);
          if (answer.status === 200 && TERMINAL.has(answer.body.status as string)) return answer.body;
          assert.ok(Date.now() < deadline, `payment ${paymentId} did not end within ${SETTLE_TIMEOUT_MS} ms`);
          await sleep(250);
        }
      };

      let job = startJob(stack, port);
      const ready = () => waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
      try {
        await ready();
        const prefix = uniqueName('jobcrash');
        const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `${prefix}-${i}`);
        for (const accountId of accounts) {
          const opened = await call(
            'POST',
            '/v1/accounts',
            admin,
            { accountId, ownerId: `owner-${accountId}`, currency: 'EUR', kycTier: 'TIER_2' },
            randomUUID(),
          );
          assert.equal(opened.status, 202, JSON.stringify(opened.body));
        }
        for (const accountId of accounts) {
          const deadline = Date.now() + 60_000;
          while ((await call('GET', `/v1/accounts/${accountId}`, admin)).status !== 200) {
            assert.ok(Date.now() < deadline, `account ${accountId} is readable within 60 s`);
            await sleep(250);
          }
        }
        // Validation reads the accounts table too; a deposit before it has the account is sent again.
        for (const accountId of accounts) {
          for (let attempt = 0; ; attempt += 1) {
            const paymentId = await until202(
              `/v1/accounts/${accountId}/deposits`,
              admin,
              { amount: DEPOSIT, currency: 'EUR' },
              randomUUID(),
            );
            if ((await settle(paymentId)).status === 'COMPLETED') break;
            assert.ok(attempt < 20, `the deposit to ${accountId} completes`);
            await sleep(500);
          }
        }

        const planned: Planned[] = Array.from({ length: PAYMENTS }, () => {
          const sender = accounts[Math.floor(random() * ACCOUNTS)]!;
          const other = accounts.filter((accountId) => accountId !== sender);
          return {
            key: randomUUID(),
            sender,
            recipient: other[Math.floor(random() * other.length)]!,
            amount: 1 + Math.floor(random() * MAX_AMOUNT),
          };
        });
        let next = 0;
        const sending = Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while (next < planned.length) {
              const payment = planned[next]!;
              next += 1;
              payment.paymentId = await until202(
                '/v1/payments',
                producer,
                {
                  senderAccountId: payment.sender,
                  recipientAccountId: payment.recipient,
                  amount: payment.amount,
                  currency: 'EUR',
                },
                payment.key,
              );
            }
          }),
        );
        for (let round = 0; round < KILLS; round += 1) {
          await sleep(1_500 + Math.floor(random() * 2_500));
          await kill(job, 'SIGKILL');
          job = startJob(stack, port);
          await ready();
        }
        await sending;

        // Every payment ends, under the one payment id its producer got: a retry after a kill
        // republished its first attempt's command, so none is a DUPLICATE_REQUEST of itself.
        const expected = new Map(accounts.map((accountId) => [accountId, BigInt(DEPOSIT)]));
        const completed = new Set<string>();
        for (const payment of planned) {
          const view = await settle(payment.paymentId!);
          const rejection = view.rejection as { code: string; detail: string | null } | null;
          assert.notEqual(
            rejection?.code,
            'DUPLICATE_REQUEST',
            `payment ${payment.paymentId} is not a duplicate of itself`,
          );
          assert.equal(view.senderAccountId, payment.sender);
          assert.equal(view.amount, payment.amount);
          if (view.status !== 'COMPLETED') continue;
          completed.add(payment.paymentId!);
          expected.set(payment.sender, expected.get(payment.sender)! - BigInt(payment.amount));
          expected.set(payment.recipient, expected.get(payment.recipient)! + BigInt(payment.amount));
        }
        assert.equal(
          new Set(planned.map((payment) => payment.paymentId)).size,
          PAYMENTS,
          'each key has its own payment',
        );
        assert.ok(completed.size > PAYMENTS / 2, `most payments complete (${completed.size} of ${PAYMENTS})`);
        t.diagnostic(
          `${completed.size} of ${PAYMENTS} completed; ${unanswered} sends got no answer (the job killed or restarting) and were sent again`,
        );

        // Balances: exactly the deposits plus the completed payments, each once.
        const deadline = Date.now() + 60_000;
        for (const accountId of accounts) {
          for (;;) {
            const answer = await call('GET', `/v1/accounts/${accountId}`, admin);
            if (
              answer.status === 200 &&
              BigInt(answer.body.balanceMinor as string) === expected.get(accountId)
            )
              break;
            assert.ok(
              Date.now() < deadline,
              `balance of ${accountId}: ${JSON.stringify(answer.body.balanceMinor)}, expected ${expected.get(accountId)}`,
            );
            await sleep(250);
          }
        }
        assert.equal(await kill(job, 'SIGTERM'), 0, 'SIGTERM drains and exits 0');
      } finally {
        await kill(job, 'SIGKILL');
      }
    },
  );
});
