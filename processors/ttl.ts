/**
 * Time-to-live for key-value stores whose entries remember something for a while (dedupe's seen
 * scopes, the ledger's applied postings): the store keeps a time-ordered index of its entries
 * (the spec's `timeOf`), and a stream-time punctuator deletes the oldest expired entries from it,
 * a bounded batch per punctuation. Never a scan of the store: a purge costs what it deletes.
 */
import type { KeyValueStoreSpec, Punctuator } from './runtime/api.js';

/** Entries a purge deletes per punctuation, at most; the rest wait for the next one. */
export const DEFAULT_PURGE_BATCH = 10_000;

/**
 * Stream time between two purges of the dedupe and ledger stores: every second, so a purge of
 * DEFAULT_PURGE_BATCH keeps up with that many new entries a second per task, and each commit
 * carries about a second of expiries rather than a minute's.
 */
export const DEFAULT_PURGE_INTERVAL_MS = 1_000;

export function isExpired(recordedAtMs: number, nowMs: number, ttlMs: number): boolean {
  return nowMs - recordedAtMs >= ttlMs;
}

/** A key-value store spec whose entries are indexed by when they were recorded. */
export function ttlStore<V>(
  name: string,
  maxEntries: number,
  recordedAtMs: (value: V) => number,
): KeyValueStoreSpec {
  return { kind: 'kv', name, maxEntries, timeOf: recordedAtMs };
}

/**
 * Purges `store` (declared with `ttlStore`) every `intervalMs` of stream time: the entries at
 * least `ttlMs` old, oldest first, at most `maxPerPunctuation` of them. Expired entries left for
 * the next punctuation must be treated as absent by the reader (their age tells). Stream time
 * moves only with records, so a replay purges exactly what the original run purged.
 */
export function ttlPurger(
  store: string,
  ttlMs: number,
  intervalMs: number,
  maxPerPunctuation = DEFAULT_PURGE_BATCH,
): Punctuator {
  return {
    type: 'stream-time',
    intervalMs,
    punctuate(context, timestampMs) {
      context.keyValueStore(store).expireUpTo(timestampMs - ttlMs, maxPerPunctuation);
    },
  };
}

/**
 * Removes the windows of window store `store` whose retention has passed every `intervalMs` of
 * stream time, oldest first, at most `maxPerPunctuation` of them (the store's time index; never a
 * scan). What is left waits for the next punctuation; the store's readers never see those windows
 * anyway (an update removes its key's own first, and fetches ask for open windows).
 */
export function retentionPurger(
  store: string,
  intervalMs: number,
  maxPerPunctuation = DEFAULT_PURGE_BATCH,
): Punctuator {
  return {
    type: 'stream-time',
    intervalMs,
    punctuate(context) {
      context.windowStore(store).expireRetention(maxPerPunctuation);
    },
  };
}

export function assertPositiveMs(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive whole number of milliseconds, got ${value}`);
}
