import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Account, AccountCommand, AccountStatus } from '../../schemas/types.js';
import { decideAccountCommand, outcomeOf } from './logic.js';

const open: AccountCommand = {
  type: 'OPEN',
  commandId: 'c-open',
  accountId: 'acc-a',
  ownerId: 'owner-1',
  currency: 'EUR',
  kycTier: 'TIER_2',
  iban: null,
  ibanMasked: 'DE****3000',
  ibanSealed: 'pii:v1:k1:AAAAAAAAAAAAAAAA:c2VhbGVkLWliYW4',
  issuedAtMs: 1_000,
};

const changeTo = (status: AccountStatus, accountId = 'acc-a'): AccountCommand => ({
  type: 'CHANGE_STATUS',
  commandId: `c-${status}`,
  accountId,
  status,
  issuedAtMs: 2_000,
});

function opened(): Account {
  const decision = decideAccountCommand(undefined, open);
  assert.equal(decision.outcome, 'opened');
  return decision.account;
}

const withStatus = (status: AccountStatus): Account => ({ ...opened(), status });

test('opening a new account id creates an ACTIVE account with the facts of the command', () => {
  assert.deepEqual(opened(), {
    accountId: 'acc-a',
    ownerId: 'owner-1',
    currency: 'EUR',
    kycTier: 'TIER_2',
    iban: null,
    ibanMasked: 'DE****3000',
    ibanSealed: 'pii:v1:k1:AAAAAAAAAAAAAAAA:c2VhbGVkLWliYW4',
    status: 'ACTIVE',
    openedAtMs: 1_000,
    updatedAtMs: 1_000,
  });
});

test('a second OPEN of an existing account id with the same owner and currency is a no-op that leaves the account untouched', () => {
  const existing = withStatus('FROZEN');
  const decision = decideAccountCommand(existing, { ...open, commandId: 'c-again', kycTier: 'TIER_3' });
  assert.deepEqual(decision, { outcome: 'no-op', code: 'ALREADY_OPEN', account: existing });
});

test('an OPEN of an existing account id with another owner or currency is refused ACCOUNT_EXISTS', () => {
  const existing = opened();
  for (const change of [{ ownerId: 'someone-else' }, { currency: 'USD' }]) {
    const decision = decideAccountCommand(existing, { ...open, commandId: 'c-taken', ...change });
    assert.equal(decision.outcome, 'refused');
    assert.equal(decision.code, 'ACCOUNT_EXISTS');
  }
});

test('an OPEN of a closed account id does not reopen it', () => {
  const closed = withStatus('CLOSED');
  assert.deepEqual(decideAccountCommand(closed, open), {
    outcome: 'no-op',
    code: 'ALREADY_OPEN',
    account: closed,
  });
});

test('an account can be frozen and reactivated, each change stamped with the command time', () => {
  const frozen = decideAccountCommand(opened(), changeTo('FROZEN'));
  assert.equal(frozen.outcome, 'status-changed');
  assert.equal(frozen.account.status, 'FROZEN');
  assert.equal(frozen.account.updatedAtMs, 2_000);
  assert.equal(frozen.account.openedAtMs, 1_000);
  assert.equal(frozen.previousStatus, 'ACTIVE');
  const active = decideAccountCommand(frozen.account, changeTo('ACTIVE'));
  assert.equal(active.outcome, 'status-changed');
  assert.equal(active.account.status, 'ACTIVE');
});

test('an ACTIVE or FROZEN account can be closed', () => {
  for (const status of ['ACTIVE', 'FROZEN'] as const) {
    const decision = decideAccountCommand(withStatus(status), changeTo('CLOSED'));
    assert.equal(decision.outcome, 'status-changed');
    assert.equal(decision.account.status, 'CLOSED');
  }
});

test('closing is final: reopening or freezing a CLOSED account is refused with ACCOUNT_CLOSED', () => {
  for (const status of ['ACTIVE', 'FROZEN'] as const) {
    const decision = decideAccountCommand(withStatus('CLOSED'), changeTo(status));
    assert.equal(decision.outcome, 'refused');
    assert.equal(decision.code, 'ACCOUNT_CLOSED');
    assert.match(decision.detail, /acc-a is CLOSED/);
  }
});

test('a status change for an unknown account is refused with ACCOUNT_NOT_FOUND', () => {
  const decision = decideAccountCommand(undefined, changeTo('FROZEN', 'acc-x'));
  assert.deepEqual(decision, {
    outcome: 'refused',
    code: 'ACCOUNT_NOT_FOUND',
    detail: 'account acc-x does not exist',
  });
});

test('setting the status an account already has is a no-op', () => {
  for (const status of ['ACTIVE', 'FROZEN', 'CLOSED'] as const) {
    const current = withStatus(status);
    assert.deepEqual(decideAccountCommand(current, changeTo(status)), {
      outcome: 'no-op',
      code: 'STATUS_UNCHANGED',
      account: current,
    });
  }
});

test('every decision has an outcome record: APPLIED with the new status, UNCHANGED with its code, REFUSED with code and detail and no status', () => {
  assert.deepEqual(outcomeOf(open, decideAccountCommand(undefined, open)), {
    commandId: 'c-open',
    accountId: 'acc-a',
    commandType: 'OPEN',
    outcome: 'APPLIED',
    code: null,
    detail: null,
    status: 'ACTIVE',
    decidedAtMs: 1_000,
  });
  const freeze = changeTo('FROZEN');
  assert.deepEqual(outcomeOf(freeze, decideAccountCommand(withStatus('FROZEN'), freeze)), {
    commandId: 'c-FROZEN',
    accountId: 'acc-a',
    commandType: 'CHANGE_STATUS',
    outcome: 'UNCHANGED',
    code: 'STATUS_UNCHANGED',
    detail: null,
    status: 'FROZEN',
    decidedAtMs: 2_000,
  });
  const taken = { ...open, commandId: 'c-taken', ownerId: 'someone-else' };
  const refused = outcomeOf(taken, decideAccountCommand(opened(), taken));
  assert.equal(refused.outcome, 'REFUSED');
  assert.equal(refused.code, 'ACCOUNT_EXISTS');
  assert.equal(refused.status, null);
  assert.match(refused.detail ?? '', /already open with another owner or currency/);
});

test('a command of before sealing, with its IBAN in clear, opens an account that keeps the IBAN masked only', () => {
  const legacy: AccountCommand = {
    ...open,
    iban: 'DE89370400440532013000',
    ibanMasked: null,
    ibanSealed: null,
  };
  const decision = decideAccountCommand(undefined, legacy);
  assert.equal(decision.outcome, 'opened');
  const account = decision.outcome === 'opened' ? decision.account : undefined;
  assert.equal(account?.iban, null);
  assert.equal(account?.ibanMasked, 'DE****3000');
  assert.ok(!JSON.stringify(account).includes('DE89370400440532013000'));
});
