import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cachedSearch } from './search-cache.js';
import type { PaymentSearch, PaymentView } from './ports.js';

/** A search backend that counts its requests and can be made to fail. */
function counting(): PaymentSearch & { calls: number; failNext: boolean } {
  const backend = {
    calls: 0,
    failNext: false,
    accountPayments() {
      backend.calls += 1;
      if (backend.failNext) {
        backend.failNext = false;
        return Promise.reject(new Error('index unreachable'));
      }
      return Promise.resolve([] as PaymentView[]);
    },
    searchPayments() {
      backend.calls += 1;
      return Promise.resolve([] as PaymentView[]);
    },
  };
  return backend;
}

test('the same page asked again within the TTL is answered without another index request; another page is not', async () => {
  const backend = counting();
  const search = cachedSearch(backend, { ttlMs: 60_000, maxEntries: 10 });
  await search.accountPayments({ accountId: 'a', limit: 10 });
  await search.accountPayments({ accountId: 'a', limit: 10 });
  assert.equal(backend.calls, 1);
  await search.accountPayments({ accountId: 'a', limit: 10, status: 'COMPLETED' });
  await search.searchPayments({ limit: 10, minAmountMinor: 5n });
  await search.searchPayments({ limit: 10, minAmountMinor: 6n });
  assert.equal(backend.calls, 4);
});

test('a failed request is not cached, and a TTL of 0 turns the cache off', async () => {
  const backend = counting();
  const search = cachedSearch(backend, { ttlMs: 60_000, maxEntries: 10 });
  backend.failNext = true;
  await assert.rejects(search.accountPayments({ accountId: 'a', limit: 10 }));
  await search.accountPayments({ accountId: 'a', limit: 10 });
  assert.equal(backend.calls, 2);
  const off = counting();
  const uncached = cachedSearch(off, { ttlMs: 0, maxEntries: 10 });
  await uncached.accountPayments({ accountId: 'a', limit: 10 });
  await uncached.accountPayments({ accountId: 'a', limit: 10 });
  assert.equal(off.calls, 2);
});

test('the cache holds at most maxEntries pages, the least recently used leaving first', async () => {
  const backend = counting();
  const search = cachedSearch(backend, { ttlMs: 60_000, maxEntries: 2 });
  for (const accountId of ['a', 'b', 'c', 'a']) await search.accountPayments({ accountId, limit: 10 });
  assert.equal(backend.calls, 4);
});
