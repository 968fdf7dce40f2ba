/**
 * In-memory IdempotencyStore for the embedded mode and tests. Bounded: past `maxKeys` the oldest
 * record is evicted. That weakens only the gateway's fast path: the dedupe processor remains the
 * authoritative idempotency check on `payments.commands`.
 */
import { randomUUID } from 'node:crypto';
import type {
  AttemptIdentity,
  IdempotencyBegin,
  IdempotencyScope,
  IdempotencyStore,
  StoredResponse,
} from './ports.js';

export interface MemoryIdempotencyStoreOptions {
  /** How long a completed response is kept for replay. */
  readonly ttlMs: number;
  /** How long an in-flight lock lives if its holder never completes or releases it. */
  readonly lockTtlMs: number;
  readonly maxKeys: number;
  readonly now?: () => number;
}

type Entry =
  | {
      readonly state: 'in_flight';
      readonly fingerprint: string;
      readonly lockToken: string;
      readonly expiresAtMs: number;
    }
  | {
      readonly state: 'completed';
      readonly fingerprint: string;
      readonly response: string;
      readonly expiresAtMs: number;
    };

export function scopeId(scope: IdempotencyScope): string {
  // Length-prefixed so that no principal/key pair can collide with another.
  return `${scope.principal.length}:${scope.principal}:${scope.key}`;
}

interface StoredAttempt {
  readonly fingerprint: string;
  readonly attempt: AttemptIdentity;
  readonly expiresAtMs: number;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
  /** Bounded like the entries: past `maxKeys` the oldest goes. */
  readonly #attempts = new Map<string, StoredAttempt>();
  readonly #options: MemoryIdempotencyStoreOptions;
  readonly #now: () => number;

  constructor(options: MemoryIdempotencyStoreOptions) {
    if (options.maxKeys < 1 || options.ttlMs < 1 || options.lockTtlMs < 1) {
      throw new RangeError('maxKeys, ttlMs and lockTtlMs must be positive');
    }
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  begin(scope: IdempotencyScope, fingerprint: string): Promise<IdempotencyBegin> {
    const id = scopeId(scope);
    const entry = this.#live(id);
    if (entry === undefined) {
      const lockToken = randomUUID();
      this.#insert(id, {
        state: 'in_flight',
        fingerprint,
        lockToken,
        expiresAtMs: this.#now() + this.#options.lockTtlMs,
      });
      return Promise.resolve({ outcome: 'acquired', lockToken });
    }
    if (entry.fingerprint !== fingerprint) return Promise.resolve({ outcome: 'mismatch' });
    if (entry.state === 'in_flight') return Promise.resolve({ outcome: 'in_flight' });
    // A copy per replay, as a network store would return: callers can't alter the record.
    return Promise.resolve({ outcome: 'replay', response: JSON.parse(entry.response) as StoredResponse });
  }

  complete(scope: IdempotencyScope, lockToken: string, response: StoredResponse): Promise<void> {
    const id = scopeId(scope);
    const entry = this.#live(id);
    // Only the lock holder completes: a lock that expired or passed to another request is not ours.
    if (entry?.state !== 'in_flight' || entry.lockToken !== lockToken) return Promise.resolve();
    const expiresAtMs = this.#now() + this.#options.ttlMs;
    this.#insert(id, {
      state: 'completed',
      fingerprint: entry.fingerprint,
      response: JSON.stringify(response),
      expiresAtMs,
    });
    return Promise.resolve();
  }

  release(scope: IdempotencyScope, lockToken: string): Promise<void> {
    const id = scopeId(scope);
    const entry = this.#live(id);
    if (entry?.state === 'in_flight' && entry.lockToken === lockToken) this.#entries.delete(id);
    return Promise.resolve();
  }

  firstAttempt(
    scope: IdempotencyScope,
    fingerprint: string,
    proposed: AttemptIdentity,
  ): Promise<AttemptIdentity> {
    const id = scopeId(scope);
    const stored = this.#attempts.get(id);
    const now = this.#now();
    if (stored !== undefined && stored.expiresAtMs > now) {
      return Promise.resolve(stored.fingerprint === fingerprint ? stored.attempt : proposed);
    }
    this.#attempts.delete(id);
    if (this.#attempts.size >= this.#options.maxKeys) evictOldest(this.#attempts);
    this.#attempts.set(id, { fingerprint, attempt: { ...proposed }, expiresAtMs: now + this.#options.ttlMs });
    return Promise.resolve(proposed);
  }

  close(): Promise<void> {
    this.#entries.clear();
    this.#attempts.clear();
    return Promise.resolve();
  }

  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.expiresAtMs > this.#now()) return entry;
    this.#entries.delete(id);
    return undefined;
  }

  #insert(id: string, entry: Entry): void {
    this.#entries.delete(id); // re-insert so Map order stays oldest-first
    if (this.#entries.size >= this.#options.maxKeys) evictOldest(this.#entries);
    this.#entries.set(id, entry);
  }
}

/**
 * Drops the oldest record. Map order is insertion order, which is close to expiry order, so this
 * is O(1) per insert; expired records elsewhere are dropped when next read.
 */
function evictOldest(map: Map<string, unknown>): void {
  const oldest = map.keys().next();
  if (oldest.done !== true) map.delete(oldest.value);
}
