/**
 * Transactions per commit interval and fused sub-topologies on the real broker: records that
 * arrive one by one are committed together, once per interval and task; a sub-topology of two
 * processors joined by an in-task edge runs as one consumer group, writes nothing for the edge,
 * and keeps both processors' state in their own changelogs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import type { Processor, Topology } from '../../processors/runtime/api.js';
import { jsonSerde } from '../../processors/runtime/json-serde.js';
import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import type { RunnerEvent } from '../../processors/runtime/kafka/eos-runner.js';
import { MemoryKeyValueStore } from '../../processors/runtime/stores.js';
import { sleep } from '../support/eos-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { partitionOfKey } from '../../topics/partitioner.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const PARTITIONS = 2;
const RECORDS = 200;
const INTERVAL_MS = 500;

/** Counts per key in its store and forwards the count (in-task edge or Kafka topic alike). */
const counter = (name: string, input: string, output: string): Processor<number> => ({
  name,
  inputs: [input],
  outputs: [output],
  stores: [{ kind: 'kv', name: 'counts', maxEntries: 10_000 }],
  process(record, context) {
    const counts = context.keyValueStore<number>('counts');
    const next = (counts.get(record.key) ?? 0) + 1;
    counts.put(record.key, next);
    context.forward({ topic: output, key: record.key, value: next });
  },
});

describe('transactions per commit interval, and a fused sub-topology, on Kafka', { skip }, () => {
  test(
    'records sent one by one are committed a commit interval at a time, and a fused pair of processors is one group with one output per record and no topic for its edge',
    { timeout: 120_000 },
    async () => {
      if ('skip' in env) return;
      const kafka = new Kafka({
        clientId: 'commit-interval',
        brokers: env.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const app = uniqueName('interval');
      const json = jsonSerde<unknown>();
      const [input, edge, output] = [`${app}-in`, `${app}-edge`, `${app}-out`];
      const topology: Topology = {
        applicationId: app,
        topics: [
          { name: input, partitions: PARTITIONS, serde: json },
          { name: edge, partitions: PARTITIONS, serde: json, inTask: true },
          { name: output, partitions: PARTITIONS, serde: json },
        ],
        processors: [counter('first', input, edge), counter('second', edge, output)],
        deadLetterTopic: `${app}-dlq`,
        subTopologyNames: { first: 'pair' },
      };
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          ...[input, output].map((topic) => ({ topic, numPartitions: PARTITIONS })),
          { topic: `${app}-dlq`, numPartitions: 1 },
          ...['first', 'second'].map((processor) => ({
            topic: `${app}-${processor}-counts-changelog`,
            numPartitions: PARTITIONS,
            configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
          })),
        ],
      });
      const committed: Extract<RunnerEvent, { type: 'committed' }>[] = [];
      const groups = new Set<string>();
      const driver = new KafkaDriver(topology, {
        kafka,
        commitIntervalMs: INTERVAL_MS,
        sessionTimeoutMs: 6_000,
        onEvent: (subTopology, event) => {
          groups.add(subTopology);
          if (event.type === 'committed' && event.records > 0) committed.push(event);
        },
      });
      const outputs: { key: string; value: number }[] = [];
      const collector = kafka.consumer({ groupId: uniqueName('interval-check'), readUncommitted: false });
      await collector.connect();
      await collector.subscribe({ topics: [output], fromBeginning: true });
      await collector.run({
        eachMessage: ({ message }) => {
          outputs.push({ key: message.key!.toString(), value: Number(message.value!.toString()) });
          return Promise.resolve();
        },
      });
      await driver.start();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        const startedMs = Date.now();
        for (let i = 0; i < RECORDS; i += 1) {
          await producer.send({ topic: input, messages: [{ key: `k-${i % 10}`, value: '1' }] });
          await sleep(5);
        }
        const sendingMs = Date.now() - startedMs;
        const deadline = Date.now() + 60_000;
        while (outputs.length < RECORDS && Date.now() < deadline) await sleep(100);
        assert.equal(outputs.length, RECORDS, 'every record came out once');
        for (let k = 0; k < 10; k += 1) {
          const values = outputs.filter((o) => o.key === `k-${k}`).map((o) => o.value);
          assert.deepEqual(
            values,
            Array.from({ length: RECORDS / 10 }, (_, i) => i + 1),
            `k-${k} counted in order`,
          );
        }
        assert.deepEqual([...groups], ['pair'], 'one runner for the fused pair');
        const transactions = committed.length;
        const bound = PARTITIONS * (Math.ceil(sendingMs / INTERVAL_MS) + 2);
        assert.ok(
          transactions <= bound,
          `${transactions} transactions for ${RECORDS} records sent over ${sendingMs} ms: at most ${bound} (one per ${INTERVAL_MS} ms and partition)`,
        );
        assert.equal(
          committed.reduce((sum, event) => sum + event.records, 0),
          RECORDS,
          'the transactions carried every record once',
        );
        const topics = await admin.listTopics();
        assert.ok(!topics.includes(edge), 'the in-task edge is not a Kafka topic');
        const key = 'k-3';
        const countOf = async (processor: string) => {
          const store = (await driver.restoreTask(processor, partitionOfKey(key, PARTITIONS))).stores.get(
            'counts',
          );
          assert.ok(store instanceof MemoryKeyValueStore);
          return (store as MemoryKeyValueStore<number>).get(key);
        };
        assert.equal(await countOf('first'), RECORDS / 10, "the first processor's changelog holds its count");
        assert.equal(await countOf('second'), RECORDS / 10, "the second processor's changelog holds its own");
      } finally {
        await producer.disconnect();
        await driver.stop();
        await collector.disconnect();
        await admin.disconnect();
      }
    },
  );
});
