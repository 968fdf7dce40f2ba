/**
 * The Redis idempotency store against a real Redis (`PAYFLOW_REDIS_URL`, started by the stack
 * script). Runs the same contract as the in-memory store, with real sleeps for the TTLs.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { idempotencyStoreContract } from '../../gateway/idempotency-contract.js';
import { connectRedis, RedisIdempotencyStore } from '../../gateway/idempotency-redis.js';
import { harness, producerHeaders, testConfig, validPayment } from '../../gateway/test-support.js';
import { sendWithRetryAfter } from '../support/http-retry.js';

const redisUrl = process.env['PAYFLOW_REDIS_URL'];

if (redisUrl === undefined || redisUrl === '') {
  describe('the Redis idempotency store', () => {
    it('needs a real Redis: set PAYFLOW_REDIS_URL (the stack script does) to run these tests', (t) => {
      // Under `npm test` the stack is required: a suite must never pass by not running.
      if (process.env['PAYFLOW_REQUIRE_STACK'] === '1')
        throw new Error('PAYFLOW_REDIS_URL is not set; run scripts/stack up');
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

  it('two gateway replicas sharing Redis publish a retried payment once and replay it', async (t) => {
    const redis = await connectRedis({ url, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 });
    t.after(() => redis.quit());
    const options = {
      ttlMs: 86_400_000,
      lockTtlMs: 30_000,
      commandTimeoutMs: 1_000,
      keyPrefix: `payflow:test:${randomUUID()}:`,
    };
    const first = await harness({ ports: { idempotency: new RedisIdempotencyStore(redis, options) } });
    const second = await harness({ ports: { idempotency: new RedisIdempotencyStore(redis, options) } });
    t.after(() => Promise.all([first.app.close(), second.app.close()]));
    const request = { method: 'POST' as const, url: '/v1/payments', payload: validPayment };
    // Sent as a producer does: a 503 with Retry-After (Redis slow to answer) is sent again.
    const send = async (app: typeof first.app) =>
      (
        await sendWithRetryAfter(async () => {
          const response = await app.inject({ ...request, headers: await producerHeaders('replica-key') });
          const retryAfter = response.headers['retry-after'];
          return {
            response,
            status: response.statusCode,
            retryAfter: retryAfter === undefined ? null : String(retryAfter),
          };
        })
      ).response;
    const original = await send(first.app);
    const retried = await send(second.app);
    assert.equal(original.statusCode, 202);
    assert.equal(retried.body, original.body);
    assert.equal(retried.headers['idempotent-replayed'], 'true');
    assert.equal(first.publisher.payments.length + second.publisher.payments.length, 1);
  });

  it('two gateway replicas sharing Redis share one rate limit per principal: the 4th request of 3 a minute is 429 on either', async (t) => {
    const redis = await connectRedis({ url, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 });
    t.after(() => redis.quit());
    const shared = { redis, nameSpace: `payflow:test:${randomUUID()}:rate:` };
    const config = testConfig({ PAYFLOW_RATE_LIMIT_PER_MINUTE: '3' });
    const first = await harness({ config, rateLimitRedis: shared });
    const second = await harness({ config, rateLimitRedis: shared });
    t.after(() => Promise.all([first.app.close(), second.app.close()]));
    const send = async (app: typeof first.app, key: string) =>
      (
        await app.inject({
          method: 'POST',
          url: '/v1/payments',
          payload: validPayment,
          headers: await producerHeaders(key),
        })
      ).statusCode;
    assert.deepEqual(
      [await send(first.app, 'r-1'), await send(second.app, 'r-2'), await send(first.app, 'r-3')],
      [202, 202, 202],
    );
    assert.equal(await send(second.app, 'r-4'), 429);
    assert.equal(await send(first.app, 'r-5'), 429);
  });
}
