/**
 * Payment validation as a pure function of the payment and the accounts table. The first rule a
 * payment breaks rejects it, with that rule's reason code and a sentence naming the field.
 */
import type {
  Account,
  PaymentCommand,
  PaymentEvent,
  PaymentInFlight,
  RejectionCode,
} from '../../schemas/types.js';
import { actsFor, actsForAnyOwner } from '../../schemas/authority.js';
import { ibanProblem } from '../../schemas/iban.js';
import { assertSequenceMovesOn, paymentEvent, rejectedEvent } from '../payment-events.js';
import { fundingAccountOf, isFundingAccount } from '../../schemas/system-accounts.js';
import {
  isSupportedCurrency,
  LONG_MAX,
  maxAmountMinor,
  SUPPORTED_CURRENCIES,
  formatAmount,
} from './currencies.js';

/** Reads the accounts table (the global table in the processor, a Map in tests). */
export type AccountLookup = (accountId: string) => Account | undefined;

export interface Violation {
  readonly code: RejectionCode;
  readonly detail: string;
}

export type ValidationDecision =
  /** PaymentValidated, and the payment goes on to the ledger keyed by its sender. */
  | { readonly outcome: 'validated'; readonly event: PaymentEvent; readonly validated: PaymentInFlight }
  | { readonly outcome: 'rejected'; readonly violation: Violation; readonly event: PaymentEvent };

export interface ValidationInput {
  readonly inFlight: PaymentInFlight;
  readonly accounts: AccountLookup;
  /** The record's time: the event's occurredAtMs. */
  readonly nowMs: number;
  /** The processing clock: the event's recordedAtMs. */
  readonly recordedAtMs: number;
  readonly correlationId: string | null;
}

export function validatePayment(input: ValidationInput): ValidationDecision {
  const { inFlight } = input;
  const { command, nextSequence } = inFlight;
  assertSequenceMovesOn(command.paymentId, nextSequence, 'validate');
  const stamp = {
    paymentId: command.paymentId,
    sequence: nextSequence,
    occurredAtMs: input.nowMs,
    recordedAtMs: input.recordedAtMs,
    correlationId: input.correlationId,
  };
  const violation = findViolation(command, input.accounts);
  if (violation !== undefined) {
    return { outcome: 'rejected', violation, event: rejectedEvent(stamp, violation.code, violation.detail) };
  }
  const event = paymentEvent('PaymentValidated', stamp);
  return { outcome: 'validated', event, validated: { ...inFlight, nextSequence: nextSequence + 1 } };
}

/** The first rule the command breaks, in the order: amount, currency, authority, accounts. */
export function findViolation(command: PaymentCommand, accounts: AccountLookup): Violation | undefined {
  return (
    amountViolation(command.amountMinor) ??
    currencyViolation(command) ??
    sameAccountViolation(command) ??
    authorityViolation(command, accounts) ??
    (command.kind === 'DEPOSIT' ? fundingSenderViolation(command) : undefined) ??
    partiesViolation(partiesOf(command), command.currency, accounts)
  );
}

/**
 * Greater than zero, and an integer number of minor units that fits an Avro long. The value is
 * typed bigint; a decoder that produced anything else (a fractional number) is caught here.
 */
export function amountViolation(amount: unknown): Violation | undefined {
  if (typeof amount === 'number' && amount <= 0) return notPositive(String(amount));
  if (typeof amount !== 'bigint') {
    return {
      code: 'AMOUNT_NOT_INTEGRAL',
      detail: `amountMinor must be an integer number of minor units, got ${String(amount)}`,
    };
  }
  if (amount <= 0n) return notPositive(amount.toString());
  if (amount > LONG_MAX) {
    return {
      code: 'AMOUNT_NOT_INTEGRAL',
      detail: `amountMinor ${amount} does not fit a signed 64-bit integer`,
    };
  }
  return undefined;
}

const notPositive = (amount: string): Violation => ({
  code: 'AMOUNT_NOT_POSITIVE',
  detail: `amountMinor must be greater than zero, got ${amount}`,
});

/** A supported currency, and an amount that stays within a long at the finest minor unit. */
function currencyViolation(command: PaymentCommand): Violation | undefined {
  const { currency, amountMinor } = command;
  if (!isSupportedCurrency(currency)) {
    return {
      code: 'UNSUPPORTED_CURRENCY',
      detail: `currency ${currency} is not supported (supported: ${SUPPORTED_CURRENCIES.join(' ')})`,
    };
  }
  const max = maxAmountMinor(currency);
  if (amountMinor > max) {
    const detail = `amountMinor ${amountMinor} exceeds the largest ${currency} amount, ${formatAmount(max, currency)}`;
    return { code: 'AMOUNT_LIMIT_EXCEEDED', detail };
  }
  return undefined;
}

function sameAccountViolation(command: PaymentCommand): Violation | undefined {
  if (command.senderAccountId !== command.recipientAccountId) return undefined;
  return {
    code: 'SAME_ACCOUNT',
    detail: `senderAccountId and recipientAccountId are both ${command.senderAccountId}`,
  };
}

/**
 * The command's authority may debit its sender: a deposit needs ADMIN; a transfer needs an
 * authority that acts for the owner of the sender account in the accounts table (the gateway's
 * check, made again here against the table, so neither a gateway bug nor a command written on
 * the topic by someone else can debit a foreign account). A sender the table doesn't know is
 * refused the same way unless the authority acts for any owner (then SENDER_NOT_FOUND follows),
 * so the detail never tells a principal whether a foreign account exists.
 */
function authorityViolation(command: PaymentCommand, accounts: AccountLookup): Violation | undefined {
  const { authority } = command;
  const refused: Violation = {
    code: 'NOT_AUTHORIZED',
    detail: `principal ${command.principal} may not debit senderAccountId ${command.senderAccountId}`,
  };
  if (authority === null) return refused;
  if (command.kind === 'DEPOSIT') return authority.kind === 'ADMIN' ? undefined : refused;
  if (actsForAnyOwner(authority)) return undefined;
  const sender = accounts(command.senderAccountId);
  return sender !== undefined && actsFor(authority, sender.ownerId) ? undefined : refused;
}

/** A deposit comes from the funding account of the payment's currency. */
function fundingSenderViolation(command: PaymentCommand): Violation | undefined {
  const expected = fundingAccountOf(command.currency);
  if (command.senderAccountId === expected) return undefined;
  if (isFundingAccount(command.senderAccountId)) {
    const detail = `senderAccountId ${command.senderAccountId} is not the ${command.currency} funding account ${expected}`;
    return { code: 'CURRENCY_MISMATCH', detail };
  }
  return {
    code: 'SENDER_NOT_FOUND',
    detail: `a deposit's senderAccountId must be ${expected}, got ${command.senderAccountId}`,
  };
}

/** A customer account the payment touches, and the codes that name its side. */
interface Party {
  readonly field: 'senderAccountId' | 'recipientAccountId';
  readonly accountId: string;
  readonly notFound: RejectionCode;
  readonly notActive: RejectionCode;
}

/** A transfer checks both sides; a deposit only its recipient (the sender is the funding account). */
function partiesOf(command: PaymentCommand): readonly Party[] {
  const recipient: Party = {
    field: 'recipientAccountId',
    accountId: command.recipientAccountId,
    notFound: 'RECIPIENT_NOT_FOUND',
    notActive: 'RECIPIENT_NOT_ACTIVE',
  };
  if (command.kind === 'DEPOSIT') return [recipient];
  const sender: Party = {
    field: 'senderAccountId',
    accountId: command.senderAccountId,
    notFound: 'SENDER_NOT_FOUND',
    notActive: 'SENDER_NOT_ACTIVE',
  };
  return [sender, recipient];
}

type PartyCheck = (party: Party, account: Account, currency: string) => Violation | undefined;

const notActive: PartyCheck = (party, account) =>
  account.status === 'ACTIVE'
    ? undefined
    : { code: party.notActive, detail: `${party.field} ${party.accountId} is ${account.status}, not ACTIVE` };

const currencyMismatch: PartyCheck = (party, account, currency) =>
  account.currency === currency
    ? undefined
    : {
        code: 'CURRENCY_MISMATCH',
        detail: `${party.field} ${party.accountId} holds ${account.currency}, the payment is in ${currency}`,
      };

/**
 * Only a plain IBAN (an account record of before sealing, or one written past the gateway) is
 * checked here: a sealed IBAN was checked by the gateway with this same rule before it was
 * sealed, and the validator holds no key to open it (processors never see IBANs in clear).
 */
const invalidIban: PartyCheck = (party, account) => {
  if (account.iban === null) return undefined;
  const problem = ibanProblem(account.iban);
  return problem === undefined
    ? undefined
    : { code: 'INVALID_IBAN', detail: `the IBAN of ${party.field} ${party.accountId} ${problem}` };
};

/** Every side must exist first; then each check in turn for every side. */
function partiesViolation(
  parties: readonly Party[],
  currency: string,
  accounts: AccountLookup,
): Violation | undefined {
  const found: [Party, Account][] = [];
  for (const party of parties) {
    const account = accounts(party.accountId);
    if (account === undefined)
      return { code: party.notFound, detail: `${party.field} ${party.accountId} does not exist` };
    found.push([party, account]);
  }
  for (const check of [notActive, currencyMismatch, invalidIban]) {
    for (const [party, account] of found) {
      const violation = check(party, account, currency);
      if (violation !== undefined) return violation;
    }
  }
  return undefined;
}
