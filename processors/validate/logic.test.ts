import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IBAN_TEST_TABLE } from '../../schemas/iban-test-table.js';
import type { Account, PaymentCommand, RejectionCode } from '../../schemas/types.js';
import { account, paymentCommand } from '../test-fixtures.js';
import { LONG_MAX, maxAmountMinor } from './currencies.js';
import { amountViolation, validatePayment, type ValidationDecision } from './logic.js';

const accounts = new Map<string, Account>([
  ['acc-a', account('acc-a', { iban: 'DE89370400440532013000' })],
  ['acc-b', account('acc-b', { iban: 'SA0380000000608010167519' })],
  ['acc-frozen', account('acc-frozen', { status: 'FROZEN' })],
  ['acc-closed', account('acc-closed', { status: 'CLOSED' })],
  ['acc-usd', account('acc-usd', { currency: 'USD' })],
  ['acc-bad-iban', account('acc-bad-iban', { iban: 'DE89370400440532013001' })],
  ['acc-short-iban', account('acc-short-iban', { iban: withCheckDigits('DE', '3704004405320130') })],
]);

/** ISO 13616 check digits for any country and BBAN, so a test can build an IBAN that passes mod-97 alone. */
function withCheckDigits(country: string, bban: string): string {
  const numeric = [...`${bban}${country}00`]
    .map((c) => (c >= 'A' ? String(c.charCodeAt(0) - 55) : c))
    .join('');
  const check = 98n - (BigInt(numeric) % 97n);
  return `${country}${check.toString().padStart(2, '0')}${bban}`;
}

function validate(
  overrides: Partial<PaymentCommand>,
  table: ReadonlyMap<string, Account> = accounts,
): ValidationDecision {
  return validatePayment({
    inFlight: { command: paymentCommand(overrides), nextSequence: 1, velocity: null, risk: null },
    accounts: (id) => table.get(id),
    nowMs: 5_000,
    recordedAtMs: 5_040,
    correlationId: 'corr-1',
  });
}

function assertRejected(overrides: Partial<PaymentCommand>, code: RejectionCode, detail: RegExp): void {
  const decision = validate(overrides);
  assert.equal(decision.outcome, 'rejected', `expected ${code}`);
  assert.equal(decision.violation.code, code);
  assert.match(decision.violation.detail, detail);
  assert.deepEqual(decision.event, {
    eventId: 'pay-1:1',
    paymentId: 'pay-1',
    type: 'PaymentRejected',
    sequence: 1,
    occurredAtMs: 5_000,
    recordedAtMs: 5_040,
    correlationId: 'corr-1',
    initiated: null,
    rejection: { code, detail: decision.violation.detail },
    risk: null,
    review: null,
  });
}

test('a valid transfer is validated at its next sequence and passed on with the sequence after it', () => {
  const decision = validate({});
  assert.equal(decision.outcome, 'validated');
  assert.deepEqual(decision.event, {
    eventId: 'pay-1:1',
    paymentId: 'pay-1',
    type: 'PaymentValidated',
    sequence: 1,
    occurredAtMs: 5_000,
    recordedAtMs: 5_040,
    correlationId: 'corr-1',
    initiated: null,
    rejection: null,
    risk: null,
    review: null,
  });
  assert.deepEqual(decision.validated, {
    command: paymentCommand(),
    nextSequence: 2,
    velocity: null,
    risk: null,
  });
});

test('a zero or negative amount is rejected with AMOUNT_NOT_POSITIVE', () => {
  assertRejected({ amountMinor: 0n }, 'AMOUNT_NOT_POSITIVE', /amountMinor must be greater than zero, got 0/);
  assertRejected({ amountMinor: -5n }, 'AMOUNT_NOT_POSITIVE', /got -5/);
});

test('an amount that is not a whole number of minor units is rejected with AMOUNT_NOT_INTEGRAL', () => {
  assertRejected(
    { amountMinor: 12.5 as unknown as bigint },
    'AMOUNT_NOT_INTEGRAL',
    /amountMinor must be an integer number of minor units, got 12.5/,
  );
});

test('an amount beyond a signed 64-bit long is rejected with AMOUNT_NOT_INTEGRAL', () => {
  assertRejected(
    { amountMinor: LONG_MAX + 1n },
    'AMOUNT_NOT_INTEGRAL',
    /does not fit a signed 64-bit integer/,
  );
});

test("an amount that overflows a long at the finest minor unit is rejected with AMOUNT_LIMIT_EXCEEDED, naming the currency's largest amount", () => {
  // 1 JPY is 1000 thousandths: the largest JPY amount is a thousandth of the largest long.
  assert.equal(maxAmountMinor('JPY'), LONG_MAX / 1000n);
  assert.equal(maxAmountMinor('KWD'), LONG_MAX);
  assertRejected(
    { currency: 'JPY', amountMinor: LONG_MAX / 1000n + 1n },
    'AMOUNT_LIMIT_EXCEEDED',
    /largest JPY amount, 9223372036854775 JPY/,
  );
  assertRejected(
    { amountMinor: LONG_MAX / 10n + 1n },
    'AMOUNT_LIMIT_EXCEEDED',
    /largest EUR amount, 9223372036854775\.80 EUR/,
  );
});

test("the largest amount is accepted: a long's maximum fits, and a currency's largest amount is validated", () => {
  assert.equal(amountViolation(LONG_MAX), undefined);
  assert.equal(amountViolation(1n), undefined);
  assert.equal(validate({ amountMinor: maxAmountMinor('EUR') }).outcome, 'validated');
});

test('a currency outside the supported list is rejected with UNSUPPORTED_CURRENCY', () => {
  assertRejected(
    { currency: 'XYZ' },
    'UNSUPPORTED_CURRENCY',
    /currency XYZ is not supported \(supported: EUR USD/,
  );
  assertRejected({ currency: 'eur' }, 'UNSUPPORTED_CURRENCY', /currency eur/);
});

test('a payment to its own sender is rejected with SAME_ACCOUNT', () => {
  assertRejected(
    { recipientAccountId: 'acc-a' },
    'SAME_ACCOUNT',
    /senderAccountId and recipientAccountId are both acc-a/,
  );
});

test('a transfer from an unknown account is rejected with SENDER_NOT_FOUND', () => {
  assertRejected({ senderAccountId: 'acc-x' }, 'SENDER_NOT_FOUND', /senderAccountId acc-x does not exist/);
});

test('a transfer to an unknown account is rejected with RECIPIENT_NOT_FOUND', () => {
  assertRejected(
    { recipientAccountId: 'acc-x' },
    'RECIPIENT_NOT_FOUND',
    /recipientAccountId acc-x does not exist/,
  );
});

test('a transfer from a frozen or closed account is rejected with SENDER_NOT_ACTIVE', () => {
  assertRejected(
    { senderAccountId: 'acc-frozen' },
    'SENDER_NOT_ACTIVE',
    /senderAccountId acc-frozen is FROZEN, not ACTIVE/,
  );
  assertRejected({ senderAccountId: 'acc-closed' }, 'SENDER_NOT_ACTIVE', /acc-closed is CLOSED/);
});

test('a transfer to a frozen or closed account is rejected with RECIPIENT_NOT_ACTIVE', () => {
  assertRejected(
    { recipientAccountId: 'acc-frozen' },
    'RECIPIENT_NOT_ACTIVE',
    /recipientAccountId acc-frozen is FROZEN/,
  );
  assertRejected(
    { recipientAccountId: 'acc-closed' },
    'RECIPIENT_NOT_ACTIVE',
    /recipientAccountId acc-closed is CLOSED/,
  );
});

test("a transfer whose currency differs from either account's is rejected with CURRENCY_MISMATCH", () => {
  assertRejected(
    { recipientAccountId: 'acc-usd' },
    'CURRENCY_MISMATCH',
    /recipientAccountId acc-usd holds USD, the payment is in EUR/,
  );
  assertRejected(
    { senderAccountId: 'acc-usd', currency: 'USD' },
    'CURRENCY_MISMATCH',
    /recipientAccountId acc-b holds EUR, the payment is in USD/,
  );
});

test('an account IBAN with wrong mod-97 check digits is rejected with INVALID_IBAN', () => {
  assertRejected(
    { senderAccountId: 'acc-bad-iban' },
    'INVALID_IBAN',
    /the IBAN of senderAccountId acc-bad-iban fails the ISO 13616 mod-97 check/,
  );
});

test("an account IBAN that passes mod-97 but not its country's registered length is rejected with INVALID_IBAN", () => {
  const short = withCheckDigits('DE', '3704004405320130');
  assert.equal(short.length, 20); // German IBANs are 22 characters
  assertRejected(
    { recipientAccountId: 'acc-short-iban' },
    'INVALID_IBAN',
    /recipientAccountId acc-short-iban does not have its country's registered length/,
  );
});

for (const { what, iban, problem } of IBAN_TEST_TABLE) {
  const outcome = problem === undefined ? 'validated' : 'rejected with INVALID_IBAN';
  test(`a payment to an account whose IBAN is ${what} is ${outcome}, never repeating the IBAN`, () => {
    const table = new Map([...accounts, ['acc-table', account('acc-table', { iban })]]);
    const decision = validate({ recipientAccountId: 'acc-table' }, table);
    if (problem === undefined) {
      assert.equal(decision.outcome, 'validated');
      return;
    }
    assert.equal(decision.outcome, 'rejected');
    assert.equal(decision.violation.code, 'INVALID_IBAN');
    assert.match(decision.violation.detail, problem);
    assert.ok(!decision.violation.detail.includes(iban), decision.violation.detail);
  });
}

test('a deposit from the funding account of its currency checks only the recipient', () => {
  const decision = validate({ kind: 'DEPOSIT', senderAccountId: 'funding:EUR', recipientAccountId: 'acc-b' });
  assert.equal(decision.outcome, 'validated');
  assert.equal(decision.validated.nextSequence, 2);
});

test("a deposit from another currency's funding account is rejected with CURRENCY_MISMATCH", () => {
  assertRejected(
    { kind: 'DEPOSIT', senderAccountId: 'funding:USD' },
    'CURRENCY_MISMATCH',
    /funding:USD is not the EUR funding account funding:EUR/,
  );
});

test('a deposit whose sender is not a funding account is rejected with SENDER_NOT_FOUND', () => {
  assertRejected(
    { kind: 'DEPOSIT', senderAccountId: 'acc-a' },
    'SENDER_NOT_FOUND',
    /a deposit's senderAccountId must be funding:EUR, got acc-a/,
  );
});

test("a deposit to a missing, inactive or other-currency account is rejected with the recipient's reason", () => {
  const deposit = { kind: 'DEPOSIT', senderAccountId: 'funding:EUR' } as const;
  assertRejected({ ...deposit, recipientAccountId: 'acc-x' }, 'RECIPIENT_NOT_FOUND', /acc-x does not exist/);
  assertRejected(
    { ...deposit, recipientAccountId: 'acc-frozen' },
    'RECIPIENT_NOT_ACTIVE',
    /acc-frozen is FROZEN/,
  );
  assertRejected({ ...deposit, recipientAccountId: 'acc-usd' }, 'CURRENCY_MISMATCH', /acc-usd holds USD/);
  assertRejected({ ...deposit, recipientAccountId: 'acc-bad-iban' }, 'INVALID_IBAN', /acc-bad-iban/);
});

test('a transfer touching a system account is rejected: system accounts are not in the accounts table', () => {
  assertRejected({ senderAccountId: 'funding:EUR' }, 'SENDER_NOT_FOUND', /funding:EUR does not exist/);
  assertRejected(
    { recipientAccountId: 'transit:EUR:0' },
    'RECIPIENT_NOT_FOUND',
    /transit:EUR:0 does not exist/,
  );
});

test('the amount is checked before the currency, and the currency before the accounts', () => {
  assertRejected(
    { amountMinor: 0n, currency: 'XYZ', senderAccountId: 'acc-x' },
    'AMOUNT_NOT_POSITIVE',
    /amountMinor/,
  );
  assertRejected({ currency: 'XYZ', senderAccountId: 'acc-x' }, 'UNSUPPORTED_CURRENCY', /XYZ/);
});

test("a transfer whose authority does not act for the sender account's owner is rejected with NOT_AUTHORIZED, naming neither owner nor balance", () => {
  const detail = /^principal merchant-1 may not debit senderAccountId acc-a$/;
  assertRejected({ authority: { kind: 'OWNER', owners: ['someone-else'] } }, 'NOT_AUTHORIZED', detail);
  assertRejected({ authority: { kind: 'SERVICE', owners: [] } }, 'NOT_AUTHORIZED', detail);
  assertRejected({ authority: null }, 'NOT_AUTHORIZED', detail);
});

test("a transfer whose authority acts for the sender's owner, or for any owner, passes the authority rule", () => {
  assert.equal(validate({ authority: { kind: 'OWNER', owners: ['owner-of-acc-a'] } }).outcome, 'validated');
  assert.equal(
    validate({ authority: { kind: 'SERVICE', owners: ['x', 'owner-of-acc-a'] } }).outcome,
    'validated',
  );
  assert.equal(validate({ authority: { kind: 'SERVICE', owners: ['*'] } }).outcome, 'validated');
});

test('an unknown sender is NOT_AUTHORIZED for a restricted authority (existence stays private) and SENDER_NOT_FOUND for one acting for any owner', () => {
  assertRejected(
    { senderAccountId: 'acc-nobody', authority: { kind: 'OWNER', owners: ['merchant-1'] } },
    'NOT_AUTHORIZED',
    /may not debit senderAccountId acc-nobody/,
  );
  assertRejected({ senderAccountId: 'acc-nobody' }, 'SENDER_NOT_FOUND', /does not exist/);
});

test('a deposit needs ADMIN authority: any other is rejected with NOT_AUTHORIZED', () => {
  const deposit = { kind: 'DEPOSIT', senderAccountId: 'funding:EUR', recipientAccountId: 'acc-b' } as const;
  assert.equal(validate({ ...deposit, authority: { kind: 'ADMIN', owners: [] } }).outcome, 'validated');
  assertRejected(
    { ...deposit, authority: { kind: 'SERVICE', owners: ['*'] } },
    'NOT_AUTHORIZED',
    /may not debit/,
  );
  assertRejected(
    { ...deposit, authority: { kind: 'OWNER', owners: ['owner-of-acc-b'] } },
    'NOT_AUTHORIZED',
    /may not debit/,
  );
});
