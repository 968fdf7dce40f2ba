/**
 * Per-principal rate limiting: each authenticated principal (JWT `sub`) may make at most
 * `perMinute` API requests a minute on this gateway instance; anonymous requests are counted by
 * client address. Over the limit the answer is 429 problem+json with `Retry-After`.
 * Runs before validation and after authentication, so the key is the verified principal and a bad
 * token is a 401 rather than a 429. Operational routes (health, metrics, API document) are exempt.
 * The counters are an LRU of `maxTrackedKeys` entries, so memory stays bounded. With `redis`
 * (the main job passes one when PAYFLOW_REDIS_URL is set) the counters live there instead, shared
 * by every gateway instance, so the limit holds for the cluster; when Redis does not answer, the
 * request passes (`skipOnError`): the limit protects capacity, it never decides a payment.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';

import { ApiError } from '../errors.js';

export interface RateLimitOptions {
  readonly perMinute: number;
  readonly maxTrackedKeys: number;
  /** Shared counters for every gateway instance; in memory per instance without it. */
  readonly redis?: Redis;
  /** Prefix of the Redis counter keys. */
  readonly redisNameSpace?: string;
}

const WINDOW_MS = 60_000;

async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preValidation',
    max: options.perMinute,
    timeWindow: WINDOW_MS,
    cache: options.maxTrackedKeys,
    ...(options.redis === undefined
      ? {}
      : {
          redis: options.redis,
          nameSpace: options.redisNameSpace ?? 'payflow:rate-limit:v1:',
          skipOnError: true,
        }),
    keyGenerator: (request: FastifyRequest) =>
      request.principal ? `principal:${request.principal.id}` : `ip:${request.ip}`,
    allowList: (request: FastifyRequest) => request.routeOptions.config.operational === true,
    errorResponseBuilder: (_request, context) =>
      new ApiError('RATE_LIMITED', `more than ${context.max} requests a minute from this principal`, {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1_000))) },
      }),
  });
}

export const rateLimits = fp(rateLimitPlugin, { name: 'payflow-rate-limit' });
