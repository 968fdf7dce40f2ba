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
import { correlationIdOf } from '../payment-events.js';
import type { InputRecord, Processor, ProcessorContext } from '../runtime/api.js';
import { TOPIC } from '../topic-names.js';
import { assertPositiveMs, ttlPurger } from '../ttl.js';
import {
  decideCredit,
  decideDebit,
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
  };
}

function isCredit(record: InputRecord<LedgerInput>): record is InputRecord<CreditInstruction> {
  return record.topic === TOPIC.ledgerCredits;
}

function forwardEvent(context: ProcessorContext, event: PaymentEvent): void {
  context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
}
