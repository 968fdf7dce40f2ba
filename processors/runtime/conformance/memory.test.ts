/** The conformance suite on the in-memory driver (the Kafka half is test/integration/runtime-conformance.test.ts). */
import { describe, test } from 'node:test';

import { MemoryDriver } from '../memory/driver.js';
import { assertScenario, observe } from './run.js';
import { SCENARIOS, SUITE_RETRY, type ObservedRecord } from './scenarios.js';

describe('runtime conformance on the in-memory driver', () => {
  for (const scenario of SCENARIOS) {
    test(scenario.rule, async () => {
      const app = 'conformance';
      const topology = scenario.topology(app);
      const driver = new MemoryDriver(topology, { retry: SUITE_RETRY });
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
