/**
 * The S3 Parquet archive of `payments.events`, for analysts on Athena.
 *
 * Layout (Hive-style, partition columns only in the path, never inside the files):
 *   s3://<bucket>/<prefix>/dt=YYYY-MM-DD/hour=HH/part-p<partition>-o<firstOffset>.snappy.parquet
 * `dt`/`hour` come from the event time (UTC). Object names are deterministic — Kafka partition
 * plus the offset of the first record in the file — so a batch replayed after a crash overwrites
 * the same objects with the same rows instead of adding duplicates (offsets are committed only
 * after the upload, so a restart begins at a file boundary).
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

import type { ProjectedPaymentEvent } from '../payment-view.js';

/** Bound on the rows of one file; a larger batch is split across files named by their first offset. */
export const MAX_ROWS_PER_FILE = 100_000;

export interface ArchivedEvent {
  /** The Kafka offset of the record; names the file and keeps replays idempotent. */
  readonly offset: bigint;
  readonly event: ProjectedPaymentEvent;
}

export interface ArchiveLocation {
  readonly bucket: string;
  readonly prefix: string;
}

function partitionPath(occurredAtMs: number): string {
  const iso = new Date(occurredAtMs).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
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

/** Splits a partition's batch into files: one per (dt, hour) run, at most MAX_ROWS_PER_FILE rows. */
export function planFiles(records: readonly ArchivedEvent[]): ArchivedEvent[][] {
  const files: ArchivedEvent[][] = [];
  let current: ArchivedEvent[] = [];
  for (const record of records) {
    const first = current[0];
    const samePartition =
      first !== undefined &&
      partitionPath(first.event.occurredAtMs) === partitionPath(record.event.occurredAtMs);
    if (first !== undefined && (!samePartition || current.length >= MAX_ROWS_PER_FILE)) {
      files.push(current);
      current = [];
    }
    current.push(record);
  }
  if (current.length > 0) files.push(current);
  return files;
}

export class S3ParquetArchive {
  constructor(
    private readonly s3: S3Client,
    private readonly location: ArchiveLocation,
  ) {}

  /** Writes one Kafka partition's batch (in offset order); returns the object keys written. */
  async write(partition: number, records: readonly ArchivedEvent[]): Promise<string[]> {
    const keys: string[] = [];
    for (const file of planFiles(records)) {
      const first = file[0]!;
      const key = objectKey(this.location.prefix, first.event.occurredAtMs, partition, first.offset);
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          Body: encodeEvents(file.map((r) => r.event)),
          ContentType: 'application/vnd.apache.parquet',
        }),
      );
      keys.push(key);
    }
    return keys;
  }
}
