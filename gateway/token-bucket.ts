/**
 * Token buckets: `take` refills a bucket by the time elapsed since its last take (up to `burst`),
 * then takes one token if there is one. Two stores with the same semantics: an LRU in memory (one
 * gateway, the embedded mode) and Redis (shared by every gateway instance), where one Lua script
 * does the whole step atomically on Redis's own clock, so instances' clocks never matter.
 */
import type { Redis } from 'ioredis';

import type { BucketLimits } from './rate-limits.js';

export interface Take {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** Milliseconds until a token is there again (0 when one is). */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  readonly fullInMs: number;
}

export interface BucketStore {
  take(key: string, limits: BucketLimits): Promise<Take>;
}

interface BucketState {
  tokens: number;
  atMs: number;
}

/** The refill-and-take step shared by the memory store (the Lua script mirrors it). */
export function takeToken(state: BucketState | undefined, limits: BucketLimits, nowMs: number) {
  const perMs = limits.perSecond / 1_000;
  const before =
    state === undefined
      ? limits.burst
      : Math.min(limits.burst, state.tokens + Math.max(0, nowMs - state.atMs) * perMs);
  const allowed = before >= 1;
  const tokens = allowed ? before - 1 : before;
  const take: Take = {
    allowed,
    remaining: Math.floor(tokens),
    retryAfterMs: allowed ? 0 : Math.ceil((1 - tokens) / perMs),
    fullInMs: Math.ceil((limits.burst - tokens) / perMs),
  };
  return { state: { tokens, atMs: nowMs }, take };
}

/** Buckets in memory: at most `maxKeys`, the least recently used dropped first. */
export class MemoryBucketStore implements BucketStore {
  readonly #buckets = new Map<string, BucketState>();

  constructor(
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, limits: BucketLimits): Promise<Take> {
    const before = this.#buckets.get(key);
    const { state, take } = takeToken(before, limits, this.now());
    this.#buckets.delete(key);
    this.#buckets.set(key, state);
    if (this.#buckets.size > this.maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return Promise.resolve(take);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/**
 * KEYS[1] the bucket (a hash of tokens and ms); ARGV burst, tokens per ms. Returns allowed (0/1),
 * whole tokens left, ms until a token, ms until full. The key expires once the bucket would be
 * full again, so an idle principal's bucket vanishes.
 */
const TAKE_SCRIPT = `
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = burst
if saved[1] then
  local elapsed = math.max(0, now - tonumber(saved[2]))
  tokens = math.min(burst, tonumber(saved[1]) + elapsed * per_ms)
end
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = tokens - 1
end
local retry = 0
if allowed == 0 then retry = math.ceil((1 - tokens) / per_ms) end
local full = math.ceil((burst - tokens) / per_ms)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ms', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.max(1, full))
return {allowed, math.floor(tokens), retry, full}
`;

type TakeCommand = (key: string, burst: number, perMs: string) => Promise<[number, number, number, number]>;

/** Buckets in Redis under `keyPrefix`, one EVALSHA per take (ioredis loads the script once). */
export class RedisBucketStore implements BucketStore {
  readonly #take: TakeCommand;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
  ) {
    if (!('payflowTakeToken' in redis)) {
      redis.defineCommand('payflowTakeToken', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    }
    const command = (redis as unknown as { payflowTakeToken: TakeCommand }).payflowTakeToken;
    this.#take = command.bind(redis);
  }

  async take(key: string, limits: BucketLimits): Promise<Take> {
    const [allowed, remaining, retryAfterMs, fullInMs] = await this.#take(
      this.keyPrefix + key,
      limits.burst,
      String(limits.perSecond / 1_000),
    );
    return { allowed: allowed === 1, remaining, retryAfterMs, fullInMs };
  }
}
