/**
 * Velocity limits per KYC tier: how many payments a sender may make per minute, hour and day, and
 * how much it may send per day, in the currency's minor units. The defaults are below; a JSON file
 * (`PAYFLOW_VELOCITY_LIMITS_FILE`) may replace them, validated by `VELOCITY_LIMITS_SCHEMA` at
 * start-up so a bad file stops the process naming the field.
 */
import { z } from 'zod';

import type { KycTier } from '../../schemas/types.js';

export const KYC_TIERS = ['TIER_0', 'TIER_1', 'TIER_2', 'TIER_3'] as const satisfies readonly KycTier[];

export interface TierLimits {
  readonly perMinute: number;
  readonly perHour: number;
  readonly perDay: number;
  /** Sum of amounts per 24 h, minor units of the payment's currency. */
  readonly amountPerDayMinor: bigint;
}

export type VelocityLimits = Readonly<Record<KycTier, TierLimits>>;

export const DEFAULT_VELOCITY_LIMITS: VelocityLimits = {
  TIER_0: { perMinute: 3, perHour: 10, perDay: 20, amountPerDayMinor: 50_000n },
  TIER_1: { perMinute: 10, perHour: 50, perDay: 200, amountPerDayMinor: 500_000n },
  TIER_2: { perMinute: 30, perHour: 300, perDay: 2_000, amountPerDayMinor: 5_000_000n },
  TIER_3: { perMinute: 600, perHour: 10_000, perDay: 100_000, amountPerDayMinor: 100_000_000_000n },
};

const INT64_MAX = 2n ** 63n - 1n;
const count = z.number().int().min(1).max(1_000_000_000);
/** An amount as a JSON string of digits (exact beyond 2^53) or a safe integer. */
const amount = z
  .union([
    z.string().regex(/^[1-9][0-9]{0,18}$/, 'a positive whole number of minor units'),
    z.number().int().min(1),
  ])
  .refine(
    (value) => typeof value === 'string' || Number.isSafeInteger(value),
    'beyond 2^53: give it as a string',
  )
  .transform((value) => BigInt(value))
  .refine((value) => value <= INT64_MAX, 'beyond a signed 64-bit amount');

const tierLimits = z
  .object({ perMinute: count, perHour: count, perDay: count, amountPerDayMinor: amount })
  .strict()
  .refine((t) => t.perMinute <= t.perHour && t.perHour <= t.perDay, {
    message: 'perMinute <= perHour <= perDay',
  });

export const VELOCITY_LIMITS_SCHEMA = z
  .object({
    tiers: z
      .object({ TIER_0: tierLimits, TIER_1: tierLimits, TIER_2: tierLimits, TIER_3: tierLimits })
      .strict(),
  })
  .strict();

export class VelocityLimitsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'VelocityLimitsError';
  }
}

/** Parses a limits document; throws a VelocityLimitsError naming the first bad field. */
export function parseVelocityLimits(document: unknown): VelocityLimits {
  const parsed = VELOCITY_LIMITS_SCHEMA.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new VelocityLimitsError(issue.path.join('.') || '(root)', issue.message);
  }
  return parsed.data.tiers;
}
