/**
 * The conformance suite on the in-memory driver, with the in-memory stores and with the disk
 * stores (LMDB, as the Kafka mode keeps them); the Kafka half is
 * test/integration/runtime-conformance.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { DiskStoreBackend } from '../disk-stores.js';
import { MemoryDriver, type MemoryDriverOptions } from '../memory/driver.js';
import { assertScenario, observe } from './run.js';
import { SCENARIOS, SUITE_RETRY, type ObservedRecord } from './scenarios.js';

const root = mkdtempSync(join(tmpdir(), 'payflow-conformance-'));
after(() => rmSync(root, { recursive: true, force: true }));
let directories = 0;

const backends: readonly [string, MemoryDriverOptions['storeBackend']][] = [
  ['in-memory stores', undefined],
  [
    'disk stores',
    (subTopology, partition) =>
      new DiskStoreBackend(join(root, `${directories++}`, subTopology, String(partition)), 4),
  ],
];

for (const [stores, storeBackend] of backends)
  describe(`runtime conformance on the in-memory driver, ${stores}`, () => {
    for (const scenario of SCENARIOS) {
      test(scenario.rule, async () => {
        const app = 'conformance';
        const topology = scenario.topology(app);
        const driver = new MemoryDriver(topology, {
          retry: SUITE_RETRY,
          ...(storeBackend === undefined ? {} : { storeBackend }),
        });
        for (const input of scenario.inputs) {
          const topic = `${app}-${input.topic}`;
          const options = { timestampMs: input.timestampMs, headers: input.headers ?? {} };
          if (input.raw !== undefined) await driver.pipeRaw(topic, input.key, input.raw, options);
          else await driver.pipe(topic, input.key, input.value, options);
        }
        const observed = new Map<string, ObservedRecord[]>();
        for (const topic of [...topology.topics.map((t) => t.name), topology.deadLetterTopic]) {
          observed.set(
            topic,
            driver
              .records(topic)
              .map((r) => observe(topic, topology.deadLetterTopic, r.key, r.value, r.headers)),
          );
        }
        assertScenario(scenario, app, observed);
      });
    }
  });
