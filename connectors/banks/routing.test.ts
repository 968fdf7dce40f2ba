/**
 * Routing strategies pick what their rule says given fees and measured latencies and success
 * rates (measured against the simulators, over HTTP); a bad routing document is refused naming
 * the field.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
  feeMinor,
  parseRoutingConfig,
  rankPartners,
  RoutingConfigError,
  type RoutingConfig,
} from './index.js';
import {
  BENEFICIARY,
  routerOver,
  setFaults,
  startSimulators,
  stopSimulators,
  type Simulators,
} from './test-support.js';

const THREE = ['bank-a', 'bank-b', 'wallet'] as const;
const routing = (
  strategy: string,
  fees: Record<string, number> = { 'bank-a': 10, 'bank-b': 10, wallet: 10 },
) =>
  parseRoutingConfig({
    partners: Object.fromEntries(Object.entries(fees).map(([p, bps]) => [p, { fees: { '*': { bps } } }])),
    routes: [{ kind: 'payout', currency: '*', strategy, partners: [...THREE] }],
  });
const payout = { kind: 'payout' as const, currency: 'EUR', amountMinor: 100_000n };
const NOTHING_MEASURED = { latencyMsP50: () => null, successRate: () => null };

describe('routing configuration', () => {
  test('cheapest orders by the fee of the amount: bps rounded up plus the fixed part, per currency', () => {
    const config = parseRoutingConfig({
      partners: {
        'bank-a': { fees: { EUR: { bps: 10, fixedMinor: '200' }, '*': { bps: 50 } } },
        'bank-b': { fees: { '*': { bps: 25 } } },
        wallet: { fees: { EUR: { bps: 30 } } },
      },
      routes: [{ kind: 'payout', currency: 'EUR', strategy: 'cheapest', partners: [...THREE] }],
    });
    // 1000.00 EUR: bank-a 100 + 200 = 300, bank-b 250, wallet 300 (a tie keeps the configured order).
    assert.deepEqual(rankPartners(config, payout, NOTHING_MEASURED), ['bank-b', 'bank-a', 'wallet']);
    // 10.00 EUR: bank-a 1 + 200, bank-b 3 (2.5 rounded up), wallet 3.
    assert.deepEqual(rankPartners(config, { ...payout, amountMinor: 1_000n }, NOTHING_MEASURED), [
      'bank-b',
      'wallet',
      'bank-a',
    ]);
    assert.equal(feeMinor({ bps: 25, fixedMinor: '0' }, 1_000n), 3n);
  });

  test('the first route matching kind and currency applies; none matching ranks nobody', () => {
    const config = parseRoutingConfig({
      partners: { 'bank-a': { fees: {} }, 'bank-b': { fees: {} } },
      routes: [
        { kind: 'payout', currency: 'CHF', strategy: 'fastest', partners: ['bank-b'] },
        { kind: 'payout', currency: '*', strategy: 'success-rate', partners: ['bank-a', 'bank-b'] },
      ],
    });
    assert.deepEqual(rankPartners(config, { ...payout, currency: 'CHF' }, NOTHING_MEASURED), ['bank-b']);
    assert.deepEqual(rankPartners(config, payout, NOTHING_MEASURED), ['bank-a', 'bank-b']);
    assert.deepEqual(rankPartners(config, { ...payout, kind: 'topup' }, NOTHING_MEASURED), []);
  });

  test('a bad document is refused with the path of each bad field', () => {
    const problems = (document: unknown) => {
      try {
        parseRoutingConfig(document);
      } catch (error) {
        if (error instanceof RoutingConfigError) return error.problems;
        throw error;
      }
      return assert.fail('expected a RoutingConfigError');
    };
    assert.match(
      problems({
        partners: {},
        routes: [{ kind: 'payout', currency: 'EUR', strategy: 'random', partners: ['bank-a'] }],
      }).join('\n'),
      /^routes\.0\.strategy: /m,
    );
    assert.match(
      problems({ partners: { 'bank-a': { fees: { EUR: { bps: -1 } } } }, routes: [] }).join('\n'),
      /^partners\.bank-a\.fees\.EUR\.bps: /m,
    );
    assert.match(
      problems({
        partners: { 'bank-a': { fees: {} } },
        routes: [{ kind: 'payout', currency: 'EUR', strategy: 'cheapest', partners: ['bank-a'] }],
      }).join('\n'),
      /^partners\.bank-a\.fees: has no fee for EUR/m,
    );
    assert.match(
      problems({
        partners: {},
        routes: [{ kind: 'payout', currency: 'eur', strategy: 'fastest', partners: ['bank-c'] }],
      }).join('\n'),
      /^routes\.0\.currency: .*\n?.*routes\.0\.partners\.0: /m,
    );
  });
});

describe('measured strategies against the simulators', () => {
  let simulators: Simulators;
  before(async () => {
    simulators = await startSimulators();
  });
  after(() => stopSimulators(simulators));
  beforeEach(() => {
    for (const simulator of Object.values(simulators)) simulator.reset();
  });

  const warm = async (config: RoutingConfig, calls: number) => {
    const router = routerOver(simulators, config, { timeoutMs: 2_000 });
    for (const partner of THREE)
      for (let i = 0; i < calls; i += 1)
        await router.execute(partner, {
          reference: `warm-${randomUUID().slice(0, 20)}`,
          amountMinor: 100n,
          currency: 'EUR',
          beneficiary: BENEFICIARY,
        });
    return router;
  };

  test('fastest picks the lowest measured median latency', async () => {
    await setFaults(simulators['bank-a'], { latencyMs: 150 });
    await setFaults(simulators['bank-b'], { latencyMs: 60 });
    await setFaults(simulators.wallet, { latencyMs: 0 });
    const router = await warm(routing('fastest'), 5);
    const snapshot = router.partnersSnapshot();
    const p50 = Object.fromEntries(snapshot.map((p) => [p.partner, p.latencyMsP50 ?? -1]));
    assert.ok(p50['bank-a']! >= 150 && p50['bank-b']! >= 60, JSON.stringify(p50));
    assert.deepEqual(router.candidates(payout), ['wallet', 'bank-b', 'bank-a'], JSON.stringify(p50));
  });

  test('success-rate picks the partner that executed the largest share of its last calls', async () => {
    await setFaults(simulators['bank-a'], { failureRate: 0.6, seed: 3 });
    await setFaults(simulators['bank-b'], { failureRate: 0.2, seed: 4 });
    const router = await warm(routing('success-rate'), 10);
    const rates = Object.fromEntries(router.partnersSnapshot().map((p) => [p.partner, p.successRate]));
    assert.equal(rates.wallet, 1);
    const order = router.ranked(payout);
    assert.equal(order[0], 'wallet');
    assert.deepEqual(
      order,
      [...THREE].sort((a, b) => (rates[b] ?? 0) - (rates[a] ?? 0)),
      JSON.stringify(rates),
    );
    assert.ok((rates['bank-a'] ?? 1) < (rates['bank-b'] ?? 0), JSON.stringify(rates));
  });

  test('the snapshot reports each partner with its breaker, measurements and fee', async () => {
    const router = routerOver(simulators, routing('cheapest', { 'bank-a': 12, 'bank-b': 20, wallet: 35 }));
    const outcome = await router.pay({ paymentId: randomUUID(), ...payout, beneficiary: BENEFICIARY });
    assert.equal(outcome.kind === 'completed' && outcome.intent.partner, 'bank-a');
    const snapshot = router.partnersSnapshot('EUR');
    assert.deepEqual(
      snapshot.map(({ partner, breaker, feeBps, successRate }) => ({
        partner,
        breaker,
        feeBps,
        successRate,
      })),
      [
        { partner: 'bank-a', breaker: 'CLOSED', feeBps: 12, successRate: 1 },
        { partner: 'bank-b', breaker: 'CLOSED', feeBps: 20, successRate: null },
        { partner: 'wallet', breaker: 'CLOSED', feeBps: 35, successRate: null },
      ],
    );
    assert.equal(typeof snapshot[0]!.latencyMsP50, 'number');
  });
});
