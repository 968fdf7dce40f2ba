/**
 * The archive's rotation on the real Kafka and S3 store: files cut by hour and by block of
 * offsets from a transactional topic; a consumer stopped mid-stream (its open files lost) and
 * started again leaves every event in exactly one object, with the names and rows a single
 * uninterrupted reading of the log gives; the group's commit says how far the objects hold the
 * log, so the reconciliation sees it caught up; and a rebuild from the beginning leaves the same
 * objects, removing a stale file that counted rows twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel, type Producer } from 'kafkajs';

import { readTopicToEnd, type EndOffsets } from '../../app/reconcile-readers.js';
import { S3ParquetArchive, type ArchiveLocation } from '../../projections/s3-parquet/archive.js';
import { rebuildArchive } from '../../projections/s3-parquet/rebuild.js';
import { planRuns, type ArchivedEvent } from '../../projections/s3-parquet/runs.js';
import {
  archivedObjects,
  archivedToEnd,
  archiveFixture,
  initiatedEvent,
  liveArchive,
} from '../support/archive-harness.js';
import { decodeJsonEvent, encodeJsonEvent } from '../support/json-events.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';
import { until } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const PARTITIONS = 3;
const FILE_OFFSETS = 40;
const T0 = Date.UTC(2026, 10, 28, 21, 40, 0);

/** 30 s apart: the 360 events span three hours and two days. */
const event = (index: number) => initiatedEvent(index, T0 + index * 30_000);

/** Transactions of 15 events each, so the partitions hold commit markers between the records. */
async function produce(producer: Producer, topic: string, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 15) {
    const transaction = await producer.transaction();
    const messages = [];
    for (let i = start; i < Math.min(to, start + 15); i += 1)
      messages.push({ key: `p-${i}`, value: encodeJsonEvent(event(i)), partition: i % PARTITIONS });
    await transaction.send({ topic, messages });
    await transaction.commit();
  }
}

describe('archive rotation and rebuild', { skip }, () => {
  let kafka: Kafka;
  let producer: Producer;
  let s3: S3Client;
  const topic = uniqueName('archive-rotation');
  const groupId = uniqueName('archive-live');
  const location: ArchiveLocation = {
    bucket: uniqueName('archive-rotation'),
    prefix: 'payments_events',
    fileOffsets: FILE_OFFSETS,
  };

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({
      clientId: 'archive-rotation',
      brokers: env.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    s3 = stackS3Client(env);
    await archiveFixture(kafka, s3, topic, PARTITIONS, location);
    producer = kafka.producer({
      transactionalId: uniqueName('archive-rotation'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
  });
  after(async () => {
    await producer?.disconnect();
    s3?.destroy();
  });

  const live = (killed = false) =>
    liveArchive({ kafka, s3, location, topic, groupId, flushIntervalMs: 300, killed });
  const objects = () => archivedObjects(s3, location);

  async function ends(): Promise<EndOffsets> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
    } finally {
      await admin.disconnect();
    }
  }

  /** The files one uninterrupted reading of the log cuts: key → event ids. */
  async function expectedFiles(): Promise<Map<string, string[]>> {
    const byPartition = new Map<number, ArchivedEvent[]>();
    const archive = new S3ParquetArchive(s3, location);
    const records: { partition: number; record: ArchivedEvent }[] = [];
    await readTopicToEnd(kafka, topic, await ends(), 30_000, async (message) => {
      const parsed = await decodeJsonEvent(message);
      records.push({
        partition: Number(parsed.eventId.slice(2)) % PARTITIONS,
        record: { offset: BigInt(message.offset), event: parsed },
      });
    });
    for (const { partition, record } of records) {
      const list = byPartition.get(partition) ?? [];
      list.push(record);
      byPartition.set(partition, list);
    }
    const files = new Map<string, string[]>();
    for (const [partition, list] of byPartition) {
      list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
      for (const run of planRuns(list, FILE_OFFSETS))
        files.set(
          archive.keyOf(partition, run),
          run.map((r) => r.event.eventId),
        );
    }
    return files;
  }

  test('a consumer stopped mid-stream and started again leaves each event in exactly one file, cut as the log says', async () => {
    const first = await live(true);
    await produce(producer, topic, 0, 180);
    await until(
      () => Promise.resolve([0, 1, 2].every((p) => first.writer.processedTo(p) > 40n)),
      'the first consumer to read part of the log',
    );
    // Stopped without a last upload: what it held in memory is lost.
    await first.consumer.disconnect();
    await produce(producer, topic, 180, 360);
    const second = await live();
    try {
      await until(
        () => archivedToEnd(kafka, groupId, topic),
        'the group to commit that its objects hold the whole log',
      );
      const found = await objects();
      const expected = await expectedFiles();
      assert.deepEqual(new Map([...found].map(([key, { eventIds }]) => [key, eventIds])), expected);
      const ids = [...found.values()].flatMap((o) => o.eventIds);
      assert.equal(ids.length, 360);
      assert.equal(new Set(ids).size, 360, 'no event twice');
      assert.ok(
        [...found.keys()].some((k) => k.includes('/dt=2026-11-29/hour=00/')),
        'files of the next day',
      );
      assert.ok(found.size > 9, `files rotate by block of offsets as well as by hour (${found.size})`);
    } finally {
      await second.consumer.disconnect();
    }
  });

  test('a rebuild from the beginning leaves the same objects and removes a stale file that counted rows twice', async () => {
    const before = await objects();
    // A file of another layout: the first events of partition 1 again, named by their second offset.
    const partitionOne = [...(await expectedFiles())].find(([key]) => key.includes('part-p001-'))!;
    const staleRows: ArchivedEvent[] = partitionOne[1].slice(1, 4).map((id, i) => ({
      offset: BigInt(i + 1),
      event: event(Number(id.slice(2))),
    }));
    const archive = new S3ParquetArchive(s3, location);
    const staleKey = await archive.writeRun(1, staleRows);
    assert.equal(before.has(staleKey), false);

    const logged: string[] = [];
    const result = await rebuildArchive({
      kafka,
      s3,
      location,
      topic,
      groupPrefix: groupId,
      decode: (message) => decodeJsonEvent(message),
      catchUpTimeoutMs: 60_000,
      log: (message) => logged.push(message),
    });
    assert.deepEqual(result.removed, [staleKey]);
    assert.equal(
      Object.keys(result.leftToLive).length,
      PARTITIONS,
      'each partition’s open file is the live one’s',
    );
    const afterRebuild = await objects();
    assert.deepEqual(
      new Map([...afterRebuild].map(([key, o]) => [key, o.eventIds])),
      new Map([...before].map(([key, o]) => [key, o.eventIds])),
    );
    for (const [key, { etag }] of afterRebuild)
      assert.equal(etag, before.get(key)!.etag, `${key}: the rebuild wrote the same bytes`);
    assert.ok(logged.includes('archive rebuilt'));
  });
});
