/** The validate processor: checks a payment against its rules and the accounts table. */
import type { Account, PaymentInFlight } from '../../schemas/types.js';
import { correlationIdOf, deadLetteredEvent, paymentIdOf, STAGE_SEQUENCE } from '../payment-events.js';
import type { Processor } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { validatePayment, type ValidationDecision } from './logic.js';

export interface ValidateProcessorOptions {
  /** Told every decision, so rejections can be counted by reason. */
  readonly onDecision?: (decision: ValidationDecision) => void;
}

export function validateProcessor(options: ValidateProcessorOptions = {}): Processor<PaymentInFlight> {
  return {
    name: 'validate',
    inputs: [TOPIC.paymentsAccepted],
    outputs: [TOPIC.paymentsEvents, TOPIC.paymentsValidated],
    stores: [],
    globalTables: [TOPIC.accounts],
    process(record, context) {
      const table = context.globalTable<Account>(TOPIC.accounts);
      const decision = validatePayment({
        inFlight: record.value,
        accounts: (accountId) => table.get(accountId),
        nowMs: record.timestampMs,
        recordedAtMs: context.wallClockMs,
        correlationId: correlationIdOf(record.headers),
      });
      options.onDecision?.(decision);
      context.forward({ topic: TOPIC.paymentsEvents, key: decision.event.paymentId, value: decision.event });
      if (decision.outcome === 'validated') {
        const { command } = decision.validated;
        context.forward({
          topic: TOPIC.paymentsValidated,
          key: command.senderAccountId,
          value: decision.validated,
        });
      }
    },
    // A payments.accepted record carries its payment id in headers: the payment ends where its
    // record did.
    onBadRecord(bad, context) {
      const paymentId = paymentIdOf(bad.headers);
      if (paymentId === undefined) return;
      const event = deadLetteredEvent(paymentId, STAGE_SEQUENCE.validate, bad, context.wallClockMs);
      context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
    },
  };
}
