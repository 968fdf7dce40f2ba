/**
 * The S3 Parquet archive of `payments.events`, for analysts on Athena.
 *
 * Layout (Hive-style, partition columns only in the path, never inside the files):
 *   s3://<bucket>/<prefix>/dt=YYYY-MM-DD/hour=HH/part-p<partition>-o<firstOffset>.snappy.parquet
 * `dt`/`hour` come from the event time (UTC). A file is a run of a partition's records (runs.ts):
 * one hour and one block of `fileOffsets` offsets, so files rotate by time and by size and are a
 * function of the log — a restart, a replay or a rebuild writes the same objects with the same
 * rows instead of adding duplicates. `ArchiveWriter` is the consumer's side: it holds each
 * partition's open run, uploads it every `flushIntervalMs` while it grows and a last time when it
 * closes, and says where the consumer may resume (the open run's first offset) and what the
 * objects hold (`archivedTo`).
 *
 * Files: Snappy-compressed Parquet written by arrow-rs (parquet-wasm), data page v1 defaults,
 * INT64 for money (minor units, never floating point), timestamps as INT64 milliseconds UTC
 * (no INT96, no nanoseconds), lower-case column names. The table DDL is `athena.sql` beside
 * this file.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  Int64,
  Table,
  TimestampMillisecond,
  Utf8,
  makeVector,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm/node';

import { isUnreachableTarget, type ProjectionSink, type SinkPositions } from '../kafka-runner.js';
import type { ProjectedPaymentEvent } from '../payment-view.js';
import { PartitionRuns, partitionPath, planRuns, type ArchivedEvent } from './runs.js';

export type { ArchivedEvent } from './runs.js';

/** The default block of offsets a file covers at most (PAYFLOW_ARCHIVE_FILE_OFFSETS). */
export const DEFAULT_FILE_OFFSETS = 10_000;

export interface ArchiveLocation {
  readonly bucket: string;
  readonly prefix: string;
  /** Rotation by size: a file holds at most this block of offsets (default DEFAULT_FILE_OFFSETS). */
  readonly fileOffsets?: number;
}

export function objectKey(
  prefix: string,
  occurredAtMs: number,
  partition: number,
  firstOffset: bigint,
): string {
  const offset = firstOffset.toString().padStart(20, '0');
  const kafkaPartition = String(partition).padStart(3, '0');
  return `${prefix}/${partitionPath(occurredAtMs)}/part-p${kafkaPartition}-o${offset}.snappy.parquet`;
}

const optionalText = (values: (string | null | undefined)[]) =>
  vectorFromArray(
    values.map((v) => v ?? null),
    new Utf8(),
  );

/** Encodes rows as one Parquet file. Column order and types are the contract in athena.sql. */
export function encodeEvents(events: readonly ProjectedPaymentEvent[]): Uint8Array {
  const table = new Table({
    event_id: vectorFromArray(
      events.map((e) => e.eventId),
      new Utf8(),
    ),
    payment_id: vectorFromArray(
      events.map((e) => e.paymentId),
      new Utf8(),
    ),
    event_type: vectorFromArray(
      events.map((e) => e.type),
      new Utf8(),
    ),
    sequence: makeVector(Int32Array.from(events.map((e) => e.sequence))),
    occurred_at: vectorFromArray(
      events.map((e) => e.occurredAtMs),
      new TimestampMillisecond(),
    ),
    correlation_id: optionalText(events.map((e) => e.correlationId)),
    kind: optionalText(events.map((e) => e.initiated?.kind)),
    principal: optionalText(events.map((e) => e.initiated?.principal)),
    sender_account_id: optionalText(events.map((e) => e.initiated?.senderAccountId)),
    recipient_account_id: optionalText(events.map((e) => e.initiated?.recipientAccountId)),
    amount_minor: vectorFromArray(
      events.map((e) => e.initiated?.amountMinor ?? null),
      new Int64(),
    ),
    currency: optionalText(events.map((e) => e.initiated?.currency)),
    reference: optionalText(events.map((e) => e.initiated?.reference)),
    rejection_code: optionalText(events.map((e) => e.rejection?.code)),
    rejection_detail: optionalText(events.map((e) => e.rejection?.detail)),
    recorded_at: vectorFromArray(
      events.map((e) => e.recordedAtMs ?? null),
      new TimestampMillisecond(),
    ),
  });
  const properties = new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), properties);
}

export class S3ParquetArchive {
  constructor(
    private readonly s3: S3Client,
    private readonly location: ArchiveLocation,
  ) {}

  get fileOffsets(): number {
    return this.location.fileOffsets ?? DEFAULT_FILE_OFFSETS;
  }

  /** The object key of a run (its first record names it). */
  keyOf(partition: number, run: readonly ArchivedEvent[]): string {
    const first = run[0]!;
    return objectKey(this.location.prefix, first.event.occurredAtMs, partition, first.offset);
  }

  /** Uploads one run as its file, replacing the object a shorter version of it left. */
  async writeRun(partition: number, run: readonly ArchivedEvent[]): Promise<string> {
    const key = this.keyOf(partition, run);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.location.bucket,
        Key: key,
        Body: encodeEvents(run.map((r) => r.event)),
        ContentType: 'application/vnd.apache.parquet',
      }),
    );
    return key;
  }

  /** Writes a partition's records (in offset order) as whole runs; returns the object keys written. */
  async write(partition: number, records: readonly ArchivedEvent[]): Promise<string[]> {
    const keys: string[] = [];
    for (const run of planRuns(records, this.fileOffsets)) keys.push(await this.writeRun(partition, run));
    return keys;
  }
}

/** Where a consumer of the archive commits a partition: its resume offset and what the objects hold. */
export interface ArchivePosition {
  readonly partition: number;
  /** The offset to resume from: the first record of the open run, or the next one to read. */
  readonly offset: bigint;
  /** Every record before this offset is in an uploaded object. */
  readonly archivedTo: bigint;
}

export interface ArchiveWriterOptions {
  /** Upload a growing open run at most this often (and close it when its run ends). */
  readonly flushIntervalMs: number;
  /**
   * false (a rebuild): upload closed runs only and leave the open one — the log's tail — to the
   * live consumer, so a rebuild never replaces a file with a shorter version of it.
   */
  readonly uploadOpenRuns: boolean;
  readonly now?: () => number;
  /** Told of every object uploaded. */
  readonly onUploaded?: (key: string) => void;
}

/**
 * The archive's side of a consumer group: per partition, the open run and how far it has read.
 * Each partition's uploads happen one at a time (a batch and a timed flush of the same partition
 * never interleave).
 */
export class ArchiveWriter {
  private readonly partitions = new Map<
    number,
    { runs: PartitionRuns; processedTo: bigint; queue: Promise<unknown> }
  >();
  private readonly now: () => number;

  constructor(
    private readonly archive: S3ParquetArchive,
    private readonly options: ArchiveWriterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  private state(partition: number) {
    let state = this.partitions.get(partition);
    if (state === undefined) {
      state = {
        runs: new PartitionRuns(this.archive.fileOffsets),
        processedTo: 0n,
        queue: Promise.resolve(),
      };
      this.partitions.set(partition, state);
    }
    return state;
  }

  private serially<T>(partition: number, work: () => Promise<T>): Promise<T> {
    const state = this.state(partition);
    const result = state.queue.then(work);
    state.queue = result.catch(() => undefined);
    return result;
  }

  /** Adds a partition's records (in offset order), uploads the runs they closed and, when due, the open one. */
  apply(partition: number, records: readonly ArchivedEvent[]): Promise<void> {
    return this.serially(partition, async () => {
      const state = this.state(partition);
      // A run the batch closes is no longer held once `add` returns: until its upload succeeds,
      // the state from before the batch is kept to go back to, so a retried batch closes it again whole.
      const before = state.runs.clone();
      const nowMs = this.now();
      try {
        for (const run of state.runs.add(records, nowMs))
          this.uploaded(await this.archive.writeRun(partition, run));
        await this.flushIfDue(partition, nowMs);
      } catch (error) {
        state.runs = before;
        throw error;
      }
    });
  }

  /** After a batch: the partition was read up to `processedTo` (control records included). */
  advance(partition: number, processedTo: bigint): ArchivePosition {
    this.state(partition).processedTo = processedTo;
    return this.positionOf(partition);
  }

  /**
   * Uploads every open run whose flush is due (`all`: every open run with new rows, as before a
   * stop); returns the positions that changed.
   */
  async flush(all = false): Promise<ArchivePosition[]> {
    const changed: ArchivePosition[] = [];
    for (const [partition, held] of [...this.partitions]) {
      // A partition a rebalance took away while its upload was in flight is not committed.
      const position = await this.serially(partition, async () =>
        (await this.flushIfDue(partition, this.now(), all)) && this.partitions.get(partition) === held
          ? this.positionOf(partition)
          : undefined,
      );
      if (position !== undefined) changed.push(position);
    }
    return changed;
  }

  private async flushIfDue(partition: number, nowMs: number, now = false): Promise<boolean> {
    const { runs } = this.state(partition);
    const open = runs.openRun;
    if (!this.options.uploadOpenRuns || open === undefined || !runs.dirty) return false;
    if (!now && nowMs - open.uploadedAtMs < this.options.flushIntervalMs) return false;
    this.uploaded(await this.archive.writeRun(partition, open.records));
    runs.uploaded(nowMs);
    return true;
  }

  private uploaded(key: string): void {
    this.options.onUploaded?.(key);
  }

  /** The offset after what the partition was read up to (0 before any batch). */
  processedTo(partition: number): bigint {
    return this.partitions.get(partition)?.processedTo ?? 0n;
  }

  get flushIntervalMs(): number {
    return this.options.flushIntervalMs;
  }

  positionOf(partition: number): ArchivePosition {
    const { runs, processedTo } = this.state(partition);
    return { partition, offset: runs.resumeOffset(processedTo), archivedTo: runs.archivedTo(processedTo) };
  }

  /** After a rebalance: forgets the partitions this consumer no longer has. */
  retain(partitions: readonly number[]): void {
    for (const partition of [...this.partitions.keys()])
      if (!partitions.includes(partition)) this.partitions.delete(partition);
  }

  /** The key of each partition's open run (a rebuild leaves these to the live consumer). */
  openRunKeys(): Map<number, { readonly key: string; readonly firstOffset: bigint }> {
    const keys = new Map<number, { readonly key: string; readonly firstOffset: bigint }>();
    for (const [partition, { runs }] of this.partitions) {
      const open = runs.openRun;
      if (open !== undefined)
        keys.set(partition, {
          key: this.archive.keyOf(partition, open.records),
          firstOffset: open.records[0]!.offset,
        });
    }
    return keys;
  }
}

/**
 * The archive's store: any answer of S3 (an expired token, access denied, a missing bucket, a
 * throttle) or no answer at all is the store's, waited out with the lag growing; only a file that
 * can't be encoded is the records'. A 4xx is not the data's here: every object the archive writes
 * is a function of the log, so a refusal is about the store, and dead-lettering the rows would
 * take them out of the archive for good.
 */
export function isUnreachableArchiveStore(error: unknown): boolean {
  if (isUnreachableTarget(error)) return true;
  const { $metadata, name } = (error ?? {}) as { $metadata?: unknown; name?: unknown };
  return (
    $metadata !== undefined ||
    (typeof name === 'string' &&
      ['TimeoutError', 'RequestTimeout', 'AbortError', 'CredentialsProviderError'].includes(name))
  );
}

const OBJECT_KEY = /^dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/part-p(\d{3,})-o(\d{20})\.snappy\.parquet$/;

/** The partition and first offset of an object key `objectKey` made under `prefix`; undefined for any other key. */
export function parseObjectKey(
  prefix: string,
  key: string,
): { readonly partition: number; readonly firstOffset: bigint } | undefined {
  if (!key.startsWith(`${prefix}/`)) return undefined;
  const match = OBJECT_KEY.exec(key.slice(prefix.length + 1));
  return match === null ? undefined : { partition: Number(match[1]), firstOffset: BigInt(match[2]!) };
}

const commitOf = (position: ArchivePosition) => ({
  partition: position.partition,
  offset: position.offset,
  metadata: positionMetadata(position),
});

/** The writer as a projection's sink and positions (projections/kafka-runner.ts). */
export function archiveSink(writer: ArchiveWriter): {
  readonly sink: ProjectionSink<ArchivedEvent & { readonly partition: number }>;
  readonly positions: SinkPositions;
} {
  return {
    // A batch is one partition's, in offset order.
    sink: {
      apply: async (records) => {
        const first = records[0];
        if (first !== undefined) await writer.apply(first.partition, records);
      },
    },
    positions: {
      after: (partition, nextOffset) => commitOf(writer.advance(partition, nextOffset)),
      flushIntervalMs: writer.flushIntervalMs,
      flush: async () => (await writer.flush()).map(commitOf),
      drain: async () => (await writer.flush(true)).map(commitOf),
      assigned: (partitions) => writer.retain(partitions),
    },
  };
}

/** The offset commit's metadata of a position: what the objects hold (read by the reconciliation). */
export function positionMetadata(position: ArchivePosition): string {
  return `archived-to=${position.archivedTo}`;
}

/** `archivedTo` of a committed offset's metadata; undefined when it has none. */
export function archivedToOf(metadata: string | null | undefined): bigint | undefined {
  const match = /^archived-to=(\d{1,19})$/.exec(metadata ?? '');
  return match === null ? undefined : BigInt(match[1]!);
}
