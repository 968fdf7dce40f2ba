/**
 * The velocity processor, in the sender's task between validation and fraud scoring. Its windows
 * are tumbling window stores of buckets, per sender, by stream time: 1-second buckets for the
 * last minute, 1-minute buckets for the last hour, 15-minute buckets for the last 24 hours. The
 * count over "the last minute" at time t is the sum of the 60 buckets up to t's, so it slides in
 * 1-second steps (an hour in 1-minute steps, a day in 15-minute steps) and counts a payment for at
 * least the window's length minus one bucket and at most the window's length.
 *
 * Deposits (the sender is a funding account) are not counted or limited.
 */
import type { Account, PaymentInFlight } from '../../schemas/types.js';
import { isFundingAccount } from '../../schemas/system-accounts.js';
import { correlationIdOf, deadLetteredEvent, paymentIdOf, STAGE_SEQUENCE } from '../payment-events.js';
import type { Processor, ProcessorContext, WindowSpec, WindowStore } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { retentionPurger } from '../ttl.js';
import { DEFAULT_VELOCITY_LIMITS, type VelocityLimits } from './limits.js';
import { decideVelocity, type VelocityDecision, type WindowTotals } from './logic.js';

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Stream time between two purges of the buckets past retention. */
const RETENTION_PURGE_INTERVAL_MS = SECOND_MS;

interface Bucket {
  readonly count: number;
  readonly amountMinor: bigint;
}

/** One window of the rule: its length, the bucket it slides by, its store. */
interface VelocityWindow {
  readonly store: string;
  readonly lengthMs: number;
  readonly bucketMs: number;
}

export const VELOCITY_WINDOWS = {
  minute: { store: 'velocity-1m', lengthMs: MINUTE_MS, bucketMs: SECOND_MS },
  hour: { store: 'velocity-1h', lengthMs: HOUR_MS, bucketMs: MINUTE_MS },
  day: { store: 'velocity-24h', lengthMs: DAY_MS, bucketMs: 15 * MINUTE_MS },
} as const satisfies Record<string, VelocityWindow>;

/** How late (by stream time) a payment may be and still count in its buckets. */
export const VELOCITY_GRACE_MS = 10 * SECOND_MS;

export interface VelocityProcessorOptions {
  readonly limits?: VelocityLimits;
  /** Buckets kept per partition in each window's store. */
  readonly maxBuckets?: number;
  /** Told every decision, so rejections can be counted by window. */
  readonly onDecision?: (decision: VelocityDecision) => void;
}

function bucketSpec(window: VelocityWindow): WindowSpec {
  return {
    type: 'tumbling',
    sizeMs: window.bucketMs,
    advanceMs: window.bucketMs,
    graceMs: VELOCITY_GRACE_MS,
    // A bucket counts until the window has slid past it.
    retentionMs: Math.max(window.lengthMs, VELOCITY_GRACE_MS),
  };
}

/** The sum of `key`'s buckets in the window ending at `atMs`: the last length/bucket buckets. */
function totalOf(store: WindowStore<Bucket>, window: VelocityWindow, key: string, atMs: number) {
  const lastStart = Math.floor(atMs / window.bucketMs) * window.bucketMs;
  let count = 0;
  let amountMinor = 0n;
  for (const { value } of store.fetch(key, lastStart - window.lengthMs + window.bucketMs, lastStart)) {
    count += value.count;
    amountMinor += value.amountMinor;
  }
  return { count, amountMinor };
}

export function velocityProcessor(options: VelocityProcessorOptions = {}): Processor<PaymentInFlight> {
  const limits = options.limits ?? DEFAULT_VELOCITY_LIMITS;
  const maxEntries = options.maxBuckets ?? 2_000_000;
  const windows = Object.values(VELOCITY_WINDOWS);
  return {
    name: 'velocity',
    inputs: [TOPIC.paymentsValidated],
    outputs: [TOPIC.paymentsEvents, TOPIC.paymentsChecked],
    stores: windows.map((window) => ({
      kind: 'window' as const,
      name: window.store,
      maxEntries,
      window: bucketSpec(window),
    })),
    globalTables: [TOPIC.accounts],
    // Buckets past their retention go in bounded batches, once a second of stream time.
    punctuators: windows.map((window) => retentionPurger(window.store, RETENTION_PURGE_INTERVAL_MS)),
    process(record, context) {
      const inFlight = record.value;
      const { command } = inFlight;
      const forwardOn = (value: PaymentInFlight) =>
        context.forward({ topic: TOPIC.paymentsChecked, key: record.key, value });
      if (command.kind === 'DEPOSIT' || isFundingAccount(command.senderAccountId)) {
        forwardOn(inFlight);
        return;
      }
      const sender = command.senderAccountId;
      const stores = storesOf(context);
      const at = record.timestampMs;
      const minute = totalOf(stores.minute, VELOCITY_WINDOWS.minute, sender, at);
      const hour = totalOf(stores.hour, VELOCITY_WINDOWS.hour, sender, at);
      const day = totalOf(stores.day, VELOCITY_WINDOWS.day, sender, at);
      const before: WindowTotals = {
        count1m: minute.count,
        count1h: hour.count,
        count24h: day.count,
        amount24hMinor: day.amountMinor,
      };
      const account = context.globalTable<Account>(TOPIC.accounts).get(sender);
      const decision = decideVelocity({
        inFlight,
        // Validation let the sender through, so it is in the table; the strictest tier otherwise.
        tier: account?.kycTier ?? 'TIER_0',
        limits,
        before,
        stamp: {
          occurredAtMs: at,
          recordedAtMs: context.wallClockMs,
          correlationId: correlationIdOf(record.headers),
        },
      });
      options.onDecision?.(decision);
      if (decision.outcome === 'rejected') {
        context.forward({ topic: TOPIC.paymentsEvents, key: command.paymentId, value: decision.event });
        return;
      }
      const add = (previous: Bucket | undefined): Bucket => ({
        count: (previous?.count ?? 0) + 1,
        amountMinor: (previous?.amountMinor ?? 0n) + command.amountMinor,
      });
      // A payment later than the grace period is decided on the buckets there are, and not counted.
      stores.minute.update(sender, at, add);
      stores.hour.update(sender, at, add);
      stores.day.update(sender, at, add);
      forwardOn(decision.passed);
    },
    // A payments.validated record carries its payment id in headers: the payment ends where its record did.
    onBadRecord(bad, context) {
      const paymentId = paymentIdOf(bad.headers);
      if (paymentId === undefined) return;
      const event = deadLetteredEvent(paymentId, STAGE_SEQUENCE.velocity, bad, context.wallClockMs);
      context.forward({ topic: TOPIC.paymentsEvents, key: event.paymentId, value: event });
    },
  };
}

function storesOf(context: ProcessorContext) {
  return {
    minute: context.windowStore<Bucket>(VELOCITY_WINDOWS.minute.store),
    hour: context.windowStore<Bucket>(VELOCITY_WINDOWS.hour.store),
    day: context.windowStore<Bucket>(VELOCITY_WINDOWS.day.store),
  };
}
