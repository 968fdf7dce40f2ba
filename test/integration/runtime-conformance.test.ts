/**
 * The runtime conformance suite on the Kafka driver against the real broker: the same scenarios,
 * the same expected outputs as processors/runtime/conformance/memory.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { Kafka, logLevel, type IHeaders } from 'kafkajs';

import { assertScenario, expectedCounts, observe } from '../../processors/runtime/conformance/run.js';
import {
  SCENARIOS,
  SUITE_RETRY,
  type ObservedRecord,
} from '../../processors/runtime/conformance/scenarios.js';
import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import { changelogTopic } from '../../topics/names.js';
import { sleep } from '../support/eos-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const headersOf = (headers: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));

describe('runtime conformance on the Kafka driver', { skip }, () => {
  for (const stores of ['in-memory', 'disk'] as const)
    for (const scenario of SCENARIOS) {
      test(`${stores} stores: ${scenario.rule}`, { timeout: 120_000 }, async () => {
        if ('skip' in env) return;
        const kafka = new Kafka({
          clientId: 'conformance',
          brokers: env.kafkaBrokers,
          logLevel: logLevel.NOTHING,
        });
        const app = uniqueName('conf');
        const topology = scenario.topology(app);
        const admin = kafka.admin();
        await admin.connect();
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            ...topology.topics.map((t) => ({ topic: t.name, numPartitions: t.partitions })),
            { topic: topology.deadLetterTopic, numPartitions: 1 },
            ...topology.processors.flatMap((p) =>
              p.stores.map((store) => ({
                topic: changelogTopic(app, p.name, store.name),
                numPartitions: scenario.partitions,
                configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
              })),
            ),
          ],
        });
        await admin.disconnect();

        const observed = new Map<string, ObservedRecord[]>();
        const watched = [...topology.topics.map((t) => t.name), topology.deadLetterTopic];
        const collector = kafka.consumer({ groupId: uniqueName('conf-check'), readUncommitted: false });
        await collector.connect();
        await collector.subscribe({ topics: watched, fromBeginning: true });
        await collector.run({
          eachMessage: ({ topic, message }) => {
            const list = observed.get(topic) ?? [];
            list.push(
              observe(
                topic,
                topology.deadLetterTopic,
                message.key?.toString() ?? '',
                message.value,
                headersOf(message.headers),
              ),
            );
            observed.set(topic, list);
            return Promise.resolve();
          },
        });

        const stateDir = stores === 'disk' ? mkdtempSync(join(tmpdir(), 'payflow-conformance-')) : undefined;
        const driver = new KafkaDriver(topology, {
          kafka,
          retry: SUITE_RETRY,
          sessionTimeoutMs: 6_000,
          ...(stateDir === undefined ? {} : { stateDir }),
        });
        await driver.start();
        try {
          const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
          await producer.connect();
          await producer.sendBatch({
            acks: -1,
            topicMessages: scenario.inputs.map((input) => ({
              topic: `${app}-${input.topic}`,
              messages: [
                {
                  key: input.key,
                  value: input.raw ?? Buffer.from(JSON.stringify(input.value)),
                  timestamp: String(input.timestampMs),
                  headers: { ...input.headers },
                },
              ],
            })),
          });
          await producer.disconnect();
          const deadline = Date.now() + 60_000;
          const waiting = () =>
            [...expectedCounts(scenario, app)].some(
              ([topic, count]) => (observed.get(topic)?.length ?? 0) < count,
            );
          while (waiting() && Date.now() < deadline) await sleep(200);
          await sleep(1_500); // anything beyond the expected records would be a duplicate: let it show
        } finally {
          await driver.stop();
          await collector.disconnect();
          if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
        }
        assertScenario(scenario, app, observed);
      });
    }
});
