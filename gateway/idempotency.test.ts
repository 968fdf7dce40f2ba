import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, producerHeaders, token, validPayment, type Harness } from './test-support.js';

async function post(h: Harness, key: string, payload: object = validPayment, sub?: string) {
  const headers =
    sub === undefined
      ? await producerHeaders(key)
      : { authorization: `Bearer ${await token({ sub })}`, 'idempotency-key': key };
  return h.app.inject({ method: 'POST', url: '/v1/payments', headers, payload });
}

describe('Idempotency-Key on POST /v1/payments', () => {
  it('the same key with the same body replays the original status and body and publishes once', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const first = await post(h, 'k-1');
    const second = await post(h, 'k-1');
    assert.equal(second.statusCode, first.statusCode);
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(h.publisher.payments.length, 1);
  });

  it('five retries of one request publish exactly one command', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const responses = [];
    for (let attempt = 0; attempt < 5; attempt += 1) responses.push(await post(h, 'k-retry'));
    assert.deepEqual(new Set(responses.map((response) => response.body)).size, 1);
    assert.equal(h.publisher.payments.length, 1);
  });

  it('a key in the IETF structured-field form ("...") is the same key as its bare form', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    await post(h, 'k-quoted');
    const quoted = await post(h, '"k-quoted"');
    assert.equal(quoted.headers['idempotent-replayed'], 'true');
    assert.equal(h.publisher.payments.length, 1);
  });

  it('the same key with a different body is refused with 422 and publishes nothing more', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    await post(h, 'k-2');
    const response = await post(h, 'k-2', { ...validPayment, amount: 9999 });
    assert.equal(response.statusCode, 422);
    assert.equal(response.json<{ code: string }>().code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(h.publisher.payments.length, 1);
  });

  it('a second request while the first with the key is in flight is refused with 409', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const release = h.publisher.hold();
    const first = post(h, 'k-3');
    await new Promise((resolve) => setTimeout(resolve, 20)); // the first now waits on the publisher
    const concurrent = await post(h, 'k-3');
    assert.equal(concurrent.statusCode, 409);
    assert.equal(concurrent.headers['retry-after'], '1');
    assert.equal(concurrent.json<{ code: string }>().code, 'IDEMPOTENCY_KEY_IN_FLIGHT');
    release();
    assert.equal((await first).statusCode, 202);
    assert.equal((await post(h, 'k-3')).headers['idempotent-replayed'], 'true');
    assert.equal(h.publisher.payments.length, 1);
  });

  it('a failed publish releases the key so that a retry goes through', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    h.publisher.failNext();
    assert.equal((await post(h, 'k-4')).statusCode, 503);
    const retry = await post(h, 'k-4');
    assert.equal(retry.statusCode, 202);
    assert.equal(retry.headers['idempotent-replayed'], undefined);
    assert.equal(h.publisher.payments.length, 1);
  });

  it('a retry after a failed publish sends the very same command, so a first attempt that did land is the same payment', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    const attempts: { paymentId: string; commandId: string; submittedAtMs: number }[] = [];
    const publish = h.publisher.publishPayment.bind(h.publisher);
    h.publisher.publishPayment = (command, headers) => {
      attempts.push({
        paymentId: command.paymentId,
        commandId: command.commandId,
        submittedAtMs: command.submittedAtMs,
      });
      return publish(command, headers);
    };
    h.publisher.failNext(new Error('timed out waiting for the acknowledgement'));
    assert.equal((await post(h, 'k-7')).statusCode, 503);
    const retry = await post(h, 'k-7');
    assert.equal(retry.statusCode, 202);
    assert.equal(attempts.length, 2);
    assert.deepEqual(attempts[1], attempts[0]);
    assert.equal(retry.json<{ paymentId: string }>().paymentId, attempts[0]!.paymentId);
    const other = await post(h, 'k-8');
    assert.notEqual(other.json<{ paymentId: string }>().paymentId, attempts[0]!.paymentId);
  });

  it('keys are scoped per principal: two producers may use the same key', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    assert.equal((await post(h, 'shared', validPayment, 'merchant-a')).statusCode, 202);
    const other = await post(h, 'shared', { ...validPayment, amount: 7 }, 'merchant-b');
    assert.equal(other.statusCode, 202);
    assert.equal(other.headers['idempotent-replayed'], undefined);
    assert.equal(h.publisher.payments.length, 2);
  });

  it('requests refused by validation do not consume the key', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    assert.equal((await post(h, 'k-5', { ...validPayment, amount: -1 })).statusCode, 400);
    assert.equal((await post(h, 'k-5')).statusCode, 202);
  });

  it('an idempotency store that is down is answered 503, never a duplicate publish', async (t) => {
    const h = await harness({
      ports: {
        idempotency: {
          begin: () => Promise.reject(new Error('connection refused')),
          complete: () => Promise.resolve(),
          release: () => Promise.resolve(),
          firstAttempt: (_scope, _fingerprint, proposed) => Promise.resolve(proposed),
          close: () => Promise.resolve(),
        },
      },
    });
    t.after(() => h.app.close());
    const response = await post(h, 'k-6');
    assert.equal(response.statusCode, 503);
    assert.equal(response.json<{ code: string }>().code, 'IDEMPOTENCY_UNAVAILABLE');
    assert.equal(h.publisher.payments.length, 0);
  });
});
