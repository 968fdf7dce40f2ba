/**
 * 30% technical failures and 10% timeouts (half of them executed before the silence) at every
 * partner, a few hundred payouts, 20 in flight: every payout ends completed or failed (an unknown
 * outcome is resumed by status queries, as the saga does, never sent elsewhere), no reference is
 * executed twice, no payout is executed at two partners or under two references, and what the
 * partners executed is exactly what completed, amount by amount.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { PARTNER_NAMES } from '../simulators/index.js';
import { parseRoutingConfig, type PartnerPayment, type PayOutcome } from './index.js';
import {
  BENEFICIARY,
  routerOver,
  setFaults,
  startSimulators,
  stopSimulators,
  type Simulators,
} from './test-support.js';

const PAYOUTS = 300;
const IN_FLIGHT = 20;
const MAX_RESUMES = 20;

let simulators: Simulators;
before(async () => {
  simulators = await startSimulators(42);
  for (const [i, partner] of PARTNER_NAMES.entries())
    await setFaults(simulators[partner], {
      failureRate: 0.3,
      timeoutRate: 0.1,
      timeoutExecutedShare: 0.5,
      seed: 100 + i,
    });
});
after(() => stopSimulators(simulators));

test('under failures and timeouts every payout ends once, executed at most once and at one partner only', async () => {
  const router = routerOver(
    simulators,
    parseRoutingConfig({
      partners: { 'bank-a': { fees: {} }, 'bank-b': { fees: {} }, wallet: { fees: {} } },
      routes: [
        { kind: 'payout', currency: '*', strategy: 'success-rate', partners: ['bank-a', 'bank-b', 'wallet'] },
      ],
    }),
    {
      timeoutMs: 250,
      breaker: { failures: 5, windowMs: 30_000, halfOpenAfterMs: 300 },
      retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 50, statusMaxQueries: 6, clockSkewMs: 20 },
    },
  );
  const payments: PartnerPayment[] = Array.from({ length: PAYOUTS }, (_, i) => ({
    paymentId: randomUUID(),
    kind: 'payout',
    amountMinor: BigInt(100 + i),
    currency: 'EUR',
    beneficiary: BENEFICIARY,
  }));
  const outcomes = new Map<string, PayOutcome>();
  let resumes = 0;
  const run = async (payment: PartnerPayment) => {
    let outcome = await router.pay(payment, { waitForPartnerMs: 5_000 });
    for (let i = 0; outcome.kind === 'unknown-outcome' && i < MAX_RESUMES; i += 1) {
      resumes += 1;
      const excluded = outcome.tried.slice(0, -1).map((intent) => intent.partner);
      outcome = await router.pay(payment, { resume: outcome.intent, excluded, waitForPartnerMs: 5_000 });
    }
    outcomes.set(payment.paymentId, outcome);
  };
  const queue = [...payments];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await run(next);
    }),
  );

  const byKind = { completed: 0, failed: 0, 'unknown-outcome': 0 };
  for (const outcome of outcomes.values()) byKind[outcome.kind] += 1;
  assert.equal(outcomes.size, PAYOUTS);
  assert.equal(byKind['unknown-outcome'], 0, 'every outcome is definite');

  const executions = new Map<string, { partner: string; reference: string; amountMinor: bigint }[]>();
  for (const partner of PARTNER_NAMES)
    for (const executed of simulators[partner].executed()) {
      const paymentHex = executed.reference.slice(1, 33);
      const list = executions.get(paymentHex) ?? [];
      list.push({ partner, reference: executed.reference, amountMinor: executed.amountMinor });
      executions.set(paymentHex, list);
    }
  for (const payment of payments) {
    const outcome = outcomes.get(payment.paymentId)!;
    const executed = executions.get(payment.paymentId.replaceAll('-', '')) ?? [];
    if (outcome.kind === 'completed') {
      assert.deepEqual(
        executed,
        [
          {
            partner: outcome.intent.partner,
            reference: outcome.intent.reference,
            amountMinor: payment.amountMinor,
          },
        ],
        `payout ${payment.paymentId} executed exactly once, where and as it completed`,
      );
    } else {
      assert.equal(outcome.kind, 'failed');
      assert.deepEqual(executed, [], `failed payout ${payment.paymentId} was executed nowhere`);
    }
  }
  const completedMinor = payments
    .filter((p) => outcomes.get(p.paymentId)?.kind === 'completed')
    .reduce((sum, p) => sum + p.amountMinor, 0n);
  const executedMinor = [...executions.values()].flat().reduce((sum, e) => sum + e.amountMinor, 0n);
  assert.equal(executedMinor, completedMinor);
  assert.ok(byKind.completed > PAYOUTS / 2, `most payouts complete (${JSON.stringify(byKind)})`);
  const retries = (await router.metrics.retries.get()).values.reduce((sum, v) => sum + v.value, 0);
  const failovers = (await router.metrics.failovers.get()).values.reduce((sum, v) => sum + v.value, 0);
  console.log(
    `chaos: ${JSON.stringify(byKind)}, resumes ${resumes}, retries ${retries}, failovers ${failovers}`,
  );
});
