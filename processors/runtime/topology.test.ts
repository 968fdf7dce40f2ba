/** Sub-topologies: which processors share a task, and what an in-task edge does and refuses. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { HEADER, type Processor, type Topology } from './api.js';
import { jsonSerde } from './json-serde.js';
import { MemoryDriver } from './memory/driver.js';
import { analyseTopology, describeTopology, subTopologiesOf } from './topology.js';
import { plainAvroSerde } from '../../schemas/avro.js';
import { paymentPipeline } from '../pipeline.js';
import { partitionOfKey } from '../../topics/partitioner.js';

const relay = (
  name: string,
  input: string,
  output: string,
  rekey = (key: string) => key,
): Processor<number> => ({
  name,
  inputs: [input],
  outputs: [output],
  stores: [{ kind: 'kv', name: 'count', maxEntries: 100 }],
  process(record, context) {
    const count = context.keyValueStore<number>('count');
    count.put(record.key, (count.get(record.key) ?? 0) + 1);
    context.forward({ topic: output, key: rekey(record.key), value: record.value + 1 });
  },
});

function chain(options: { rekey?: (key: string) => string } = {}): Topology {
  return {
    applicationId: 'chain',
    topics: [
      { name: 'in', partitions: 4, serde: jsonSerde() },
      { name: 'mid', partitions: 4, serde: jsonSerde(), inTask: true },
      { name: 'out', partitions: 4, serde: jsonSerde() },
    ],
    processors: [relay('first', 'in', 'mid', options.rekey), relay('second', 'mid', 'out')],
    deadLetterTopic: 'dlq',
    subTopologyNames: { first: 'relay' },
  };
}

describe('sub-topologies', () => {
  test('processors joined by an in-task topic are one sub-topology reading only the Kafka topics', () => {
    const [relaySub, ...others] = subTopologiesOf(chain());
    assert.deepEqual(others, []);
    assert.equal(relaySub?.name, 'relay');
    assert.deepEqual(
      relaySub?.processors.map((p) => p.name),
      ['first', 'second'],
    );
    assert.deepEqual(relaySub?.sources, ['in']);
    assert.deepEqual(relaySub?.sinks, ['out']);
    assert.deepEqual(relaySub?.edges, ['mid']);
    assert.deepEqual(
      relaySub?.stores.map((s) => s.changelogTopic),
      ['chain-first-count-changelog', 'chain-second-count-changelog'],
    );
  });

  test('the payment pipeline is three sub-topologies: accounts, payments with the sender side and the credit in one task, and the device profiles', () => {
    const topology = paymentPipeline({ serdeOf: (topic) => plainAvroSerde(topic.value.contract) });
    const subs = subTopologiesOf(topology);
    assert.deepEqual(
      subs.map((s) => [s.name, s.processors.map((p) => p.name), s.sources]),
      [
        ['accounts', ['accounts'], ['accounts.commands']],
        [
          'payments',
          ['dedupe', 'validate', 'velocity', 'fraud', 'ledger'],
          ['payments.commands', 'ledger.credits', 'reviews.decisions'],
        ],
        ['devices', ['device-profile'], ['risk.sightings']],
      ],
    );
    const text = describeTopology(topology);
    assert.match(text, /Sub-topology 1: payments \(consumer group payflow-payments, 6 tasks\)/);
    assert.match(
      text,
      /Processor: validate\n {6}reads {3}~payments\.accepted\n {6}-> payments\.events\n {6}~> payments\.validated/,
    );
    assert.match(text, /store {3}balances \(kv\) -> payflow-ledger-balances-changelog/);
  });

  test('an in-task topic read by two processors, or by none, is refused before any record flows', () => {
    const twoReaders: Topology = {
      ...chain(),
      processors: [...chain().processors, relay('third', 'mid', 'out')],
    };
    assert.match(
      analyseTopology(twoReaders).problems.join('\n'),
      /in-task topic mid must have exactly one reader, has second, third/,
    );
    assert.throws(() => new MemoryDriver(twoReaders), /exactly one reader/);
    const noReader: Topology = { ...chain(), processors: [relay('first', 'in', 'mid')] };
    assert.match(
      analyseTopology(noReader).problems.join('\n'),
      /in-task topic mid must have exactly one reader, has none/,
    );
  });

  test('a record passes every processor of its sub-topology in memory: one log write per Kafka output, none for the edge', async () => {
    const driver = new MemoryDriver(chain());
    await driver.pipe('in', 'k-1', 1, { headers: { [HEADER.correlationId]: 'c-1' } });
    const out = await driver.read<number>('out');
    assert.deepEqual(
      out.map((r) => [r.key, r.value, r.headers[HEADER.correlationId]]),
      [['k-1', 3, 'c-1']],
    );
    assert.throws(() => driver.records('mid'), /unknown topic mid/);
    const partition = partitionOfKey('k-1', 4);
    assert.equal(driver.task('first', partition).entries, 1);
    assert.equal(driver.task('second', partition).entries, 1);
    const restored = await driver.restoreTask('second', partition);
    assert.equal(restored.entries, 1, 'the downstream store has its own changelog');
  });

  test('a processor that changes the key on an in-task edge stops the partition: the edge would cross partitions', async () => {
    const driver = new MemoryDriver(chain({ rekey: (key) => `${key}-elsewhere` }));
    // A key whose re-keyed form lands on another partition.
    const key = ['a', 'b', 'c', 'd', 'e', 'f'].find(
      (k) => partitionOfKey(k, 4) !== partitionOfKey(`${k}-elsewhere`, 4),
    )!;
    await driver.pipe('in', key, 1);
    const [failed] = driver.failedTasks;
    assert.equal(failed?.processor, 'first');
    assert.equal(failed?.subTopology, 'relay');
    assert.match(failed?.reason ?? '', /an in-task edge must keep the key of its sub-topology/);
    assert.deepEqual(driver.records('out'), []);
    assert.deepEqual(driver.records('dlq'), []);
    assert.equal(driver.task('first', partitionOfKey(key, 4)).entries, 0, 'nothing of the record stayed');
  });
});
