import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { Partitioners, type PartitionMetadata } from 'kafkajs';

import { keyPartitioner, murmur2, partitionOfKey } from './partitioner.js';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));

test("every key lands on the partition kafkajs' default (Java-compatible) partitioner gives it", () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const ours = keyPartitioner();
  const keys = [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    'acc-alice',
    '["merchant-1","key-1"]',
    'Zürich — 東京 🙂',
    ...Array.from({ length: 3_000 }, (_, i) => randomBytes(i % 67).toString(i % 2 === 0 ? 'hex' : 'latin1')),
  ];
  for (const partitions of [1, 2, 3, 6, 7, 12, 64, 1_000]) {
    for (const key of keys) {
      const topic = 't';
      const message = { key, value: null };
      const expected = kafkajs({ topic, partitionMetadata: metadata(partitions), message });
      assert.equal(
        ours({ topic, partitionMetadata: metadata(partitions), message }),
        expected,
        `key ${JSON.stringify(key)}`,
      );
      assert.equal(partitionOfKey(key, partitions), expected);
    }
  }
});

test("murmur2 matches the Java client's published values", () => {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ];
  for (const [key, hash] of cases) assert.equal(murmur2(Buffer.from(key)), hash, key);
});

test('an explicit partition wins, and a record without a key goes to a partition that has a leader', () => {
  const ours = keyPartitioner();
  assert.equal(
    ours({ topic: 't', partitionMetadata: metadata(6), message: { key: 'k', value: null, partition: 4 } }),
    4,
  );
  const withOneLeader = metadata(6).map((p) => ({ ...p, leader: p.partitionId === 3 ? 0 : -1 }));
  for (let i = 0; i < 10; i += 1)
    assert.equal(
      ours({ topic: 't', partitionMetadata: withOneLeader, message: { key: null, value: null } }),
      3,
    );
});
