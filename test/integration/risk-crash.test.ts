/**
 * Holds and review decisions under SIGKILL, on the real stack: payments held for review survive
 * the main job killed with SIGKILL (their amounts stay reserved), decisions sent while it is
 * killed again are applied exactly once, and every balance ends as deposits plus completed
 * payments.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { token } from '../../gateway/test-support.js';
import { kill, sleep } from '../support/eos-harness.js';
import { bearerTokens, HttpProducer, startMainJobProcess } from '../support/http-producer.js';
import { freePort, waitHttpOk } from '../support/processes.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const PAYERS = 8;
const DEPOSIT = 300_000;
/** At TIER_1's review amount: held. */
const HELD_AMOUNT = 200_000;
const READY_TIMEOUT_MS = 90_000;
const WAIT_MS = 120_000;

describe('holds and review decisions on Kafka under SIGKILL', { skip }, () => {
  test(
    'payments held for review survive a SIGKILL with their amounts reserved; decisions sent around another SIGKILL are applied once: approved ones complete, declined ones give the money back, balances exact',
    { timeout: 600_000 },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const { producer, admin } = await bearerTokens();
      const reviewer = await token({ sub: 'reviewer-crash', roles: ['reviewer'] }, { expiresIn: '1h' });
      const http = new HttpProducer(base, { sendDeadlineMs: WAIT_MS, settleTimeoutMs: WAIT_MS });
      let job: ChildProcess | undefined;
      const start = async () => {
        job = startMainJobProcess(stack, port, { env: { PAYFLOW_REVIEW_TIMEOUT_MS: String(3_600_000) } });
        await waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
      };
      t.after(async () => {
        if (job !== undefined) await kill(job, 'SIGKILL');
      });
      const get = async (path: string, bearer = admin) => {
        for (;;) {
          const answer = await http.call('GET', path, bearer);
          if (answer.status !== 0 && answer.status !== 503) return answer;
          await sleep(200);
        }
      };
      const until = async (path: string, ready: (body: Record<string, unknown>) => boolean) => {
        const deadline = Date.now() + WAIT_MS;
        for (;;) {
          const answer = await get(path);
          if (answer.status === 200 && ready(answer.body)) return answer.body;
          assert.ok(Date.now() < deadline, `${path}: ${JSON.stringify(answer.body)}`);
          await sleep(200);
        }
      };

      await start();
      const run = randomUUID().slice(0, 8);
      const payers = Array.from({ length: PAYERS }, (_, i) => `hold-payer-${run}-${i}`);
      const payees = payers.map((p) => p.replace('payer', 'payee'));
      for (const accountId of [...payers, ...payees]) {
        const body = { accountId, ownerId: `owner-${accountId}`, currency: 'EUR', kycTier: 'TIER_1' };
        await http.untilAccepted('/v1/accounts', admin, body, randomUUID());
        await until(`/v1/accounts/${accountId}`, (a) => a.status === 'ACTIVE');
      }
      for (const payer of payers) {
        const id = await http.until202(
          `/v1/accounts/${payer}/deposits`,
          admin,
          { amount: DEPOSIT, currency: 'EUR' },
          randomUUID(),
        );
        await until(`/v1/payments/${id}`, (p) => p.status === 'COMPLETED');
      }
      const held: string[] = [];
      for (const [i, payer] of payers.entries()) {
        const body = {
          senderAccountId: payer,
          recipientAccountId: payees[i],
          amount: HELD_AMOUNT,
          currency: 'EUR',
        };
        held.push(await http.until202('/v1/payments', producer, body, randomUUID()));
      }
      for (const id of held) await until(`/v1/payments/${id}`, (p) => p.status === 'HELD');

      // Kill with every payment held: the holds are state, restored from the changelog.
      await kill(job!, 'SIGKILL');
      await start();
      for (const [i, id] of held.entries()) {
        assert.equal((await until(`/v1/payments/${id}`, () => true)).status, 'HELD');
        await until(`/v1/accounts/${payers[i]}`, (a) => a.balanceMinor === String(DEPOSIT - HELD_AMOUNT));
      }

      // Decide every payment (even ones APPROVE, odd ones DECLINE); kill the job halfway.
      const verdict = (i: number) => (i % 2 === 0 ? 'APPROVE' : 'DECLINE');
      const decide = async (i: number) => {
        const deadline = Date.now() + WAIT_MS;
        for (;;) {
          const answer = await http.call('POST', `/v1/reviews/${held[i]}/decision`, reviewer, {
            decision: verdict(i),
          });
          if (answer.status === 202 || answer.status === 409) return answer.status;
          assert.ok([0, 503].includes(answer.status), JSON.stringify(answer.body));
          assert.ok(Date.now() < deadline, 'no answer to a decision');
          await sleep(300);
        }
      };
      for (let i = 0; i < PAYERS / 2; i += 1) await decide(i);
      await kill(job!, 'SIGKILL');
      const restarted = start();
      for (let i = PAYERS / 2; i < PAYERS; i += 1) await decide(i);
      await restarted;

      for (const [i, id] of held.entries()) {
        const view = await until(
          `/v1/payments/${id}`,
          (p) => p.status === 'COMPLETED' || p.status === 'REJECTED',
        );
        if (verdict(i) === 'APPROVE') assert.equal(view.status, 'COMPLETED', JSON.stringify(view));
        else assert.equal((view.rejection as { code: string }).code, 'REVIEW_DECLINED', JSON.stringify(view));
        const events = (view.events as { type: string }[]).map((e) => e.type);
        assert.equal(events.filter((type) => type === 'PaymentHeld').length, 1, events.join());
        const approved = verdict(i) === 'APPROVE';
        await until(
          `/v1/accounts/${payers[i]}`,
          (a) => a.balanceMinor === String(approved ? DEPOSIT - HELD_AMOUNT : DEPOSIT),
        );
        await until(
          `/v1/accounts/${payees[i]}`,
          (a) => a.balanceMinor === String(approved ? HELD_AMOUNT : 0),
        );
      }
      // A decision again after all that: the payment is decided.
      assert.equal(
        (await http.call('POST', `/v1/reviews/${held[0]}/decision`, reviewer, { decision: 'DECLINE' }))
          .status,
        409,
      );
    },
  );
});
