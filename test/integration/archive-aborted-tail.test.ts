/**
 * The archive's position on a partition whose log ends with an aborted transaction: no batch of
 * it reaches the consumer, yet the archive holds the whole committed log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';

import { groupCaughtUp } from '../../app/reconcile-readers.js';
import { runKafkaProjection } from '../../projections/kafka-runner.js';
import {
  archivedToOf,
  archiveSink,
  ArchiveWriter,
  S3ParquetArchive,
  type ArchiveLocation,
} from '../../projections/s3-parquet/archive.js';
import { decodeJsonEvent, encodeJsonEvent } from '../support/json-events.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';

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
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    s3 = stackS3Client(env);
    await s3.send(new CreateBucketCommand({ Bucket: location.bucket }));
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
        value: encodeJsonEvent({
          eventId: `e-${from + i}`,
          paymentId: `p-${from + i}`,
          type: 'PaymentInitiated',
          sequence: 0,
          occurredAtMs: Date.UTC(2026, 10, 28, 21, 0, 0),
          correlationId: null,
        }),
      }));
    const committed = await producer.transaction();
    await committed.send({ topic, messages: messages(0) });
    await committed.commit();
    const writer = new ArchiveWriter(new S3ParquetArchive(s3, location), {
      flushIntervalMs: 200,
      uploadOpenRuns: true,
    });
    const live = await runKafkaProjection({
      kafka,
      groupId,
      topic,
      decode: async (message, partition) => ({
        partition,
        offset: BigInt(message.offset),
        event: await decodeJsonEvent(message),
      }),
      deadLetter: () => Promise.reject(new Error('nothing here is refused')),
      ...archiveSink(writer),
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const held = ({ offset, metadata }: { offset: string; metadata: string | null }) => {
        const archived = archivedToOf(metadata);
        return archived !== undefined && archived > BigInt(offset) ? archived : BigInt(offset);
      };
      const ends = async () =>
        new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
      for (
        let i = 0;
        i < 40 && !(await groupCaughtUp(admin, groupId, topic, await ends(), held)).caughtUp;
        i += 1
      )
        await new Promise((resolve) => setTimeout(resolve, 250));
      assert.ok(
        (await groupCaughtUp(admin, groupId, topic, await ends(), held)).caughtUp,
        'caught up before the abort',
      );
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: messages(5) });
      await aborted.abort();
      let caughtUp = false;
      for (let i = 0; i < 40 && !caughtUp; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        caughtUp = (await groupCaughtUp(admin, groupId, topic, await ends(), held)).caughtUp;
      }
      assert.ok(
        caughtUp,
        `the archive holds every committed record (end ${(await ends()).get(0)}, processed ${writer.processedTo(0)})`,
      );
    } finally {
      await admin.disconnect();
      await live.disconnect();
      await producer.disconnect();
    }
  });
});
