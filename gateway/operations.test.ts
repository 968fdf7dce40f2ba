import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError, loadGatewayConfig } from './config.js';
import {
  adminHeaders,
  harness,
  producerHeaders,
  TEST_SECRET,
  testConfig,
  validPayment,
} from './test-support.js';

describe('the OpenAPI document', () => {
  it('lists every route the server has, with its success and problem responses and security', async (t) => {
    const h = await harness({ metricsRegistry: new Registry() });
    t.after(() => h.app.close());
    const response = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json<OpenApiDocument>();
    assert.equal(document.openapi, '3.1.0');
    const routes = routesOf(h.app.printRoutes({ commonPrefix: false }));
    assert.equal(routes.length, 18);
    for (const route of routes) {
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      assert.ok(operation !== undefined, `${route.method} ${route.url} is missing from /openapi.json`);
      assert.ok(Object.keys(operation.responses).length > 0, `${route.method} ${route.url} has no responses`);
    }
    const create = document.paths['/v1/payments']?.['post'];
    assert.deepEqual(create?.security, [{ bearerAuth: [] }]);
    for (const status of ['202', '400', '401', '403', '409', '413', '415', '422', '503']) {
      assert.ok(create?.responses[status] !== undefined, `POST /v1/payments lacks ${status}`);
    }
    assert.ok(document.paths['/v1/payments/{paymentId}']?.['get']?.responses['404'] !== undefined);
    // The HTTP layer's own answers can come back on any route, operational ones included.
    for (const route of routes) {
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const responses = document.paths[path]?.[route.method.toLowerCase()]?.responses ?? {};
      for (const status of ['400', '408', '414', '431', '500', '503']) {
        assert.ok(responses[status] !== undefined, `${route.method} ${route.url} lacks ${status}`);
      }
      const success = Object.keys(responses).filter((status) => status.startsWith('2'));
      assert.ok(success.length > 0, `${route.method} ${route.url} documents no success`);
      if (path.startsWith('/v1/')) assert.ok(responses['429'] !== undefined, `${route.url} lacks 429`);
    }
    const patchAccount = document.paths['/v1/accounts/{accountId}']?.['patch']?.responses ?? {};
    for (const status of ['404', '409'])
      assert.ok(patchAccount[status] !== undefined, `PATCH lacks ${status}`);
    assert.ok(document.paths['/v1/accounts']?.['post']?.responses['409'] !== undefined);
    assert.ok(document.components.securitySchemes['bearerAuth'] !== undefined);
  });
});

interface OpenApiDocument {
  readonly openapi: string;
  readonly components: { readonly securitySchemes: Record<string, unknown> };
  readonly paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>>;
}

/**
 * Every non-HEAD route from Fastify's own route tree (`printRoutes`), so a route added without
 * documentation fails this test. Each tree level is indented by four characters.
 */
function routesOf(tree: string): { method: string; url: string }[] {
  const prefixes: string[] = [];
  const routes: { method: string; url: string }[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    prefixes[depth] = (depth === 0 ? '' : (prefixes[depth - 1] ?? '')) + (match[2] ?? '');
    for (const method of (match[3] ?? '').split(', ').filter((item) => item !== '' && item !== 'HEAD')) {
      routes.push({ method, url: prefixes[depth] ?? '' });
    }
  }
  return routes;
}

describe('operational endpoints', () => {
  it('healthz answers 200 and readyz follows the readiness port', async (t) => {
    let ready = true;
    const h = await harness({
      ports: {
        readiness: {
          check: () => Promise.resolve(ready ? { ready } : { ready, detail: 'log producer not connected' }),
        },
      },
    });
    t.after(() => h.app.close());
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    ready = false;
    const notReady = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(notReady.statusCode, 503);
    assert.equal(notReady.json<{ code: string; detail: string }>().detail, 'log producer not connected');
  });

  it('HTTP requests are counted and timed by route pattern and status on the given registry', async (t) => {
    const registry = new Registry();
    const h = await harness({ metricsRegistry: registry });
    t.after(() => h.app.close());
    await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: await producerHeaders(),
      payload: validPayment,
    });
    await h.app.inject({
      method: 'GET',
      url: '/v1/payments/01929b5e-0000-7000-8000-000000000001',
      headers: await adminHeaders(),
    });
    const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(
      text,
      /payflow_gateway_http_requests_total\{method="POST",route="\/v1\/payments",status_code="202"\} 1/,
    );
    assert.match(
      text,
      /payflow_gateway_http_requests_total\{method="GET",route="\/v1\/payments\/:paymentId",status_code="404"\} 1/,
    );
    assert.match(text, /payflow_gateway_http_request_duration_seconds_bucket/);
  });

  it('requests beyond the in-flight cap are answered 503 with Retry-After, /readyz is 503 meanwhile, and a request without a token is still 401', async (t) => {
    const h = await harness({
      config: testConfig({ PAYFLOW_HTTP_MAX_IN_FLIGHT: '1', PAYFLOW_PUBLISH_TIMEOUT_MS: '5000' }),
    });
    t.after(() => h.app.close());
    const release = h.publisher.hold();
    const first = h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: await producerHeaders('a'),
      payload: validPayment,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: await producerHeaders('b'),
      payload: validPayment,
    });
    assert.equal(second.statusCode, 503);
    assert.equal(second.headers['retry-after'], '5');
    assert.equal(second.json<{ code: string }>().code, 'OVERLOADED');
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const saturated = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(saturated.statusCode, 503);
    assert.match(saturated.json<{ detail: string }>().detail, /saturated/);
    const anonymous = await h.app.inject({ method: 'POST', url: '/v1/payments', payload: validPayment });
    assert.equal(anonymous.statusCode, 401, 'authentication comes before an in-flight slot');
    release();
    assert.equal((await first).statusCode, 202);
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const after = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: await producerHeaders('c'),
      payload: validPayment,
    });
    assert.equal(after.statusCode, 202);
  });
});

describe('errors for requests that match no route', () => {
  it('an unknown path is 404 problem+json', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({ method: 'GET', url: '/v2/whatever' });
    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(response.json<{ code: string }>().code, 'ROUTE_NOT_FOUND');
  });

  it('a known path with the wrong method is 405 with an Allow header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({ method: 'DELETE', url: '/v1/accounts/acc-1' });
    assert.equal(response.statusCode, 405);
    assert.equal(response.headers['allow'], 'GET, HEAD, PATCH');
    assert.equal(response.json<{ code: string }>().code, 'METHOD_NOT_ALLOWED');
  });
});

describe('correlation ids and logs', () => {
  it('a generated correlation id is echoed when the client sends none', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.match(String(response.headers['x-correlation-id']), /^[0-9a-f-]{36}$/);
  });

  it('a malformed X-Correlation-Id is 400 naming the header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-correlation-id': 'bad id\twith spaces' },
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      response.json<{ errors: { field: string }[] }>().errors.map((error) => error.field),
      ['X-Correlation-Id'],
    );
  });

  it('log lines carry the correlation id and never the bearer token or a full IBAN', async (t) => {
    const lines: string[] = [];
    const h = await harness({ logging: { stream: { write: (line: string) => void lines.push(line) } } });
    t.after(() => h.app.close());
    const headers: Record<string, string> = { ...(await adminHeaders()), 'x-correlation-id': 'corr-log-1' };
    const iban = 'SA0380000000608010167519';
    const payload = { ownerId: 'owner-1', currency: 'EUR', kycTier: 'TIER_1', iban };
    assert.equal(
      (await h.app.inject({ method: 'POST', url: '/v1/accounts', headers, payload })).statusCode,
      202,
    );
    const text = lines.join('');
    const bearer = (headers['authorization'] ?? '').slice('Bearer '.length);
    assert.ok(!text.includes(bearer), 'the token was logged');
    assert.ok(!text.includes(iban), 'a full IBAN was logged');
    assert.ok(text.includes('SA****7519'));
    const published = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry['msg'] === 'request' && entry['accountId'] !== undefined);
    assert.equal(published?.['correlationId'], 'corr-log-1');
  });

  it('at info a request is one log line: method, route pattern, status, duration, correlation id and what it published', async (t) => {
    const lines: string[] = [];
    const h = await harness({ logging: { stream: { write: (line: string) => void lines.push(line) } } });
    t.after(() => h.app.close());
    const headers = { ...(await producerHeaders('key-log-2')), 'x-correlation-id': 'corr-log-2' };
    const payment = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers,
      payload: validPayment,
    });
    assert.equal(payment.statusCode, 202);
    const missing = await h.app.inject({ method: 'GET', url: '/nowhere?token=not-for-logs' });
    assert.equal(missing.statusCode, 404);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(entries.length, 2, lines.join(''));
    const [paid, notFound] = entries;
    assert.deepEqual(
      { ...paid, time: undefined, pid: undefined, hostname: undefined, durationMs: undefined },
      {
        level: 30,
        time: undefined,
        pid: undefined,
        hostname: undefined,
        correlationId: 'corr-log-2',
        method: 'POST',
        route: '/v1/payments',
        statusCode: 202,
        durationMs: undefined,
        paymentId: payment.json<{ paymentId: string }>().paymentId,
        kind: 'TRANSFER',
        msg: 'request',
      },
    );
    assert.equal(typeof paid?.['durationMs'], 'number');
    assert.equal(notFound?.['route'], null);
    assert.equal(notFound?.['statusCode'], 404);
    assert.ok(!lines.join('').includes('not-for-logs'), 'the raw URL was logged');
  });
});

describe('configuration', () => {
  it('a missing JWT key stops start-up naming PAYFLOW_JWT_SECRET', () => {
    assert.throws(
      () => loadGatewayConfig({}),
      (error: unknown) => error instanceof ConfigError && error.message.includes('PAYFLOW_JWT_SECRET'),
    );
  });

  it('an idempotency TTL under 24 hours is refused naming the variable', () => {
    const env = { PAYFLOW_JWT_SECRET: TEST_SECRET, PAYFLOW_IDEMPOTENCY_TTL_S: '3600' };
    assert.throws(() => loadGatewayConfig(env), /PAYFLOW_IDEMPOTENCY_TTL_S/);
  });

  it('a non-numeric port is refused naming the variable', () => {
    assert.throws(
      () => loadGatewayConfig({ PAYFLOW_JWT_SECRET: TEST_SECRET, PAYFLOW_HTTP_PORT: 'eighty' }),
      /PAYFLOW_HTTP_PORT/,
    );
  });

  it('defaults give a 16 KiB body limit and a 24 hour idempotency TTL', () => {
    const config = loadGatewayConfig({ PAYFLOW_JWT_SECRET: TEST_SECRET });
    assert.equal(config.bodyLimitBytes, 16_384);
    assert.equal(config.idempotency.ttlS, 86_400);
  });
});
