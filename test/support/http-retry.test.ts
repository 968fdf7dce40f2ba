import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { retryAfterMs, sendWithRetryAfter, type RetriableAnswer } from './http-retry.js';

/** Answers in order, then the last one again; counts the sends. */
function answering(...answers: RetriableAnswer[]) {
  let sends = 0;
  return {
    get sends() {
      return sends;
    },
    send: () => Promise.resolve(answers[Math.min(sends++, answers.length - 1)]!),
  };
}

const policy = { maxAttempts: 4, deadlineMs: 5_000, maxWaitMs: 5 };

describe('sending again after 429 and 503 with Retry-After', () => {
  test('Retry-After is read as delay-seconds or as an HTTP date, and is absent when empty', () => {
    assert.equal(retryAfterMs('5'), 5_000);
    assert.equal(retryAfterMs(new Date(61_000).toUTCString(), 1_000), 60_000);
    assert.equal(retryAfterMs(null), undefined);
    assert.equal(retryAfterMs(''), undefined);
  });

  test('a 503 and a 429 that carry Retry-After are sent again until the answer is another one', async () => {
    const server = answering(
      { status: 503, retryAfter: '0' },
      { status: 429, retryAfter: '0' },
      { status: 202, retryAfter: null },
    );
    assert.equal((await sendWithRetryAfter(server.send, policy)).status, 202);
    assert.equal(server.sends, 3);
  });

  test('a 503 without Retry-After, or any other status, is answered as it came', async () => {
    for (const answer of [
      { status: 503, retryAfter: null },
      { status: 409, retryAfter: '1' },
    ]) {
      const server = answering(answer);
      assert.equal((await sendWithRetryAfter(server.send, policy)).status, answer.status);
      assert.equal(server.sends, 1);
    }
  });

  test('sending again is bounded: the last 503 is returned after the attempts are used up', async () => {
    const server = answering({ status: 503, retryAfter: '3600' });
    const startedAt = Date.now();
    assert.equal((await sendWithRetryAfter(server.send, policy)).status, 503);
    assert.equal(server.sends, policy.maxAttempts);
    assert.ok(Date.now() - startedAt < 1_000, 'each wait is capped, an hour-long Retry-After included');
  });

  test('sending again is bounded in time: no send starts after the deadline', async () => {
    const server = answering({ status: 503, retryAfter: '1' });
    const answer = await sendWithRetryAfter(server.send, { maxAttempts: 100, deadlineMs: 50, maxWaitMs: 20 });
    assert.equal(answer.status, 503);
    assert.ok(server.sends <= 4, `${server.sends} sends within 50 ms at 20 ms apart`);
  });
});
