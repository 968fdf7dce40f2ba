/**
 * Builders of `payments.events` records shared by every payment processor, so an event's id,
 * sequence and optional parts are formed the same way wherever it is emitted.
 */
import type {
  PaymentCommand,
  PaymentEvent,
  PaymentEventType,
  PaymentFacts,
  RejectionCode,
} from '../schemas/types.js';
import { HEADER, type Headers } from './runtime/api.js';

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
    reference: command.reference,
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
