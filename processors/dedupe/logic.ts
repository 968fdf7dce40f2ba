/**
 * The authoritative idempotency check on `payments.commands`, as a pure function of one command
 * and what the scope's `seen` entry remembers. The gateway's idempotency store is only a fast
 * path; this is where a retried or re-published command is recognised for good.
 */
import type { PaymentCommand, PaymentEvent, PaymentInFlight, RejectionCode } from '../../schemas/types.js';
import { initiatedEvent, rejectedEvent } from '../payment-events.js';
import { isExpired } from '../ttl.js';
import { dedupeScopeOf } from '../../topics/keys.js';

const HOUR_MS = 3_600_000;
/** How long a scope is remembered unless configured otherwise. */
export const DEFAULT_DEDUPE_TTL_MS = 48 * HOUR_MS;
/** The shortest TTL allowed: producers are promised at least a day to retry. */
export const MIN_DEDUPE_TTL_MS = 24 * HOUR_MS;

/** What the `seen` store remembers per scope: the first command that used it. */
export interface SeenEntry {
  readonly paymentId: string;
  readonly commandId: string;
  readonly requestHash: string;
  readonly firstSeenMs: number;
}

/**
 * The idempotency scope of a command: the principal and its Idempotency-Key, or the command id
 * alone when the command came without a key (topics/keys.ts). `payments.commands` is keyed by
 * the sender, so a scope is remembered in its sender's partition: a retry (same body, same
 * sender) always meets its first attempt here; the same key reused for another sender is told
 * apart by the gateway's idempotency store (422), and reaches another partition's store.
 */
export { dedupeScopeOf };

export type DedupeDecision =
  /** First sight of the scope: remember it, emit PaymentInitiated and pass the payment on. */
  | {
      readonly outcome: 'accepted';
      readonly scope: string;
      readonly seen: SeenEntry;
      readonly events: readonly [PaymentEvent];
      readonly accepted: PaymentInFlight;
    }
  /** The same command (same commandId or paymentId) again: drop it, emit nothing. */
  | { readonly outcome: 'redelivered'; readonly scope: string; readonly original: SeenEntry }
  /**
   * A new payment under a scope already used: DUPLICATE_REQUEST when the request is the same
   * (the producer lost track of its first attempt), IDEMPOTENCY_KEY_REUSED when it differs. The
   * new payment is initiated and rejected so its producer can read why; the scope keeps its original.
   */
  | {
      readonly outcome: 'rejected';
      readonly scope: string;
      readonly code: Extract<RejectionCode, 'DUPLICATE_REQUEST' | 'IDEMPOTENCY_KEY_REUSED'>;
      readonly original: SeenEntry;
      readonly events: readonly [PaymentEvent, PaymentEvent];
    };

export interface DedupeInput {
  readonly command: PaymentCommand;
  /** The scope's entry, if the store has one (expired or not). */
  readonly seen: SeenEntry | undefined;
  /** The record's time: the events' occurredAtMs and the new entry's firstSeenMs. */
  readonly nowMs: number;
  /** The processing clock: the events' recordedAtMs. */
  readonly recordedAtMs: number;
  readonly ttlMs: number;
  readonly correlationId: string | null;
}

/** An entry past its TTL counts as absent even before the purge has removed it. */
export function decideDedupe(input: DedupeInput): DedupeDecision {
  const { command, nowMs, recordedAtMs, correlationId } = input;
  const scope = dedupeScopeOf(command);
  const original =
    input.seen !== undefined && !isExpired(input.seen.firstSeenMs, nowMs, input.ttlMs)
      ? input.seen
      : undefined;
  const initiated = initiatedEvent(command, { occurredAtMs: nowMs, recordedAtMs }, correlationId);
  if (original === undefined) {
    const seen: SeenEntry = {
      paymentId: command.paymentId,
      commandId: command.commandId,
      requestHash: command.requestHash,
      firstSeenMs: nowMs,
    };
    return {
      outcome: 'accepted',
      scope,
      seen,
      events: [initiated],
      accepted: { command, nextSequence: 1, velocity: null, risk: null },
    };
  }
  if (original.commandId === command.commandId || original.paymentId === command.paymentId) {
    return { outcome: 'redelivered', scope, original };
  }
  const sameRequest = original.requestHash === command.requestHash;
  const code = sameRequest ? 'DUPLICATE_REQUEST' : 'IDEMPOTENCY_KEY_REUSED';
  const detail = sameRequest
    ? `the same request was already submitted under this idempotency key as payment ${original.paymentId}`
    : `this idempotency key was already used for a different request (payment ${original.paymentId})`;
  const stamp = {
    paymentId: command.paymentId,
    sequence: 1,
    occurredAtMs: nowMs,
    recordedAtMs,
    correlationId,
  };
  return {
    outcome: 'rejected',
    scope,
    code,
    original,
    events: [initiated, rejectedEvent(stamp, code, detail)],
  };
}

export function seenAtMs(entry: SeenEntry): number {
  return entry.firstSeenMs;
}
