/**
 * The double-entry ledger as pure functions. A transfer is two balanced postings: the debit leg
 * in the sender's partition (sender -> that partition's transit account) and the credit leg in
 * the recipient's partition (that partition's transit account -> recipient). Each posting is
 * applied at most once: its id is remembered in `applied`.
 */
import type {
  CreditInstruction,
  LedgerPosting,
  PaymentEvent,
  PaymentInFlight,
  ReviewOutcome,
} from '../../schemas/types.js';
import { assertSequenceMovesOn, paymentEvent, rejectedEvent, type EventStamp } from '../payment-events.js';
import { assertInvariant } from '../runtime/api.js';
import {
  currencyOfSystemAccount,
  holdAccountOf,
  isFundingAccount,
  isTransitAccount,
  transitAccountOf,
} from '../../schemas/system-accounts.js';
import { formatAmount, isSupportedCurrency, LONG_MAX, maxAmountMinor } from '../validate/currencies.js';

const DAY_MS = 86_400_000;
/** How long an applied posting id is remembered unless configured otherwise. */
export const DEFAULT_APPLIED_TTL_MS = 7 * DAY_MS;

export type LedgerLine = LedgerPosting['lines'][number];

/** What the logic reads of a partition's stores. */
export interface LedgerView {
  /** 0 for an account the partition has never posted to. */
  balanceOf(accountId: string): bigint;
  /** When the posting was applied (or its debit refused), if it is still remembered. */
  appliedAtMs(postingId: string): number | undefined;
}

/** Where and when a leg is posted. */
export interface LegContext {
  /** The ledger partition: names its transit account. */
  readonly partition: number;
  /** The record's time (the payment's command): the events' occurredAtMs, the entries' postedAtMs. */
  readonly nowMs: number;
  /** The processing clock: the events' and entries' recordedAtMs. */
  readonly recordedAtMs: number;
  readonly correlationId: string | null;
}

/** A posted leg: the entry, the balances it leaves (to store), the event it emits. */
interface Posted {
  readonly outcome: 'posted';
  readonly postingId: string;
  readonly posting: LedgerPosting;
  readonly balances: readonly (readonly [string, bigint])[];
  readonly event: PaymentEvent;
}

/** The posting id is in `applied`: nothing is posted, stored or emitted again. */
interface AlreadyApplied {
  readonly outcome: 'already-applied';
  readonly postingId: string;
  readonly appliedAtMs: number;
}

export type DebitDecision =
  | AlreadyApplied
  /** The debit leg can't be posted; `postingId` is still remembered, so the payment is decided once. */
  | { readonly outcome: 'rejected'; readonly postingId: string; readonly event: PaymentEvent }
  | (Posted & { readonly credit: CreditInstruction });

export type CreditDecision = AlreadyApplied | Posted;

export const debitPostingIdOf = (paymentId: string): string => `${paymentId}:debit`;
export const holdPostingIdOf = (paymentId: string): string => `${paymentId}:hold`;
export const voidPostingIdOf = (paymentId: string): string => `${paymentId}:void`;
export const creditPostingIdOf = (paymentId: string): string => `${paymentId}:credit`;

export function linesSumToZero(lines: readonly LedgerLine[]): boolean {
  return lines.reduce((sum, line) => sum + line.amountMinor, 0n) === 0n;
}

/**
 * The sum of a posting's lines per currency: a system account's own currency (`funding:<CUR>`,
 * `transit:<CUR>:<p>`), the posting's for a customer account. A balanced posting has every sum 0.
 */
export function sumsByCurrency(posting: Pick<LedgerPosting, 'currency' | 'lines'>): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const line of posting.lines) {
    const currency = currencyOfSystemAccount(line.accountId) ?? posting.currency;
    sums.set(currency, (sums.get(currency) ?? 0n) + line.amountMinor);
  }
  return sums;
}

/**
 * The most money of `currency` the ledger holds: the funding account never goes below minus
 * this, so no balance of the currency can pass it (see README: every payment ends). It is the
 * currency's largest amount, `maxAmountMinor`: any balance still fits a signed 64-bit long at the
 * finest minor unit of the currency table, as every amount does.
 */
export function balanceCeilingMinor(currency: string): bigint {
  return isSupportedCurrency(currency) ? maxAmountMinor(currency) : LONG_MAX;
}

/** Only a funding account (deposits) and a transit account (money between legs) may go below zero. */
export function mayGoNegative(accountId: string): boolean {
  return isFundingAccount(accountId) || isTransitAccount(accountId);
}

/**
 * The debit leg of a validated payment. A customer sender needs a balance of at least the amount
 * (INSUFFICIENT_FUNDS otherwise); a funding sender may go below zero.
 */
export function decideDebit(inFlight: PaymentInFlight, view: LedgerView, at: LegContext): DebitDecision {
  const { command, nextSequence } = inFlight;
  const postingId = debitPostingIdOf(command.paymentId);
  const first = firstCheck(inFlight, postingId, view, at);
  if ('outcome' in first) return first;
  const { stamp } = first;
  const amount = command.amountMinor;
  const lines = [
    { accountId: command.senderAccountId, amountMinor: -amount },
    { accountId: transitAccountOf(command.currency, at.partition), amountMinor: amount },
  ];
  const posted = post(
    {
      postingId,
      paymentId: command.paymentId,
      leg: 'DEBIT',
      currency: command.currency,
      lines,
      postedAtMs: at.nowMs,
      recordedAtMs: at.recordedAtMs,
    },
    view,
  );
  const credit: CreditInstruction = {
    paymentId: command.paymentId,
    recipientAccountId: command.recipientAccountId,
    amountMinor: amount,
    currency: command.currency,
    nextSequence: nextSequence + 1,
    correlationId: at.correlationId,
  };
  return { ...posted, event: paymentEvent('PaymentDebited', stamp), credit };
}

/** The credit leg: the money leaves this partition's transit account for the recipient. */
export function decideCredit(
  instruction: CreditInstruction,
  view: LedgerView,
  at: LegContext,
): CreditDecision {
  const postingId = creditPostingIdOf(instruction.paymentId);
  const appliedAtMs = view.appliedAtMs(postingId);
  if (appliedAtMs !== undefined) return { outcome: 'already-applied', postingId, appliedAtMs };
  assertSequenceMovesOn(instruction.paymentId, instruction.nextSequence, 'credit');
  const lines = [
    {
      accountId: transitAccountOf(instruction.currency, at.partition),
      amountMinor: -instruction.amountMinor,
    },
    { accountId: instruction.recipientAccountId, amountMinor: instruction.amountMinor },
  ];
  const entry = {
    postingId,
    paymentId: instruction.paymentId,
    leg: 'CREDIT',
    currency: instruction.currency,
    lines,
    postedAtMs: at.nowMs,
    recordedAtMs: at.recordedAtMs,
  } as const;
  const posted = post(entry, view);
  return {
    ...posted,
    event: paymentEvent('PaymentCompleted', stampOf(instruction.paymentId, instruction.nextSequence, at)),
  };
}

/**
 * Posts an entry, asserting the ledger's invariants: a program error, never a rejection, if one
 * breaks — the partition stops and no money moves, rather than go on with a wrong book.
 */
function post(posting: LedgerPosting, view: LedgerView): Omit<Posted, 'event'> {
  const { postingId } = posting;
  assertInvariant(posting.lines.length >= 2, () => `posting ${postingId} has fewer than two lines`);
  for (const line of posting.lines) {
    assertInvariant(
      line.amountMinor !== 0n,
      () => `posting ${postingId} has a zero line for ${line.accountId}`,
    );
  }
  for (const [currency, sum] of sumsByCurrency(posting)) {
    assertInvariant(
      sum === 0n,
      () => `posting ${postingId} is unbalanced: its ${currency} lines sum to ${sum}, not 0`,
    );
  }
  const balances = posting.lines.map(
    (line) => [line.accountId, view.balanceOf(line.accountId) + line.amountMinor] as const,
  );
  for (const [accountId, balance] of balances) {
    assertInvariant(
      balance >= 0n || mayGoNegative(accountId),
      () => `posting ${postingId} would leave ${accountId} at ${balance}, below zero`,
    );
    // The ceiling on deposits keeps every balance within it; past a long, the book would be lost.
    assertInvariant(
      balance <= LONG_MAX && balance >= -LONG_MAX,
      () => `posting ${postingId} would leave ${accountId} at ${balance}, beyond a signed 64-bit balance`,
    );
  }
  return { outcome: 'posted', postingId, posting, balances };
}

function stampOf(paymentId: string, sequence: number, at: LegContext): EventStamp {
  return {
    paymentId,
    sequence,
    occurredAtMs: at.nowMs,
    recordedAtMs: at.recordedAtMs,
    correlationId: at.correlationId,
  };
}

function amountText(amountMinor: bigint, currency: string): string {
  return isSupportedCurrency(currency)
    ? formatAmount(amountMinor, currency)
    : `${amountMinor} minor units of ${currency}`;
}

/**
 * The sum of all balances per currency. System accounts name their currency; customer accounts
 * are looked up. Over every partition's balances, each currency's total is zero: money is only
 * ever moved, never made (the funding account's negative balance is what was deposited).
 */
export function totalsByCurrency(
  balances: Iterable<readonly [string, bigint]>,
  customerCurrency: (accountId: string) => string | undefined,
): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const [accountId, balance] of balances) {
    const currency = currencyOfSystemAccount(accountId) ?? customerCurrency(accountId);
    if (currency === undefined) throw new Error(`no currency known for account ${accountId}`);
    totals.set(currency, (totals.get(currency) ?? 0n) + balance);
  }
  return totals;
}

/**
 * A payment held for manual review: its amount sits on the partition's hold account (a pending
 * transfer, as TigerBeetle's: the sender's balance no longer includes it, so it can't be spent
 * twice), until a decision or the timeout posts it on or voids it.
 */
export interface HeldPayment {
  readonly inFlight: PaymentInFlight;
  /** The ledger's clock when the hold was posted. */
  readonly heldAtMs: number;
  /** The time of the payment's command: every event and posting of the payment carries it. */
  readonly occurredAtMs: number;
  readonly correlationId: string | null;
  /** The ledger partition whose hold account holds the amount. */
  readonly partition: number;
}

export type HoldDecision =
  | AlreadyApplied
  | { readonly outcome: 'rejected'; readonly postingId: string; readonly event: PaymentEvent }
  | (Posted & { readonly held: HeldPayment });

/**
 * The hold of a payment fraud scoring sent to review: the same funds check as a debit, then the
 * amount moves from the sender to the hold account and the payment is HELD (with its risk).
 */
export function decideHold(inFlight: PaymentInFlight, view: LedgerView, at: LegContext): HoldDecision {
  const { command, nextSequence } = inFlight;
  const postingId = holdPostingIdOf(command.paymentId);
  const first = firstCheck(inFlight, postingId, view, at);
  if ('outcome' in first) return first;
  const { stamp } = first;
  const amount = command.amountMinor;
  const posted = post(
    {
      postingId,
      paymentId: command.paymentId,
      leg: 'HOLD',
      currency: command.currency,
      lines: [
        { accountId: command.senderAccountId, amountMinor: -amount },
        { accountId: holdAccountOf(command.currency, at.partition), amountMinor: amount },
      ],
      postedAtMs: at.nowMs,
      recordedAtMs: at.recordedAtMs,
    },
    view,
  );
  return {
    ...posted,
    event: { ...paymentEvent('PaymentHeld', stamp), risk: inFlight.risk },
    held: {
      inFlight: { ...inFlight, nextSequence: nextSequence + 1 },
      heldAtMs: at.recordedAtMs,
      occurredAtMs: at.nowMs,
      correlationId: at.correlationId,
      partition: at.partition,
    },
  };
}

export type ReleaseDecision =
  (Posted & { readonly outcome: 'posted'; readonly credit: CreditInstruction | null }) | AlreadyApplied;

/**
 * The end of a review. APPROVE posts the hold on as the payment's debit (hold -> transit, then
 * the credit leg as for any transfer); DECLINE and TIMEOUT void it (hold -> sender) and reject
 * the payment REVIEW_DECLINED or REVIEW_TIMEOUT. Either way the hold account gives back exactly
 * what it took.
 */
export function decideRelease(
  held: HeldPayment,
  review: ReviewOutcome,
  view: LedgerView,
  at: Omit<LegContext, 'nowMs' | 'correlationId' | 'partition'>,
): ReleaseDecision {
  const { command, nextSequence } = held.inFlight;
  const approve = review.verdict === 'APPROVE';
  const postingId = approve ? debitPostingIdOf(command.paymentId) : voidPostingIdOf(command.paymentId);
  const appliedAtMs = view.appliedAtMs(postingId);
  if (appliedAtMs !== undefined) return { outcome: 'already-applied', postingId, appliedAtMs };
  const leg: LegContext = {
    ...at,
    partition: held.partition,
    nowMs: held.occurredAtMs,
    correlationId: held.correlationId,
  };
  const stamp = stampOf(command.paymentId, nextSequence, leg);
  const amount = command.amountMinor;
  const hold = holdAccountOf(command.currency, held.partition);
  const to = approve ? transitAccountOf(command.currency, held.partition) : command.senderAccountId;
  const posted = post(
    {
      postingId,
      paymentId: command.paymentId,
      leg: approve ? 'DEBIT' : 'VOID',
      currency: command.currency,
      lines: [
        { accountId: hold, amountMinor: -amount },
        { accountId: to, amountMinor: amount },
      ],
      postedAtMs: held.occurredAtMs,
      recordedAtMs: at.recordedAtMs,
    },
    view,
  );
  if (!approve) {
    const code = review.verdict === 'TIMEOUT' ? 'REVIEW_TIMEOUT' : 'REVIEW_DECLINED';
    const detail =
      review.verdict === 'TIMEOUT'
        ? 'no review decision in time; the reserved amount is back on the sender'
        : `declined by ${review.reviewer ?? 'a reviewer'}${review.note === null ? '' : `: ${review.note}`}`;
    return { ...posted, event: { ...rejectedEvent(stamp, code, detail), review }, credit: null };
  }
  const credit: CreditInstruction = {
    paymentId: command.paymentId,
    recipientAccountId: command.recipientAccountId,
    amountMinor: amount,
    currency: command.currency,
    nextSequence: nextSequence + 1,
    correlationId: held.correlationId,
  };
  return { ...posted, event: { ...paymentEvent('PaymentDebited', stamp), review }, credit };
}

interface FundsRefusal {
  readonly code: 'AMOUNT_NOT_POSITIVE' | 'INSUFFICIENT_FUNDS' | 'AMOUNT_LIMIT_EXCEEDED';
  readonly detail: string;
}

/**
 * What a debit and a hold check first: the posting applied already (nothing again), the sequence,
 * and the sender's funds (rejected, remembered under the posting id); else the event's stamp.
 */
function firstCheck(
  inFlight: PaymentInFlight,
  postingId: string,
  view: LedgerView,
  at: LegContext,
):
  | AlreadyApplied
  | { readonly outcome: 'rejected'; readonly postingId: string; readonly event: PaymentEvent }
  | { readonly stamp: EventStamp } {
  const { command, nextSequence } = inFlight;
  const appliedAtMs = view.appliedAtMs(postingId);
  if (appliedAtMs !== undefined) return { outcome: 'already-applied', postingId, appliedAtMs };
  assertSequenceMovesOn(command.paymentId, nextSequence, 'debit');
  const stamp = stampOf(command.paymentId, nextSequence, at);
  const refused = fundsRefusal(inFlight, view);
  if (refused !== undefined)
    return { outcome: 'rejected', postingId, event: rejectedEvent(stamp, refused.code, refused.detail) };
  return { stamp };
}

/**
 * Why the sender can't pay the amount, or undefined. A funding sender (a deposit) may go below
 * zero down to minus the currency's ceiling: past it, the deposit is AMOUNT_LIMIT_EXCEEDED.
 */
function fundsRefusal(inFlight: PaymentInFlight, view: LedgerView): FundsRefusal | undefined {
  const { command } = inFlight;
  const amount = command.amountMinor;
  if (amount <= 0n)
    return { code: 'AMOUNT_NOT_POSITIVE', detail: `amountMinor must be greater than zero, got ${amount}` };
  const balance = view.balanceOf(command.senderAccountId);
  const ceiling = balanceCeilingMinor(command.currency);
  if (isFundingAccount(command.senderAccountId) && balance - amount < -ceiling) {
    // The funding balance is the system's, not the principal's: the detail names only the ceiling.
    return {
      code: 'AMOUNT_LIMIT_EXCEEDED',
      detail:
        `the deposit of ${amountText(amount, command.currency)} would take the ${command.currency} ` +
        `held in PayFlow past its ceiling of ${amountText(ceiling, command.currency)} (the most any account can hold)`,
    };
  }
  if (!isFundingAccount(command.senderAccountId) && balance < amount) {
    return {
      code: 'INSUFFICIENT_FUNDS',
      // Not the balance: the principal may be a producer, which can't read it.
      detail: `the balance of senderAccountId ${command.senderAccountId} is less than the amount ${amountText(amount, command.currency)}`,
    };
  }
  return undefined;
}
