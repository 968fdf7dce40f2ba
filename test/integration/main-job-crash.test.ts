/**
 * The main job on the real stack (`npm start` in the Kafka mode: gateway, processors and the
 * PostgreSQL read models in one process) SIGKILLed while producers pay over HTTP, and restarted.
 * Producers behave as the API asks: an answer that never came, 409, 429 or 503 is retried with
 * the same Idempotency-Key and body until a 202.
 *
 * Afterwards, over HTTP, as a producer and an operator would see it: every payment a producer
 * sent got a 202 and ends COMPLETED or REJECTED under that one payment id; and each account's
 * balance is its deposit plus exactly the payments that completed, once each. On the log
 * (`payments.commands`, read_committed): every command published under a payment's key is the one
 * command of its 202 (same payment id, same command id), so a retry whose first attempt reached
 * the log before the kill republished that command and is never a DUPLICATE_REQUEST of itself.
 * At least one kill falls between the log's acknowledgement of a first attempt and its HTTP
 * answer (the retry then finds the command on the log twice, or replays the stored response):
 * the job is killed again, up to MAX_KILLS times, until such a retry has been seen, while the
 * producers keep paying.
 * Bounded: 10 accounts, 600 to 3,000 payments, 3 to 10 kills, loopback only, a deadline on every wait.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, test } from 'node:test';

import { seededRandom } from '../../processors/test-fixtures.js';
import { PaymentCommandLog } from '../support/command-log.js';
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
/** Payments sent at least, and at most (the producers pay on while the kills go on). */
const MIN_PAYMENTS = 600;
const MAX_PAYMENTS = 3_000;
const CLIENTS = 16;
/** Kills at least, and at most while no retry has found its first attempt on the log. */
const KILLS = 3;
const MAX_KILLS = 10;
const DEPOSIT = 1_000_000;
const MAX_AMOUNT = 10_000;
const READY_TIMEOUT_MS = 90_000;
const SEND_DEADLINE_MS = 240_000;
const SETTLE_TIMEOUT_MS = 180_000;
const LOG_TIMEOUT_MS = 60_000;

/**
 * The job was killed after the log had the payment's first attempt and before its answer: a send
 * got no answer, and the retry found the command on the log already (published twice) or the
 * stored response (a replay).
 */
const firstAttemptReachedLog = (payment: Transfer, log: PaymentCommandLog): boolean =>
  (payment.unansweredSends ?? 0) > 0 &&
  (payment.replayed === true || log.commandsOf(payment.key).length >= 2);

describe('the main job on Kafka under SIGKILL', { skip }, () => {
  test(
    'payments over HTTP while the main job is killed with SIGKILL 3 or more times, at least once between the log and the answer: every one is answered 202 and ends under one payment id, a retry republishes its first command, none moves money twice, balances are deposits plus completed payments exactly',
    { timeout: 900_000 },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const random = seededRandom(20261202);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const { producer, admin, producerPrincipal } = await bearerTokens();
      const http = new HttpProducer(base, {
        sendDeadlineMs: SEND_DEADLINE_MS,
        settleTimeoutMs: SETTLE_TIMEOUT_MS,
      });

      let job: ChildProcess = startMainJobProcess(stack, port);
      const ready = () => waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
      try {
        await ready();
        // The job has created the topics; the payments are sent once the follower has joined.
        const log = await PaymentCommandLog.follow(stack, producerPrincipal);
        t.after(() => log.close());
        const accounts = await http.openAccounts(admin, uniqueName('jobcrash'), ACCOUNTS);
        await http.fundAccounts(admin, accounts, DEPOSIT);

        const planned: Transfer[] = [];
        let killing = true;
        const sending = Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while ((killing || planned.length < MIN_PAYMENTS) && planned.length < MAX_PAYMENTS) {
              const payment = randomTransfer(random, accounts, MAX_AMOUNT);
              planned.push(payment);
              await http.pay(producer, payment);
            }
          }),
        );
        let kills = 0;
        for (;;) {
          // The retries of the last kill are answered meanwhile.
          await sleep(1_500 + Math.floor(random() * 2_500));
          const caught = planned.some((payment) => firstAttemptReachedLog(payment, log));
          if (kills >= MAX_KILLS || (kills >= KILLS && caught)) break;
          await kill(job, 'SIGKILL');
          kills += 1;
          job = startMainJobProcess(stack, port);
          await ready();
        }
        killing = false;
        await sending;
        const sent = planned.length;

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
          sent,
          'each key has its own payment',
        );
        assert.ok(completed.length > sent / 2, `most payments complete (${completed.length} of ${sent})`);

        // On the log: each key's commands are the one command of its 202, however often sent.
        for (const payment of planned) {
          const deadline = Date.now() + LOG_TIMEOUT_MS;
          while (log.commandsOf(payment.key).length === 0) {
            assert.ok(Date.now() < deadline, `the command of ${payment.paymentId} is on the log`);
            await sleep(100);
          }
          const commands = log.commandsOf(payment.key);
          assert.deepEqual(
            new Set(commands.map((command) => command.paymentId)),
            new Set([payment.paymentId]),
            `every command under key ${payment.key} is payment ${payment.paymentId}`,
          );
          assert.equal(
            new Set(commands.map((command) => command.commandId)).size,
            1,
            `a retry under key ${payment.key} republished its first command`,
          );
        }
        const republished = planned.filter((payment) => log.commandsOf(payment.key).length >= 2);
        const caught = planned.filter((payment) => firstAttemptReachedLog(payment, log));
        assert.ok(
          caught.length >= 1,
          `in ${kills} kills, no retry followed a first attempt the log already had (${http.unanswered} sends unanswered)`,
        );
        t.diagnostic(
          `${completed.length} of ${sent} completed; ${kills} kills; ${http.unanswered} sends got no answer (the job killed or restarting) and were sent again; ` +
            `${caught.length} retries followed a first attempt the log had (${caught.filter((p) => p.replayed).length} replayed its stored response), ` +
            `${republished.length} commands are on the log twice or more`,
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
