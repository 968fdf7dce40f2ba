import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, listening, rawRequest, type RawResponse } from './test-support.js';

/** The answer is an RFC 9457 document with its members, and its status matches the status line. */
function assertProblem(response: RawResponse, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  assert.equal(body['status'], status);
  assert.equal(body['code'], code);
  for (const member of ['type', 'title', 'detail']) assert.equal(typeof body[member], 'string', member);
  assert.ok(response.headers['x-correlation-id'] !== undefined, 'no X-Correlation-Id');
}

const PAYMENT_ID = '0190a0a0-0000-7000-8000-000000000000';

describe('every error of the HTTP layer is problem+json', () => {
  const cases: readonly [string, string, number, string][] = [
    ['an unknown route', 'GET /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'ROUTE_NOT_FOUND'],
    ['QUERY on a known path', 'QUERY /v1/payments HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
    [
      'a method the parser does not know',
      'FROB /v1/payments HTTP/1.1\r\nHost: x\r\n\r\n',
      405,
      'METHOD_NOT_ALLOWED',
    ],
    ['a line that is not HTTP', 'HELLO THERE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    [
      'a NUL in a header value',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n',
      400,
      'MALFORMED_REQUEST',
    ],
    [
      'bad percent-encoding in the path',
      `GET /v1/payments/%zz HTTP/1.1\r\nHost: x\r\n\r\n`,
      400,
      'MALFORMED_REQUEST',
    ],
    [
      'a path parameter over the router limit',
      `GET /v1/accounts/${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      414,
      'URI_TOO_LONG',
    ],
    [
      'a request target over 2048 characters',
      `GET /v1/payments/${PAYMENT_ID}?${'q'.repeat(3_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      414,
      'URI_TOO_LONG',
    ],
    [
      'headers over the size limit',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE',
    ],
    [
      'a body over the limit, sent without a token (refused before it is read)',
      `POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n{}`,
      401,
      'UNAUTHENTICATED',
    ],
    [
      'a Content-Length that is not a number',
      'POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      400,
      'MALFORMED_REQUEST',
    ],
  ];
  for (const [name, text, status, code] of cases) {
    it(`${name} is ${status} ${code}`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const port = await listening(h.app);
      assertProblem(await rawRequest(port, text), status, code);
    });
  }

  it('405 answers name the allowed methods', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const port = await listening(h.app);
    const response = await rawRequest(
      port,
      'QUERY /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    );
    assertProblem(response, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(response.headers['allow'], 'GET, HEAD, POST');
  });
});
