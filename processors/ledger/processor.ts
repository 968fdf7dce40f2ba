/**
 * The ledger processor. Its inputs are co-partitioned by account: `payments.scored` (keyed by
 * sender) brings the debit leg, or the hold of a payment fraud scoring sent to review;
 * `reviews.decisions` (keyed by sender) posts a hold on or voids it; `ledger.credits` (keyed by
 * recipient) brings the credit leg. A hold nobody decides within the review timeout is voided by
 * a wall-clock punctuator (REVIEW_TIMEOUT).
 * Every balance a posting moves is published on `ledger.balances` (keyed by account), in the
 * order this partition applied them: a read model of it only ever shows balances the ledger had.
 */
import type {
  AccountBalance,
  CreditInstruction,
  LedgerPosting,
  PaymentEvent,
  PaymentInFlight,
  ReviewDecision,
  ReviewOutcome,
} from '../../schemas/types.js';
import { correlationIdOf, deadLetteredEvent, paymentIdOf, STAGE_SEQUENCE } from '../payment-events.js';
import {
  assertInvariant,
  HEADER,
  type BadRecord,
  type Headers,
  type InputRecord,
  type Processor,
  type ProcessorContext,
} from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { assertPositiveMs, DEFAULT_PURGE_INTERVAL_MS, ttlPurger, ttlStore } from '../ttl.js';
import {
  decideCredit,
  decideDebit,
  decideHold,
  decideRelease,
  debitPostingIdOf,
  DEFAULT_APPLIED_TTL_MS,
  type CreditDecision,
  type DebitDecision,
  type HeldPayment,
  type HoldDecision,
  type LedgerView,
  type ReleaseDecision,
} from './logic.js';

export const BALANCES_STORE = 'balances';
export const APPLIED_STORE = 'applied';
export const HOLDS_STORE = 'holds';

const HOUR_MS = 3_600_000;
/** How long a held payment waits for a review unless configured otherwise. */
export const DEFAULT_REVIEW_TIMEOUT_MS = 24 * HOUR_MS;

/** What happened to a review decision or timeout. */
export type ReviewHandling =
  | { readonly outcome: 'released'; readonly paymentId: string; readonly review: ReviewOutcome }
  /** No hold of that payment here: decided already, timed out, or never held. */
  | { readonly outcome: 'no-hold'; readonly paymentId: string; readonly review: ReviewOutcome };

export interface LedgerProcessorOptions {
  /** Accounts per partition (customers plus the partition's transit and funding accounts). */
  readonly maxBalances?: number;
  /** Posting ids remembered per partition. */
  readonly maxApplied?: number;
  /** How long (stream time) an applied posting id is remembered. */
  readonly appliedTtlMs?: number;
  /** How often (stream time) expired posting ids are purged. */
  readonly purgeIntervalMs?: number;
  /** Held payments per partition waiting for a review. */
  readonly maxHolds?: number;
  /** How long (wall clock) a held payment waits for a decision before it is voided REVIEW_TIMEOUT. */
  readonly reviewTimeoutMs?: number;
  /** Told every decision, so rejections and repeated postings can be counted. */
  readonly onDecision?: (decision: DebitDecision | CreditDecision | HoldDecision | ReleaseDecision) => void;
  /** Told every review decision and timeout. */
  readonly onReview?: (handling: ReviewHandling) => void;
}

type LedgerInput = PaymentInFlight | CreditInstruction | ReviewDecision;

export function ledgerProcessor(options: LedgerProcessorOptions = {}): Processor<LedgerInput> {
  const appliedTtlMs = options.appliedTtlMs ?? DEFAULT_APPLIED_TTL_MS;
  const purgeIntervalMs = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  assertPositiveMs('appliedTtlMs', appliedTtlMs);
  assertPositiveMs('purgeIntervalMs', purgeIntervalMs);
  const reviewTimeoutMs = options.reviewTimeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS;
  assertPositiveMs('reviewTimeoutMs', reviewTimeoutMs);
  return {
    name: 'ledger',
    inputs: [TOPIC.paymentsScored, TOPIC.ledgerCredits, TOPIC.reviewsDecisions],
    outputs: [TOPIC.paymentsEvents, TOPIC.ledgerPostings, TOPIC.ledgerBalances, TOPIC.ledgerCredits],
    stores: [
      { kind: 'kv', name: BALANCES_STORE, maxEntries: options.maxBalances ?? 1_000_000 },
      ttlStore<number>(APPLIED_STORE, options.maxApplied ?? 2_000_000, (postedAtMs) => postedAtMs),
      { kind: 'kv', name: HOLDS_STORE, maxEntries: options.maxHolds ?? 100_000 },
    ],
    punctuators: [
      ttlPurger(APPLIED_STORE, appliedTtlMs, purgeIntervalMs),
      {
        type: 'wall-clock',
        intervalMs: Math.max(1_000, Math.min(60_000, Math.floor(reviewTimeoutMs / 10))),
        punctuate(context, nowMs) {
          const holds = context.keyValueStore<HeldPayment>(HOLDS_STORE);
          const expired = [...holds.all()].filter(([, held]) => nowMs - held.heldAtMs >= reviewTimeoutMs);
          for (const [paymentId, held] of expired) {
            const review: ReviewOutcome = {
              verdict: 'TIMEOUT',
              reviewer: null,
              note: null,
              decisionId: null,
            };
            release(context, held, review, nowMs, options);
            options.onReview?.({ outcome: 'released', paymentId, review });
          }
        },
      },
    ],
    process(record, context) {
      const { balances, applied, view } = ledgerStores(context);
      const at = {
        partition: record.partition,
        nowMs: record.timestampMs,
        recordedAtMs: context.wallClockMs,
        correlationId: correlationIdOf(record.headers),
      };
      const apply = (decision: DebitDecision | CreditDecision | HoldDecision): void => {
        options.onDecision?.(decision);
        if (decision.outcome === 'already-applied') return;
        applied.put(decision.postingId, record.timestampMs);
        forwardEvent(context, decision.event);
        if (decision.outcome === 'rejected') return;
        publishPosting(context, balances, decision);
      };
      if (isCredit(record)) {
        apply(
          decideCredit(record.value, view, {
            ...at,
            correlationId: record.value.correlationId ?? at.correlationId,
          }),
        );
        return;
      }
      if (isReviewDecision(record)) {
        const decision = record.value;
        const review: ReviewOutcome = {
          verdict: decision.decision,
          reviewer: decision.reviewer,
          note: decision.note,
          decisionId: decision.decisionId,
        };
        const held = context.keyValueStore<HeldPayment>(HOLDS_STORE).get(decision.paymentId);
        if (held === undefined) {
          options.onReview?.({ outcome: 'no-hold', paymentId: decision.paymentId, review });
          return;
        }
        release(context, held, review, record.timestampMs, options);
        options.onReview?.({ outcome: 'released', paymentId: decision.paymentId, review });
        return;
      }
      const inFlight = record.value as PaymentInFlight;
      if (inFlight.risk?.decision === 'HOLD') {
        const hold = decideHold(inFlight, view, at);
        apply(hold);
        if (hold.outcome === 'posted')
          context.keyValueStore<HeldPayment>(HOLDS_STORE).put(inFlight.command.paymentId, hold.held);
        return;
      }
      const debit = decideDebit(inFlight, view, at);
      apply(debit);
      if (debit.outcome === 'posted') {
        context.forward({
          topic: TOPIC.ledgerCredits,
          key: debit.credit.recipientAccountId,
          value: debit.credit,
        });
      }
    },
    onBadRecord(bad, context) {
      endPaymentOfBadRecord(bad, context);
    },
  };
}

/**
 * A bad payments.validated record ends its payment before any money moved: PaymentFailed
 * RECORD_DEAD_LETTERED at the debit's sequence, and the debit posting id is remembered so a
 * later copy of the payment is not debited. A bad ledger.credits record can't be dropped: its
 * debit is posted, and dropping it would leave the money in transit — the partition stops.
 */
function endPaymentOfBadRecord(bad: BadRecord, context: ProcessorContext): void {
  assertInvariant(
    bad.topic !== TOPIC.ledgerCredits,
    () =>
      `credit instruction ${bad.key} at offset ${bad.offset} is ${bad.code} (${bad.reason}); ` +
      'its debit is posted, so it is not dropped',
  );
  const paymentId = paymentIdOf(bad.headers);
  if (paymentId === undefined) return;
  context.keyValueStore<number>(APPLIED_STORE).put(debitPostingIdOf(paymentId), bad.timestampMs);
  forwardEvent(context, deadLetteredEvent(paymentId, STAGE_SEQUENCE.debit, bad, context.wallClockMs));
}

function isCredit(record: InputRecord<LedgerInput>): record is InputRecord<CreditInstruction> {
  return record.topic === TOPIC.ledgerCredits;
}

function isReviewDecision(record: InputRecord<LedgerInput>): record is InputRecord<ReviewDecision> {
  return record.topic === TOPIC.reviewsDecisions;
}

function ledgerStores(context: ProcessorContext) {
  const balances = context.keyValueStore<bigint>(BALANCES_STORE);
  const applied = context.keyValueStore<number>(APPLIED_STORE);
  const view: LedgerView = {
    balanceOf: (accountId) => balances.get(accountId) ?? 0n,
    appliedAtMs: (postingId) => applied.get(postingId),
  };
  return { balances, applied, view };
}

/** A posted entry: on ledger.postings, and every balance it moved stored and on ledger.balances. */
function publishPosting(
  context: ProcessorContext,
  balances: ReturnType<typeof ledgerStores>['balances'],
  decision: { readonly posting: LedgerPosting; readonly balances: readonly (readonly [string, bigint])[] },
  headers?: Headers,
): void {
  const { posting } = decision;
  const extra = headers === undefined ? {} : { headers, timestampMs: posting.postedAtMs };
  context.forward({ topic: TOPIC.ledgerPostings, key: posting.paymentId, value: posting, ...extra });
  for (const [accountId, balanceMinor] of decision.balances) {
    balances.put(accountId, balanceMinor);
    const balance: AccountBalance = {
      accountId,
      currency: posting.currency,
      balanceMinor,
      postingId: posting.postingId,
      updatedAtMs: posting.postedAtMs,
    };
    context.forward({ topic: TOPIC.ledgerBalances, key: accountId, value: balance, ...extra });
  }
}

/**
 * Ends a hold: posts it on (APPROVE: the debit, then the credit instruction) or voids it, and
 * forgets it. Its records carry the payment's headers (payment id, correlation id) and time, not
 * those of the decision or punctuation that ended it.
 */
function release(
  context: ProcessorContext,
  held: HeldPayment,
  review: ReviewOutcome,
  decidedAtMs: number,
  options: LedgerProcessorOptions,
): void {
  const { balances, applied, view } = ledgerStores(context);
  const { command } = held.inFlight;
  const decision = decideRelease(held, review, view, { recordedAtMs: context.wallClockMs });
  options.onDecision?.(decision);
  context.keyValueStore<HeldPayment>(HOLDS_STORE).delete(command.paymentId);
  if (decision.outcome === 'already-applied') return;
  applied.put(decision.postingId, decidedAtMs);
  const headers: Headers = {
    [HEADER.paymentId]: command.paymentId,
    ...(held.correlationId === null ? {} : { [HEADER.correlationId]: held.correlationId }),
  };
  context.forward({
    topic: TOPIC.paymentsEvents,
    key: command.paymentId,
    value: decision.event,
    headers,
    timestampMs: held.occurredAtMs,
  });
  publishPosting(context, balances, decision, headers);
  if (decision.credit !== null) {
    context.forward({
      topic: TOPIC.ledgerCredits,
      key: decision.credit.recipientAccountId,
      value: decision.credit,
      headers,
      timestampMs: held.occurredAtMs,
    });
  }
}

function forwardEvent(context: ProcessorContext, event: PaymentEvent): void {
  context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
}
