/**
 * A child process for the exactly-once crash tests: a running sum per key on the Kafka driver.
 * For each input record (key, integer value) it emits (key, sum of that key's values so far)
 * and keeps the sums in the `sums` store, written through to its changelog.
 *
 * Configured by environment: PAYFLOW_KAFKA_BROKERS, WORKER_APPLICATION_ID, WORKER_INPUT,
 * WORKER_OUTPUT. Exits 0 on SIGTERM after finishing the batch in flight.
 */
import { Kafka, logLevel } from 'kafkajs';

import { EosRunner, type PartitionLogic } from '../../processors/runtime/kafka/eos-runner.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const output = env('WORKER_OUTPUT');
const runningSum: PartitionLogic = {
  process(record, stores) {
    const previous = BigInt(stores.get('sums', record.key)?.toString() ?? '0');
    const next = previous + BigInt(record.value!.toString());
    stores.put('sums', record.key, Buffer.from(next.toString()));
    return [{ topic: output, key: record.key, value: Buffer.from(next.toString()) }];
  },
};

const runner = new EosRunner({
  kafka: new Kafka({ clientId: 'running-sum', brokers: env('PAYFLOW_KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING }),
  applicationId: env('WORKER_APPLICATION_ID'),
  name: 'running-sum',
  inputTopic: env('WORKER_INPUT'),
  stores: ['sums'],
  logic: runningSum,
  sessionTimeoutMs: 6_000,
  onEvent: (event) => {
    if (event.type !== 'committed') process.stdout.write(`${JSON.stringify(event)}\n`);
  },
});

process.once('SIGTERM', () => {
  void runner.stop().then(() => process.exit(0));
});
await runner.start();
process.stdout.write('worker-started\n');
