/**
 * The archive's position on a partition whose log ends with an aborted transaction: no batch of
 * it reaches the consumer, yet the archive holds the whole committed log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';

import type { ArchiveLocation } from '../../projections/s3-parquet/archive.js';
import {
  archivedObjects,
  archivedToEnd,
  archiveFixture,
  initiatedEvent,
  liveArchive,
} from '../support/archive-harness.js';
import { encodeJsonEvent } from '../support/json-events.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';
import { until } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

describe('archive position after an aborted transaction', { skip }, () => {
  let kafka: Kafka;
  let s3: S3Client;
  const topic = uniqueName('archive-aborted');
  const groupId = uniqueName('archive-aborted-live');
  const location: ArchiveLocation = { bucket: uniqueName('archive-aborted'), prefix: 'payments_events' };

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({ clientId: 'archive-aborted', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    s3 = stackS3Client(env);
    await archiveFixture(kafka, s3, topic, 1, location);
  });
  after(() => s3?.destroy());

  test('a log ending with an aborted transaction is archived to its end by the commit the reconciliation reads', async () => {
    const producer = kafka.producer({
      transactionalId: uniqueName('archive-aborted'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    const messages = (from: number) =>
      Array.from({ length: 5 }, (_, i) => ({
        key: `p-${from + i}`,
        partition: 0,
        value: encodeJsonEvent(initiatedEvent(from + i, Date.UTC(2026, 10, 28, 21, 0, 0))),
      }));
    const committed = await producer.transaction();
    await committed.send({ topic, messages: messages(0) });
    await committed.commit();
    const { writer, consumer: live } = await liveArchive({
      kafka,
      s3,
      location,
      topic,
      groupId,
      flushIntervalMs: 200,
    });
    try {
      await until(
        () => archivedToEnd(kafka, groupId, topic),
        'the archive to hold the log before the abort',
        10_000,
      );
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: messages(5) });
      await aborted.abort();
      await until(
        () => archivedToEnd(kafka, groupId, topic),
        `the archive to hold every committed record (processed ${writer.processedTo(0)})`,
        10_000,
      );
      const ids = [...(await archivedObjects(s3, location)).values()].flatMap((o) => o.eventIds);
      assert.deepEqual(
        ids.sort(),
        ['e-0', 'e-1', 'e-2', 'e-3', 'e-4'],
        'the committed records, none aborted',
      );
    } finally {
      await live.disconnect();
      await producer.disconnect();
    }
  });
});
