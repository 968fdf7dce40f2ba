import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, producerHeaders, token, validPayment, type Harness } from './test-support.js';

async function post(h: Harness, payload: unknown, headers?: Record<string, string>) {
  return h.app.inject({
    method: 'POST',
    url: '/v1/payments',
    headers: headers ?? (await producerHeaders()),
    payload: payload as object,
  });
}

function problemOf(response: { headers: Record<string, unknown>; json: () => unknown }) {
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  return response.json() as {
    code: string;
    status: number;
    detail: string;
    errors?: { field: string; message: string }[];
  };
}

describe('POST /v1/payments', () => {
  it('a valid transfer is answered 202 after the exact command is published', async (t) => {
    const h = await harness({ now: () => 1_700_000_000_000 });
    t.after(() => h.app.close());
    const response = await post(h, validPayment, {
      ...(await producerHeaders('key-1')),
      'x-correlation-id': 'corr-123',
    });

    assert.equal(response.statusCode, 202);
    assert.equal(response.headers['x-correlation-id'], 'corr-123');
    const body = response.json<{ paymentId: string; status: string; statusUrl: string }>();
    assert.match(body.paymentId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(body, {
      paymentId: body.paymentId,
      status: 'INITIATED',
      statusUrl: `/v1/payments/${body.paymentId}`,
    });
    assert.equal(h.publisher.payments.length, 1);
    const published = h.publisher.payments[0];
    assert.deepEqual(published?.headers, {
      correlationId: 'corr-123',
      principal: 'merchant-42',
      idempotencyKey: 'key-1',
    });
    const command = published?.command;
    assert.deepEqual(command, {
      commandId: command?.commandId,
      paymentId: body.paymentId,
      kind: 'TRANSFER',
      principal: 'merchant-42',
      idempotencyKey: 'key-1',
      // SHA-256 of the canonical (key-sorted) body.
      requestHash: command?.requestHash,
      senderAccountId: 'acc-alice',
      recipientAccountId: 'acc-bob',
      amountMinor: 1250n,
      currency: 'EUR',
      reference: 'invoice 2024-001',
      device: { id: 'device-1', ip: '203.0.113.7' },
      submittedAtMs: 1_700_000_000_000,
      authority: { kind: 'SERVICE', owners: ['*'] },
    });
    assert.match(command?.requestHash ?? '', /^[0-9a-f]{64}$/);
  });

  it('an IBAN written in the reference is published masked, and a retry with the same body is still the same request', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const payload = { ...validPayment, reference: 'rent to SA03 8000 0000 6080 1016 7519, thanks' };
    const first = await post(h, payload, await producerHeaders('key-iban'));
    assert.equal(first.statusCode, 202);
    assert.equal(h.publisher.payments[0]?.command.reference, 'rent to SA****7519, thanks');
    const retry = await post(h, payload, await producerHeaders('key-iban'));
    assert.equal(retry.statusCode, 202);
    assert.equal(
      retry.json<{ paymentId: string }>().paymentId,
      first.json<{ paymentId: string }>().paymentId,
    );
  });

  it('the request hash ignores key order and whitespace in the body', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    await post(h, validPayment, await producerHeaders('a'));
    const reordered = `{ "currency":"EUR", "amount":1250, "recipientAccountId":"acc-bob", "senderAccountId":"acc-alice",
      "device":{"ip":"203.0.113.7","id":"device-1"}, "reference":"invoice 2024-001" }`;
    await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers: { ...(await producerHeaders('b')), 'content-type': 'application/json' },
      payload: reordered,
    });
    assert.equal(h.publisher.payments[0]?.command.requestHash, h.publisher.payments[1]?.command.requestHash);
  });

  it('a transfer without optional fields publishes null reference and device', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const minimal = {
      senderAccountId: 'acc-alice',
      recipientAccountId: 'acc-bob',
      amount: 1250,
      currency: 'EUR',
    };
    assert.equal((await post(h, minimal)).statusCode, 202);
    assert.equal(h.publisher.payments[0]?.command.reference, null);
    assert.equal(h.publisher.payments[0]?.command.device, null);
  });

  const badBodies: [string, unknown, string][] = [
    ['a negative amount', { ...validPayment, amount: -5 }, '/amount'],
    ['a zero amount', { ...validPayment, amount: 0 }, '/amount'],
    ['a fractional amount', { ...validPayment, amount: 10.5 }, '/amount'],
    ['an amount sent as a string', { ...validPayment, amount: '1250' }, '/amount'],
    ['an amount above the safe maximum', { ...validPayment, amount: 1e15 }, '/amount'],
    ['a lower-case currency', { ...validPayment, currency: 'eur' }, '/currency'],
    ['a two-letter currency', { ...validPayment, currency: 'EU' }, '/currency'],
    ['a well-shaped but unknown currency', { ...validPayment, currency: 'ABC' }, '/currency'],
    ['an extra property', { ...validPayment, tip: 5 }, '/tip'],
    ['a missing recipient', { ...validPayment, recipientAccountId: undefined }, '/recipientAccountId'],
    [
      'a system funding account as sender',
      { ...validPayment, senderAccountId: 'funding:EUR' },
      '/senderAccountId',
    ],
    ['the sender as recipient', { ...validPayment, recipientAccountId: 'acc-alice' }, '/recipientAccountId'],
    ['a reference over 140 characters', { ...validPayment, reference: 'x'.repeat(141) }, '/reference'],
    [
      'a device ip that is not an address',
      { ...validPayment, device: { id: 'd', ip: 'not-an-ip' } },
      '/device/ip',
    ],
    ['an unknown device property', { ...validPayment, device: { id: 'd', imei: '1' } }, '/device/imei'],
  ];
  for (const [what, payload, field] of badBodies) {
    it(`${what} is refused with 400 naming ${field}`, async (t) => {
      const h = await harness();
      t.after(() => h.app.close());
      const response = await post(h, payload);
      assert.equal(response.statusCode, 400);
      const problem = problemOf(response);
      assert.equal(problem.code, 'VALIDATION_FAILED');
      assert.ok(
        problem.errors?.some((error) => error.field === field),
        JSON.stringify(problem.errors),
      );
      assert.equal(h.publisher.payments.length, 0);
    });
  }

  it('a missing Idempotency-Key is refused with 400 naming the header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await post(h, validPayment, { authorization: `Bearer ${await token()}` });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      problemOf(response).errors?.map((error) => error.field),
      ['Idempotency-Key'],
    );
  });

  it('an Idempotency-Key longer than 255 characters is refused with 400 naming the header', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await post(h, validPayment, await producerHeaders('k'.repeat(256)));
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      problemOf(response).errors?.map((error) => error.field),
      ['Idempotency-Key'],
    );
  });

  it('malformed JSON is refused with 400 MALFORMED_JSON', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const headers = { ...(await producerHeaders()), 'content-type': 'application/json' };
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers,
      payload: '{"amount": 12,',
    });
    assert.equal(response.statusCode, 400);
    const problem = problemOf(response);
    assert.equal(problem.code, 'MALFORMED_JSON');
    assert.deepEqual(
      problem.errors?.map((error) => error.field),
      [''],
    );
  });

  it('a JSON body trying prototype pollution is refused with 400', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const headers = { ...(await producerHeaders()), 'content-type': 'application/json' };
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers,
      payload: '{"__proto__": {"x": 1}}',
    });
    assert.equal(response.statusCode, 400);
    problemOf(response);
  });

  it('a body that is not JSON is refused with 415 naming Content-Type', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const headers = { ...(await producerHeaders()), 'content-type': 'text/plain' };
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/payments',
      headers,
      payload: 'amount=5',
    });
    assert.equal(response.statusCode, 415);
    const problem = problemOf(response);
    assert.equal(problem.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.deepEqual(
      problem.errors?.map((error) => error.field),
      ['Content-Type'],
    );
  });

  it('a body over the 16 KiB limit is refused with 413', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await post(h, { ...validPayment, reference: 'x'.repeat(20_000) });
    assert.equal(response.statusCode, 413);
    assert.equal(problemOf(response).code, 'PAYLOAD_TOO_LARGE');
  });

  it('a publish that fails is answered 503 with Retry-After, not a 500', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.publisher.failNext();
    const response = await post(h, validPayment);
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.equal(problemOf(response).code, 'PUBLISH_UNAVAILABLE');
  });

  it('a publish that hangs past the publish timeout is answered 503', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const release = h.publisher.hold();
    t.after(release);
    const response = await post(h, validPayment);
    assert.equal(response.statusCode, 503);
    assert.equal(problemOf(response).code, 'PUBLISH_UNAVAILABLE');
  });
});

describe('GET /v1/payments/:paymentId', () => {
  const paymentId = '01929b5e-0000-7000-8000-000000000001';
  const view = {
    paymentId,
    kind: 'TRANSFER' as const,
    principal: 'merchant-42',
    status: 'REJECTED' as const,
    amountMinor: 1250n,
    currency: 'EUR',
    senderAccountId: 'acc-alice',
    recipientAccountId: 'acc-bob',
    reference: null,
    rejection: { code: 'INSUFFICIENT_FUNDS', detail: 'balance 100 < 1250' },
    events: [
      {
        type: 'PaymentInitiated',
        occurredAtMs: 1_700_000_000_000,
        recordedAtMs: 1_700_000_000_200,
        sequence: 1,
      },
      {
        type: 'PaymentRejected',
        occurredAtMs: 1_700_000_000_000,
        recordedAtMs: 1_700_000_000_500,
        sequence: 2,
      },
    ],
    createdAtMs: 1_700_000_000_000,
    updatedAtMs: 1_700_000_000_500,
    risk: null,
  };

  it("a known payment is returned with its status, rejection and ordered events, each with its command's time and the time it was decided", async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.payments.put(view);
    const response = await h.app.inject({
      method: 'GET',
      url: `/v1/payments/${paymentId}`,
      headers: { authorization: `Bearer ${await token()}` },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      paymentId,
      kind: 'TRANSFER',
      status: 'REJECTED',
      amount: 1250,
      currency: 'EUR',
      senderAccountId: 'acc-alice',
      recipientAccountId: 'acc-bob',
      reference: null,
      rejection: { code: 'INSUFFICIENT_FUNDS', detail: 'balance 100 < 1250' },
      risk: null,
      events: [
        {
          type: 'PaymentInitiated',
          occurredAt: '2023-11-14T22:13:20.000Z',
          recordedAt: '2023-11-14T22:13:20.200Z',
          sequence: 1,
        },
        {
          type: 'PaymentRejected',
          occurredAt: '2023-11-14T22:13:20.000Z',
          recordedAt: '2023-11-14T22:13:20.500Z',
          sequence: 2,
        },
      ],
      createdAt: '2023-11-14T22:13:20.000Z',
      updatedAt: '2023-11-14T22:13:20.500Z',
    });
  });

  it('an unknown payment is 404 problem+json', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'GET',
      url: `/v1/payments/${paymentId}`,
      headers: { authorization: `Bearer ${await token()}` },
    });
    assert.equal(response.statusCode, 404);
    assert.equal(problemOf(response).code, 'PAYMENT_NOT_FOUND');
  });

  it("another producer's payment looks unknown (404) while an admin can read it", async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.payments.put(view);
    const url = `/v1/payments/${paymentId}`;
    const other = await h.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${await token({ sub: 'someone-else' })}` },
    });
    assert.equal(other.statusCode, 404);
    const admin = await h.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${await token({ sub: 'ops', roles: ['admin'] })}` },
    });
    assert.equal(admin.statusCode, 200);
  });

  it('a payment id that is not a UUID is 400 naming paymentId', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const response = await h.app.inject({
      method: 'GET',
      url: '/v1/payments/nope',
      headers: { authorization: `Bearer ${await token()}` },
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(
      problemOf(response).errors?.map((error) => error.field),
      ['paymentId'],
    );
  });

  it('while the pipeline cannot take commands, a payment is refused 503 PIPELINE_UNAVAILABLE with Retry-After naming what is down, nothing is published, and the same key goes through once it is back', async (t) => {
    let down: string | undefined =
      'processor:ledger down (KafkaJSNonRetriableError: Failed to find group coordinator)';
    const h = await harness({
      ports: {
        intake: {
          accepting: () => (down === undefined ? { accepting: true } : { accepting: false, detail: down }),
        },
      },
    });
    t.after(() => h.app.close());
    const headers = await producerHeaders('key-pipeline-down');
    const refused = await post(h, validPayment, headers);
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.headers['retry-after'], '5');
    assert.equal(problemOf(refused).code, 'PIPELINE_UNAVAILABLE');
    assert.match(problemOf(refused).detail, /processor:ledger down/);
    assert.equal(h.publisher.payments.length, 0);
    down = undefined;
    const accepted = await post(h, validPayment, headers);
    assert.equal(accepted.statusCode, 202);
    assert.equal(h.publisher.payments.length, 1);
  });
});
