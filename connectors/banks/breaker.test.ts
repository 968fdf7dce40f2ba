/**
 * The circuit breaker per partner: 5 failures within the window open it, the router fails over
 * while it is open, and after the (shortened) half-open delay one trial call closes it again —
 * or opens it for another delay.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';

import { CircuitState } from 'cockatiel';

import { FailuresInWindowBreaker, parseRoutingConfig, type PartnerRouter } from './index.js';
import {
  BENEFICIARY,
  routerOver,
  setFaults,
  startSimulators,
  stopSimulators,
  type Simulators,
} from './test-support.js';

describe('FailuresInWindowBreaker', () => {
  test('opens on the 5th failure within 30 s, not on 5 failures spread wider', () => {
    let now = 0;
    const breaker = new FailuresInWindowBreaker(5, 30_000, () => now);
    for (let i = 0; i < 4; i += 1) assert.equal(breaker.failure(CircuitState.Closed), false);
    now += 30_001;
    assert.equal(breaker.failure(CircuitState.Closed), false, 'the first 4 left the window');
    for (let i = 0; i < 3; i += 1) assert.equal(breaker.failure(CircuitState.Closed), false);
    breaker.success(CircuitState.Closed);
    assert.equal(breaker.failure(CircuitState.Closed), true, 'a success in between does not erase failures');
  });

  test('a failed trial opens it again at once; a successful trial forgets the failures', () => {
    const breaker = new FailuresInWindowBreaker(5, 30_000, () => 0);
    assert.equal(breaker.failure(CircuitState.HalfOpen), true);
    for (let i = 0; i < 4; i += 1) breaker.failure(CircuitState.Closed);
    breaker.success(CircuitState.HalfOpen);
    assert.equal(breaker.failure(CircuitState.Closed), false);
  });
});

const HALF_OPEN_AFTER_MS = 1_500;
const ROUTING = parseRoutingConfig({
  partners: { 'bank-a': { fees: { EUR: { bps: 10 } } }, 'bank-b': { fees: { EUR: { bps: 30 } } } },
  routes: [{ kind: 'payout', currency: 'EUR', strategy: 'cheapest', partners: ['bank-a', 'bank-b'] }],
});

describe('a partner down behind its breaker', () => {
  let simulators: Simulators;
  let router: PartnerRouter;
  before(async () => {
    simulators = await startSimulators();
  });
  after(() => stopSimulators(simulators));
  beforeEach(() => {
    for (const simulator of Object.values(simulators)) simulator.reset();
    router = routerOver(simulators, ROUTING, {
      breaker: { failures: 5, windowMs: 30_000, halfOpenAfterMs: HALF_OPEN_AFTER_MS },
      retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20, statusMaxQueries: 3, clockSkewMs: 20 },
    });
  });

  const payout = () => ({
    paymentId: randomUUID(),
    kind: 'payout' as const,
    amountMinor: 10_000n,
    currency: 'EUR',
    beneficiary: BENEFICIARY,
  });
  const callsTo = async (partner: string) => {
    const metric = await router.metrics.calls.get();
    return (
      metric.values.find((v) => v.labels.partner === partner && v.labels.operation === 'execute')?.value ?? 0
    );
  };

  test('opens after 5 failures, every payout fails over to Bank B and completes, and a successful trial closes it', async () => {
    await setFaults(simulators['bank-a'], { down: true });
    const outcomes = [];
    for (let i = 0; i < 10; i += 1) outcomes.push(await router.pay(payout()));
    assert.deepEqual(
      outcomes.map((o) => o.kind === 'completed' && o.intent.partner),
      Array(10).fill('bank-b'),
    );
    assert.equal(await callsTo('bank-a'), 5, 'Bank A was called until its breaker opened, then never');
    assert.equal(simulators['bank-a'].executed().length, 0);
    assert.equal(simulators['bank-b'].executed().length, 10);
    assert.equal(router.partnersSnapshot().find((p) => p.partner === 'bank-a')?.breaker, 'OPEN');
    const second = outcomes[1]!;
    assert.equal(
      second.kind === 'completed' && second.intent.attempt,
      2,
      'the failover carried a new reference',
    );

    await setFaults(simulators['bank-a'], {});
    await sleep(HALF_OPEN_AFTER_MS + 100);
    assert.equal(router.partnersSnapshot().find((p) => p.partner === 'bank-a')?.breaker, 'HALF_OPEN');
    const trial = await router.pay(payout());
    assert.equal(trial.kind === 'completed' && trial.intent.partner, 'bank-a', 'the trial went to Bank A');
    assert.equal(router.partnersSnapshot().find((p) => p.partner === 'bank-a')?.breaker, 'CLOSED');
    const gauge = await router.metrics.breakerState.get();
    assert.equal(gauge.values.find((v) => v.labels.partner === 'bank-a')?.value, 0);
  });

  test('a failed trial opens the breaker again for another delay, and the payout still completes at Bank B', async () => {
    await setFaults(simulators['bank-a'], { down: true });
    for (let i = 0; i < 2; i += 1) await router.pay(payout());
    assert.equal(router.partnersSnapshot()[0]?.breaker, 'OPEN');
    await sleep(HALF_OPEN_AFTER_MS + 100);
    const before = await callsTo('bank-a');
    const outcome = await router.pay(payout());
    assert.equal(outcome.kind === 'completed' && outcome.intent.partner, 'bank-b');
    assert.equal((await callsTo('bank-a')) - before, 1, 'exactly one trial call');
    assert.equal(router.partnersSnapshot()[0]?.breaker, 'OPEN');
  });

  test('a partner refusal fails over (a partner-side limit) but an invalid beneficiary does not', async () => {
    await setFaults(simulators['bank-a'], { refusalRate: 1 });
    const limited = await router.pay(payout());
    assert.equal(limited.kind === 'completed' && limited.intent.partner, 'bank-b');
    assert.equal(limited.tried.length, 2);
    await setFaults(simulators['bank-a'], {});
    const invalid = await router.pay({
      ...payout(),
      beneficiary: { iban: 'DE00370400440532013000', name: 'X' },
    });
    assert.equal(invalid.kind === 'failed' && invalid.reason, 'INVALID_BENEFICIARY');
    assert.equal(invalid.tried.length, 1);
  });
});
