/** The dedupe processor: first sight of an idempotency scope starts a payment; repeats don't. */
import type { PaymentCommand } from '../../schemas/types.js';
import {
  correlationIdOf,
  deadLetteredEvent,
  initiatedEvent,
  paymentIdOf,
  STAGE_SEQUENCE,
} from '../payment-events.js';
import { HEADER, type BadRecord, type Processor } from '../runtime/api.js';
import type { PaymentEvent } from '../../schemas/types.js';
import { TOPIC } from '../../topics/names.js';
import { assertPositiveMs, DEFAULT_PURGE_INTERVAL_MS, ttlPurger, ttlStore } from '../ttl.js';
import {
  decideDedupe,
  dedupeScopeOf,
  DEFAULT_DEDUPE_TTL_MS,
  MIN_DEDUPE_TTL_MS,
  seenAtMs,
  type DedupeDecision,
  type SeenEntry,
} from './logic.js';

export const SEEN_STORE = 'seen';

export interface DedupeProcessorOptions {
  /** How long a scope is remembered (stream time); at least MIN_DEDUPE_TTL_MS. */
  readonly ttlMs?: number;
  /** Scopes remembered per partition. */
  readonly maxEntries?: number;
  /** How often (stream time) expired scopes are purged. */
  readonly purgeIntervalMs?: number;
  /** Told every decision, so redeliveries and rejections can be counted. */
  readonly onDecision?: (decision: DedupeDecision) => void;
}

export function dedupeProcessor(options: DedupeProcessorOptions = {}): Processor<PaymentCommand> {
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  const purgeIntervalMs = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  assertPositiveMs('purgeIntervalMs', purgeIntervalMs);
  if (ttlMs < MIN_DEDUPE_TTL_MS)
    throw new RangeError(`dedupe ttlMs must be at least ${MIN_DEDUPE_TTL_MS} ms (24 h), got ${ttlMs}`);
  return {
    name: 'dedupe',
    inputs: [TOPIC.paymentsCommands],
    outputs: [TOPIC.paymentsEvents, TOPIC.paymentsAccepted],
    stores: [ttlStore<SeenEntry>(SEEN_STORE, options.maxEntries ?? 1_000_000, seenAtMs)],
    punctuators: [ttlPurger(SEEN_STORE, ttlMs, purgeIntervalMs)],
    process(record, context) {
      const store = context.keyValueStore<SeenEntry>(SEEN_STORE);
      const command = record.value;
      const correlationId = correlationIdOf(record.headers);
      const decision = decideDedupe({
        command,
        seen: store.get(dedupeScopeOf(command)),
        nowMs: record.timestampMs,
        recordedAtMs: context.wallClockMs,
        ttlMs,
        correlationId,
      });
      options.onDecision?.(decision);
      if (decision.outcome === 'redelivered') return;
      if (decision.outcome === 'accepted') store.put(decision.scope, decision.seen);
      for (const event of decision.events)
        context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
      if (decision.outcome === 'accepted') {
        // Keyed by the sender, as its input: validation runs in this task. The payment id
        // travels on in headers to records keyed by account.
        context.forward({
          topic: TOPIC.paymentsAccepted,
          key: command.senderAccountId,
          value: decision.accepted,
          headers: { ...record.headers, [HEADER.paymentId]: command.paymentId },
        });
      }
    },
    onBadRecord(bad, context) {
      for (const event of eventsEndingBadCommand(bad, context.wallClockMs))
        context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
    },
  };
}

/**
 * A payments.commands record dedupe can't take still ends its payment. One that decoded (its
 * scope could not be remembered: a full store) starts it with its facts, PaymentInitiated, and
 * ends it PaymentFailed RECORD_DEAD_LETTERED. One that did not decode (or a tombstone) ends
 * PaymentFailed at sequence 0, without facts, its payment id from the `payflow-payment-id`
 * header the gateway sets; a record without that header names no payment: only its dead letter
 * tells.
 */
export function eventsEndingBadCommand(bad: BadRecord, recordedAtMs: number): PaymentEvent[] {
  const command = bad.value as PaymentCommand | undefined;
  if (command !== undefined) {
    const at = { occurredAtMs: bad.timestampMs, recordedAtMs };
    return [
      initiatedEvent(command, at, correlationIdOf(bad.headers)),
      deadLetteredEvent(command.paymentId, STAGE_SEQUENCE.validate, bad, recordedAtMs),
    ];
  }
  const paymentId = paymentIdOf(bad.headers);
  return paymentId === undefined
    ? []
    : [deadLetteredEvent(paymentId, STAGE_SEQUENCE.dedupe, bad, recordedAtMs)];
}
