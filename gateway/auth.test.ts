import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import {
  harness,
  listening,
  rawRequest,
  TEST_SECRET,
  testConfig,
  token,
  validPayment,
  type Harness,
} from './test-support.js';

async function postWith(h: Harness, authorization: string | undefined) {
  const headers: Record<string, string> = { 'idempotency-key': 'k' };
  if (authorization !== undefined) headers['authorization'] = authorization;
  return h.app.inject({ method: 'POST', url: '/v1/payments', headers, payload: validPayment });
}

async function rsaToken(
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'],
  claims: { roles: string[] },
  kid?: string,
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader(kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid })
    .setSubject('merchant-rsa')
    .setExpirationTime('5m')
    .sign(privateKey);
}

describe('bearer authentication', () => {
  it('a request without a token is 401 with a Bearer challenge', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postWith(h, undefined);
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="payflow"');
    assert.equal(response.json<{ code: string }>().code, 'UNAUTHENTICATED');
  });

  const invalid: [string, () => Promise<string>][] = [
    ['a token that is not a JWT', () => Promise.resolve('Bearer not-a-jwt')],
    [
      'a token signed with another secret',
      async () => `Bearer ${await token({}, { secret: 'x'.repeat(40) })}`,
    ],
    [
      'an expired token',
      async () => `Bearer ${await token({}, { expiresIn: Math.floor(Date.now() / 1000) - 60 })}`,
    ],
    ['a Basic credential', () => Promise.resolve('Basic dXNlcjpwYXNz')],
  ];
  for (const [what, makeHeader] of invalid) {
    it(`${what} is 401 with error="invalid_token"`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const response = await postWith(h, await makeHeader());
      assert.equal(response.statusCode, 401);
      assert.match(
        String(response.headers['www-authenticate']),
        /^Bearer realm="payflow", error="invalid_token"/,
      );
      assert.equal(h.publisher.payments.length, 0);
    });
  }

  it('a token without the producer role is 403 on POST /v1/payments', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postWith(h, `Bearer ${await token({ roles: ['admin'] })}`);
    assert.equal(response.statusCode, 403);
    assert.equal(response.json<{ code: string }>().code, 'FORBIDDEN');
  });

  it('a producer token is 403 on the admin routes', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const authorization = `Bearer ${await token({ roles: ['producer'] })}`;
    const response = await h.app.inject({
      method: 'GET',
      url: '/v1/accounts/acc-1',
      headers: { authorization },
    });
    assert.equal(response.statusCode, 403);
  });

  it('a token accepted before is refused once it expires: a repeated token is re-checked for expiry every time', async (t) => {
    const h = await harness({ config: testConfig({ PAYFLOW_JWT_CLOCK_TOLERANCE_S: '0' }) });
    t.after(() => h.app.close());
    const expiresAtS = Math.floor(Date.now() / 1000) + 2;
    const header = `Bearer ${await token({}, { expiresIn: expiresAtS })}`;
    assert.equal((await postWith(h, header)).statusCode, 202);
    assert.equal((await postWith(h, header)).statusCode, 202, 'the same request again replays its answer');
    await new Promise((resolve) => setTimeout(resolve, expiresAtS * 1000 - Date.now() + 50));
    const late = await postWith(h, header);
    assert.equal(late.statusCode, 401);
    assert.match(String(late.headers['www-authenticate']), /error="invalid_token"/);
  });

  it('the principal is the token subject', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    await postWith(h, `Bearer ${await token({ sub: 'pos-terminal-7' })}`);
    assert.equal(h.publisher.payments[0]?.command.principal, 'pos-terminal-7');
  });

  it('an RS256 token verified with the configured PEM public key is accepted', async (t) => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const config = testConfig({ PAYFLOW_JWT_PUBLIC_KEY: await exportSPKI(publicKey) });
    const h = await harness({ config });
    t.after(() => h.app.close());
    const response = await postWith(h, `Bearer ${await rsaToken(privateKey, { roles: ['producer'] })}`);
    assert.equal(response.statusCode, 202);
    assert.equal(h.publisher.payments[0]?.command.principal, 'merchant-rsa');
  });

  it('an RS256 token is verified against keys fetched from the JWKS URL', async (t) => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    const server = await listen(
      createServer((_request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ keys: [jwk] }));
      }),
    );
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const h = await harness({ config: testConfig({ PAYFLOW_JWT_JWKS_URL: url }) });
    t.after(() => h.app.close());
    const response = await postWith(
      h,
      `Bearer ${await rsaToken(privateKey, { roles: ['producer'] }, 'key-1')}`,
    );
    assert.equal(response.statusCode, 202);
  });

  it('a JWKS endpoint that does not answer within the timeout gives 503, not 401', async (t) => {
    const { privateKey } = await generateKeyPair('RS256');
    const server = await listen(createServer(() => undefined)); // accepts, never answers
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const h = await harness({
      config: testConfig({ PAYFLOW_JWT_JWKS_URL: url, PAYFLOW_JWT_JWKS_TIMEOUT_MS: '200' }),
    });
    t.after(() => h.app.close());
    const response = await postWith(
      h,
      `Bearer ${await rsaToken(privateKey, { roles: ['producer'] }, 'key-1')}`,
    );
    assert.equal(response.statusCode, 503);
    assert.equal(response.json<{ code: string }>().code, 'AUTH_UNAVAILABLE');
  });
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('hostile tokens and headers', () => {
  const now = () => Math.floor(Date.now() / 1_000);
  const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }) =>
    new SignJWT({ roles: ['producer'], ...claims })
      .setProtectedHeader(header as { alg: string })
      .setSubject(typeof claims['sub'] === 'string' ? claims['sub'] : 'merchant-42')
      .sign(new TextEncoder().encode(TEST_SECRET));

  it('the auth scheme is case-insensitive: "bearer" and "BEARER" work', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const jwt = await token();
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const response = await postWith(h, `${scheme} ${jwt}`);
      assert.equal(response.statusCode, 202, `${scheme}: ${response.body}`);
    }
  });

  it('WWW-Authenticate never echoes the token: an odd alg stays out of the header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const body = Buffer.from(JSON.stringify({ sub: 'x', exp: now() + 60 })).toString('base64url');
    for (const alg of ['none"\r\nX-Injected: 1', 'A"B', 'é', 'x'.repeat(500)]) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
      const response = await postWith(h, `Bearer ${header}.${body}.c2ln`);
      assert.equal(response.statusCode, 401);
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="payflow", error="invalid_token"');
      assert.ok(!response.body.includes(alg), 'the body names the alg');
    }
  });

  it('a token issued in the future (beyond the clock tolerance) is 401', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const ahead = await sign({ iat: now() + 365 * 86_400, exp: now() + 365 * 86_400 + 300 });
    const response = await postWith(h, `Bearer ${ahead}`);
    assert.equal(response.statusCode, 401);
    assert.match(response.json<{ detail: string }>().detail, /iat/);
    const skewed = await sign({ iat: now() + 3, exp: now() + 300 });
    assert.equal((await postWith(h, `Bearer ${skewed}`)).statusCode, 202);
  });

  it('a token valid for longer than PAYFLOW_JWT_MAX_LIFETIME_S is 401, with or without iat', async (t) => {
    const h = await harness({ config: testConfig({ PAYFLOW_JWT_MAX_LIFETIME_S: '3600' }) });
    t.after(() => h.app.close());
    const long = await sign({ iat: now(), exp: now() + 7_200 });
    assert.equal((await postWith(h, `Bearer ${long}`)).statusCode, 401);
    const noIat = await sign({ exp: now() + 7_200 });
    assert.equal((await postWith(h, `Bearer ${noIat}`)).statusCode, 401);
    const fine = await sign({ iat: now(), exp: now() + 3_000 });
    assert.equal((await postWith(h, `Bearer ${fine}`)).statusCode, 202);
  });

  it('a NUL in the sub claim is 401', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const jwt = await sign({ sub: 'merchant\u000042', iat: now(), exp: now() + 300 });
    assert.equal((await postWith(h, `Bearer ${jwt}`)).statusCode, 401);
  });

  it('two Idempotency-Key headers are 400, not the joined key "a, b"', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const port = await listening(h.app);
    const body = JSON.stringify(validPayment);
    const response = await rawRequest(
      port,
      `POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await token()}\r\n` +
        `Idempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    assert.equal(response.statusCode, 400, response.body);
    const problem = JSON.parse(response.body) as { errors: { field: string }[] };
    assert.equal(problem.errors[0]?.field, 'Idempotency-Key');
    assert.equal(h.publisher.payments.length, 0);
    const joined = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: { authorization: `Bearer ${await token()}`, 'idempotency-key': 'a, b' },
      payload: validPayment,
    });
    assert.equal(joined.statusCode, 202, 'one header holding a comma is one key');
  });
});
