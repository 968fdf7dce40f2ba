/**
 * Time-to-live for key-value stores whose entries remember something for a while (dedupe's seen
 * scopes, the ledger's applied postings): a pure selection of the expired keys, and the
 * stream-time punctuator that deletes them.
 */
import type { Punctuator } from './runtime/api.js';

/**
 * Keys whose entry was recorded at least `ttlMs` before `nowMs`. Collected before any deletion,
 * so the caller never deletes from a store while iterating it.
 */
export function expiredKeys<V>(
  entries: Iterable<readonly [string, V]>,
  recordedAtMs: (value: V) => number,
  nowMs: number,
  ttlMs: number,
): string[] {
  const expired: string[] = [];
  for (const [key, value] of entries) {
    if (isExpired(recordedAtMs(value), nowMs, ttlMs)) expired.push(key);
  }
  return expired;
}

export function isExpired(recordedAtMs: number, nowMs: number, ttlMs: number): boolean {
  return nowMs - recordedAtMs >= ttlMs;
}

/**
 * Purges `store` every `intervalMs` of stream time. Stream time moves only with records, so a
 * replay purges exactly what the original run purged.
 */
export function ttlPurger<V>(
  store: string,
  ttlMs: number,
  intervalMs: number,
  recordedAtMs: (value: V) => number,
): Punctuator {
  return {
    type: 'stream-time',
    intervalMs,
    punctuate(context, timestampMs) {
      const kv = context.keyValueStore<V>(store);
      for (const key of expiredKeys(kv.all(), recordedAtMs, timestampMs, ttlMs)) kv.delete(key);
    },
  };
}

export function assertPositiveMs(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive whole number of milliseconds, got ${value}`);
}
