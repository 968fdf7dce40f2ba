import assert from 'node:assert/strict';
import { test } from 'node:test';

import { harness, testConfig, token } from './test-support.js';

test('a principal over its per-minute limit gets 429 problem+json with Retry-After, while another principal is still served', async (t) => {
  const { app } = await harness({ config: testConfig({ PAYFLOW_RATE_LIMIT_PER_MINUTE: '3' }) });
  t.after(() => app.close());
  const busy = { authorization: `Bearer ${await token({ sub: 'busy-merchant' })}` };
  const statuses: number[] = [];
  for (let i = 0; i < 4; i += 1) {
    statuses.push(
      (
        await app.inject({
          method: 'GET',
          url: '/v1/payments/0194f2a0-0000-7000-8000-000000000000',
          headers: busy,
        })
      ).statusCode,
    );
  }
  assert.deepEqual(statuses, [404, 404, 404, 429]);

  const limited = await app.inject({
    method: 'GET',
    url: '/v1/payments/0194f2a0-0000-7000-8000-000000000000',
    headers: busy,
  });
  assert.equal(limited.statusCode, 429);
  assert.match(String(limited.headers['content-type']), /application\/problem\+json/);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.equal(limited.json<{ code: string }>().code, 'RATE_LIMITED');

  const other = { authorization: `Bearer ${await token({ sub: 'quiet-merchant' })}` };
  assert.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/v1/payments/0194f2a0-0000-7000-8000-000000000000',
        headers: other,
      })
    ).statusCode,
    404,
  );
});

test('health checks are never rate limited', async (t) => {
  const { app } = await harness({ config: testConfig({ PAYFLOW_RATE_LIMIT_PER_MINUTE: '1' }) });
  t.after(() => app.close());
  const statuses = [];
  for (let i = 0; i < 3; i += 1)
    statuses.push((await app.inject({ method: 'GET', url: '/healthz' })).statusCode);
  assert.deepEqual(statuses, [200, 200, 200]);
});

test('a bad token is answered 401, not 429, even past the limit', async (t) => {
  const { app } = await harness({ config: testConfig({ PAYFLOW_RATE_LIMIT_PER_MINUTE: '1' }) });
  t.after(() => app.close());
  for (let i = 0; i < 3; i += 1) {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/payments/p',
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(response.statusCode, 401);
  }
});
