import assert from 'node:assert/strict';
import { test } from 'node:test';

import { account } from '../processors/test-fixtures.js';
import type { LedgerPosting } from '../schemas/types.js';
import { AccountsProjectionCapacityError, MemoryAccountsProjection } from './memory-accounts.js';

function deposit(paymentId: string, accountId: string, amountMinor: bigint): LedgerPosting {
  return {
    postingId: `${paymentId}:credit`,
    paymentId,
    leg: 'CREDIT',
    currency: 'EUR',
    lines: [
      { accountId: 'funding:EUR', amountMinor: -amountMinor },
      { accountId, amountMinor },
    ],
    postedAtMs: 50,
    recordedAtMs: 90,
  };
}

test('the in-memory projection answers accounts with their exact balances, system accounts included, once per posting', async () => {
  const projection = new MemoryAccountsProjection({ maxAccounts: 10, maxPostings: 10 });
  projection.applyAccounts([
    account('acc-a', { updatedAtMs: 1 }),
    account('acc-a', { status: 'FROZEN', updatedAtMs: 2 }),
    account('acc-a', { updatedAtMs: 1 }),
  ]);
  projection.applyPostings([
    deposit('p1', 'acc-a', 2n ** 60n),
    deposit('p1', 'acc-a', 2n ** 60n),
    deposit('p2', 'acc-a', 1n),
  ]);
  const view = await projection.getAccount('acc-a');
  assert.equal(view?.status, 'FROZEN');
  assert.equal(view?.balanceMinor, 2n ** 60n + 1n);
  assert.equal((await projection.getAccount('funding:EUR'))?.balanceMinor, -(2n ** 60n + 1n));
  assert.equal(await projection.totalOfAllBalances('EUR'), 0n);
  assert.equal(await projection.getAccount('acc-unknown'), undefined);
});

test('the in-memory projection refuses accounts and postings beyond its bounds, moving no balance', async () => {
  const projection = new MemoryAccountsProjection({ maxAccounts: 2, maxPostings: 2 });
  projection.applyAccount(account('acc-a'));
  projection.applyAccount(account('acc-b'));
  assert.throws(() => projection.applyAccount(account('acc-c')), AccountsProjectionCapacityError);
  projection.applyPosting(deposit('p1', 'acc-a', 5n));
  assert.throws(() => projection.applyPosting(deposit('p2', 'acc-b', 5n)), /limit of 2 accounts/);
  assert.equal((await projection.getAccount('acc-b'))?.balanceMinor, 0n);
  projection.applyPosting(deposit('p3', 'acc-a', 5n));
  assert.throws(() => projection.applyPosting(deposit('p4', 'acc-a', 5n)), /limit of 2 postings/);
  assert.equal((await projection.getAccount('acc-a'))?.balanceMinor, 10n);
});

test("an owner's highest KYC tier is the highest of its accounts that are not CLOSED; an owner without accounts has none", async () => {
  const projection = new MemoryAccountsProjection({ maxAccounts: 10, maxPostings: 10 });
  projection.applyAccounts([
    account('acc-1', { ownerId: 'o', kycTier: 'TIER_1' }),
    account('acc-2', { ownerId: 'o', kycTier: 'TIER_2' }),
    account('acc-3', { ownerId: 'other', kycTier: 'TIER_3' }),
  ]);
  assert.equal(await projection.highestTierOfOwner('o'), 'TIER_2');
  projection.applyAccount(
    account('acc-2', { ownerId: 'o', kycTier: 'TIER_2', status: 'CLOSED', updatedAtMs: 1 }),
  );
  assert.equal(await projection.highestTierOfOwner('o'), 'TIER_1');
  assert.equal(await projection.highestTierOfOwner('nobody'), undefined);
});
