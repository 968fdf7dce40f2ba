import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryKeyValueStore, MemoryWindowStore } from './runtime/stores.js';
import type { ProcessorContext } from './runtime/api.js';
import { DEFAULT_PURGE_INTERVAL_MS, isExpired, retentionPurger, ttlPurger, ttlStore } from './ttl.js';

test('an entry expires once it is exactly the TTL old, not a millisecond before', () => {
  assert.equal(isExpired(1_000, 1_999, 1_000), false);
  assert.equal(isExpired(1_000, 2_000, 1_000), true);
});

function purgeContext(store: MemoryKeyValueStore<number>): ProcessorContext {
  return { keyValueStore: () => store } as unknown as ProcessorContext;
}

test('the purge deletes exactly the entries at least the TTL old', () => {
  const store = new MemoryKeyValueStore<number>(ttlStore<number>('applied', 10, (at) => at));
  store.put('old', 0);
  store.put('edge', 500);
  store.put('young', 501);
  ttlPurger('applied', 1_000, 100).punctuate(purgeContext(store), 1_500);
  assert.deepEqual([...store.all()], [['young', 501]]);
});

test('a purge deletes at most its batch, oldest first, and the next punctuation goes on', () => {
  const store = new MemoryKeyValueStore<number>(ttlStore<number>('applied', 100, (at) => at));
  for (let i = 0; i < 10; i++) store.put(`k${i}`, 9 - i);
  const purger = ttlPurger('applied', 1_000, 100, 4);
  purger.punctuate(purgeContext(store), 2_000);
  assert.deepEqual(
    [...store.all()].map(([key]) => key),
    ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'],
  );
  purger.punctuate(purgeContext(store), 2_000);
  purger.punctuate(purgeContext(store), 2_000);
  assert.equal(store.size, 0);
});

test('an entry rewritten with a younger time is not expired by its old index entry', () => {
  const store = new MemoryKeyValueStore<number>(ttlStore<number>('applied', 10, (at) => at));
  store.put('k', 0);
  store.put('k', 900);
  assert.equal(store.expireUpTo(500, 10), 0);
  assert.equal(store.get('k'), 900);
});

test('a retention purge removes at most its batch of windows past retention per punctuation, oldest first', () => {
  let streamTimeMs = 0;
  const store = new MemoryWindowStore<number>(
    {
      kind: 'window',
      name: 'buckets',
      maxEntries: 100,
      window: { type: 'tumbling', sizeMs: 10, advanceMs: 10, graceMs: 0, retentionMs: 10 },
    },
    () => streamTimeMs,
  );
  for (let i = 0; i < 5; i++) store.update(`k${i}`, i * 10, () => 1);
  const context = { windowStore: () => store } as unknown as ProcessorContext;
  const purger = retentionPurger('buckets', 1_000, 2);
  streamTimeMs = 40; // windows ending at 10, 20 and 30 are past their retention (end + 10)
  purger.punctuate(context, streamTimeMs);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => store.fetch(`k${i}`, 0, 100).length),
    [0, 0, 1, 1, 1],
  );
  purger.punctuate(context, streamTimeMs);
  assert.equal(store.size, 2);
});

test('at the default interval the purge keeps up with 2,000 new entries a second of stream time: the store holds one TTL of them', () => {
  const ttlMs = 30_000;
  const perSecond = 2_000;
  const purger = ttlPurger('seen', ttlMs, DEFAULT_PURGE_INTERVAL_MS);
  const store = new MemoryKeyValueStore<number>(ttlStore<number>('seen', 10_000_000, (at) => at));
  const context = { keyValueStore: () => store } as unknown as ProcessorContext;
  // As the runtime does: a punctuation each time stream time passes the interval.
  let nextPunctuation = purger.intervalMs;
  let peak = 0;
  for (let ms = 0; ms < 120_000; ms += 1_000 / perSecond) {
    store.put(`k-${ms}`, ms);
    if (ms >= nextPunctuation) {
      purger.punctuate(context, ms);
      nextPunctuation = ms + purger.intervalMs;
    }
    peak = Math.max(peak, store.size);
  }
  const oneTtl = (ttlMs / 1_000) * perSecond;
  assert.ok(peak <= oneTtl + perSecond * (DEFAULT_PURGE_INTERVAL_MS / 1_000) + 1, `peak ${peak}`);
  assert.ok(store.size <= oneTtl + perSecond, `${store.size} left`);
});
