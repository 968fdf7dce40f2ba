import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Registry } from 'prom-client';

import type { KycTier } from '../schemas/types.js';
import { harness, testConfig, token, type Harness } from './test-support.js';
import { ConfigError } from './config.js';
import { MemoryBucketStore } from './token-bucket.js';

const PAYMENT_URL = '/v1/payments/0194f2a0-0000-7000-8000-000000000000';

/** Small limits that a test reaches in a few requests. */
const LIMITS = {
  tiers: {
    TIER_0: { burst: 2, perSecond: 1 },
    TIER_1: { burst: 3, perSecond: 1 },
    TIER_2: { burst: 5, perSecond: 2 },
    TIER_3: { burst: 10, perSecond: 5 },
    SERVICE: { burst: 4, perSecond: 2 },
  },
};

function limitsFile(document: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'payflow-rate-')), 'limits.json');
  writeFileSync(file, JSON.stringify(document));
  return file;
}

const clock = { nowMs: 1_000_000 };

async function limited(overrides: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  clock.nowMs = 1_000_000;
  return harness({
    config: testConfig({ PAYFLOW_RATE_LIMITS_FILE: limitsFile(LIMITS) }),
    now: () => clock.nowMs,
    ...overrides,
  });
}

function own(h: Harness, ownerId: string, kycTier: KycTier, accountId = `acc-${ownerId}`): void {
  h.accounts.put({
    accountId,
    ownerId,
    currency: 'EUR',
    kycTier,
    iban: null,
    status: 'ACTIVE',
    balanceMinor: 0n,
    openedAtMs: 0,
    updatedAtMs: 0,
  });
}

async function customer(sub: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await token({ sub, roles: ['customer'], owners: null })}` };
}

async function statuses(h: Harness, headers: Record<string, string>, count: number): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i += 1)
    result.push((await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers })).statusCode);
  return result;
}

test('a TIER_1 customer is throttled at its burst while a TIER_3 customer with the same traffic is not', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  own(h, 'low', 'TIER_1');
  own(h, 'high', 'TIER_3');
  assert.deepEqual(await statuses(h, await customer('low'), 5), [404, 404, 404, 429, 429]);
  assert.deepEqual(await statuses(h, await customer('high'), 5), [404, 404, 404, 404, 404]);
});

test("a customer's tier is the highest KYC tier of its accounts, and an owner without accounts gets TIER_0", async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  own(h, 'mixed', 'TIER_0', 'acc-1');
  own(h, 'mixed', 'TIER_2', 'acc-2');
  const mixed = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers: await customer('mixed') });
  assert.equal(mixed.headers['ratelimit-policy'], '"tier-2";q=5;w=3');
  const nobody = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers: await customer('nobody') });
  assert.equal(nobody.headers['ratelimit-policy'], '"tier-0";q=2;w=2');
});

test('a throttled bucket refills with time: one token a second at TIER_1', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  own(h, 'low', 'TIER_1');
  const headers = await customer('low');
  assert.deepEqual(await statuses(h, headers, 4), [404, 404, 404, 429]);
  clock.nowMs += 1_000;
  assert.deepEqual(await statuses(h, headers, 2), [404, 429]);
  clock.nowMs += 3_000;
  assert.deepEqual(await statuses(h, headers, 4), [404, 404, 404, 429]);
});

test('every limited answer carries RateLimit-Policy and RateLimit with the tier, quota, remaining tokens and reset', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  own(h, 'mid', 'TIER_2');
  const headers = await customer('mid');
  const first = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers });
  assert.equal(first.headers['ratelimit-policy'], '"tier-2";q=5;w=3');
  // 4 of 5 left; the one taken comes back in 0.5 s, so the bucket is full within 1 s.
  assert.equal(first.headers['ratelimit'], '"tier-2";r=4;t=1');
  await statuses(h, headers, 4);
  const over = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers });
  assert.equal(over.headers['ratelimit'], '"tier-2";r=0;t=1');
});

test('over the limit: 429 problem+json RATE_LIMITED naming the tier and its limit, Retry-After in whole seconds of at least 1', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  const headers = await customer('nobody');
  await statuses(h, headers, 2);
  const response = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers });
  assert.equal(response.statusCode, 429);
  assert.match(String(response.headers['content-type']), /application\/problem\+json/);
  assert.equal(response.headers['retry-after'], '1');
  const body = response.json<{ code: string; detail: string }>();
  assert.equal(body.code, 'RATE_LIMITED');
  assert.match(body.detail, /tier-0 limit of 2 requests at once, 1 a second/);
  assert.doesNotMatch(body.detail, /nobody/);
});

test('anonymous requests are counted by client address in the lowest tier', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  // Every API route asks for a role; a public route shows what an anonymous client gets.
  h.app.get('/v1/public-example', () => ({ ok: true }));
  const send = (remoteAddress: string) =>
    h.app.inject({ method: 'GET', url: '/v1/public-example', remoteAddress });
  const first = await send('198.51.100.1');
  assert.equal(first.headers['ratelimit-policy'], '"tier-0";q=2;w=2');
  await send('198.51.100.1');
  assert.equal((await send('198.51.100.1')).statusCode, 429);
  assert.equal((await send('198.51.100.2')).statusCode, 200);
});

test('service roles (producer, admin, reviewer, superadmin) get the SERVICE tier whatever they own', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  own(h, 'ops-1', 'TIER_3');
  for (const role of ['producer', 'admin', 'reviewer', 'superadmin']) {
    const headers = { authorization: `Bearer ${await token({ sub: `svc-${role}`, roles: [role] })}` };
    const url = role === 'reviewer' ? '/v1/reviews' : PAYMENT_URL;
    const response = await h.app.inject({ method: 'GET', url, headers });
    assert.equal(response.headers['ratelimit-policy'], '"service";q=4;w=2', role);
  }
  const headers = { authorization: `Bearer ${await token({ sub: 'ops-1', roles: ['admin'] })}` };
  assert.deepEqual(await statuses(h, headers, 5), [404, 404, 404, 404, 429]);
});

test('a tier look-up that fails falls back to the lowest tier, the request is still served, and the fallback is counted', async (t) => {
  const registry = new Registry();
  const h = await limited({
    metricsRegistry: registry,
    ports: {
      accounts: {
        getAccount: () => Promise.resolve(undefined),
        getAccountCommand: () => Promise.resolve(undefined),
        highestTierOfOwner: () => Promise.reject(new Error('database down')),
      },
    },
  });
  t.after(() => h.app.close());
  const response = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers: await customer('rich') });
  assert.equal(response.statusCode, 404);
  assert.equal(response.headers['ratelimit-policy'], '"tier-0";q=2;w=2');
  const metrics = await registry.metrics();
  assert.match(metrics, /payflow_rate_limit_tier_fallback_total 1/);
});

test('a bucket store that fails lets the request pass and counts the fail-open', async (t) => {
  const registry = new Registry();
  const h = await harness({
    metricsRegistry: registry,
    rateLimitRedis: {
      redis: {
        defineCommand: () => undefined,
        payflowTakeToken: () => Promise.reject(new Error('connection refused')),
      } as never,
    },
  });
  t.after(() => h.app.close());
  const response = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers: await customer('a') });
  assert.equal(response.statusCode, 404);
  assert.equal(response.headers['ratelimit'], undefined);
  assert.match(await registry.metrics(), /payflow_rate_limit_fail_open_total 1/);
});

test('a bucket store slower than its timeout lets the request pass, counted as fail-open', async (t) => {
  const registry = new Registry();
  const h = await harness({
    metricsRegistry: registry,
    rateLimitRedis: {
      redis: {
        defineCommand: () => undefined,
        payflowTakeToken: () => new Promise(() => undefined),
      } as never,
      timeoutMs: 50,
    },
  });
  t.after(() => h.app.close());
  const response = await h.app.inject({ method: 'GET', url: PAYMENT_URL, headers: await customer('a') });
  assert.equal(response.statusCode, 404);
  assert.match(await registry.metrics(), /payflow_rate_limit_fail_open_total 1/);
});

test('429 answers are counted by tier in payflow_rate_limited_total', async (t) => {
  const registry = new Registry();
  const h = await limited({ metricsRegistry: registry });
  t.after(() => h.app.close());
  await statuses(h, await customer('nobody'), 3);
  assert.match(await registry.metrics(), /payflow_rate_limited_total\{tier="tier-0"\} 1/);
});

test('health checks are never rate limited', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  const result = [];
  for (let i = 0; i < 5; i += 1) {
    const response = await h.app.inject({ method: 'GET', url: '/healthz' });
    result.push(response.statusCode);
    assert.equal(response.headers['ratelimit'], undefined);
  }
  assert.deepEqual(result, [200, 200, 200, 200, 200]);
});

test('a bad token is answered 401, not 429, even past the limit', async (t) => {
  const h = await limited();
  t.after(() => h.app.close());
  for (let i = 0; i < 5; i += 1) {
    const response = await h.app.inject({
      method: 'GET',
      url: PAYMENT_URL,
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(response.statusCode, 401);
  }
});

test('a rate-limits file with a bad value stops start-up naming the field', () => {
  const file = limitsFile({ tiers: { ...LIMITS.tiers, TIER_2: { burst: 0, perSecond: 1 } } });
  assert.throws(
    () => testConfig({ PAYFLOW_RATE_LIMITS_FILE: file }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /^PAYFLOW_RATE_LIMITS_FILE .*limits\.json: tiers\.TIER_2\.burst: /.test(error.problems[0] ?? ''),
  );
});

test('the in-memory buckets stay within their bound, the least recently used dropped first', async () => {
  const store = new MemoryBucketStore(2, () => 0);
  const limits = { burst: 1, perSecond: 1 };
  await store.take('a', limits);
  await store.take('b', limits);
  await store.take('c', limits);
  assert.equal(store.size, 2);
  // 'a' was dropped: its bucket is full again.
  assert.equal((await store.take('a', limits)).allowed, true);
  assert.equal((await store.take('c', limits)).allowed, false);
});
