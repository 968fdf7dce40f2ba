/**
 * The Redis idempotency store against a real Redis (`PAYFLOW_REDIS_URL`, started by the stack
 * script). Runs the same contract as the in-memory store, with real sleeps for the TTLs.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { idempotencyStoreContract } from '../../gateway/idempotency-contract.js';
import { connectRedis, RedisIdempotencyStore } from '../../gateway/idempotency-redis.js';

const redisUrl = process.env['PAYFLOW_REDIS_URL'];

if (redisUrl === undefined || redisUrl === '') {
  describe('the Redis idempotency store', () => {
    it('needs a real Redis: set PAYFLOW_REDIS_URL (the stack script does) to run these tests', (t) => {
      // Under `npm test` the stack is required: a suite must never pass by not running.
      if (process.env['PAYFLOW_REQUIRE_STACK'] === '1') throw new Error('PAYFLOW_REDIS_URL is not set; run scripts/stack up');
      t.skip('PAYFLOW_REDIS_URL is not set');
    });
  });
} else {
  const url = redisUrl;
  idempotencyStoreContract('the Redis store', async ({ ttlMs, lockTtlMs }) => {
    const redis = await connectRedis({ url, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 });
    // A fresh prefix per test keeps runs independent without flushing the shared database.
    const keyPrefix = `payflow:test:${randomUUID()}:`;
    const store = new RedisIdempotencyStore(redis, { ttlMs, lockTtlMs, commandTimeoutMs: 1_000, keyPrefix });
    return {
      store,
      advanceMs: async (ms: number) => {
        await sleep(ms);
      },
      close: async () => {
        await store.close();
        await redis.quit();
      },
    };
  });
}
