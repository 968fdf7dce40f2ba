/**
 * The behaviour every IdempotencyStore must have. The in-memory store runs it in a unit test,
 * the Redis store in test/integration/gateway-redis.test.ts, so the two can't drift.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { IdempotencyStore } from './ports.js';

export interface StoreHarness {
  readonly store: IdempotencyStore;
  /** Moves the store's clock forward (a fake clock, or a real sleep for a network store). */
  readonly advanceMs: (ms: number) => Promise<void>;
  readonly close: () => Promise<void>;
}

export type StoreFactory = (options: { ttlMs: number; lockTtlMs: number }) => Promise<StoreHarness>;

/** Short TTLs so that a real store can be tested with real sleeps. */
const TTL_MS = 600;
const LOCK_TTL_MS = 300;
const CONCURRENT_BEGINS = 20;

const response = { statusCode: 202, body: { paymentId: 'p-1', status: 'INITIATED' } };

function freshScope(principal = 'producer-1') {
  return { principal, key: `key-${randomUUID()}` };
}

async function withHarness(
  factory: StoreFactory,
  run: (harness: StoreHarness) => Promise<void>,
): Promise<void> {
  const harness = await factory({ ttlMs: TTL_MS, lockTtlMs: LOCK_TTL_MS });
  try {
    await run(harness);
  } finally {
    await harness.close();
  }
}

export function idempotencyStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name} honours the IdempotencyStore contract`, () => {
    it('the first request with a key acquires it and the same request again is in flight', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope();
        assert.equal((await store.begin(scope, 'h1')).outcome, 'acquired');
        assert.deepEqual(await store.begin(scope, 'h1'), { outcome: 'in_flight' });
      });
    });

    it('a different request under an in-flight key is a mismatch', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope();
        await store.begin(scope, 'h1');
        assert.deepEqual(await store.begin(scope, 'h2'), { outcome: 'mismatch' });
      });
    });

    it('a completed key replays the stored response to the same request', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope();
        const begun = await store.begin(scope, 'h1');
        assert.equal(begun.outcome, 'acquired');
        if (begun.outcome !== 'acquired') return;
        await store.complete(scope, begun.lockToken, response);
        assert.deepEqual(await store.begin(scope, 'h1'), { outcome: 'replay', response });
        assert.deepEqual(await store.begin(scope, 'h2'), { outcome: 'mismatch' });
      });
    });

    it('a released key can be acquired again by a retry', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope();
        const begun = await store.begin(scope, 'h1');
        if (begun.outcome !== 'acquired') return assert.fail('expected acquired');
        await store.release(scope, begun.lockToken);
        assert.equal((await store.begin(scope, 'h1')).outcome, 'acquired');
      });
    });

    it('keys are scoped per principal', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope('alice');
        await store.begin(scope, 'h1');
        assert.equal((await store.begin({ principal: 'bob', key: scope.key }, 'h2')).outcome, 'acquired');
      });
    });

    it('an abandoned in-flight lock expires after the lock TTL', async () => {
      await withHarness(factory, async ({ store, advanceMs }) => {
        const scope = freshScope();
        await store.begin(scope, 'h1');
        await advanceMs(LOCK_TTL_MS + 100);
        assert.equal((await store.begin(scope, 'h1')).outcome, 'acquired');
      });
    });

    it('a completed response is kept past the lock TTL and forgotten after the retention TTL', async () => {
      await withHarness(factory, async ({ store, advanceMs }) => {
        const scope = freshScope();
        const begun = await store.begin(scope, 'h1');
        if (begun.outcome !== 'acquired') return assert.fail('expected acquired');
        await store.complete(scope, begun.lockToken, response);
        await advanceMs(LOCK_TTL_MS + 50);
        assert.equal((await store.begin(scope, 'h1')).outcome, 'replay');
        await advanceMs(TTL_MS);
        assert.equal((await store.begin(scope, 'h1')).outcome, 'acquired');
      });
    });

    it('a holder whose lock expired and passed to a retry can neither complete nor release it', async () => {
      await withHarness(factory, async ({ store, advanceMs }) => {
        const scope = freshScope();
        const stale = await store.begin(scope, 'h1');
        if (stale.outcome !== 'acquired') return assert.fail('expected acquired');
        await advanceMs(LOCK_TTL_MS + 100);
        const retry = await store.begin(scope, 'h1');
        assert.equal(retry.outcome, 'acquired');
        await store.complete(scope, stale.lockToken, response);
        await store.release(scope, stale.lockToken);
        assert.deepEqual(await store.begin(scope, 'h1'), { outcome: 'in_flight' });
      });
    });

    it("a retry after its holder died gets the first attempt's identity, so it republishes the same command", async () => {
      await withHarness(factory, async ({ store, advanceMs }) => {
        const scope = freshScope();
        const first = { commandId: 'c-1', entityId: 'p-1', issuedAtMs: 1_000 };
        await store.begin(scope, 'h1');
        assert.deepEqual(await store.firstAttempt(scope, 'h1', first), first);
        await advanceMs(LOCK_TTL_MS + 100);
        assert.equal((await store.begin(scope, 'h1')).outcome, 'acquired');
        const retry = { commandId: 'c-2', entityId: 'p-2', issuedAtMs: 2_000 };
        assert.deepEqual(await store.firstAttempt(scope, 'h1', retry), first);
      });
    });

    it('another request under a key, or the same key of another principal, keeps its own identity', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope('alice');
        await store.firstAttempt(scope, 'h1', { commandId: 'c-1', entityId: 'p-1', issuedAtMs: 1 });
        const other = { commandId: 'c-2', entityId: 'p-2', issuedAtMs: 2 };
        assert.deepEqual(await store.firstAttempt(scope, 'h2', other), other);
        assert.deepEqual(await store.firstAttempt({ principal: 'bob', key: scope.key }, 'h1', other), other);
      });
    });

    it('an attempt identity is forgotten with the key, after the retention TTL', async () => {
      await withHarness(factory, async ({ store, advanceMs }) => {
        const scope = freshScope();
        await store.firstAttempt(scope, 'h1', { commandId: 'c-1', entityId: 'p-1', issuedAtMs: 1 });
        await advanceMs(TTL_MS + 100);
        const later = { commandId: 'c-2', entityId: 'p-2', issuedAtMs: 2 };
        assert.deepEqual(await store.firstAttempt(scope, 'h1', later), later);
      });
    });

    it('of many concurrent requests with one key exactly one acquires it', async () => {
      await withHarness(factory, async ({ store }) => {
        const scope = freshScope();
        const begins = Array.from({ length: CONCURRENT_BEGINS }, () => store.begin(scope, 'h1'));
        const outcomes = (await Promise.all(begins)).map((begun) => begun.outcome);
        assert.equal(outcomes.filter((outcome) => outcome === 'acquired').length, 1);
        assert.equal(outcomes.filter((outcome) => outcome === 'in_flight').length, CONCURRENT_BEGINS - 1);
      });
    });
  });
}
