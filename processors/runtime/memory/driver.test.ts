/** Runtime rules that only the in-memory driver can show cheaply: bounds, retries, restore, wall-clock timers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BadRecordError, HEADER, RetriableError, type Processor, type Serde, type Topology } from '../api.js';
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
    assert.equal(dead.headers[HEADER.dlqErrorCode], 'STORE_CAPACITY');
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
        if (record.value === 'boom') throw new BadRecordError('UNAPPLICABLE', 'rejected');
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

  test('a commit that would overfill a topic appends none of its records: no half transaction is left behind', async () => {
    const twice: Processor = {
      name: 'twice',
      inputs: ['in'],
      outputs: ['out'],
      stores: [],
      process(record, context) {
        context.forward({ topic: 'out', key: `${record.key}-1`, value: 1 });
        context.forward({ topic: 'out', key: `${record.key}-2`, value: 2 });
      },
    };
    const driver = new MemoryDriver(topology(twice, 1), { maxRecordsPerTopic: 3 });
    await driver.pipe('in', 'a', 0);
    await assert.rejects(driver.pipe('in', 'b', 0), TopicCapacityError);
    assert.deepEqual(
      driver.records('out').map((r) => r.key),
      ['a-1', 'a-2'],
    );
  });

  test('a processor forwarding to an undeclared topic stops its partition: nothing is dead-lettered or committed, readiness names it, other partitions go on', async () => {
    const stray: Processor = {
      name: 'stray',
      inputs: ['in'],
      outputs: ['out'],
      stores: [{ kind: 'kv', name: 'seen', maxEntries: 10 }],
      process(record, context) {
        context.keyValueStore<unknown>('seen').put(record.key, record.value);
        context.forward({ topic: record.value === 'stray' ? 'elsewhere' : 'out', key: record.key, value: 1 });
      },
    };
    const driver = new MemoryDriver(topology(stray, 2), {
      retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 },
    });
    await driver.pipe('in', 'k', 'stray', { partition: 0 });
    await driver.pipe('in', 'k2', 'fine', { partition: 0 });
    await driver.pipe('in', 'k3', 'fine', { partition: 1 });
    assert.equal(driver.records('dlq').length, 0);
    assert.deepEqual(
      driver.records('out').map((r) => r.key),
      ['k3'],
      'partition 0 stopped at the stray record; partition 1 went on',
    );
    assert.deepEqual(
      driver.failedTasks.map((f) => [f.processor, f.partition]),
      [['stray', 0]],
    );
    assert.match(driver.failedTasks[0]!.reason, /stray partition 0 stopped at in offset 0: .*elsewhere/);
    assert.equal(driver.ready, false);
    assert.match(driver.notReadyDetail ?? '', /subtopology:stray failed/);
    assert.equal(driver.task('stray', 0).stores.get('seen')?.size, 0, 'no state of the failed record');
    const restored = await driver.restoreTask('stray', 0);
    assert.equal(restored.entries, 0);
  });

  test('a registry that cannot be reached is retried until it answers: the record is processed, never dead-lettered', async () => {
    const json = jsonSerde<unknown>();
    let unreachable = 3;
    const flakyRegistry: Serde<unknown> = {
      serialize: (value, topic) => json.serialize(value, topic),
      deserialize(bytes, topic) {
        if (unreachable > 0) {
          unreachable -= 1;
          throw new RetriableError('schema registry: connect ECONNREFUSED 127.0.0.1:8081');
        }
        return json.deserialize(bytes, topic);
      },
    };
    const echo: Processor = {
      name: 'echo',
      inputs: ['in'],
      outputs: ['out'],
      stores: [],
      process: (record, context) => context.forward({ topic: 'out', key: record.key, value: record.value }),
    };
    const driver = new MemoryDriver(
      {
        applicationId: 'unit',
        topics: [
          { name: 'in', partitions: 1, serde: flakyRegistry },
          { name: 'out', partitions: 1, serde: json },
        ],
        processors: [echo],
        deadLetterTopic: 'dlq',
      },
      {
        retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 },
        infrastructureBackoff: { initialDelayMs: 1, maxDelayMs: 2 },
      },
    );
    await driver.pipe('in', 'p1', 42);
    assert.equal(unreachable, 0);
    assert.equal(driver.records('dlq').length, 0);
    assert.deepEqual(
      (await driver.read('out')).map((r) => r.value),
      [42],
    );
    assert.equal(driver.ready, true);
  });

  test('a record whose bytes no serde can read is dead-lettered UNDECODABLE and the partition goes on', async () => {
    const driver = new MemoryDriver(topology(remember(10), 1));
    await driver.pipeRaw('in', 'a', Buffer.from('{not json'));
    await driver.pipe('in', 'b', 1);
    assert.deepEqual(
      driver.records('dlq').map((r) => [r.key, r.headers[HEADER.dlqErrorCode]]),
      [['a', 'UNDECODABLE']],
    );
    assert.deepEqual(
      driver.records('out').map((r) => r.key),
      ['b'],
    );
  });

  test('a topology naming an undeclared topic is refused before any record flows', () => {
    const stray: Processor = { ...remember(1), outputs: ['elsewhere'] };
    assert.throws(
      () => new MemoryDriver(topology(stray)),
      /remember uses topic elsewhere, which the topology does not declare/,
    );
  });
});
