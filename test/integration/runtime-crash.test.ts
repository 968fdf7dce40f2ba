/**
 * Exactly-once under SIGKILL, on the real broker: a stateful running sum per key processes
 * 100,000 records while its process is killed at random moments and restarted. Afterwards the
 * output topic (read_committed) holds exactly one output per input — per key, exactly the
 * running prefix sums of its inputs in order, no duplicate, no gap — and the state a new owner
 * restores from the changelog equals the totals recomputed from the input.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';

import { Kafka, logLevel, type Consumer } from 'kafkajs';

import { changelogTopic, EosRunner } from '../../processors/runtime/kafka/eos-runner.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const RECORDS = 100_000;
const KEYS = 500;
const PARTITIONS = 6;
const KILLS = 6;
const COMPLETION_TIMEOUT_MS = 240_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startWorker(brokers: string, applicationId: string, input: string, output: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'test/support/running-sum-worker.ts'], {
    env: { ...process.env, PAYFLOW_KAFKA_BROKERS: brokers, WORKER_APPLICATION_ID: applicationId, WORKER_INPUT: input, WORKER_OUTPUT: output },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

async function collectOutputs(kafka: Kafka, topic: string, into: Map<string, bigint[]>): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: uniqueName('crash-check'), readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      const key = message.key!.toString();
      const list = into.get(key) ?? [];
      list.push(BigInt(message.value!.toString()));
      into.set(key, list);
      return Promise.resolve();
    },
  });
  return consumer;
}

describe('exactly-once running sum on Kafka', { skip }, () => {
  test('100,000 records through a running sum killed with SIGKILL 6 times: every output exactly once, restored state equals the input totals', { timeout: 400_000 }, async () => {
    if ('skip' in env) return;
    const brokers = env.kafkaBrokers.join(',');
    const kafka = new Kafka({ clientId: 'crash-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    const applicationId = uniqueName('crash');
    const input = `${applicationId}-input`;
    const output = `${applicationId}-output`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: input, numPartitions: PARTITIONS },
        { topic: output, numPartitions: PARTITIONS },
        {
          topic: changelogTopic(applicationId, 'running-sum', 'sums'),
          numPartitions: PARTITIONS,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
    });
    await admin.disconnect();

    // The input, and the outputs it must produce: per key, the running prefix sums.
    const expected = new Map<string, bigint[]>();
    const messages = Array.from({ length: RECORDS }, (_, i) => {
      const key = `k${i % KEYS}`;
      const value = BigInt(1 + ((i * 7919) % 9));
      const sums = expected.get(key) ?? [];
      sums.push((sums.at(-1) ?? 0n) + value);
      expected.set(key, sums);
      return { key, value: value.toString() };
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let start = 0; start < messages.length; start += 10_000) {
      await producer.send({ topic: input, acks: -1, messages: messages.slice(start, start + 10_000) });
    }
    await producer.disconnect();

    const seen = new Map<string, bigint[]>();
    const collector = await collectOutputs(kafka, output, seen);
    const count = () => [...seen.values()].reduce((sum, list) => sum + list.length, 0);
    try {
      for (let kill_ = 0; kill_ < KILLS; kill_ += 1) {
        const worker = startWorker(brokers, applicationId, input, output);
        await sleep(2_000 + Math.floor(Math.random() * 4_000));
        await kill(worker, 'SIGKILL');
      }
      const finalWorker = startWorker(brokers, applicationId, input, output);
      const deadline = Date.now() + COMPLETION_TIMEOUT_MS;
      while (count() < RECORDS && Date.now() < deadline) await sleep(500);
      await sleep(2_000); // anything beyond the expected count would be a duplicate: let it show
      assert.equal(await kill(finalWorker, 'SIGTERM'), 0, 'SIGTERM finishes the batch and exits cleanly');
    } finally {
      await collector.disconnect();
    }

    assert.equal(count(), RECORDS, 'one output per input record');
    for (const [key, sums] of expected) assert.deepEqual(seen.get(key), sums, `outputs of ${key}`);

    const inspector = new EosRunner({
      kafka,
      applicationId,
      name: 'running-sum',
      inputTopic: input,
      stores: ['sums'],
      logic: { process: () => [] },
    });
    const restored = new Map<string, bigint>();
    for (let partition = 0; partition < PARTITIONS; partition += 1) {
      const stores = await inspector.restorePartition(partition);
      for (const [key, value] of stores.get('sums')!) restored.set(key, BigInt(value.toString()));
    }
    const totals = new Map([...expected].map(([key, sums]) => [key, sums.at(-1)!]));
    assert.deepEqual(restored, totals, 'restored state equals the totals recomputed from the input');
  });
});
