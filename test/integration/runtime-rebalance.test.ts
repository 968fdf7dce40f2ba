/**
 * Exactly-once across rebalances, on the real broker: two instances of a running sum share a
 * 6-partition input. Input arrives in three stages: the first instance alone works on stage 1;
 * the second joins (partitions move to it) while stage 2 arrives; the first is SIGKILLed and
 * stage 3 arrives (its partitions move back after its session expires). The output topic still
 * holds exactly the running prefix sums per key: no duplicate, no gap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import {
  collectOutputs,
  countOutputs,
  createRunningSumApp,
  kill,
  produceInput,
  startWorker,
  waitForCount,
  waitForOutputs,
} from '../support/eos-harness.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

/** Produced in three stages, so input remains whatever the machine's speed. */
const STAGE = 20_000;
const KEYS = 300;

describe('exactly-once running sum on Kafka across rebalances', { skip }, () => {
  test(
    'a second instance joining mid-stream and the first being SIGKILLed leave every output exactly once',
    { timeout: 300_000 },
    async () => {
      if ('skip' in env) return;
      const brokers = env.kafkaBrokers.join(',');
      const kafka = new Kafka({
        clientId: 'rebalance-test',
        brokers: env.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const app = await createRunningSumApp(kafka, 6);
      const expected = await produceInput(kafka, app.input, { from: 0, count: STAGE, keys: KEYS });

      const seen = new Map<string, bigint[]>();
      const collector = await collectOutputs(kafka, app.output, seen);
      try {
        const first = startWorker(brokers, app, 6);
        await waitForCount(seen, STAGE / 4, 60_000);
        const second = startWorker(brokers, app, 6);
        const stage2 = produceInput(kafka, app.input, { from: STAGE, count: STAGE, keys: KEYS }, expected);
        await waitForCount(seen, STAGE + STAGE / 4, 120_000);
        await kill(first, 'SIGKILL');
        await stage2;
        await produceInput(kafka, app.input, { from: 2 * STAGE, count: STAGE, keys: KEYS }, expected);
        await waitForOutputs(seen, 3 * STAGE, 180_000);
        assert.equal(await kill(second, 'SIGTERM'), 0);
      } finally {
        await collector.disconnect();
      }
      assert.equal(countOutputs(seen), 3 * STAGE, 'one output per input record');
      for (const [key, sums] of expected) assert.deepEqual(seen.get(key), sums, `outputs of ${key}`);
    },
  );
});
