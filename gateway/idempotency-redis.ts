/**
 * Redis IdempotencyStore, shared by every gateway replica. The in-flight lock is taken with
 * `SET key value NX PX lockTtl`; completing and releasing are Lua scripts that compare the stored
 * value with the holder's exact lock record, so a request whose lock expired and passed to a
 * retry can't overwrite or delete the retry's lock. Every call is bounded by a timeout.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { scopeId } from './idempotency-memory.js';
import type {
  AttemptIdentity,
  IdempotencyBegin,
  IdempotencyScope,
  IdempotencyStore,
  StoredResponse,
} from './ports.js';
import { withTimeout } from './timeout.js';

export interface RedisIdempotencyStoreOptions {
  readonly ttlMs: number;
  readonly lockTtlMs: number;
  /** Bound on each Redis round trip, on top of the client's own commandTimeout. */
  readonly commandTimeoutMs: number;
  readonly keyPrefix?: string;
}

type LockRecord = { readonly state: 'in_flight'; readonly fingerprint: string; readonly lockToken: string };
type CompletedRecord = {
  readonly state: 'completed';
  readonly fingerprint: string;
  readonly response: StoredResponse;
};

/** KEYS[1] = record key; ARGV = expected lock record, completed record, ttl ms. */
const COMPLETE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/** KEYS[1] = record key; ARGV[1] = expected lock record. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** KEYS[1] = attempt key; ARGV = proposed attempt record, ttl ms. Answers the stored record. */
const FIRST_ATTEMPT_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

type AttemptRecord = { readonly fingerprint: string; readonly attempt: AttemptIdentity };

/** SET NX then GET can race with an expiry in between; a few rounds always settle it. */
const BEGIN_ATTEMPTS_MAX = 3;

export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #redis: Redis;
  readonly #options: RedisIdempotencyStoreOptions;
  readonly #prefix: string;

  constructor(redis: Redis, options: RedisIdempotencyStoreOptions) {
    this.#redis = redis;
    this.#options = options;
    this.#prefix = options.keyPrefix ?? 'payflow:idempotency:v1:';
  }

  async begin(scope: IdempotencyScope, fingerprint: string): Promise<IdempotencyBegin> {
    const key = this.#key(scope);
    for (let attempt = 0; attempt < BEGIN_ATTEMPTS_MAX; attempt += 1) {
      const lockToken = randomUUID();
      const lock = lockRecord(fingerprint, lockToken);
      const set = await this.#bounded(this.#redis.set(key, lock, 'PX', this.#options.lockTtlMs, 'NX'));
      if (set === 'OK') return { outcome: 'acquired', lockToken };
      const current = await this.#bounded(this.#redis.get(key));
      if (current !== null) return classify(current, fingerprint);
    }
    throw new Error(`idempotency key kept expiring while being read (${BEGIN_ATTEMPTS_MAX} attempts)`);
  }

  async complete(scope: IdempotencyScope, lockToken: string, response: StoredResponse): Promise<void> {
    const key = this.#key(scope);
    const current = await this.#bounded(this.#redis.get(key));
    const fingerprint = current === null ? undefined : lockFingerprint(current, lockToken);
    if (fingerprint === undefined) return; // the lock is no longer ours
    const completed: CompletedRecord = { state: 'completed', fingerprint, response };
    const args = [lockRecord(fingerprint, lockToken), JSON.stringify(completed), String(this.#options.ttlMs)];
    await this.#bounded(this.#redis.eval(COMPLETE_SCRIPT, 1, key, ...args));
  }

  async release(scope: IdempotencyScope, lockToken: string): Promise<void> {
    const key = this.#key(scope);
    const current = await this.#bounded(this.#redis.get(key));
    const fingerprint = current === null ? undefined : lockFingerprint(current, lockToken);
    if (fingerprint === undefined) return;
    await this.#bounded(this.#redis.eval(RELEASE_SCRIPT, 1, key, lockRecord(fingerprint, lockToken)));
  }

  async firstAttempt(
    scope: IdempotencyScope,
    fingerprint: string,
    proposed: AttemptIdentity,
  ): Promise<AttemptIdentity> {
    const record: AttemptRecord = { fingerprint, attempt: proposed };
    const stored = await this.#bounded(
      this.#redis.eval(
        FIRST_ATTEMPT_SCRIPT,
        1,
        `${this.#prefix}attempt:${scopeId(scope)}`,
        JSON.stringify(record),
        String(this.#options.ttlMs),
      ),
    );
    const current = JSON.parse(String(stored)) as AttemptRecord;
    return current.fingerprint === fingerprint ? current.attempt : proposed;
  }

  /** The Redis client belongs to whoever created it; closing the store does not quit it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #key(scope: IdempotencyScope): string {
    return this.#prefix + scopeId(scope);
  }

  #bounded<T>(promise: Promise<T>): Promise<T> {
    return withTimeout(promise, this.#options.commandTimeoutMs, 'redis idempotency command');
  }
}

/** Deterministic serialization: the Lua scripts compare records as exact strings. */
function lockRecord(fingerprint: string, lockToken: string): string {
  const record: LockRecord = { state: 'in_flight', fingerprint, lockToken };
  return JSON.stringify(record);
}

function parse(raw: string): LockRecord | CompletedRecord {
  return JSON.parse(raw) as LockRecord | CompletedRecord;
}

function classify(raw: string, fingerprint: string): IdempotencyBegin {
  const record = parse(raw);
  if (record.fingerprint !== fingerprint) return { outcome: 'mismatch' };
  if (record.state === 'in_flight') return { outcome: 'in_flight' };
  return { outcome: 'replay', response: record.response };
}

function lockFingerprint(raw: string, lockToken: string): string | undefined {
  const record = parse(raw);
  return record.state === 'in_flight' && record.lockToken === lockToken ? record.fingerprint : undefined;
}

export interface RedisClientOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/**
 * A client tuned for a request path: no offline queue (fail fast while disconnected, the gateway
 * answers 503) and one retry per command.
 */
export async function connectRedis(options: RedisClientOptions): Promise<Redis> {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
  });
  try {
    await withTimeout(redis.connect(), options.connectTimeoutMs, 'redis connect');
  } catch (error) {
    redis.disconnect(); // stop ioredis from reconnecting in the background
    throw error;
  }
  return redis;
}
