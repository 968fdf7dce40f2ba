/**
 * The payment read model as a pure fold over a payment's events: `applyPaymentEvent(view, event)`.
 * Every projection (in memory for the embedded default, PostgreSQL for the Kafka mode) uses
 * this one fold, so they can't disagree about what a payment's status is.
 *
 * Events may arrive more than once (a projection replays the log after a crash): an event whose
 * sequence the view already holds is ignored, so a replay converges to the same view.
 */
import type { PaymentEvent, PaymentKind, PaymentStatus, RiskAssessment } from '../schemas/types.js';

/** The fields of a `payments.events` record the read model needs. */
export interface ProjectedPaymentEvent {
  readonly eventId: string;
  readonly paymentId: string;
  readonly type: string;
  /** Position within the payment's history, strictly increasing from 0. */
  readonly sequence: number;
  /** The time of the payment's command. */
  readonly occurredAtMs: number;
  /** When the step was decided; absent for an event written before the field existed. */
  readonly recordedAtMs?: number;
  readonly correlationId: string | null;
  /** Present on PaymentInitiated: the command's facts. */
  readonly initiated?: {
    readonly kind: PaymentKind;
    readonly principal: string;
    readonly senderAccountId: string;
    readonly recipientAccountId: string;
    readonly amountMinor: bigint;
    readonly currency: string;
    readonly reference: string | null;
  };
  /** Present on PaymentRejected and PaymentFailed. */
  readonly rejection?: { readonly code: string; readonly detail: string | null };
  /** Present on PaymentScored, PaymentHeld and a FRAUD_BLOCKED rejection: the fraud score. */
  readonly risk?: RiskAssessment;
}

export interface PaymentReadModel {
  readonly paymentId: string;
  readonly kind: PaymentKind;
  readonly principal: string | null;
  readonly status: PaymentStatus;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly senderAccountId: string;
  readonly recipientAccountId: string;
  readonly reference: string | null;
  readonly rejection: { readonly code: string; readonly detail: string | null } | null;
  /** The fraud score and its reasons, once scored; null before (and for events without one). */
  readonly risk: RiskAssessment | null;
  /** The history; each step's "when" is its recordedAtMs, occurredAtMs is the command's time. */
  readonly events: readonly {
    readonly type: string;
    readonly occurredAtMs: number;
    readonly recordedAtMs: number;
    readonly sequence: number;
  }[];
  /** The command's time. */
  readonly createdAtMs: number;
  /** When the latest step was decided (its recordedAtMs). */
  readonly updatedAtMs: number;
}

/** The status each event type moves a payment to. Unknown types keep the status (forward compatible). */
export const STATUS_AFTER_EVENT: Readonly<Record<string, PaymentStatus>> = {
  PaymentInitiated: 'INITIATED',
  PaymentValidated: 'VALIDATED',
  PaymentDebited: 'DEBITED',
  PaymentCompleted: 'COMPLETED',
  PaymentRejected: 'REJECTED',
  PaymentHeld: 'HELD',
  PaymentFailed: 'FAILED',
};

export class ProjectionOrderError extends Error {
  /** MISSING_PREDECESSOR: the view has none of the payment's earlier events; SEQUENCE_GAP: it skips one. */
  readonly deadLetterCode: 'MISSING_PREDECESSOR' | 'SEQUENCE_GAP';
  constructor(event: ProjectedPaymentEvent, reason: string, code: 'MISSING_PREDECESSOR' | 'SEQUENCE_GAP') {
    super(`payment ${event.paymentId}: event ${event.type}#${event.sequence} (${event.eventId}) ${reason}`);
    this.name = 'ProjectionOrderError';
    this.deadLetterCode = code;
  }
}

function historyEntry(event: ProjectedPaymentEvent): PaymentReadModel['events'][number] {
  return {
    type: event.type,
    occurredAtMs: event.occurredAtMs,
    recordedAtMs: event.recordedAtMs ?? event.occurredAtMs,
    sequence: event.sequence,
  };
}

function initialView(event: ProjectedPaymentEvent): PaymentReadModel {
  const facts = event.initiated;
  if (event.sequence !== 0 || facts === undefined) {
    throw new ProjectionOrderError(event, 'arrived before PaymentInitiated', 'MISSING_PREDECESSOR');
  }
  return {
    paymentId: event.paymentId,
    kind: facts.kind,
    principal: facts.principal,
    status: 'INITIATED',
    amountMinor: facts.amountMinor,
    currency: facts.currency,
    senderAccountId: facts.senderAccountId,
    recipientAccountId: facts.recipientAccountId,
    reference: facts.reference,
    rejection: null,
    risk: event.risk ?? null,
    events: [historyEntry(event)],
    createdAtMs: event.occurredAtMs,
    updatedAtMs: event.recordedAtMs ?? event.occurredAtMs,
  };
}

/**
 * Folds one event into the view. Events of one payment share a key, so the log delivers them in
 * order; a gap in sequence means an upstream bug and throws rather than projecting a lie.
 */
export function applyPaymentEvent(
  view: PaymentReadModel | undefined,
  event: ProjectedPaymentEvent,
): PaymentReadModel {
  if (view === undefined) return initialView(event);
  const lastSequence = view.events.at(-1)?.sequence ?? -1;
  if (event.sequence <= lastSequence) return view;
  if (event.sequence !== lastSequence + 1) {
    throw new ProjectionOrderError(event, `skips sequence ${lastSequence + 1}`, 'SEQUENCE_GAP');
  }
  return {
    ...view,
    status: STATUS_AFTER_EVENT[event.type] ?? view.status,
    rejection: event.rejection ?? view.rejection,
    risk: event.risk ?? view.risk,
    events: [...view.events, historyEntry(event)],
    updatedAtMs: event.recordedAtMs ?? event.occurredAtMs,
  };
}

/**
 * PaymentFailed at sequence 0, without facts: a command on the ingress topic whose bytes could
 * not be read, ended by the payment id its record's header named. The event is on the log for
 * consumers (every payment ends), but without facts there is no payment to show: the read
 * models keep no view of it, and its status URL answers 404 once the gateway no longer remembers
 * the command it accepted.
 */
export function isUnreadCommandFailure(event: ProjectedPaymentEvent): boolean {
  return event.sequence === 0 && event.type === 'PaymentFailed' && event.initiated === undefined;
}

/**
 * Folds a slice of events (in log order) into `views`, the stored views of their payments, in
 * place; answers which payments changed, i.e. what a projection has to write back. Events
 * already projected change nothing.
 */
export function applyPaymentEvents(
  views: Map<string, PaymentReadModel>,
  events: readonly ProjectedPaymentEvent[],
): Set<string> {
  const changed = new Set<string>();
  for (const event of events) {
    if (isUnreadCommandFailure(event)) continue;
    const before = views.get(event.paymentId);
    const after = applyPaymentEvent(before, event);
    if (after !== before) changed.add(event.paymentId);
    views.set(event.paymentId, after);
  }
  return changed;
}

/** The read model's view of a `payments.events` record (both modes project through it). */
export function projectedEvent(event: PaymentEvent): ProjectedPaymentEvent {
  return {
    eventId: event.eventId,
    paymentId: event.paymentId,
    type: event.type,
    sequence: event.sequence,
    occurredAtMs: event.occurredAtMs,
    ...(event.recordedAtMs === null ? {} : { recordedAtMs: event.recordedAtMs }),
    correlationId: event.correlationId,
    ...(event.initiated === null ? {} : { initiated: event.initiated }),
    ...(event.rejection === null ? {} : { rejection: event.rejection }),
    ...(event.risk === null ? {} : { risk: event.risk }),
  };
}

/**
 * A payment's state from its stored events alone (the event store's replay): the events in
 * sequence order, each event id once, folded with `applyPaymentEvent` from nothing. Answers
 * undefined for a payment without a view (no events, or only an unread command's failure).
 * The order the events are given in doesn't matter; a missing sequence throws like the fold.
 */
export function replayPayment(events: readonly ProjectedPaymentEvent[]): PaymentReadModel | undefined {
  const byId = new Map<string, ProjectedPaymentEvent>();
  for (const event of events) if (!byId.has(event.eventId)) byId.set(event.eventId, event);
  const ordered = [...byId.values()].sort((a, b) => a.sequence - b.sequence);
  let view: PaymentReadModel | undefined;
  for (const event of ordered) {
    if (isUnreadCommandFailure(event)) continue;
    view = applyPaymentEvent(view, event);
  }
  return view;
}
