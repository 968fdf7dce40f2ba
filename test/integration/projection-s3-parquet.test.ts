/**
 * The Parquet archive on the real S3 store, checked by an independent reader (DuckDB): files
 * land in Hive-style dt/hour folders, a replayed batch rewrites the same objects instead of
 * adding rows, amounts keep all 64 bits, and the files follow Athena's conventions (Snappy,
 * millisecond timestamps, no partition columns inside the files).
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';

import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';
import { S3ParquetArchive, type ArchivedEvent } from '../../projections/s3-parquet/archive.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 6, 59, 0);

function batch(): ArchivedEvent[] {
  const events: ProjectedPaymentEvent[] = [
    {
      eventId: 'e-0',
      paymentId: 'p-1',
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: T0,
      correlationId: 'c-1',
      initiated: {
        kind: 'TRANSFER',
        principal: 'm',
        senderAccountId: 'a',
        recipientAccountId: 'b',
        amountMinor: 9_007_199_254_740_993n,
        currency: 'SAR',
        reference: null,
      },
    },
    {
      eventId: 'e-1',
      paymentId: 'p-1',
      type: 'PaymentValidated',
      sequence: 1,
      occurredAtMs: T0 + 1_000,
      recordedAtMs: T0 + 1_500,
      correlationId: 'c-1',
    },
    {
      eventId: 'e-2',
      paymentId: 'p-1',
      type: 'PaymentRejected',
      sequence: 2,
      occurredAtMs: T0 + HOUR_MS,
      recordedAtMs: T0 + HOUR_MS + 2_000,
      correlationId: 'c-1',
      rejection: { code: 'INSUFFICIENT_FUNDS', detail: null },
    },
  ];
  return events.map((event, index) => ({ offset: 1_000n + BigInt(index), event }));
}

describe('S3 Parquet archive', { skip }, () => {
  let s3: S3Client;
  let localCopy: string;
  const bucket = uniqueName('archive');
  const prefix = 'payments_events';

  before(async () => {
    if ('skip' in env) return;
    s3 = new S3Client({
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey },
      requestHandler: { requestTimeout: 10_000 },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    localCopy = await mkdtemp(join(tmpdir(), 'payflow-archive-'));
  });
  after(async () => {
    s3?.destroy();
    if (localCopy) await rm(localCopy, { recursive: true, force: true });
  });

  async function download(): Promise<string[]> {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    for (const key of keys) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const path = join(localCopy, key);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await object.Body!.transformToByteArray());
    }
    return keys;
  }

  test('a batch spanning two hours lands in two Hive partitions, and replaying it changes nothing', async () => {
    const archive = new S3ParquetArchive(s3, { bucket, prefix });
    const written = await archive.write(4, batch());
    const replayed = await archive.write(4, batch());
    assert.deepEqual(replayed, written);
    assert.deepEqual(await download(), [
      'payments_events/dt=2026-11-25/hour=06/part-p004-o00000000000000001000.snappy.parquet',
      'payments_events/dt=2026-11-25/hour=07/part-p004-o00000000000000001002.snappy.parquet',
    ]);

    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    const glob = join(localCopy, prefix, '*/*/*.parquet');
    const rows = await connection.runAndReadAll(
      `SELECT CAST(dt AS VARCHAR) AS dt, CAST(hour AS VARCHAR) AS hour, event_id, event_type, amount_minor, epoch_ms(occurred_at) AS occurred_ms, epoch_ms(recorded_at) AS recorded_ms, rejection_code
         FROM read_parquet('${glob}', hive_partitioning = true) ORDER BY sequence`,
    );
    assert.deepEqual(rows.getRowObjects(), [
      {
        dt: '2026-11-25',
        hour: '06',
        event_id: 'e-0',
        event_type: 'PaymentInitiated',
        amount_minor: 9_007_199_254_740_993n,
        occurred_ms: BigInt(T0),
        recorded_ms: null,
        rejection_code: null,
      },
      {
        dt: '2026-11-25',
        hour: '06',
        event_id: 'e-1',
        event_type: 'PaymentValidated',
        amount_minor: null,
        occurred_ms: BigInt(T0 + 1_000),
        recorded_ms: BigInt(T0 + 1_500),
        rejection_code: null,
      },
      {
        dt: '2026-11-25',
        hour: '07',
        event_id: 'e-2',
        event_type: 'PaymentRejected',
        amount_minor: null,
        occurred_ms: BigInt(T0 + HOUR_MS),
        recorded_ms: BigInt(T0 + HOUR_MS + 2_000),
        rejection_code: 'INSUFFICIENT_FUNDS',
      },
    ]);

    const schema = await connection.runAndReadAll(
      `SELECT DISTINCT name, type, logical_type FROM parquet_schema('${glob}') WHERE name IN ('amount_minor', 'occurred_at', 'dt', 'hour')`,
    );
    const columns = Object.fromEntries(
      schema.getRowObjects().map((row) => [String(row.name), String(row.type)]),
    );
    assert.deepEqual(
      columns,
      { amount_minor: 'INT64', occurred_at: 'INT64' },
      'money is INT64, time is INT64 millis, no partition column inside',
    );
    const codecs = await connection.runAndReadAll(
      `SELECT DISTINCT compression FROM parquet_metadata('${glob}')`,
    );
    assert.deepEqual(
      codecs.getRowObjects().map((row) => String(row.compression)),
      ['SNAPPY'],
    );
    connection.closeSync();
  });
});
