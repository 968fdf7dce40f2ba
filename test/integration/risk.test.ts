/**
 * Risk in the main job, in both modes (the embedded default and the Kafka mode on the real
 * stack), with the default velocity limits and fraud configuration: a TIER_0 sender's 4th
 * payment in a minute is refused, a deny-listed device is blocked until it is removed, and a
 * payment at its tier's review amount is held, its amount reserved, until a reviewer approves or
 * declines it or the review times out.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { token } from '../../gateway/test-support.js';
import { JobHarness, type Mode } from '../support/main-job-harness.js';
import { sleep } from '../support/eos-harness.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const stack = 'skip' in env ? undefined : env;
const REVIEW_TIMEOUT_MS = 4_000;
const WAIT_MS = 60_000;

for (const mode of ['embedded', 'kafka'] as const satisfies readonly Mode[]) {
  const skip = mode === 'kafka' && 'skip' in env ? env.skip : false;

  describe(`risk in the payment chain (${mode} mode)`, { skip }, () => {
    let h: JobHarness;
    let reviewer: string;

    before(async () => {
      h = await JobHarness.start(mode, stack, {
        // Blank: the built-in tier limits, not the harness's load-test ones.
        PAYFLOW_VELOCITY_LIMITS_FILE: '',
        PAYFLOW_REVIEW_TIMEOUT_MS: String(REVIEW_TIMEOUT_MS),
        PAYFLOW_DENYLIST_PROPAGATION_MS: '1000',
      });
      reviewer = await token({ sub: 'reviewer-1', roles: ['reviewer'] }, { expiresIn: '1h' });
    });
    after(async () => {
      await h?.close();
    });

    async function pair(kycTier: string, deposit: number): Promise<[string, string]> {
      const payer = `payer-${randomUUID()}`;
      const payee = `payee-${randomUUID()}`;
      await h.openAccount(payer, 'EUR', { kycTier });
      await h.openAccount(payee, 'EUR');
      await h.deposit(payer, deposit);
      return [payer, payee];
    }

    async function pay(payer: string, payee: string, amount: number, extra: Record<string, unknown> = {}) {
      const answer = await h.pay({
        senderAccountId: payer,
        recipientAccountId: payee,
        amount,
        currency: 'EUR',
        ...extra,
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      return String(answer.body.paymentId);
    }

    async function statusOf(paymentId: string, wanted: (view: Record<string, unknown>) => boolean) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const answer = await h.request(h.tokens.admin, 'GET', `/v1/payments/${paymentId}`);
        if (answer.status === 200 && wanted(answer.body)) return answer.body;
        if (Date.now() > deadline) assert.fail(`payment ${paymentId}: ${JSON.stringify(answer.body)}`);
        await sleep(100);
      }
    }
    const held = (id: string) => statusOf(id, (v) => v.status === 'HELD');
    const code = (view: Record<string, unknown>) => (view.rejection as { code?: string } | null)?.code;

    test("a TIER_0 sender's 4th payment within a minute is rejected VELOCITY_LIMIT_EXCEEDED naming the window", async () => {
      const [payer, payee] = await pair('TIER_0', 10_000);
      const ids = [];
      for (let i = 0; i < 4; i += 1) {
        const id = await pay(payer, payee, 100);
        await h.settled(id);
        ids.push(id);
      }
      const views = await Promise.all(ids.map((id) => h.settled(id)));
      assert.deepEqual(
        views.map((v) => v.status),
        ['COMPLETED', 'COMPLETED', 'COMPLETED', 'REJECTED'],
      );
      assert.equal(code(views[3]!), 'VELOCITY_LIMIT_EXCEEDED');
      assert.match(String((views[3]!.rejection as { detail: string }).detail), /3 payments per 1 minute/);
      assert.equal(await h.balance(payer), 9_700n);
    });

    test('a deny-listed device is blocked FRAUD_BLOCKED with its score and no money moves; removed, it passes again', async () => {
      const [payer, payee] = await pair('TIER_1', 10_000);
      const device = `dev-${randomUUID()}`;
      const listed = await h.request(h.tokens.admin, 'PUT', `/v1/risk/denylist/device/${device}`);
      assert.equal(listed.status, 204, JSON.stringify(listed.body));
      const blocked = await h.settled(await pay(payer, payee, 500, { device: { id: device } }));
      assert.equal(code(blocked), 'FRAUD_BLOCKED');
      const risk = blocked.risk as { score: number; reasons: { code: string }[] };
      assert.ok(risk.score > 90, `score ${risk.score}`);
      assert.ok(
        risk.reasons.some((r) => r.code.startsWith('DENYLIST')),
        JSON.stringify(risk),
      );
      assert.equal(await h.balance(payer), 10_000n);
      const removed = await h.request(h.tokens.admin, 'DELETE', `/v1/risk/denylist/device/${device}`);
      assert.equal(removed.status, 204);
      const passed = await h.settled(await pay(payer, payee, 500, { device: { id: device } }));
      assert.equal(passed.status, 'COMPLETED', JSON.stringify(passed));
    });

    test('a review-amount payment is HELD with its reasons and the amount reserved; APPROVE completes it, a second decision is 409', async () => {
      const [payer, payee] = await pair('TIER_1', 300_000);
      const id = await pay(payer, payee, 200_000);
      const view = await held(id);
      const risk = view.risk as { score: number; decision: string };
      assert.equal(risk.decision, 'HOLD');
      assert.ok(risk.score >= 50 && risk.score <= 90, `score ${risk.score}`);
      await h.account(payer, (a) => a.balanceMinor === '100000');
      const spent = await h.settled(await pay(payer, payee, 150_000));
      assert.equal(code(spent), 'INSUFFICIENT_FUNDS');
      const queue = await h.request(reviewer, 'GET', '/v1/reviews?limit=100');
      assert.equal(queue.status, 200);
      assert.ok((queue.body.items as { paymentId: string }[]).some((item) => item.paymentId === id));
      const decide = (decision: string) =>
        h.request(reviewer, 'POST', `/v1/reviews/${id}/decision`, { body: { decision, note: 'checked' } });
      assert.equal((await decide('APPROVE')).status, 202);
      assert.equal((await decide('DECLINE')).status, 409);
      const done = await h.settled(id);
      assert.equal(done.status, 'COMPLETED');
      await h.account(payee, (a) => a.balanceMinor === '200000');
      assert.equal(await h.balance(payer), 100_000n);
    });

    test("DECLINE ends a held payment REJECTED REVIEW_DECLINED and gives the sender's balance back", async () => {
      const [payer, payee] = await pair('TIER_1', 300_000);
      const id = await pay(payer, payee, 250_000);
      await held(id);
      const declined = await h.request(reviewer, 'POST', `/v1/reviews/${id}/decision`, {
        body: { decision: 'DECLINE' },
      });
      assert.equal(declined.status, 202);
      assert.equal(code(await h.settled(id)), 'REVIEW_DECLINED');
      await h.account(payer, (a) => a.balanceMinor === '300000');
      assert.equal(await h.balance(payee), 0n);
    });

    test('a hold nobody decides is declined REVIEW_TIMEOUT by the wall clock', async () => {
      const [payer, payee] = await pair('TIER_1', 300_000);
      const id = await pay(payer, payee, 200_000);
      await held(id);
      assert.equal(code(await h.settled(id, WAIT_MS)), 'REVIEW_TIMEOUT');
      await h.account(payer, (a) => a.balanceMinor === '300000');
    });
  });
}
