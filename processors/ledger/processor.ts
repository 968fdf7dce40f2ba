/**
 * The ledger processor. Its two inputs are co-partitioned by account: `payments.validated`
 * (keyed by sender) brings the debit leg, `ledger.credits` (keyed by recipient) the credit leg.
 * Every balance a posting moves is published on `ledger.balances` (keyed by account), in the
 * order this partition applied them: a read model of it only ever shows balances the ledger had.
 */
import type {
  AccountBalance,
  CreditInstruction,
  PaymentEvent,
  PaymentInFlight,
} from '../../schemas/types.js';
import { correlationIdOf, deadLetteredEvent, paymentIdOf, STAGE_SEQUENCE } from '../payment-events.js';
import {
  assertInvariant,
  type BadRecord,
  type InputRecord,
  type Processor,
  type ProcessorContext,
} from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { assertPositiveMs, ttlPurger } from '../ttl.js';
import {
  decideCredit,
  decideDebit,
  debitPostingIdOf,
  DEFAULT_APPLIED_TTL_MS,
  type CreditDecision,
  type DebitDecision,
  type LedgerView,
} from './logic.js';

export const BALANCES_STORE = 'balances';
export const APPLIED_STORE = 'applied';

export interface LedgerProcessorOptions {
  /** Accounts per partition (customers plus the partition's transit and funding accounts). */
  readonly maxBalances?: number;
  /** Posting ids remembered per partition. */
  readonly maxApplied?: number;
  /** How long (stream time) an applied posting id is remembered. */
  readonly appliedTtlMs?: number;
  /** How often (stream time) expired posting ids are purged. */
  readonly purgeIntervalMs?: number;
  /** Told every decision, so rejections and repeated postings can be counted. */
  readonly onDecision?: (decision: DebitDecision | CreditDecision) => void;
}

type LedgerInput = PaymentInFlight | CreditInstruction;

export function ledgerProcessor(options: LedgerProcessorOptions = {}): Processor<LedgerInput> {
  const appliedTtlMs = options.appliedTtlMs ?? DEFAULT_APPLIED_TTL_MS;
  const purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
  assertPositiveMs('appliedTtlMs', appliedTtlMs);
  assertPositiveMs('purgeIntervalMs', purgeIntervalMs);
  return {
    name: 'ledger',
    inputs: [TOPIC.paymentsValidated, TOPIC.ledgerCredits],
    outputs: [TOPIC.paymentsEvents, TOPIC.ledgerPostings, TOPIC.ledgerBalances, TOPIC.ledgerCredits],
    stores: [
      { kind: 'kv', name: BALANCES_STORE, maxEntries: options.maxBalances ?? 1_000_000 },
      { kind: 'kv', name: APPLIED_STORE, maxEntries: options.maxApplied ?? 2_000_000 },
    ],
    punctuators: [
      ttlPurger<number>(APPLIED_STORE, appliedTtlMs, purgeIntervalMs, (postedAtMs) => postedAtMs),
    ],
    process(record, context) {
      const balances = context.keyValueStore<bigint>(BALANCES_STORE);
      const applied = context.keyValueStore<number>(APPLIED_STORE);
      const view: LedgerView = {
        balanceOf: (accountId) => balances.get(accountId) ?? 0n,
        appliedAtMs: (postingId) => applied.get(postingId),
      };
      const at = {
        partition: record.partition,
        nowMs: record.timestampMs,
        recordedAtMs: context.wallClockMs,
        correlationId: correlationIdOf(record.headers),
      };
      const apply = (decision: DebitDecision | CreditDecision): void => {
        options.onDecision?.(decision);
        if (decision.outcome === 'already-applied') return;
        applied.put(decision.postingId, record.timestampMs);
        forwardEvent(context, decision.event);
        if (decision.outcome === 'rejected') return;
        const { posting } = decision;
        context.forward({ topic: TOPIC.ledgerPostings, key: posting.paymentId, value: posting });
        for (const [accountId, balanceMinor] of decision.balances) {
          balances.put(accountId, balanceMinor);
          const balance: AccountBalance = {
            accountId,
            currency: posting.currency,
            balanceMinor,
            postingId: posting.postingId,
            updatedAtMs: posting.postedAtMs,
          };
          context.forward({ topic: TOPIC.ledgerBalances, key: accountId, value: balance });
        }
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
      const debit = decideDebit(record.value as PaymentInFlight, view, at);
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
 * A bad payments.validated record ends its payment before any money moved: PaymentRejected
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

function forwardEvent(context: ProcessorContext, event: PaymentEvent): void {
  context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
}
