/**
 * The velocity rule as a pure function: a sender's counts in the last minute, hour and day, and
 * its amount in the last day, against the limits of its KYC tier. A payment over any limit is
 * rejected VELOCITY_LIMIT_EXCEEDED; one within them goes on carrying its counts (a feature for
 * fraud scoring) and is counted. Rejected payments are not counted.
 */
import type { KycTier, PaymentEvent, PaymentInFlight, VelocityCounts } from '../../schemas/types.js';
import { rejectedEvent, type EventStamp } from '../payment-events.js';
import type { VelocityLimits } from './limits.js';

/** A sender's payments counted so far in each window (without the one being decided). */
export interface WindowTotals {
  readonly count1m: number;
  readonly count1h: number;
  readonly count24h: number;
  readonly amount24hMinor: bigint;
}

export type VelocityDecision =
  | { readonly outcome: 'passed'; readonly passed: PaymentInFlight; readonly counts: VelocityCounts }
  | {
      readonly outcome: 'rejected';
      readonly window: '1m' | '1h' | '24h' | 'amount-24h';
      readonly event: PaymentEvent;
    };

export interface VelocityInput {
  readonly inFlight: PaymentInFlight;
  readonly tier: KycTier;
  readonly limits: VelocityLimits;
  readonly before: WindowTotals;
  readonly stamp: Omit<EventStamp, 'paymentId' | 'sequence'>;
}

const WINDOW_TEXT = { '1m': '1 minute', '1h': '1 hour', '24h': '24 hours' } as const;

export function decideVelocity(input: VelocityInput): VelocityDecision {
  const { inFlight, tier, before } = input;
  const { command } = inFlight;
  const limits = input.limits[tier];
  const after: VelocityCounts = {
    count1m: before.count1m + 1,
    count1h: before.count1h + 1,
    count24h: before.count24h + 1,
    amount24hMinor: before.amount24hMinor + command.amountMinor,
    kycTier: tier,
  };
  const stamp: EventStamp = { ...input.stamp, paymentId: command.paymentId, sequence: inFlight.nextSequence };
  const countOver = (
    [
      ['1m', after.count1m, limits.perMinute],
      ['1h', after.count1h, limits.perHour],
      ['24h', after.count24h, limits.perDay],
    ] as const
  ).find(([, counted, limit]) => counted > limit);
  if (countOver !== undefined) {
    const [window, , limit] = countOver;
    return {
      outcome: 'rejected',
      window,
      event: rejectedEvent(
        stamp,
        'VELOCITY_LIMIT_EXCEEDED',
        `${tier} allows ${limit} payments per ${WINDOW_TEXT[window]}; this would be payment ${limit + 1} within it`,
      ),
    };
  }
  if (after.amount24hMinor > limits.amountPerDayMinor) {
    return {
      outcome: 'rejected',
      window: 'amount-24h',
      event: rejectedEvent(
        stamp,
        'VELOCITY_LIMIT_EXCEEDED',
        `${tier} allows ${limits.amountPerDayMinor} minor units per 24 hours; ` +
          `this payment of ${command.amountMinor} would bring the sender to ${after.amount24hMinor}`,
      ),
    };
  }
  return { outcome: 'passed', passed: { ...inFlight, velocity: after }, counts: after };
}
