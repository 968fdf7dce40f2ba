/**
 * Exactly-once under SIGKILL, on the real broker: a stateful running sum per key processes
 * 100,000 records while its process is killed at random moments and restarted. Afterwards the
 * output topic (read_committed) holds exactly one output per input — per key, exactly the
 * running prefix sums of its inputs in order, no duplicate, no gap — and the state a new owner
 * restores from the changelog equals the totals recomputed from the input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import type { KeyValueStore } from '../../processors/runtime/api.js';
import type { RuntimeStore } from '../../processors/runtime/stores.js';
import {
  collectOutputs,
  countOutputs,
  createRunningSumApp,
  kill,
  produceInput,
  sleep,
  startWorker,
  waitForOutputs,
} from '../support/eos-harness.js';
import { runningSumTopology } from '../support/running-sum.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const RECORDS = 100_000;
const KEYS = 500;
const PARTITIONS = 6;
const KILLS = 6;
const COMPLETION_TIMEOUT_MS = 240_000;

describe('exactly-once running sum on Kafka under SIGKILL', { skip }, () => {
  for (const stores of ['in-memory', 'disk'] as const)
    test(
      `${stores} stores: 100,000 records through a running sum killed with SIGKILL 6 times (during store writes too): every output exactly once, restored state equals the input totals`,
      { timeout: 400_000 },
      async () => {
        if ('skip' in env) return;
        const stateDir = stores === 'disk' ? mkdtempSync(join(tmpdir(), 'payflow-crash-state-')) : undefined;
        const brokers = env.kafkaBrokers.join(',');
        const kafka = new Kafka({
          clientId: 'crash-test',
          brokers: env.kafkaBrokers,
          logLevel: logLevel.NOTHING,
        });
        const app = await createRunningSumApp(kafka, PARTITIONS);
        const expected = await produceInput(kafka, app.input, { count: RECORDS, keys: KEYS });

        const seen = new Map<string, bigint[]>();
        const collector = await collectOutputs(kafka, app.output, seen);
        try {
          for (let round = 0; round < KILLS; round += 1) {
            const worker = startWorker(brokers, app, PARTITIONS, stateDir);
            await sleep(2_000 + Math.floor(Math.random() * 4_000));
            await kill(worker, 'SIGKILL');
          }
          const finalWorker = startWorker(brokers, app, PARTITIONS, stateDir);
          await waitForOutputs(seen, RECORDS, COMPLETION_TIMEOUT_MS);
          assert.equal(await kill(finalWorker, 'SIGTERM'), 0, 'SIGTERM finishes the batch and exits cleanly');
        } finally {
          await collector.disconnect();
        }

        assert.equal(countOutputs(seen), RECORDS, 'one output per input record');
        for (const [key, sums] of expected) assert.deepEqual(seen.get(key), sums, `outputs of ${key}`);

        // Disk: the inspector opens the killed workers' stores and restores their changelog tails.
        const inspector = new KafkaDriver(runningSumTopology(app, PARTITIONS), {
          kafka,
          ...(stateDir === undefined ? {} : { stateDir }),
        });
        const restored = new Map<string, bigint>();
        for (let partition = 0; partition < PARTITIONS; partition += 1) {
          const task = await inspector.restoreTask('running-sum', partition);
          const sums = task.stores.get('sums') as RuntimeStore & KeyValueStore<bigint>;
          for (const [key, value] of sums.all()) restored.set(key, value);
        }
        const totals = new Map([...expected].map(([key, sums]) => [key, sums.at(-1)!]));
        assert.deepEqual(restored, totals, 'restored state equals the totals recomputed from the input');
        if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
      },
    );
});
