/**
 * Money under concurrency, end to end over HTTP, in both modes of the main job: 10,000 random
 * payments among 50 funded accounts from parallel clients (retrying 409/429/503 with the same
 * idempotency key, as a well-behaved client does). Every payment ends COMPLETED or REJECTED,
 * no balance ever goes below zero, the balances add up to the deposits, each account's balance is
 * exactly what its completed payments say, and the ledger holds one debit posting per completed
 * payment. Bounded: 10,000 payments, loopback only, a deadline on every wait.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { seededRandom } from '../../processors/test-fixtures.js';
import { JobHarness, type Mode } from '../support/main-job-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const stack = 'skip' in env ? undefined : env;

const ACCOUNTS = 50;
const PAYMENTS = 10_000;
const CLIENTS = 32;
const DEPOSIT = 100_000;
const MAX_AMOUNT = 40_000;
const MAX_ATTEMPTS = 20;
const SETTLE_DEADLINE_MS = 8 * 60_000;
const RETRYABLE = new Set([409, 429, 503]);

interface Outcome {
  readonly status: string;
  readonly code: string | undefined;
  readonly sender: string;
  readonly recipient: string;
  readonly amount: number;
}

async function inParallel<T>(
  items: readonly T[],
  workers: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < items.length) {
        const item = items[next]!;
        next += 1;
        await work(item);
      }
    }),
  );
}

for (const mode of ['embedded', 'kafka'] as const satisfies readonly Mode[]) {
  const skip = mode === 'kafka' && 'skip' in env ? env.skip : false;

  describe(`payments under concurrency (${mode} mode)`, { skip }, () => {
    let h: JobHarness;
    before(async () => {
      h = await JobHarness.start(mode, stack);
    });
    after(async () => {
      await h?.close();
    });

    test(
      `${PAYMENTS} random payments among ${ACCOUNTS} funded accounts from ${CLIENTS} parallel clients all settle, no balance goes below zero, balances add up to the deposits and match the completed payments, and each completed payment has exactly one debit posting`,
      { timeout: 15 * 60_000 },
      async () => {
        const seed = Date.now() % 1_000_000;
        const random = seededRandom(seed);
        const prefix = uniqueName('load');
        const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `${prefix}-${i}`);
        await inParallel(accounts, 10, (account) => h.openAccount(account));
        await inParallel(accounts, 10, async (account) => void (await h.deposit(account, DEPOSIT)));
        const totalDeposits = BigInt(ACCOUNTS * DEPOSIT);

        const planned = Array.from({ length: PAYMENTS }, () => {
          const s = Math.floor(random() * ACCOUNTS);
          const r = (s + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
          return {
            sender: accounts[s]!,
            recipient: accounts[r]!,
            amount: 1 + Math.floor(random() * MAX_AMOUNT),
            key: randomUUID(),
          };
        });

        // Watches the balances the API answers while the load runs: never below zero. (Their sum is
        // not checked mid-flight: money in transit sits in transit accounts, and each account's
        // balance is read at a slightly different moment of its own history.)
        const sampleProblems: string[] = [];
        let sampling = true;
        const sample = async () => {
          while (sampling) {
            const balances = await Promise.all(accounts.map((a) => h.balance(a)));
            balances.forEach((b, i) => {
              if (b < 0n) sampleProblems.push(`${accounts[i]} at ${b}`);
            });
            await new Promise((resolve) => setTimeout(resolve, 1_000));
          }
        };
        const sampler = sample();

        const paymentOf = new Map<string, (typeof planned)[number]>();
        const startedAt = Date.now();
        await inParallel(planned, CLIENTS, async (payment) => {
          const body = {
            senderAccountId: payment.sender,
            recipientAccountId: payment.recipient,
            amount: payment.amount,
            currency: 'EUR',
          };
          for (let attempt = 1; ; attempt += 1) {
            const answer = await h.pay(body, payment.key);
            if (answer.status === 202) {
              paymentOf.set(String(answer.body.paymentId), payment);
              return;
            }
            assert.ok(
              RETRYABLE.has(answer.status) && attempt < MAX_ATTEMPTS,
              `attempt ${attempt}: ${answer.status} ${JSON.stringify(answer.body)}`,
            );
            await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
          }
        });
        const acceptedMs = Date.now() - startedAt;
        assert.equal(paymentOf.size, PAYMENTS, 'one payment per idempotency key');

        const outcomes = new Map<string, Outcome>();
        const deadline = Date.now() + SETTLE_DEADLINE_MS;
        let pending = [...paymentOf.keys()];
        while (pending.length > 0) {
          assert.ok(
            Date.now() < deadline,
            `${pending.length} payments still unsettled after ${SETTLE_DEADLINE_MS} ms (seed ${seed})`,
          );
          const stillPending: string[] = [];
          await inParallel(pending, CLIENTS, async (paymentId) => {
            const answer = await h.request(h.tokens.producer, 'GET', `/v1/payments/${paymentId}`);
            const status = String(answer.body.status);
            if (answer.status !== 200 || !['COMPLETED', 'REJECTED', 'FAILED'].includes(status)) {
              stillPending.push(paymentId);
              return;
            }
            const planned = paymentOf.get(paymentId)!;
            const rejection = answer.body.rejection as { code?: string } | null;
            outcomes.set(paymentId, { status, code: rejection?.code, ...planned });
          });
          pending = stillPending;
          if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 500));
        }
        sampling = false;
        await sampler;
        const settledMs = Date.now() - startedAt;

        const completed = [...outcomes.entries()].filter(([, o]) => o.status === 'COMPLETED');
        const rejected = [...outcomes.values()].filter((o) => o.status === 'REJECTED');
        assert.equal(completed.length + rejected.length, PAYMENTS, 'every payment COMPLETED or REJECTED');
        assert.deepEqual(
          new Set(rejected.map((o) => o.code)),
          rejected.length === 0 ? new Set() : new Set(['INSUFFICIENT_FUNDS']),
        );
        assert.ok(completed.length > 0 && rejected.length > 0, `both outcomes occur (seed ${seed})`);

        const expected = new Map(accounts.map((a) => [a, BigInt(DEPOSIT)]));
        for (const [, o] of completed) {
          expected.set(o.sender, expected.get(o.sender)! - BigInt(o.amount));
          expected.set(o.recipient, expected.get(o.recipient)! + BigInt(o.amount));
        }
        // The accounts read model follows the ledger's log; wait until it has caught up with it.
        for (const account of accounts) {
          await h.account(account, (view) => view.balanceMinor === String(expected.get(account)));
        }
        const balances = await Promise.all(accounts.map((a) => h.balance(a)));
        assert.ok(
          balances.every((b) => b >= 0n),
          'no balance below zero',
        );
        assert.equal(
          balances.reduce((x, y) => x + y, 0n),
          totalDeposits,
          'the balances add up to the deposits',
        );
        assert.deepEqual(sampleProblems, [], 'no balance below zero while the load ran');

        const debits = await h.debitPostingsOf(completed.map(([id]) => id));
        assert.equal(debits.total, completed.length, 'one debit posting per completed payment');
        assert.deepEqual(debits.duplicated, [], 'no payment debited twice');
        const debitsOfRejected = await h.debitPostingsOf(
          [...outcomes.entries()].filter(([, o]) => o.status === 'REJECTED').map(([id]) => id),
          { waitForEach: false },
        );
        assert.equal(debitsOfRejected.total, 0, 'no debit posting for a rejected payment');

        process.stdout.write(
          `# ${mode}: ${PAYMENTS} payments (seed ${seed}) accepted in ${acceptedMs} ms, all settled in ${settledMs} ms; ` +
            `${completed.length} COMPLETED, ${rejected.length} REJECTED (INSUFFICIENT_FUNDS)\n`,
        );
      },
    );
  });
}
