/**
 * The read side beyond PostgreSQL in the Kafka mode, each projection switched on by
 * PAYFLOW_PROJECTIONS and fed from `payments.events` by a consumer group of its own:
 *
 * - `elasticsearch`: the transactions index (projections/elasticsearch/transactions.ts), group
 *   `<applicationId>.read-model.elasticsearch`, health `read-model:elasticsearch`;
 * - `archive`: the Parquet archive on S3 for Athena (projections/s3-parquet/archive.ts), group
 *   `<applicationId>.read-model.archive`, health `read-model:archive`. One object per run of a
 *   partition (an hour within a block of PAYFLOW_ARCHIVE_FILE_OFFSETS offsets), named by the
 *   partition and the offset of its first record; the open run of each partition is uploaded
 *   every PAYFLOW_ARCHIVE_FLUSH_INTERVAL_MS while it grows. The group commits the open run's
 *   first offset, so a restart writes that run again whole over the same object, with
 *   `archived-to=<offset>` as the commit's metadata: what the objects hold, which the
 *   reconciliation reads instead of the committed offset.
 *
 * As for the PostgreSQL read models (app/read-models.ts): committed records only, idempotent
 * writes, an unreachable target waited out with capped backoff (the lag grows, nothing is
 * skipped), a record the target refuses dead-lettered with a reason code, and the same metrics
 * labelled by read model.
 */
import { errors as elasticErrors, Client } from '@elastic/elasticsearch';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';

import type { Serde } from '../processors/runtime/api.js';
import type { ComponentHealth } from '../processors/runtime/supervision.js';
import { TombstoneError } from '../projections/accounts-runner.js';
import {
  BulkWriteError,
  ElasticsearchTransactionsProjection,
} from '../projections/elasticsearch/transactions.js';
import {
  isUnreachableTarget,
  runKafkaProjection,
  type ProjectionRunnerOptions,
  type RunningProjection,
} from '../projections/kafka-runner.js';
import { projectedEvent } from '../projections/payment-view.js';
import {
  archiveSink,
  ArchiveWriter,
  isUnreachableArchiveStore,
  S3ParquetArchive,
  type ArchivedEvent,
} from '../projections/s3-parquet/archive.js';
import type { PaymentEvent } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import type { ReadSideSettings } from './config.js';
import type { ReadModelMetrics } from './read-model-metrics.js';

export interface ReadSideOptions {
  readonly kafka: Kafka;
  readonly applicationId: string;
  readonly settings: ReadSideSettings;
  readonly paymentEvents: Serde<PaymentEvent>;
  readonly metricsRegistry: Registry;
  readonly health: ComponentHealth;
  /** The read models' metrics (app/read-models.ts), labelled by read model. */
  readonly metrics: ReadModelMetrics;
  /** Copies a record the projection can't apply to the dead-letter topic. */
  readonly deadLetter: (readModel: string) => ProjectionRunnerOptions<unknown>['deadLetter'];
  readonly onError?: (readModel: string, error: unknown, attempt: number, delayMs: number) => void;
}

export interface ReadSide {
  readonly search?: ElasticsearchTransactionsProjection;
  stop(): Promise<void>;
}

const errorType = (error: InstanceType<typeof elasticErrors.ResponseError>): string => {
  const body: unknown = error.body;
  const type = (body as { error?: { type?: unknown } } | null)?.error?.type;
  return typeof type === 'string' ? type : '';
};

/** HTTP statuses of a target that is there but can't take the write now: retried, never dead-lettered. */
const RETRIED_STATUS = (status: unknown) => typeof status === 'number' && (status === 429 || status >= 500);

/**
 * True when Elasticsearch could not take the write (unreachable, timed out, throttled, a 5xx, or
 * an index under a write block, as during a rebuild's hand-over): the batch is retried. Anything
 * else (a mapping refusal) is the record's and dead-letters it. The archive's store has its own
 * rule (isUnreachableArchiveStore).
 */
export function isUnreachableReadSide(error: unknown): boolean {
  if (isUnreachableTarget(error)) return true;
  if (error instanceof BulkWriteError) return error.transient;
  if (
    error instanceof elasticErrors.ConnectionError ||
    error instanceof elasticErrors.TimeoutError ||
    error instanceof elasticErrors.NoLivingConnectionsError
  )
    return true;
  if (error instanceof elasticErrors.ResponseError)
    return RETRIED_STATUS(error.statusCode) || errorType(error) === 'cluster_block_exception';
  const { name } = (error ?? {}) as { name?: unknown };
  return name === 'TimeoutError' || name === 'RequestTimeout' || name === 'AbortError';
}

async function decodeEvent(serde: Serde<PaymentEvent>, value: Buffer | null) {
  if (value === null) throw new TombstoneError(TOPIC.paymentsEvents);
  return projectedEvent(await serde.deserialize(value, TOPIC.paymentsEvents));
}

/** The bucket, created when it is missing (a local store; in AWS, create it with its policies first). */
async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw error;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/** A client of the archive's store: path-style for an S3-compatible endpoint, every request bounded. */
export function archiveS3Client(store: NonNullable<ReadSideSettings['archive']>['s3']): S3Client {
  return new S3Client({
    region: store.region,
    ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint, forcePathStyle: true }),
    ...(store.credentials === undefined ? {} : { credentials: { ...store.credentials } }),
    requestHandler: { requestTimeout: store.timeoutMs, connectionTimeout: store.timeoutMs },
    maxAttempts: 3,
  });
}

/** Starts the projections `settings` names; resolves once all run. Nothing to start: a no-op. */
export async function startReadSide(options: ReadSideOptions): Promise<ReadSide> {
  const { settings, kafka, applicationId } = options;
  const { metrics } = options;
  const running: RunningProjection[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  const common = (readModel: string) => ({
    kafka,
    groupId: `${applicationId}.read-model.${readModel}`,
    topic: TOPIC.paymentsEvents,
    isUnreachable: isUnreachableReadSide,
    supervision: {
      component: `read-model:${readModel}`,
      health: options.health,
      registry: options.metricsRegistry,
    },
    deadLetter: options.deadLetter(readModel),
    onSinkError: (error: unknown, attempt: number, delayMs: number) => {
      metrics.errors.inc({ read_model: readModel });
      options.onError?.(readModel, error, attempt, delayMs);
    },
    onBatchApplied: (partition: number, count: number, offsetLag: number) => {
      metrics.applied.inc({ read_model: readModel, topic: TOPIC.paymentsEvents }, count);
      metrics.lag.set({ read_model: readModel, topic: TOPIC.paymentsEvents, partition }, offsetLag);
    },
  });
  const stop = async () => {
    await Promise.all(running.map((projection) => projection.disconnect()));
    for (const close of closers) await close();
  };
  let search: ElasticsearchTransactionsProjection | undefined;
  try {
    if (settings.elasticsearch !== undefined) {
      const client = new Client({
        node: settings.elasticsearch.url,
        requestTimeout: settings.elasticsearch.timeoutMs,
        maxRetries: 2,
      });
      closers.push(() => client.close());
      search = new ElasticsearchTransactionsProjection(client, settings.elasticsearch.index);
      await search.migrate();
      running.push(
        await runKafkaProjection({
          ...common('elasticsearch'),
          decode: (message) => decodeEvent(options.paymentEvents, message.value),
          sink: search,
        }),
      );
    }
    if (settings.archive !== undefined) {
      const { s3: store, bucket, prefix, fileOffsets, flushIntervalMs } = settings.archive;
      const s3 = archiveS3Client(store);
      closers.push(() => s3.destroy());
      await ensureBucket(s3, bucket);
      const writer = new ArchiveWriter(new S3ParquetArchive(s3, { bucket, prefix, fileOffsets }), {
        flushIntervalMs,
        uploadOpenRuns: true,
      });
      running.push(
        await runKafkaProjection<ArchivedEvent & { readonly partition: number }>({
          ...common('archive'),
          isUnreachable: isUnreachableArchiveStore,
          decode: async (message, partition) => ({
            partition,
            offset: BigInt(message.offset),
            event: await decodeEvent(options.paymentEvents, message.value),
          }),
          ...archiveSink(writer),
        }),
      );
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { ...(search === undefined ? {} : { search }), stop };
}
