/**
 * The archive's consumer on a test topic of JSON events (test/support/json-events.ts): a topic and
 * a bucket of their own, the live writer and consumer as the main job runs them
 * (projections/s3-parquet/archive.ts), and the objects read back with their rows.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { tableFromIPC } from 'apache-arrow';
import type { Kafka } from 'kafkajs';
import { readParquet } from 'parquet-wasm/node';

import { groupCaughtUp } from '../../app/reconcile-readers.js';
import { archiveHeld } from '../../app/reconciliation.js';
import { runKafkaProjection, type RunningProjection } from '../../projections/kafka-runner.js';
import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';
import {
  archiveSink,
  ArchiveWriter,
  S3ParquetArchive,
  type ArchiveLocation,
} from '../../projections/s3-parquet/archive.js';
import { decodeJsonEvent } from './json-events.js';

/** The `index`th test payment's PaymentInitiated (event `e-<index>`, payment `p-<index>`) at `occurredAtMs`. */
export function initiatedEvent(index: number, occurredAtMs: number): ProjectedPaymentEvent {
  return {
    eventId: `e-${index}`,
    paymentId: `p-${index}`,
    type: 'PaymentInitiated',
    sequence: 0,
    occurredAtMs,
    correlationId: null,
    initiated: {
      kind: 'TRANSFER',
      principal: 'm',
      senderAccountId: `a-${index % 5}`,
      recipientAccountId: 'b',
      amountMinor: BigInt(100 + index),
      currency: 'EUR',
      reference: null,
    },
  };
}

/** Creates the topic (`partitions` partitions) and the location's bucket. */
export async function archiveFixture(
  kafka: Kafka,
  s3: S3Client,
  topic: string,
  partitions: number,
  location: ArchiveLocation,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  await s3.send(new CreateBucketCommand({ Bucket: location.bucket }));
}

/**
 * The live archive consumer of `groupId`; `killed`: it stops without uploading what it holds, as
 * a crash would.
 */
export async function liveArchive(options: {
  readonly kafka: Kafka;
  readonly s3: S3Client;
  readonly location: ArchiveLocation;
  readonly topic: string;
  readonly groupId: string;
  readonly flushIntervalMs: number;
  readonly killed?: boolean;
}): Promise<{ readonly writer: ArchiveWriter; readonly consumer: RunningProjection }> {
  const writer = new ArchiveWriter(new S3ParquetArchive(options.s3, options.location), {
    flushIntervalMs: options.flushIntervalMs,
    uploadOpenRuns: true,
  });
  const { sink, positions } = archiveSink(writer);
  const consumer = await runKafkaProjection({
    kafka: options.kafka,
    groupId: options.groupId,
    topic: options.topic,
    decode: async (message, partition) => ({
      partition,
      offset: BigInt(message.offset),
      event: await decodeJsonEvent(message),
    }),
    deadLetter: () => Promise.reject(new Error('nothing here is refused')),
    sink,
    positions: options.killed === true ? { ...positions, drain: () => Promise.resolve([]) } : positions,
  });
  return { writer, consumer };
}

/** Every object under the location's prefix: its ETag and the event ids of its rows. */
export async function archivedObjects(
  s3: S3Client,
  location: ArchiveLocation,
): Promise<Map<string, { readonly etag: string; readonly eventIds: string[] }>> {
  const found = new Map<string, { readonly etag: string; readonly eventIds: string[] }>();
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: location.bucket, Prefix: `${location.prefix}/` }),
  );
  for (const object of listed.Contents ?? []) {
    const body = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: object.Key! }));
    const table = tableFromIPC(
      readParquet(await body.Body!.transformToByteArray(), { columns: ['event_id'] }).intoIPCStream(),
    );
    const eventIds = (table.toArray() as { event_id: string }[]).map((row) => row.event_id);
    found.set(object.Key!, { etag: object.ETag!, eventIds });
  }
  return found;
}

/** Whether the group holds the topic to its end by the reconciliation's own rule for the archive. */
export async function archivedToEnd(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
    return (await groupCaughtUp(admin, groupId, topic, ends, archiveHeld)).caughtUp;
  } finally {
    await admin.disconnect();
  }
}
