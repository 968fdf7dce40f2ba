/**
 * Builders of `payments.events` records shared by every payment processor, so an event's id,
 * sequence and optional parts are formed the same way wherever it is emitted.
 */
import { maskIbansIn } from '../schemas/iban.js';
import type {
  PaymentCommand,
  PaymentEvent,
  PaymentEventType,
  PaymentFacts,
  RejectionCode,
} from '../schemas/types.js';
import { assertInvariant, HEADER, type BadRecord, type Headers } from './runtime/api.js';

/** The correlation id the gateway put on the command, carried end to end in a header. */
export function correlationIdOf(headers: Headers): string | null {
  const value = headers[HEADER.correlationId];
  return value === undefined || value === '' ? null : value;
}

/** Where and when an event happens: the payment, its position in the history, the times, the trace. */
export interface EventStamp {
  readonly paymentId: string;
  readonly sequence: number;
  /** The time of the payment's command (its record time), the same on every event of the payment. */
  readonly occurredAtMs: number;
  /** When the processor decided this step: its processing clock (`context.wallClockMs`). */
  readonly recordedAtMs: number;
  readonly correlationId: string | null;
}

/** `<paymentId>:<sequence>`: deterministic, so a replay produces the same id. */
export function eventIdOf(paymentId: string, sequence: number): string {
  return `${paymentId}:${sequence}`;
}

/** An event without initiated facts or a rejection (Validated, Debited, Completed). */
export function paymentEvent(type: PaymentEventType, stamp: EventStamp): PaymentEvent {
  return {
    eventId: eventIdOf(stamp.paymentId, stamp.sequence),
    paymentId: stamp.paymentId,
    type,
    sequence: stamp.sequence,
    occurredAtMs: stamp.occurredAtMs,
    recordedAtMs: stamp.recordedAtMs,
    correlationId: stamp.correlationId,
    initiated: null,
    rejection: null,
    risk: null,
    review: null,
  };
}

export function factsOf(command: PaymentCommand): PaymentFacts {
  return {
    kind: command.kind,
    principal: command.principal,
    idempotencyKey: command.idempotencyKey,
    senderAccountId: command.senderAccountId,
    recipientAccountId: command.recipientAccountId,
    amountMinor: command.amountMinor,
    currency: command.currency,
    // Free text is published and stored: an IBAN in it is masked here too, for commands that did
    // not come through the gateway.
    reference: command.reference === null ? null : maskIbansIn(command.reference),
  };
}

/** PaymentInitiated: sequence 0, carrying the command's facts. */
export function initiatedEvent(
  command: PaymentCommand,
  at: Pick<EventStamp, 'occurredAtMs' | 'recordedAtMs'>,
  correlationId: string | null,
): PaymentEvent {
  const stamp = { paymentId: command.paymentId, sequence: 0, ...at, correlationId };
  return { ...paymentEvent('PaymentInitiated', stamp), initiated: factsOf(command) };
}

export function rejectedEvent(stamp: EventStamp, code: RejectionCode, detail: string): PaymentEvent {
  return { ...paymentEvent('PaymentRejected', stamp), rejection: { code, detail } };
}

/**
 * The sequence each stage's event takes in a payment's history (Initiated 0 by dedupe, Validated
 * or Rejected 1 by validate, Rejected 2 by the velocity step or Scored or Rejected 2 by fraud
 * scoring, Debited, Held or Rejected 3 by the ledger, then Completed 4 — or, after a hold, Debited
 * or Rejected 4 and Completed 5).
 */
export const STAGE_SEQUENCE = { dedupe: 0, validate: 1, velocity: 2, fraud: 2, debit: 3, credit: 4 } as const;

/**
 * A stage's event never goes back in its payment's history: it takes a sequence after every
 * earlier stage's (validate after Initiated, the debit after Validated, the credit after Debited).
 * A hand-off that says otherwise is a broken invariant: the partition stops.
 */
export function assertSequenceMovesOn(
  paymentId: string,
  sequence: number,
  stage: keyof typeof STAGE_SEQUENCE,
): void {
  assertInvariant(
    Number.isInteger(sequence) && sequence >= STAGE_SEQUENCE[stage],
    () =>
      `payment ${paymentId}: ${stage} would emit sequence ${sequence}, before the earlier stages' events (it takes at least ${STAGE_SEQUENCE[stage]})`,
  );
}

/**
 * PaymentFailed: the pipeline could not process the payment (not a rule refusing it), with the
 * reason in `rejection` (a code of the closed list and a sentence), as the read models show it.
 */
export function failedEvent(stamp: EventStamp, code: RejectionCode, detail: string): PaymentEvent {
  return { ...paymentEvent('PaymentFailed', stamp), rejection: { code, detail } };
}

/**
 * The terminal event of a payment whose record a stage dead-lettered as bad data: the payment
 * ends PaymentFailed RECORD_DEAD_LETTERED (the pipeline, not a rule, could not go on with it),
 * the detail says where its record is; `recordedAtMs` is the runtime's clock when it was
 * dead-lettered.
 */
export function deadLetteredEvent(
  paymentId: string,
  sequence: number,
  bad: BadRecord,
  recordedAtMs: number,
): PaymentEvent {
  const stamp: EventStamp = {
    paymentId,
    sequence,
    occurredAtMs: bad.timestampMs,
    recordedAtMs,
    correlationId: correlationIdOf(bad.headers),
  };
  const detail =
    `its record on ${bad.topic} (partition ${bad.partition}, offset ${bad.offset}) was dead-lettered ` +
    `${bad.code}: ${bad.reason}`;
  return failedEvent(stamp, 'RECORD_DEAD_LETTERED', detail.slice(0, 1_000));
}

/** The payment a record on a payment's path belongs to, from its `payflow-payment-id` header. */
export function paymentIdOf(headers: Headers): string | undefined {
  const value = headers[HEADER.paymentId];
  return value === undefined || value === '' ? undefined : value;
}
