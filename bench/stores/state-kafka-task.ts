/**
 * The task process of `BENCH_ONLY=state-kafka` (bench/stores/state-kafka.ts): the Kafka driver
 * running one processor with the stores of the hot path — `balances` (key-value) and `seen`
 * (time-indexed, as dedupe's) — on disk stores under `STATE_KAFKA_DIR`, one partition. For each
 * input record it looks the key up in `seen` and inserts it, updates a balance and forwards the
 * record. It prints, one JSON line each, the runner's `task-ready` event (how the stores were
 * restored), `{"type":"first-record","atMs":…}` when the first record is processed and
 * `{"type":"first-commit","atMs":…}` when its transaction is committed; SIGTERM stops the driver
 * (the stores' checkpoint is the last commit's) and exits 0.
 *
 * Configured by environment: PAYFLOW_KAFKA_BROKERS, STATE_KAFKA_APPLICATION_ID, STATE_KAFKA_INPUT,
 * STATE_KAFKA_OUTPUT, STATE_KAFKA_DIR.
 */
import { Kafka, logLevel } from 'kafkajs';

import type { Processor, Serde, Topology } from '../../processors/runtime/api.js';
import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import { ttlStore } from '../../processors/ttl.js';

/** The processor (its stores' changelogs are `changelogTopic(applicationId, PROCESSOR, store)`). */
export const PROCESSOR = 'state';

/** A value of the `seen` store, as the bench writes its changelog. */
export interface Seen {
  readonly principal: string;
  readonly paymentId: string;
  readonly firstSeenMs: number;
}

const text: Serde<string> = {
  serialize: (value) => Buffer.from(value),
  deserialize: (bytes) => bytes.toString('utf8'),
};

export function stateTopology(applicationId: string, input: string, output: string): Topology {
  let announced = false;
  const processor: Processor<string> = {
    name: PROCESSOR,
    inputs: [input],
    outputs: [output],
    stores: [
      { kind: 'kv', name: 'balances', maxEntries: 1 },
      ttlStore<Seen>('seen', 1, (value) => value.firstSeenMs),
    ],
    process(record, context) {
      const seen = context.keyValueStore<Seen>('seen');
      const balances = context.keyValueStore<bigint>('balances');
      if (seen.get(record.key) === undefined)
        seen.put(record.key, {
          principal: 'bench',
          paymentId: record.value,
          firstSeenMs: record.timestampMs,
        });
      const account = `account-${record.value.length}`;
      balances.put(account, (balances.get(account) ?? 0n) + 1n);
      context.forward({ topic: output, key: record.key, value: record.value });
      if (!announced) {
        announced = true;
        process.stdout.write(`${JSON.stringify({ type: 'first-record', atMs: Date.now() })}\n`);
      }
    },
  };
  return {
    applicationId,
    topics: [
      { name: input, partitions: 1, serde: text },
      { name: output, partitions: 1, serde: text },
    ],
    processors: [processor],
    deadLetterTopic: `${applicationId}-dlq`,
  };
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main(): Promise<void> {
  let committed = false;
  const driver = new KafkaDriver(
    stateTopology(env('STATE_KAFKA_APPLICATION_ID'), env('STATE_KAFKA_INPUT'), env('STATE_KAFKA_OUTPUT')),
    {
      kafka: new Kafka({
        clientId: 'bench-state-kafka',
        brokers: env('PAYFLOW_KAFKA_BROKERS').split(','),
        logLevel: logLevel.NOTHING,
      }),
      stateDir: env('STATE_KAFKA_DIR'),
      sessionTimeoutMs: 6_000,
      restoreTimeoutMs: 3_600_000,
      onEvent: (_processor, event) => {
        if (event.type === 'task-ready') process.stdout.write(`${JSON.stringify(event)}\n`);
        if (event.type === 'committed' && event.records > 0 && !committed) {
          committed = true;
          process.stdout.write(`${JSON.stringify({ type: 'first-commit', atMs: Date.now() })}\n`);
        }
      },
    },
  );
  process.once('SIGTERM', () => {
    void driver.stop().then(() => process.exit(0));
  });
  await driver.start();
}

if (process.argv[1]?.endsWith('state-kafka-task.ts')) await main();
