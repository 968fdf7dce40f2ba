import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SUPPORTED_CURRENCIES } from '../schemas/currencies.js';
import { adminHeaders, harness, producerHeaders, validPayment, type Harness } from './test-support.js';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: { field: string; message: string }[];
}

function problemOf(response: {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}): ProblemBody {
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const body = JSON.parse(response.body) as ProblemBody;
  assert.equal(body.status, response.statusCode);
  for (const member of ['type', 'title', 'detail'] as const) assert.equal(typeof body[member], 'string');
  return body;
}

async function postRaw(h: Harness, payload: string | Buffer, url = '/v1/payments') {
  return h.app.inject({
    method: 'POST',
    url,
    headers: { ...(await producerHeaders()), 'content-type': 'application/json' },
    payload,
  });
}

const PAYMENT_TEXT =
  '"recipientAccountId": "acc-bob", "amount": 1250, "currency": "EUR", "device": {"id": "d-1"}';

describe('hostile JSON bodies', () => {
  it('a duplicate key is refused with 400 naming the key, not the last one winning', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postRaw(
      h,
      `{"senderAccountId": "acc-alice", "senderAccountId": "acc-carol", ${PAYMENT_TEXT}}`,
    );
    assert.equal(response.statusCode, 400);
    const problem = problemOf(response);
    assert.deepEqual(problem.errors, [{ field: '/senderAccountId', message: 'is given more than once' }]);
    assert.equal(h.publisher.payments.length, 0);
  });

  it('a duplicate key spelled with an escape, or nested, is found too', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const escaped = await postRaw(
      h,
      `{"senderAccountId": "a", "sender\\u0041ccountId": "b", ${PAYMENT_TEXT}}`,
    );
    assert.equal(escaped.statusCode, 400);
    assert.notEqual(problemOf(escaped).errors?.[0]?.field, undefined);
    const nested = await postRaw(
      h,
      `{"senderAccountId": "acc-alice", "recipientAccountId": "acc-bob", "amount": 1, "currency": "EUR", "device": {"id": "a", "id": "b"}}`,
    );
    assert.equal(nested.statusCode, 400);
    assert.equal(problemOf(nested).errors?.[0]?.field, '/device/id');
  });

  it('equal keys in different objects and strings that look like keys are accepted', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postRaw(
      h,
      `{"senderAccountId": "acc-alice", "reference": "\\"id\\": \\"x\\", {\\"id\\"", ${PAYMENT_TEXT}}`,
    );
    assert.equal(response.statusCode, 202, response.body);
  });

  for (const [name, text, field] of [
    [
      'NUL in reference',
      `{"senderAccountId": "acc-alice", "reference": "a\\u0000b", ${PAYMENT_TEXT}}`,
      '/reference',
    ],
    [
      'a lone high surrogate in reference',
      `{"senderAccountId": "acc-alice", "reference": "x\\ud800", ${PAYMENT_TEXT}}`,
      '/reference',
    ],
    [
      'a lone low surrogate in device.id',
      `{"senderAccountId": "acc-alice", "recipientAccountId": "acc-bob", "amount": 1, "currency": "EUR", "device": {"id": "\\udc00"}}`,
      '/device/id',
    ],
    ['NUL in a key', `{"senderAccountId": "acc-alice", "x\\u0000": 1, ${PAYMENT_TEXT}}`, '/x\u0000'],
  ] as const) {
    it(`${name} is refused with 400 naming the field`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const response = await postRaw(h, text);
      assert.equal(response.statusCode, 400, response.body);
      assert.equal(problemOf(response).errors?.[0]?.field, field);
      assert.equal(h.publisher.payments.length, 0);
    });
  }

  it('a surrogate pair (an emoji) is accepted', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postRaw(
      h,
      `{"senderAccountId": "acc-alice", "reference": "ok \\ud83d\\ude00 😀", ${PAYMENT_TEXT}}`,
    );
    assert.equal(response.statusCode, 202, response.body);
  });

  it('NUL in an account owner is refused with 400 naming /ownerId', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      payload: '{"ownerId": "owner\\u00001", "currency": "EUR", "kycTier": "TIER_0"}',
    });
    assert.equal(response.statusCode, 400);
    assert.equal(problemOf(response).errors?.[0]?.field, '/ownerId');
  });

  it('a body that is not UTF-8 is refused with 400', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const bytes = Buffer.concat([
      Buffer.from('{"senderAccountId": "acc-'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`", ${PAYMENT_TEXT}}`),
    ]);
    const response = await postRaw(h, bytes);
    assert.equal(response.statusCode, 400);
    assert.equal(problemOf(response).code, 'MALFORMED_JSON');
  });

  it('constructor.prototype is refused like __proto__', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await postRaw(
      h,
      `{"senderAccountId": "acc-alice", "constructor": {"prototype": {}}, ${PAYMENT_TEXT}}`,
    );
    assert.equal(response.statusCode, 400);
    problemOf(response);
  });
});

describe('currencies: one list for validation and the API document', () => {
  for (const currency of ['XAU', 'XXX', 'HRK', 'XTS', 'ZWL']) {
    it(`${currency} is refused with 400 naming /currency`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/payments',
        headers: await producerHeaders(),
        payload: { ...validPayment, currency },
      });
      assert.equal(response.statusCode, 400);
      assert.equal(problemOf(response).errors?.[0]?.field, '/currency');
    });
  }

  it('every currency field of /openapi.json is the enum of the currencies the server accepts', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const text = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).body;
    const fields = [...text.matchAll(/"currency":(\{[^{}]*\})/g)].map(
      (match) => JSON.parse(match[1] ?? '{}') as { enum?: unknown },
    );
    assert.ok(fields.length >= 4, `only ${fields.length} currency fields`);
    for (const field of fields) assert.deepEqual(field.enum, SUPPORTED_CURRENCIES);
    for (const currency of SUPPORTED_CURRENCIES) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/payments',
        headers: await producerHeaders(`key-${currency}`),
        payload: { ...validPayment, currency },
      });
      assert.equal(response.statusCode, 202, currency);
    }
  });
});
