/**
 * A child process for the exactly-once crash tests: the running sum on the Kafka driver.
 *
 * Configured by environment: PAYFLOW_KAFKA_BROKERS, WORKER_APPLICATION_ID, WORKER_INPUT,
 * WORKER_OUTPUT, WORKER_PARTITIONS, and WORKER_STATE_DIR (set: disk-backed stores there; unset: in
 * memory). Exits 0 on SIGTERM after finishing the batch in flight.
 */
import { Kafka, logLevel } from 'kafkajs';

import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import { runningSumTopology } from './running-sum.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const driver = new KafkaDriver(
  runningSumTopology(
    { applicationId: env('WORKER_APPLICATION_ID'), input: env('WORKER_INPUT'), output: env('WORKER_OUTPUT') },
    Number(env('WORKER_PARTITIONS')),
  ),
  {
    kafka: new Kafka({
      clientId: 'running-sum',
      brokers: env('PAYFLOW_KAFKA_BROKERS').split(','),
      logLevel: logLevel.NOTHING,
    }),
    sessionTimeoutMs: 6_000,
    ...(process.env.WORKER_STATE_DIR ? { stateDir: process.env.WORKER_STATE_DIR } : {}),
    onEvent: (_processor, event) => {
      if (event.type === 'task-ready' || event.type === 'task-dropped')
        process.stdout.write(`${JSON.stringify(event)}\n`);
    },
  },
);

process.once('SIGTERM', () => {
  void driver.stop().then(() => process.exit(0));
});
await driver.start();
process.stdout.write('worker-started\n');
