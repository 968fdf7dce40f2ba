/**
 * API rate limits per tier: a token bucket per principal, `burst` tokens at most, refilled at
 * `perSecond` tokens a second; a request takes one token. A customer's or merchant's tier is the
 * highest KYC tier of its accounts (TIER_0 without one), the service roles' is SERVICE, and an
 * anonymous client's is TIER_0. The defaults are below; a JSON file (`PAYFLOW_RATE_LIMITS_FILE`)
 * may replace them, validated by `RATE_LIMITS_SCHEMA` at start-up so a bad file stops the process
 * naming the field.
 */
import { z } from 'zod';

import type { KycTier } from '../schemas/types.js';

export const RATE_TIERS = ['TIER_0', 'TIER_1', 'TIER_2', 'TIER_3', 'SERVICE'] as const satisfies readonly (
  KycTier | 'SERVICE'
)[];
export type RateTier = (typeof RATE_TIERS)[number];

/** The tier of a principal without accounts, of anonymous clients and of failed look-ups. */
export const LOWEST_TIER: RateTier = 'TIER_0';

export interface BucketLimits {
  /** Capacity of the bucket: requests that may come at once. */
  readonly burst: number;
  /** Tokens added a second, up to `burst`: the sustained rate. */
  readonly perSecond: number;
}

export type RateLimits = Readonly<Record<RateTier, BucketLimits>>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  TIER_0: { burst: 20, perSecond: 2 },
  TIER_1: { burst: 50, perSecond: 10 },
  TIER_2: { burst: 200, perSecond: 50 },
  TIER_3: { burst: 1_000, perSecond: 200 },
  SERVICE: { burst: 5_000, perSecond: 2_000 },
};

const bucket = z
  .object({
    burst: z.number().int().min(1).max(100_000_000),
    perSecond: z.number().positive().max(100_000_000),
  })
  .strict();

export const RATE_LIMITS_SCHEMA = z
  .object({
    tiers: z
      .object({ TIER_0: bucket, TIER_1: bucket, TIER_2: bucket, TIER_3: bucket, SERVICE: bucket })
      .strict(),
  })
  .strict();

export class RateLimitsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RateLimitsError';
  }
}

/** Parses a rate-limits document; throws a RateLimitsError naming the first bad field. */
export function parseRateLimits(document: unknown): RateLimits {
  const parsed = RATE_LIMITS_SCHEMA.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RateLimitsError(issue.path.join('.') || '(root)', issue.message);
  }
  return parsed.data.tiers;
}

/** The name of a tier in the RateLimit headers and problem details (`tier-2`, `service`). */
export function policyName(tier: RateTier): string {
  return tier === 'SERVICE' ? 'service' : `tier-${tier.slice('TIER_'.length)}`;
}
