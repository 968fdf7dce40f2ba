/**
 * A program error on the Kafka driver, against the real broker: the partition stops loudly —
 * the runner's component is failed (readiness red), nothing is dead-lettered, the record's
 * offset is not committed — while the other partitions go on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import type { Processor, Topology } from '../../processors/runtime/api.js';
import { jsonSerde } from '../../processors/runtime/json-serde.js';
import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import { sleep } from '../support/eos-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

describe('a program error on the Kafka driver', { skip }, () => {
  test(
    'a processor forwarding to an undeclared topic stops its partition: the component is failed, nothing is dead-lettered or committed, the other partition goes on',
    { timeout: 120_000 },
    async () => {
      if ('skip' in env) return;
      const kafka = new Kafka({
        clientId: 'program-error',
        brokers: env.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const app = uniqueName('progerr');
      const json = jsonSerde<unknown>();
      const stray: Processor = {
        name: 'stray',
        inputs: [`${app}-in`],
        outputs: [`${app}-out`],
        stores: [],
        process(record, context) {
          const topic = record.value === 'stray' ? `${app}-elsewhere` : `${app}-out`;
          context.forward({ topic, key: record.key, value: record.value });
        },
      };
      const topology: Topology = {
        applicationId: app,
        topics: [`${app}-in`, `${app}-out`].map((name) => ({ name, partitions: 2, serde: json })),
        processors: [stray],
        deadLetterTopic: `${app}-dlq`,
      };
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic: `${app}-in`, numPartitions: 2 },
          { topic: `${app}-out`, numPartitions: 2 },
          { topic: `${app}-dlq`, numPartitions: 1 },
        ],
      });

      const seen = new Map<string, string[]>();
      const collector = kafka.consumer({ groupId: uniqueName('progerr-check'), readUncommitted: false });
      await collector.connect();
      await collector.subscribe({ topics: [`${app}-out`, `${app}-dlq`], fromBeginning: true });
      await collector.run({
        eachMessage: ({ topic, message }) => {
          seen.set(topic, [...(seen.get(topic) ?? []), message.key?.toString() ?? '']);
          return Promise.resolve();
        },
      });

      const driver = new KafkaDriver(topology, {
        kafka,
        retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 },
        sessionTimeoutMs: 6_000,
      });
      await driver.start();
      try {
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        await producer.send({
          topic: `${app}-in`,
          acks: -1,
          messages: [
            { key: 'k0', value: JSON.stringify('stray'), partition: 0 },
            { key: 'k0-after', value: JSON.stringify('fine'), partition: 0 },
            { key: 'k1', value: JSON.stringify('fine'), partition: 1 },
          ],
        });
        await producer.disconnect();
        const deadline = Date.now() + 60_000;
        while (driver.health.status('subtopology:stray')?.state !== 'failed' && Date.now() < deadline)
          await sleep(200);
        while ((seen.get(`${app}-out`)?.length ?? 0) < 1 && Date.now() < deadline) await sleep(200);
        await sleep(3_000); // a restart, a dead letter or a record after the stop would show by now

        assert.equal(driver.health.status('subtopology:stray')?.state, 'failed');
        assert.equal(driver.ready, false);
        assert.match(
          driver.notReadyDetail ?? '',
          /subtopology:stray failed \(TaskFailedError: stray partition 0 stopped at .*-in offset 0: Error: stray forwarded to .*-elsewhere/,
        );
        assert.deepEqual(seen.get(`${app}-out`), ['k1'], 'partition 1 went on; partition 0 stopped');
        assert.equal(seen.get(`${app}-dlq`), undefined, 'nothing dead-lettered');
        const [offsets] = await admin.fetchOffsets({ groupId: `${app}-stray`, topics: [`${app}-in`] });
        const committed = new Map(offsets!.partitions.map((p) => [p.partition, p.offset]));
        assert.equal(committed.get(0), '-1', 'the failed record is not committed');
        assert.equal(committed.get(1), '1');
      } finally {
        await driver.stop();
        await collector.disconnect();
        await admin.disconnect();
      }
    },
  );
});
