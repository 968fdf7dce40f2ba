/**
 * Disk-backed stores on the real broker: a task restores only its own changelog partition, a
 * restart on the same machine reads only the changelog tail after the stores' checkpoint, and a
 * checkpoint ahead of the changelog is not trusted (the store is wiped and restored whole).
 * Records fetched are counted from the runner's `task-ready` event.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import type { KeyValueStore } from '../../processors/runtime/api.js';
import { TaskStateDirectory } from '../../processors/runtime/disk-stores.js';
import { KafkaDriver } from '../../processors/runtime/kafka/driver.js';
import type { RunnerEvent } from '../../processors/runtime/kafka/eos-runner.js';
import type { RuntimeStore } from '../../processors/runtime/stores.js';
import { changelogTopic } from '../../topics/names.js';
import { partitionOfKey } from '../../topics/partitioner.js';
import { collectOutputs, createRunningSumApp, produceInput, waitForOutputs } from '../support/eos-harness.js';
import { runningSumTopology } from '../support/running-sum.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const PARTITIONS = 3;
const RECORDS = 6_000;

type ReadyEvent = Extract<RunnerEvent, { type: 'task-ready' }>;

describe('disk stores with checkpoints on Kafka', { skip }, () => {
  test(
    'a restore reads only its own partition; a restart restores only the tail after the checkpoint; a checkpoint ahead of the changelog is wiped and restored whole',
    { timeout: 240_000 },
    async () => {
      if ('skip' in env) return;
      const kafka = new Kafka({
        clientId: 'checkpoint-test',
        brokers: env.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const app = await createRunningSumApp(kafka, PARTITIONS);
      const topology = runningSumTopology(app, PARTITIONS);
      const changelog = changelogTopic(app.applicationId, 'running-sum', 'sums');
      const stateDir = mkdtempSync(join(tmpdir(), 'payflow-checkpoint-'));
      const seen = new Map<string, bigint[]>();
      const collector = await collectOutputs(kafka, app.output, seen);
      try {
        const expected = await produceInput(kafka, app.input, { count: RECORDS, keys: 60 });
        // Commit after every record, so the changelog holds many records per key (more than its keys).
        const driver = new KafkaDriver(topology, {
          kafka,
          stateDir,
          sessionTimeoutMs: 6_000,
          maxRecordsPerTransaction: 1,
        });
        await driver.start();
        await waitForOutputs(seen, RECORDS, 120_000);
        await driver.stop();
        const totals = new Map([...expected].map(([key, sums]) => [key, sums.at(-1)!]));

        const admin = kafka.admin();
        await admin.connect();
        const offsets = await admin.fetchTopicOffsets(changelog);
        await admin.disconnect();
        const inPartition = (p: number) => {
          const bounds = offsets.find((o) => o.partition === p)!;
          return Number(BigInt(bounds.high) - BigInt(bounds.low));
        };
        const allPartitions = offsets.reduce((sum, o) => sum + Number(BigInt(o.high) - BigInt(o.low)), 0);

        const restore = async (dir: string, partition: number) => {
          const events: ReadyEvent[] = [];
          const inspector = new KafkaDriver(topology, {
            kafka,
            stateDir: dir,
            onEvent: (_sub, event) => {
              if (event.type === 'task-ready') events.push(event);
            },
          });
          const task = await inspector.restoreTask('running-sum', partition);
          const sums = task.stores.get('sums') as RuntimeStore & KeyValueStore<bigint>;
          const state = new Map(sums.all());
          return { state, event: events[0]! };
        };

        const fresh = mkdtempSync(join(tmpdir(), 'payflow-checkpoint-fresh-'));
        const full = await restore(fresh, 0);
        assert.equal(full.event.restoredFrom, 'beginning');
        assert.ok(full.event.restoredRecords <= inPartition(0) + 2, 'no more than partition 0 holds');
        assert.ok(
          full.event.restoredRecords < allPartitions - inPartition(1) - inPartition(2) + 2,
          `read ${full.event.restoredRecords} records: only partition 0's (${inPartition(0)} of ${allPartitions})`,
        );
        rmSync(fresh, { recursive: true, force: true });

        const state = new Map<string, bigint>();
        for (let partition = 0; partition < PARTITIONS; partition++) {
          const tail = await restore(stateDir, partition);
          assert.equal(tail.event.restoredFrom, 'checkpoint');
          assert.ok(
            tail.event.restoredRecords <= 3,
            `a tail of sentinels only, read ${tail.event.restoredRecords}`,
          );
          for (const [key, value] of tail.state) state.set(key, value);
        }
        assert.deepEqual(state, totals, 'the checkpointed stores hold the totals');

        const path = TaskStateDirectory.forTask(stateDir, app.applicationId, 'running-sum', 1);
        const directory = new TaskStateDirectory(path);
        directory.flush(new Map([[changelog, 1_000_000_000n]]));
        directory.close();
        const wiped = await restore(stateDir, 1);
        assert.equal(
          wiped.event.restoredFrom,
          'beginning',
          'a checkpoint ahead of the changelog is not trusted',
        );
        assert.ok(wiped.event.restoredRecords >= wiped.state.size);
        const expectedPartition1 = [...state].filter(([key]) => partitionOfKey(key, PARTITIONS) === 1);
        assert.deepEqual(new Map(expectedPartition1), wiped.state);
        assert.ok(wiped.state.size > 0);
      } finally {
        await collector.disconnect();
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  );
});
