/**
 * Start-up helpers for the main job: pick the idempotency store from the config and listen.
 * Building (app.ts) stays separate from listening so tests never open a port.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from './config.js';
import { MemoryIdempotencyStore } from './idempotency-memory.js';
import { connectRedis, RedisIdempotencyStore } from './idempotency-redis.js';
import type { IdempotencyStore } from './ports.js';

const REDIS_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Redis when PAYFLOW_REDIS_URL is set (shared by replicas), otherwise the bounded in-memory store.
 * `redis`: a client the caller owns and quits (the main job shares one among the gateway's
 * stores); without it the store connects its own and quits it on close.
 */
export async function createIdempotencyStore(
  config: GatewayConfig,
  redis?: Redis,
): Promise<IdempotencyStore> {
  const ttlMs = config.idempotency.ttlS * 1_000;
  const lockTtlMs = config.idempotency.lockTtlMs;
  if (config.redis === undefined) {
    return new MemoryIdempotencyStore({ ttlMs, lockTtlMs, maxKeys: config.idempotency.memoryMaxKeys });
  }
  const options = { ttlMs, lockTtlMs, commandTimeoutMs: config.redis.commandTimeoutMs };
  if (redis !== undefined) return new RedisIdempotencyStore(redis, options);
  const own = await connectRedis({
    url: config.redis.url,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    connectTimeoutMs: REDIS_CONNECT_TIMEOUT_MS,
  });
  const store = new RedisIdempotencyStore(own, options);
  return {
    begin: (scope, fingerprint) => store.begin(scope, fingerprint),
    complete: (scope, lockToken, response) => store.complete(scope, lockToken, response),
    release: (scope, lockToken) => store.release(scope, lockToken),
    firstAttempt: (scope, fingerprint, proposed) => store.firstAttempt(scope, fingerprint, proposed),
    // This client was created here, so closing the store quits it.
    close: async () => {
      await own.quit();
    },
  };
}

/** Listens and returns the bound address; closes the app on SIGTERM/SIGINT (in-flight requests finish). */
export async function listenGateway(app: FastifyInstance, config: GatewayConfig): Promise<string> {
  const address = await app.listen({ host: config.host, port: config.port });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'closing the gateway');
      void app.close();
    });
  }
  return address;
}
