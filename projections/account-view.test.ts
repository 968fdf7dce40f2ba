import assert from 'node:assert/strict';
import { test } from 'node:test';

import { account } from '../processors/test-fixtures.js';
import type { LedgerPosting } from '../schemas/types.js';
import {
  accountView,
  applyAccount,
  applyPosting,
  checkPosting,
  EMPTY_LEDGER,
  LedgerPostingError,
  type LedgerState,
} from './account-view.js';

const ABOVE_2_53 = 9_007_199_254_740_993n;

function posting(postingId: string, lines: [string, bigint][], postedAtMs = 1_000): LedgerPosting {
  return {
    postingId,
    paymentId: postingId.split(':')[0]!,
    leg: 'DEBIT',
    currency: 'EUR',
    lines: lines.map(([accountId, amountMinor]) => ({ accountId, amountMinor })),
    postedAtMs,
    recordedAtMs: postedAtMs + 40,
  };
}

const deposit = posting(
  'p1:credit',
  [
    ['funding:EUR', -ABOVE_2_53],
    ['acc-a', ABOVE_2_53],
  ],
  1_000,
);
const debit = posting(
  'p2:debit',
  [
    ['acc-a', -700n],
    ['transit:EUR:3', 700n],
  ],
  2_000,
);
const credit = posting(
  'p2:credit',
  [
    ['transit:EUR:3', -700n],
    ['acc-b', 700n],
  ],
  3_000,
);

const fold = (postings: readonly LedgerPosting[], from: LedgerState = EMPTY_LEDGER): LedgerState =>
  postings.reduce(applyPosting, from);
const balanceOf = (ledger: LedgerState, accountId: string): bigint | undefined =>
  ledger.balances.get(accountId)?.balanceMinor;

test('postings move exact amounts (above 2^53) between accounts, and the balances of a currency sum to zero', () => {
  const ledger = fold([deposit, debit, credit]);
  assert.equal(balanceOf(ledger, 'acc-a'), ABOVE_2_53 - 700n);
  assert.equal(balanceOf(ledger, 'acc-b'), 700n);
  assert.equal(balanceOf(ledger, 'transit:EUR:3'), 0n);
  assert.equal(balanceOf(ledger, 'funding:EUR'), -ABOVE_2_53);
  assert.equal(
    [...ledger.balances.values()].reduce((sum, b) => sum + b.balanceMinor, 0n),
    0n,
  );
});

test('a posting applied again, alone or within a replay, changes nothing', () => {
  const once = fold([deposit, debit]);
  assert.equal(applyPosting(once, debit), once);
  const replayed = fold([deposit, debit, deposit, credit, debit]);
  assert.deepEqual(replayed, fold([deposit, debit, credit]));
});

test('balances do not depend on the order postings arrive in, and remember first and last posting times', () => {
  const forward = fold([deposit, debit, credit]);
  const backward = fold([credit, debit, deposit]);
  assert.deepEqual(backward.balances, forward.balances);
  assert.deepEqual(forward.balances.get('acc-a'), {
    currency: 'EUR',
    balanceMinor: ABOVE_2_53 - 700n,
    firstPostedAtMs: 1_000,
    lastPostedAtMs: 2_000,
  });
});

test('several lines on one account add up', () => {
  const ledger = fold([
    posting('p3:debit', [
      ['acc-a', -5n],
      ['acc-a', -7n],
      ['acc-b', 12n],
    ]),
  ]);
  assert.equal(balanceOf(ledger, 'acc-a'), -12n);
});

test('an empty or unbalanced posting is refused and leaves the ledger as it was', () => {
  assert.throws(() => checkPosting(posting('x:debit', [])), LedgerPostingError);
  const unbalanced = posting('y:debit', [
    ['acc-a', -5n],
    ['acc-b', 6n],
  ]);
  assert.throws(
    () => applyPosting(EMPTY_LEDGER, unbalanced),
    /posting y:debit is unbalanced: its lines sum to 1/,
  );
  assert.equal(EMPTY_LEDGER.balances.size, 0);
});

test('the newer account record wins; an older one arriving late is ignored; on a tie the later record wins', () => {
  const opened = account('acc-a', { updatedAtMs: 10 });
  const frozen = account('acc-a', { status: 'FROZEN', updatedAtMs: 20 });
  assert.equal(applyAccount(applyAccount(opened, frozen), opened), frozen);
  const frozenSameMs = account('acc-a', { status: 'FROZEN', updatedAtMs: 10 });
  assert.equal(applyAccount(opened, frozenSameMs), frozenSameMs);
  assert.equal(applyAccount(frozenSameMs, frozenSameMs), frozenSameMs);
});

test('a customer account answers with its record and balance, 0 before any posting, and not at all before its record', () => {
  const record = account('acc-a', { currency: 'SAR', iban: 'SA0380000000608010167519' });
  assert.deepEqual(accountView(record, undefined, 'acc-a'), { ...record, balanceMinor: 0n });
  const balance = { currency: 'SAR', balanceMinor: 42n, firstPostedAtMs: 5, lastPostedAtMs: 9 };
  assert.equal(accountView(record, balance, 'acc-a')?.balanceMinor, 42n);
  assert.equal(accountView(undefined, balance, 'acc-a'), undefined);
});

test('system accounts answer once they have a balance, owned by system, in the currency of their id', () => {
  const ledger = fold([deposit, debit]);
  assert.deepEqual(accountView(undefined, ledger.balances.get('funding:EUR'), 'funding:EUR'), {
    accountId: 'funding:EUR',
    ownerId: 'system',
    currency: 'EUR',
    kycTier: 'TIER_3',
    iban: null,
    status: 'ACTIVE',
    balanceMinor: -ABOVE_2_53,
    openedAtMs: 1_000,
    updatedAtMs: 1_000,
  });
  assert.equal(
    accountView(undefined, ledger.balances.get('transit:EUR:3'), 'transit:EUR:3')?.currency,
    'EUR',
  );
  assert.equal(accountView(undefined, undefined, 'funding:USD'), undefined);
});
