/**
 * Shared set-up of the exactly-once tests on the real broker: topics for a running-sum
 * application, an input with known expected outputs, worker processes, and an output collector.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

import type { Consumer, Kafka } from 'kafkajs';

import { changelogTopic } from '../../topics/names.js';
import type { RunningSumApp } from './running-sum.js';
import { uniqueName } from './stack.js';

export type { RunningSumApp } from './running-sum.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function createRunningSumApp(kafka: Kafka, partitions: number): Promise<RunningSumApp> {
  const applicationId = uniqueName('eos');
  const app = { applicationId, input: `${applicationId}-input`, output: `${applicationId}-output` };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: app.input, numPartitions: partitions },
      { topic: app.output, numPartitions: partitions },
      {
        topic: changelogTopic(applicationId, 'running-sum', 'sums'),
        numPartitions: partitions,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
  });
  await admin.disconnect();
  return app;
}

/**
 * Produces records `from` .. `from + count - 1` (integers over `keys` keys) and extends
 * `expected` with the running sums they must produce, per key. Call with consecutive ranges.
 */
export async function produceInput(
  kafka: Kafka,
  topic: string,
  range: { readonly from?: number; readonly count: number; readonly keys: number },
  expected: Map<string, bigint[]> = new Map(),
): Promise<Map<string, bigint[]>> {
  const from = range.from ?? 0;
  const messages = Array.from({ length: range.count }, (_, n) => {
    const i = from + n;
    const key = `k${i % range.keys}`;
    const value = BigInt(1 + ((i * 7919) % 9));
    const sums = expected.get(key) ?? [];
    sums.push((sums.at(-1) ?? 0n) + value);
    expected.set(key, sums);
    return { key, value: value.toString() };
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let start = 0; start < messages.length; start += 10_000) {
    await producer.send({ topic, acks: -1, messages: messages.slice(start, start + 10_000) });
  }
  await producer.disconnect();
  return expected;
}

/** Waits until at least `count` outputs were seen (or the timeout passes). */
export async function waitForCount(
  seen: ReadonlyMap<string, readonly bigint[]>,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (countOutputs(seen) < count && Date.now() < deadline) await sleep(200);
}

export function startWorker(
  brokers: string,
  app: RunningSumApp,
  partitions: number,
  stateDir?: string,
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'test/support/running-sum-worker.ts'], {
    env: {
      ...process.env,
      PAYFLOW_KAFKA_BROKERS: brokers,
      WORKER_APPLICATION_ID: app.applicationId,
      WORKER_INPUT: app.input,
      WORKER_OUTPUT: app.output,
      WORKER_PARTITIONS: String(partitions),
      ...(stateDir === undefined ? {} : { WORKER_STATE_DIR: stateDir }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Signals a worker this test started (by its own handle) and waits for it to exit. */
export async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** Collects every committed output, per key in arrival order. */
export async function collectOutputs(
  kafka: Kafka,
  topic: string,
  into: Map<string, bigint[]>,
): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: uniqueName('eos-check'), readUncommitted: false });
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

export const countOutputs = (seen: ReadonlyMap<string, readonly bigint[]>): number =>
  [...seen.values()].reduce((sum, list) => sum + list.length, 0);

export async function waitForOutputs(
  seen: ReadonlyMap<string, readonly bigint[]>,
  records: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (countOutputs(seen) < records && Date.now() < deadline) await sleep(500);
  await sleep(2_000); // anything beyond the expected count would be a duplicate: let it show
}
