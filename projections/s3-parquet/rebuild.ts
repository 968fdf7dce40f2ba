/**
 * Rebuilds the Parquet archive from `payments.events`, in place. The archive's files are a
 * function of the log (runs.ts), so a rebuild needs no second location and no swap: it reads the
 * topic from the beginning with a new consumer group `<groupPrefix>.rebuild-<ts>` and uploads
 * every closed run — the same object, with the same rows, as the live consumer wrote or would
 * have written — until it has read the end offsets captured at the start. It leaves each
 * partition's open run (the log's tail) to the live consumer, which keeps writing it.
 *
 * Then it removes what the log does not account for: every object of a partition whose first
 * offset is before the rebuild's open run but which the rebuild did not write — files of an older
 * layout, of another rotation setting, or of a topic that was re-created. Those are the objects
 * that would otherwise count rows twice. Objects of other partitions and keys it did not make are
 * left alone.
 *
 * While it runs an object may be written twice with the same content; the table never shows a
 * row twice except where a stale file overlaps, until the removal at the end. On a timeout or an
 * error nothing is removed (the uploaded files are the log's, correct either way).
 */
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Kafka, KafkaMessage } from 'kafkajs';

import {
  deleteRebuildGroup,
  offsetsJson,
  RebuildTimeoutError,
  startRebuildConsumer,
  type RebuildLog,
} from '../rebuild.js';
import type { ProjectedPaymentEvent } from '../payment-view.js';
import {
  archiveSink,
  ArchiveWriter,
  isUnreachableArchiveStore,
  parseObjectKey,
  S3ParquetArchive,
  type ArchivedEvent,
  type ArchiveLocation,
} from './archive.js';

export interface ArchiveRebuildOptions {
  readonly kafka: Kafka;
  readonly s3: S3Client;
  readonly location: ArchiveLocation;
  readonly topic: string;
  /** The rebuild's consumer group is `<groupPrefix>.rebuild-<suffix>`. */
  readonly groupPrefix: string;
  readonly decode: (message: KafkaMessage, partition: number) => Promise<ProjectedPaymentEvent>;
  readonly catchUpTimeoutMs: number;
  readonly log: RebuildLog;
  /** For tests: the suffix of the group (default: the current time in ms). */
  readonly suffix?: string;
}

export interface ArchiveRebuildResult {
  readonly groupId: string;
  /** Objects uploaded (each closed run once). */
  readonly written: number;
  /** Objects removed: files the log does not account for. */
  readonly removed: readonly string[];
  /** Per partition, the first offset of the open run left to the live consumer. */
  readonly leftToLive: Readonly<Record<number, string>>;
}

const POLL_MS = 250;
const DELETE_BATCH = 1_000;

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

/**
 * The archive as a rebuild writes it. Where retention moved a partition's log start on, the first
 * run read may be the tail of a run the archive holds whole (named by an offset the log no longer
 * has): it is not written, and nothing before the first run written is removed — the archive is
 * then the only copy of those rows.
 */
class RebuildArchive extends S3ParquetArchive {
  readonly #firstRun = new Map<number, bigint>();
  /** Per partition, the first offset of the first run written. */
  readonly writtenFrom = new Map<number, bigint>();

  constructor(
    s3: S3Client,
    location: ArchiveLocation,
    private readonly starts: ReadonlyMap<number, bigint>,
  ) {
    super(s3, location);
  }

  override async writeRun(partition: number, run: readonly ArchivedEvent[]): Promise<string> {
    const start = run[0]!.offset;
    if (!this.#firstRun.has(partition)) this.#firstRun.set(partition, start);
    if ((this.starts.get(partition) ?? 0n) > 0n && this.#firstRun.get(partition) === start)
      return this.keyOf(partition, run);
    const key = await super.writeRun(partition, run);
    if (start < (this.writtenFrom.get(partition) ?? start + 1n)) this.writtenFrom.set(partition, start);
    return key;
  }
}

/** Rebuilds the archive; rejects (removing nothing) when it can't read the log to its end in time. */
export async function rebuildArchive(options: ArchiveRebuildOptions): Promise<ArchiveRebuildResult> {
  const { kafka, s3, location, topic } = options;
  const groupId = `${options.groupPrefix}.rebuild-${options.suffix ?? Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  let starts: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
    starts = new Map(offsets.map((p) => [p.partition, BigInt(p.low)]));
  } finally {
    await admin.disconnect();
  }
  const written = new Set<string>();
  const archive = new RebuildArchive(s3, location, starts);
  const writer = new ArchiveWriter(archive, {
    flushIntervalMs: 3_600_000,
    uploadOpenRuns: false,
    onUploaded: (key) => written.add(key),
  });
  options.log('archive rebuild started', { groupId, ends: offsetsJson(ends) });
  const consumer = await startRebuildConsumer({
    kafka,
    topic,
    groupId,
    log: options.log,
    decode: async (message, partition) => ({
      partition,
      offset: BigInt(message.offset),
      event: await options.decode(message, partition),
    }),
    isUnreachable: isUnreachableArchiveStore,
    ...archiveSink(writer),
  });
  // A partition's last offset before its end may be a commit marker, which no batch reports.
  const behind = () =>
    [...ends].filter(([partition, end]) => end > 0n && writer.processedTo(partition) + 1n < end);
  const deadline = Date.now() + options.catchUpTimeoutMs;
  try {
    while (behind().length > 0) {
      if (Date.now() > deadline)
        throw new RebuildTimeoutError(
          'archive rebuild',
          options.catchUpTimeoutMs,
          Object.fromEntries(behind().map(([partition, end]) => [partition, String(end)])),
        );
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    await consumer.disconnect();
  }
  const open = writer.openRunKeys();
  const coveredTo = (partition: number) => open.get(partition)?.firstOffset ?? writer.processedTo(partition);
  const stale = (await listKeys(s3, location.bucket, location.prefix)).filter((key) => {
    const parsed = parseObjectKey(location.prefix, key);
    return (
      parsed !== undefined &&
      ends.has(parsed.partition) &&
      archive.writtenFrom.has(parsed.partition) &&
      parsed.firstOffset >= archive.writtenFrom.get(parsed.partition)! &&
      parsed.firstOffset < coveredTo(parsed.partition) &&
      !written.has(key)
    );
  });
  for (let i = 0; i < stale.length; i += DELETE_BATCH) {
    const keys = stale.slice(i, i + DELETE_BATCH);
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: location.bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    if ((result.Errors ?? []).length > 0)
      throw new Error(
        `archive rebuild: ${result.Errors!.length} stale object(s) could not be removed: ${result.Errors![0]!.Key}`,
      );
  }
  await deleteRebuildGroup(kafka, groupId);
  const leftToLive = offsetsJson(new Map([...open].map(([p, run]) => [p, run.firstOffset])));
  options.log('archive rebuilt', { groupId, written: written.size, removed: stale.length, leftToLive });
  return { groupId, written: written.size, removed: stale, leftToLive };
}
