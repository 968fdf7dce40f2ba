/** Runtime rules that only the in-memory driver can show cheaply: bounds, retries, restore, wall-clock timers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { HEADER, RetriableError, type Processor, type Topology } from '../api.js';
import { jsonSerde } from '../json-serde.js';
import { MemoryKeyValueStore } from '../stores.js';
import { TopicCapacityError, MemoryDriver } from './driver.js';

const json = jsonSerde<unknown>();

function topology(processor: Processor, partitions = 2): Topology {
  return {
    applicationId: 'unit',
    topics: ['in', 'out'].map((name) => ({ name, partitions, serde: json })),
    processors: [processor],
    deadLetterTopic: 'dlq',
  };
}

const remember = (maxEntries: number): Processor => ({
  name: 'remember',
  inputs: ['in'],
  outputs: ['out'],
  stores: [{ kind: 'kv', name: 'seen', maxEntries }],
  process(record, context) {
    context.keyValueStore<unknown>('seen').put(record.key, record.value);
    context.forward({ topic: 'out', key: record.key, value: record.value });
  },
});

describe('in-memory driver', () => {
  test('a store at its entry limit dead-letters the record that would exceed it and keeps serving updates to existing keys', async () => {
    const driver = new MemoryDriver(topology(remember(2), 1));
    for (const key of ['a', 'b', 'c', 'a']) await driver.pipe('in', key, 1);
    assert.deepEqual(
      (await driver.read('out')).map((r) => r.key),
      ['a', 'b', 'a'],
    );
    const [dead] = driver.records('dlq');
    assert.equal(dead?.key, 'c');
    assert.equal(dead.headers[HEADER.dlqErrorCode], 'store-capacity');
    assert.match(
      dead.headers[HEADER.dlqReason] ?? '',
      /state store seen is full \(2 entries per partition\)/,
    );
  });

  test('a retriable error is retried with backoff and the record succeeds once the cause clears', async () => {
    let failuresLeft = 2;
    const flaky: Processor = {
      name: 'flaky',
      inputs: ['in'],
      outputs: ['out'],
      stores: [],
      process(record, context) {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new RetriableError('partner timed out');
        }
        context.forward({ topic: 'out', key: record.key, value: record.value });
      },
    };
    const driver = new MemoryDriver(topology(flaky), {
      retry: { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 4 },
    });
    await driver.pipe('in', 'p1', 42);
    assert.deepEqual(
      (await driver.read('out')).map((r) => r.value),
      [42],
    );
    assert.equal(driver.records('dlq').length, 0);
  });

  test('a task rebuilt from its changelog holds exactly the committed state, without the writes of failed records', async () => {
    const picky: Processor = {
      ...remember(100),
      process(record, context) {
        context.keyValueStore<unknown>('seen').put(record.key, record.value);
        if (record.value === 'boom') throw new Error('rejected');
      },
    };
    const driver = new MemoryDriver(topology(picky, 1));
    await driver.pipe('in', 'a', 1);
    await driver.pipe('in', 'b', 'boom');
    await driver.pipe('in', 'a', 2);
    const restored = await driver.restoreTask('remember', 0);
    const store = restored.stores.get('seen') as MemoryKeyValueStore<unknown>;
    assert.deepEqual([...store.all()], [['a', 2]]);
  });

  test('wall-clock punctuation fires when the controllable clock passes the interval, not before', async () => {
    const heartbeat: Processor = {
      name: 'heartbeat',
      inputs: ['in'],
      outputs: ['out'],
      stores: [],
      punctuators: [
        {
          type: 'wall-clock',
          intervalMs: 1_000,
          punctuate: (context, at) => context.forward({ topic: 'out', key: 'beat', value: at }),
        },
      ],
      process: () => undefined,
    };
    const driver = new MemoryDriver(topology(heartbeat, 1), { startWallClockMs: 500 });
    await driver.advanceWallClock(100); // 600: schedules the first beat at 1000
    await driver.advanceWallClock(300); // 900
    assert.equal(driver.records('out').length, 0);
    await driver.advanceWallClock(150); // 1050
    await driver.advanceWallClock(2_000); // 3050
    assert.deepEqual(
      (await driver.read('out')).map((r) => r.value),
      [1_050, 3_050],
    );
  });

  test('an in-memory topic refuses records beyond its bound with a clear error', async () => {
    const driver = new MemoryDriver(topology(remember(10), 1), { maxRecordsPerTopic: 1 });
    await driver.pipe('in', 'a', 1);
    await assert.rejects(driver.pipe('in', 'b', 1), TopicCapacityError);
  });

  test('a topology naming an undeclared topic is refused before any record flows', () => {
    const stray: Processor = { ...remember(1), outputs: ['elsewhere'] };
    assert.throws(
      () => new MemoryDriver(topology(stray)),
      /remember uses topic elsewhere, which the topology does not declare/,
    );
  });
});
