/**
 * The archive's in-place rebuild on a topic whose log start has moved on (retention deleted its
 * oldest records): the archive is where those rows still are, so the rebuild keeps them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';

import { archivedToOf, type ArchiveLocation } from '../../projections/s3-parquet/archive.js';
import { rebuildArchive } from '../../projections/s3-parquet/rebuild.js';
import { archivedObjects, archiveFixture, initiatedEvent, liveArchive } from '../support/archive-harness.js';
import { decodeJsonEvent, encodeJsonEvent } from '../support/json-events.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';
import { until } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const T0 = Date.UTC(2026, 10, 28, 21, 40, 0);
const COUNT = 100;

const event = (index: number) => initiatedEvent(index, T0 + index * 30_000);

describe('archive rebuild after retention', { skip }, () => {
  let kafka: Kafka;
  let s3: S3Client;
  const topic = uniqueName('archive-retention');
  const groupId = uniqueName('archive-retention-live');
  const location: ArchiveLocation = {
    bucket: uniqueName('archive-retention'),
    prefix: 'payments_events',
    fileOffsets: 40,
  };

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({
      clientId: 'archive-retention',
      brokers: env.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    s3 = stackS3Client(env);
    await archiveFixture(kafka, s3, topic, 1, location);
  });
  after(() => s3?.destroy());

  const eventIds = async () =>
    new Map([...(await archivedObjects(s3, location))].map(([key, { eventIds }]) => [key, eventIds]));

  test('rows whose records retention removed from the log stay in the archive after a rebuild', async () => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: COUNT }, (_, i) => ({
        key: `p-${i}`,
        value: encodeJsonEvent(event(i)),
        partition: 0,
      })),
    });
    await producer.disconnect();
    const { consumer: live } = await liveArchive({
      kafka,
      s3,
      location,
      topic,
      groupId,
      flushIntervalMs: 200,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await until(async () => {
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return archivedToOf(committed?.partitions[0]?.metadata) === BigInt(COUNT);
      }, 'the live consumer to archive the whole log');
      await live.disconnect();
      const archived = await eventIds();
      assert.equal([...archived.values()].flat().length, COUNT);
      // Retention: the log now starts at offset 50.
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '50' }] });
    } finally {
      await admin.disconnect();
    }
    const result = await rebuildArchive({
      kafka,
      s3,
      location,
      topic,
      groupPrefix: groupId,
      decode: (message) => decodeJsonEvent(message),
      catchUpTimeoutMs: 60_000,
      log: () => undefined,
    });
    const ids = [...(await eventIds()).values()].flat();
    assert.deepEqual(result.removed, [], 'removed objects');
    assert.equal(new Set(ids).size, ids.length, 'no row twice');
    assert.equal(ids.length, COUNT, 'every row still archived');
  });
});
