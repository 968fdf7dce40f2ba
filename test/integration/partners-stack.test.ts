/**
 * The partner simulators as `scripts/stack up` runs them (separate processes, URLs from
 * stack.env): payouts complete through the routed partner and its executed list agrees with
 * them amount by amount; Bank A down opens its breaker and payouts fail over to Bank B.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Registry } from 'prom-client';

import {
  ADAPTERS,
  parseRoutingConfig,
  PartnerRouter,
  type PartnerName,
} from '../../connectors/banks/index.js';

const URLS: Record<PartnerName, string | undefined> = {
  'bank-a': process.env.PAYFLOW_PARTNER_BANK_A_URL,
  'bank-b': process.env.PAYFLOW_PARTNER_BANK_B_URL,
  wallet: process.env.PAYFLOW_PARTNER_WALLET_URL,
};
const missing = Object.entries(URLS).filter(([, url]) => !url);
const skip =
  missing.length === 0
    ? false
    : `the partner simulators are not configured (missing ${missing.map(([p]) => p).join(', ')}); run scripts/stack up`;
if (skip !== false && process.env.PAYFLOW_REQUIRE_STACK === '1') throw new Error(skip);

const control = (partner: PartnerName, path: string, init?: RequestInit) =>
  fetch(`${URLS[partner]}/__control/${path}`, init);

describe('partner simulators on the stack', { skip }, () => {
  before(async () => {
    for (const partner of Object.keys(URLS) as PartnerName[]) {
      assert.equal((await control(partner, 'reset', { method: 'POST' })).status, 204);
    }
  });
  after(async () => {
    if (skip === false)
      for (const partner of Object.keys(URLS) as PartnerName[])
        await control(partner, 'reset', { method: 'POST' });
  });

  const router = () =>
    new PartnerRouter({
      registry: new Registry(),
      adapters: (Object.keys(URLS) as PartnerName[]).map((p) =>
        ADAPTERS[p]({ baseUrl: URLS[p]!, timeoutMs: 2_000 }),
      ),
      routing: parseRoutingConfig({
        partners: {
          'bank-a': { fees: { '*': { bps: 10 } } },
          'bank-b': { fees: { '*': { bps: 20 } } },
          wallet: { fees: { '*': { bps: 30 } } },
        },
        routes: [
          { kind: 'payout', currency: '*', strategy: 'cheapest', partners: ['bank-a', 'bank-b', 'wallet'] },
        ],
      }),
      breaker: { failures: 5, windowMs: 30_000, halfOpenAfterMs: 1_000 },
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50, statusMaxQueries: 4, clockSkewMs: 50 },
    });
  const payout = (amountMinor: bigint) => ({
    paymentId: randomUUID(),
    kind: 'payout' as const,
    amountMinor,
    currency: 'EUR',
    beneficiary: { iban: 'DE89370400440532013000', name: 'Ada Lovelace' },
  });
  const executed = async (partner: PartnerName) =>
    (
      (await (await control(partner, 'executed')).json()) as {
        executed: { reference: string; amountMinor: string }[];
      }
    ).executed;

  test('payouts complete at the cheapest partner, which executed each exactly once with its amount', async () => {
    const gateway = router();
    const outcomes = [];
    for (let i = 1; i <= 20; i += 1) outcomes.push(await gateway.pay(payout(BigInt(i * 101))));
    assert.ok(outcomes.every((o) => o.kind === 'completed' && o.intent.partner === 'bank-a'));
    const listed = await executed('bank-a');
    assert.deepEqual(
      listed.map((e) => [e.reference, e.amountMinor]),
      outcomes.map((o, i) => [o.kind === 'completed' ? o.intent.reference : '', String((i + 1) * 101)]),
    );
  });

  test('Bank A down: its breaker opens after 5 failures and the payouts complete at Bank B', async () => {
    const gateway = router();
    assert.equal((await control('bank-a', 'faults', { method: 'PUT', body: '{"down":true}' })).status, 200);
    const before = (await executed('bank-b')).length;
    const outcomes = [];
    for (let i = 0; i < 6; i += 1) outcomes.push(await gateway.pay(payout(500n)));
    assert.ok(outcomes.every((o) => o.kind === 'completed' && o.intent.partner === 'bank-b'));
    assert.equal((await executed('bank-b')).length - before, 6);
    assert.equal(gateway.partnersSnapshot().find((p) => p.partner === 'bank-a')?.breaker, 'OPEN');
    await control('bank-a', 'faults', { method: 'PUT', body: '{}' });
  });
});
