import assert from 'node:assert/strict';
import { it } from 'node:test';
import { idempotencyStoreContract } from './idempotency-contract.js';
import { MemoryIdempotencyStore } from './idempotency-memory.js';

function fakeClock() {
  let nowMs = 1_700_000_000_000;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

idempotencyStoreContract('the in-memory store', ({ ttlMs, lockTtlMs }) => {
  const clock = fakeClock();
  const store = new MemoryIdempotencyStore({ ttlMs, lockTtlMs, maxKeys: 1000, now: clock.now });
  return Promise.resolve({
    store,
    advanceMs: (ms: number) => {
      clock.advance(ms);
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});

it('the in-memory store never holds more than maxKeys records', async () => {
  const store = new MemoryIdempotencyStore({ ttlMs: 60_000, lockTtlMs: 1_000, maxKeys: 3 });
  for (let index = 0; index < 10; index += 1) {
    await store.begin({ principal: 'p', key: `k${index}` }, 'h');
  }
  assert.equal(store.size, 3);
  assert.equal((await store.begin({ principal: 'p', key: 'k9' }, 'h')).outcome, 'in_flight');
});
