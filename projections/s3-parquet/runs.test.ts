import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { S3Client } from '@aws-sdk/client-s3';

import { ArchiveWriter, S3ParquetArchive, archivedToOf, positionMetadata } from './archive.js';
import { PartitionRuns, planRuns, type ArchivedEvent } from './runs.js';

const HOUR_MS = 3_600_000;
const T0 = Date.parse('2026-11-30T22:00:00.000Z');

/** `count` records from offset 0, skipping every 7th offset (a transaction's commit marker), `stepMs` apart in event time. */
function log(count: number, stepMs: number): ArchivedEvent[] {
  const records: ArchivedEvent[] = [];
  for (let offset = 0; records.length < count; offset += 1) {
    if (offset % 7 === 6) continue;
    records.push({
      offset: BigInt(offset),
      event: {
        eventId: `e-${offset}`,
        paymentId: `p-${Math.floor(offset / 3)}`,
        type: 'PaymentInitiated',
        sequence: 0,
        occurredAtMs: T0 + offset * stepMs,
        correlationId: null,
      },
    });
  }
  return records;
}

/** An S3 client that keeps the last body put per key, and counts puts. */
function memoryS3() {
  const objects = new Map<string, Uint8Array>();
  let puts = 0;
  const client = {
    send: (command: { input: { Key: string; Body: Uint8Array } }) => {
      objects.set(command.input.Key, command.input.Body);
      puts += 1;
      return Promise.resolve({});
    },
  } as unknown as S3Client;
  return { client, objects, puts: () => puts };
}

/** Each object's rows as `offset` lists, decoded back from what the archive names it and holds. */
function rowsByKey(archive: S3ParquetArchive, partition: number, runs: ArchivedEvent[][]) {
  return new Map(runs.map((run) => [archive.keyOf(partition, run), run.map((r) => r.offset)]));
}

describe('archive runs', () => {
  it('a file holds one hour of one block of offsets, and is named by its first record', () => {
    const records = log(600, 20_000); // 20 s apart: the hour changes every 180 offsets
    const runs = planRuns(records, 250);
    for (const run of runs) {
      const hours = new Set(run.map((r) => Math.floor(r.event.occurredAtMs / HOUR_MS)));
      const blocks = new Set(run.map((r) => r.offset / 250n));
      assert.equal(hours.size, 1);
      assert.equal(blocks.size, 1);
    }
    assert.deepEqual(
      runs.flat().map((r) => r.offset),
      records.map((r) => r.offset),
    );
    const archive = new S3ParquetArchive(memoryS3().client, { bucket: 'b', prefix: 'x', fileOffsets: 250 });
    assert.match(
      archive.keyOf(3, runs[1]!),
      /^x\/dt=2026-11-30\/hour=23\/part-p003-o0{17}180\.snappy\.parquet$/,
    );
  });

  it('cutting the log from any run start gives the same files as cutting it from the beginning', () => {
    const records = log(2_000, 7_000);
    const all = planRuns(records, 300);
    let start = 0;
    for (const run of all) {
      const fromHere = planRuns(records.slice(start), 300);
      assert.deepEqual(fromHere, all.slice(all.indexOf(run)));
      start += run.length;
    }
  });

  it('a partition read again from its committed offset holds no record twice', () => {
    const records = log(500, 1_000);
    const runs = new PartitionRuns(10_000);
    runs.add(records.slice(0, 400), 0);
    const resume = runs.resumeOffset(400n);
    runs.add(
      records.filter((r) => r.offset >= resume),
      1,
    );
    const open = runs.openRun!;
    assert.equal(new Set(open.records.map((r) => r.offset)).size, open.records.length);
    assert.deepEqual(
      open.records.map((r) => r.offset),
      records.filter((r) => r.offset >= open.records[0]!.offset).map((r) => r.offset),
    );
  });

  it('the objects are said to hold the partition only up to what was uploaded', () => {
    const records = log(100, 1_000);
    const runs = new PartitionRuns(10_000);
    runs.add(records.slice(0, 50), 0);
    const next = records[49]!.offset + 1n;
    assert.equal(runs.archivedTo(next), 0n, 'nothing uploaded yet');
    runs.uploaded(1);
    assert.equal(runs.archivedTo(next + 1n), next + 1n, 'all uploaded: as far as read, markers included');
    runs.add(records.slice(50), 2);
    assert.equal(runs.archivedTo(records.at(-1)!.offset + 1n), next);
    assert.equal(runs.resumeOffset(500n), 0n, 'the open run is written again whole after a restart');
  });
});

describe('archive writer', () => {
  it('a restart from the committed offset leaves exactly the files of an uninterrupted run', async () => {
    const records = log(3_000, 3_000);
    const fileOffsets = 400;
    const expected = rowsByKey(
      new S3ParquetArchive(memoryS3().client, { bucket: 'b', prefix: 'x', fileOffsets }),
      2,
      planRuns(records, fileOffsets),
    );
    const store = memoryS3();
    const archive = new S3ParquetArchive(store.client, { bucket: 'b', prefix: 'x', fileOffsets });
    const written = new Map<string, bigint[]>();
    const spy = {
      keyOf: archive.keyOf.bind(archive),
      writeRun: async (partition: number, run: readonly ArchivedEvent[]) => {
        written.set(
          archive.keyOf(partition, run),
          run.map((r) => r.offset),
        );
        return archive.writeRun(partition, run);
      },
      fileOffsets,
    } as unknown as S3ParquetArchive;
    let committed = 0n;
    let clock = 0;
    // Three processes, each killed after some batches (what it held in memory is lost), then all read to the end.
    for (const crashAfter of [7, 13, Infinity]) {
      const writer = new ArchiveWriter(spy, { flushIntervalMs: 5, uploadOpenRuns: true, now: () => clock });
      const pending = records.filter((r) => r.offset >= committed);
      for (let i = 0, batch = 0; i < pending.length && batch < crashAfter; i += 97, batch += 1) {
        const slice = pending.slice(i, i + 97);
        clock += 3;
        await writer.apply(2, slice);
        // The last batch before a kill uploads but never commits.
        if (batch + 1 < crashAfter) committed = writer.advance(2, slice.at(-1)!.offset + 1n).offset;
      }
      if (crashAfter === Infinity) {
        clock += 10;
        await writer.flush();
      }
    }
    assert.deepEqual(written, expected);
    assert.equal(store.objects.size, expected.size);
  });

  it('a rebuild uploads closed files only and leaves the open one to the live consumer', async () => {
    const records = log(1_000, 1_000);
    const store = memoryS3();
    const archive = new S3ParquetArchive(store.client, { bucket: 'b', prefix: 'x', fileOffsets: 300 });
    const writer = new ArchiveWriter(archive, { flushIntervalMs: 0, uploadOpenRuns: false, now: () => 1e6 });
    await writer.apply(0, records);
    assert.deepEqual(await writer.flush(), []);
    const runs = planRuns(records, 300);
    assert.equal(store.objects.size, runs.length - 1);
    assert.equal(store.objects.has(writer.openRunKeys().get(0)!.key), false);
  });

  it('before a stop every open file with new rows is uploaded, whatever the flush interval', async () => {
    const records = log(100, 1_000);
    const store = memoryS3();
    const archive = new S3ParquetArchive(store.client, { bucket: 'b', prefix: 'x', fileOffsets: 10_000 });
    const writer = new ArchiveWriter(archive, {
      flushIntervalMs: 3_600_000,
      uploadOpenRuns: true,
      now: () => 0,
    });
    await writer.apply(5, records);
    const next = records.at(-1)!.offset + 1n;
    assert.equal(writer.advance(5, next).archivedTo, 0n);
    assert.deepEqual(await writer.flush(), [], 'not due');
    assert.equal(store.puts(), 0);
    const [position] = await writer.flush(true);
    assert.equal(store.puts(), 1);
    assert.deepEqual(position, { partition: 5, offset: 0n, archivedTo: next });
    assert.deepEqual(await writer.flush(true), [], 'nothing new to upload');
  });

  it('the commit metadata carries what the objects hold', () => {
    const metadata = positionMetadata({ partition: 1, offset: 10n, archivedTo: 12_345n });
    assert.equal(archivedToOf(metadata), 12_345n);
    assert.equal(archivedToOf(null), undefined);
    assert.equal(archivedToOf('archived-to=x'), undefined);
  });
});
