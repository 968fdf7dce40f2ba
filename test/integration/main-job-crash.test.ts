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
import type { ChildProcess } from 'node:child_process';
import { describe, test } from 'node:test';

import { seededRandom } from '../../processors/test-fixtures.js';
import { kill, sleep } from '../support/eos-harness.js';
import {
  assertEndedAsSent,
  bearerTokens,
  expectedBalances,
  HttpProducer,
  randomTransfer,
  startMainJobProcess,
  type Transfer,
} from '../support/http-producer.js';
import { freePort, waitHttpOk } from '../support/processes.js';
import { stackEnv, uniqueName } from '../support/stack.js';

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
      const { producer, admin } = await bearerTokens();
      const http = new HttpProducer(base, {
        sendDeadlineMs: SEND_DEADLINE_MS,
        settleTimeoutMs: SETTLE_TIMEOUT_MS,
      });

      let job: ChildProcess = startMainJobProcess(stack, port);
      const ready = () => waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
      try {
        await ready();
        const accounts = await http.openAccounts(admin, uniqueName('jobcrash'), ACCOUNTS);
        await http.fundAccounts(admin, accounts, DEPOSIT);

        const planned: Transfer[] = Array.from({ length: PAYMENTS }, () =>
          randomTransfer(random, accounts, MAX_AMOUNT),
        );
        let next = 0;
        const sending = Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while (next < planned.length) {
              const payment = planned[next]!;
              next += 1;
              await http.pay(producer, payment);
            }
          }),
        );
        for (let round = 0; round < KILLS; round += 1) {
          await sleep(1_500 + Math.floor(random() * 2_500));
          await kill(job, 'SIGKILL');
          job = startMainJobProcess(stack, port);
          await ready();
        }
        await sending;

        // Every payment ends, under the one payment id its producer got: a retry after a kill
        // republished its first attempt's command, so none is a DUPLICATE_REQUEST of itself.
        const completed: Transfer[] = [];
        for (const payment of planned) {
          const view = await http.settle(payment.paymentId!, admin);
          assertEndedAsSent(view, payment);
          if (view.status === 'COMPLETED') completed.push(payment);
        }
        assert.equal(
          new Set(planned.map((payment) => payment.paymentId)).size,
          PAYMENTS,
          'each key has its own payment',
        );
        assert.ok(
          completed.length > PAYMENTS / 2,
          `most payments complete (${completed.length} of ${PAYMENTS})`,
        );
        t.diagnostic(
          `${completed.length} of ${PAYMENTS} completed; ${http.unanswered} sends got no answer (the job killed or restarting) and were sent again`,
        );

        // Balances: exactly the deposits plus the completed payments, each once.
        const mismatches = await http.balanceMismatches(
          admin,
          expectedBalances(accounts, DEPOSIT, completed),
          60_000,
        );
        assert.deepEqual(mismatches, [], mismatches.join('; '));
        assert.equal(await kill(job, 'SIGTERM'), 0, 'SIGTERM drains and exits 0');
      } finally {
        await kill(job, 'SIGKILL');
      }
    },
  );
});
