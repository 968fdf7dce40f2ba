/**
 * Rate limits by KYC tier: a token bucket per principal (JWT `sub`), its size and refill rate
 * those of the principal's tier (gateway/rate-limits.ts). A customer's or merchant's tier is the
 * highest KYC tier of the accounts it owns (`AccountQueries.highestTierOfOwner`, cached for
 * `tierCacheTtlMs` in an LRU of `maxTrackedKeys`); the service roles get SERVICE; anonymous
 * requests are counted by client address in the lowest tier. A tier look-up that fails or times
 * out counts as the lowest tier. Every limited answer carries the `RateLimit-Policy` and
 * `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers); over the limit it is 429
 * problem+json with `Retry-After`. Runs after authentication, so a bad token is 401, not 429;
 * operational routes (health, metrics, API document) are exempt. With Redis the buckets are shared
 * by every instance; when Redis errs or is slower than `redisTimeoutMs` the request passes: the
 * limit protects capacity, it never decides a payment.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, type Registry } from 'prom-client';

import { ApiError } from '../errors.js';
import type { Principal } from '../fastify-types.js';
import type { AccountQueries } from '../ports.js';
import { LOWEST_TIER, policyName, type RateLimits, type RateTier } from '../rate-limits.js';
import { withTimeout } from '../timeout.js';
import type { BucketStore, Take } from '../token-bucket.js';

export interface RateLimitOptions {
  readonly limits: RateLimits;
  readonly buckets: BucketStore;
  readonly accounts: AccountQueries;
  readonly maxTrackedKeys: number;
  readonly tierCacheTtlMs: number;
  /** Bound on the tier look-up; past it the lowest tier applies. */
  readonly lookupTimeoutMs: number;
  /** Bound on one bucket step; past it the request passes. */
  readonly storeTimeoutMs: number;
  readonly registry?: Registry;
  readonly now?: () => number;
}

const OWNER_ROLES = new Set(['customer', 'merchant']);

/** Tiers by owner for a short time, at most `maxKeys` of them (least recently used dropped). */
class TierCache {
  readonly #entries = new Map<string, { tier: RateTier; untilMs: number }>();

  constructor(
    private readonly maxKeys: number,
    private readonly ttlMs: number,
  ) {}

  get(ownerId: string, nowMs: number): RateTier | undefined {
    const entry = this.#entries.get(ownerId);
    if (entry === undefined || entry.untilMs <= nowMs) return undefined;
    return entry.tier;
  }

  set(ownerId: string, tier: RateTier, nowMs: number): void {
    this.#entries.delete(ownerId);
    this.#entries.set(ownerId, { tier, untilMs: nowMs + this.ttlMs });
    if (this.#entries.size > this.maxKeys) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}

function countersOn(registry: Registry | undefined) {
  const counter = (name: string, help: string, labelNames: readonly string[] = []) =>
    (registry?.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames, registers: registry === undefined ? [] : [registry] });
  return {
    limited: counter('payflow_rate_limited_total', 'Requests answered 429 by the rate limiter', ['tier']),
    failOpen: counter(
      'payflow_rate_limit_fail_open_total',
      'Requests let through because the bucket store (Redis) failed or timed out',
    ),
    tierFallbacks: counter(
      'payflow_rate_limit_tier_fallback_total',
      'Tier look-ups that failed or timed out, counted as the lowest tier',
    ),
  };
}

function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const now = options.now ?? Date.now;
  const tiers = new TierCache(options.maxTrackedKeys, options.tierCacheTtlMs);
  const counters = countersOn(options.registry);

  const tierOf = async (principal: Principal | null): Promise<RateTier> => {
    if (principal === null) return LOWEST_TIER;
    if (![...principal.roles].every((role) => OWNER_ROLES.has(role))) return 'SERVICE';
    const cached = tiers.get(principal.id, now());
    if (cached !== undefined) return cached;
    try {
      const tier =
        (await withTimeout(
          options.accounts.highestTierOfOwner(principal.id),
          options.lookupTimeoutMs,
          'tier look-up',
        )) ?? LOWEST_TIER;
      tiers.set(principal.id, tier, now());
      return tier;
    } catch (error) {
      counters.tierFallbacks.inc();
      app.log.warn({ err: error }, 'rate-limit tier look-up failed; the lowest tier applies');
      return LOWEST_TIER;
    }
  };

  app.addHook('preValidation', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.operational === true) return;
    const tier = await tierOf(request.principal);
    const limits = options.limits[tier];
    const key = request.principal === null ? `ip:${request.ip}` : `principal:${request.principal.id}`;
    let take: Take;
    try {
      take = await withTimeout(
        options.buckets.take(key, limits),
        options.storeTimeoutMs,
        'rate-limit bucket',
      );
    } catch (error) {
      counters.failOpen.inc();
      app.log.warn({ err: error }, 'rate-limit store failed; the request passes');
      return;
    }
    const name = policyName(tier);
    const windowS = Math.max(1, Math.ceil(limits.burst / limits.perSecond));
    const resetS = Math.ceil((take.allowed ? take.fullInMs : take.retryAfterMs) / 1_000);
    reply.header('RateLimit-Policy', `"${name}";q=${limits.burst};w=${windowS}`);
    reply.header('RateLimit', `"${name}";r=${take.remaining};t=${resetS}`);
    if (take.allowed) return;
    counters.limited.inc({ tier: name });
    throw new ApiError(
      'RATE_LIMITED',
      `more than the ${name} limit of ${limits.burst} requests at once, ${limits.perSecond} a second`,
      { headers: { 'Retry-After': String(Math.max(1, resetS)) } },
    );
  });
  return Promise.resolve();
}

export const rateLimits = fp(rateLimitPlugin, { name: 'payflow-rate-limit' });
