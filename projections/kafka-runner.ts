/**
 * Runs a projection as a Kafka consumer group: reads committed events only, decodes each batch,
 * hands it to the sink, and commits the offsets only after the sink has made the batch durable.
 * The sink is idempotent, so a crash between the two replays a batch harmlessly.
 *
 * A sink that fails (its database is down) is retried with capped exponential backoff for as
 * long as it takes: the consumer keeps its heartbeat, the lag grows, nothing is skipped. A record
 * that can't be decoded is handed to `deadLetter` with the reason and skipped. A failure that
 * `isPermanent` recognises (the data itself is refused, e.g. a constraint violation) would fail
 * every retry and stop the partition for good: the batch is then applied record by record, and
 * only the records the sink refuses go to `deadLetter`.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';

import { assertReadCommittedFilter } from '../processors/runtime/kafka/read-committed.js';

export interface ProjectionSink<E> {
  apply(events: readonly E[]): Promise<void> | void;
}

export interface RetryPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface ProjectionRunnerOptions<E> {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  /** `partition` is the record's, for sinks that order by log position. */
  readonly decode: (message: KafkaMessage, partition: number) => Promise<E>;
  readonly sink: ProjectionSink<E>;
  readonly deadLetter: (message: KafkaMessage, partition: number, reason: Error) => Promise<void>;
  readonly retry?: RetryPolicy;
  /** Called after each failed attempt, for logs and metrics. */
  readonly onSinkError?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly onBatchApplied?: (partition: number, count: number, offsetLag: number) => void;
  readonly fromBeginning?: boolean;
  /** True for an error no retry can fix (the record is refused); default: every error is transient. */
  readonly isPermanent?: (error: unknown) => boolean;
}

const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 10_000 };
/** Heartbeat at least this often while waiting out a failing sink, well within the session timeout. */
const HEARTBEAT_INTERVAL_MS = 3_000;

export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  const exponential = policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30);
  return Math.min(policy.maxDelayMs, exponential);
}

async function sleepWithHeartbeat(delayMs: number, payload: EachBatchPayload): Promise<void> {
  let remainingMs = delayMs;
  while (remainingMs > 0 && payload.isRunning() && !payload.isStale()) {
    const stepMs = Math.min(remainingMs, HEARTBEAT_INTERVAL_MS);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
    await payload.heartbeat();
    remainingMs -= stepMs;
  }
}

interface Decoded<E> {
  readonly event: E;
  readonly message: KafkaMessage;
}

async function decodeBatch<E>(
  options: ProjectionRunnerOptions<E>,
  payload: EachBatchPayload,
): Promise<Decoded<E>[]> {
  const decoded: Decoded<E>[] = [];
  for (const message of payload.batch.messages) {
    try {
      decoded.push({ event: await options.decode(message, payload.batch.partition), message });
    } catch (error) {
      await options.deadLetter(message, payload.batch.partition, asError(error));
    }
  }
  return decoded;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

type Applied = 'applied' | 'stopped' | { readonly permanent: Error };

/** Applies until it succeeds, fails permanently, or the consumer stops. */
async function applyWithRetry<E>(
  options: ProjectionRunnerOptions<E>,
  payload: EachBatchPayload,
  events: E[],
): Promise<Applied> {
  const policy = options.retry ?? DEFAULT_RETRY;
  for (let attempt = 1; payload.isRunning() && !payload.isStale(); attempt += 1) {
    try {
      await options.sink.apply(events);
      return 'applied';
    } catch (error) {
      if (options.isPermanent?.(error)) return { permanent: asError(error) };
      const delayMs = backoffDelayMs(policy, attempt);
      options.onSinkError?.(error, attempt, delayMs);
      await sleepWithHeartbeat(delayMs, payload);
    }
  }
  return 'stopped';
}

/** After a permanent failure of a batch: each record alone, dead-lettering the ones refused. */
async function applyOneByOne<E>(
  options: ProjectionRunnerOptions<E>,
  payload: EachBatchPayload,
  decoded: Decoded<E>[],
): Promise<boolean> {
  for (const { event, message } of decoded) {
    const outcome = await applyWithRetry(options, payload, [event]);
    if (outcome === 'stopped') return false;
    if (outcome !== 'applied') await options.deadLetter(message, payload.batch.partition, outcome.permanent);
  }
  return true;
}

async function handleBatch<E>(options: ProjectionRunnerOptions<E>, payload: EachBatchPayload): Promise<void> {
  const { batch } = payload;
  if (batch.isEmpty()) return;
  const decoded = await decodeBatch(options, payload);
  const outcome = await applyWithRetry(
    options,
    payload,
    decoded.map((d) => d.event),
  );
  if (outcome === 'stopped') return;
  if (outcome !== 'applied' && !(await applyOneByOne(options, payload, decoded))) return;
  payload.resolveOffset(batch.lastOffset());
  await payload.commitOffsetsIfNecessary();
  await payload.heartbeat();
  options.onBatchApplied?.(batch.partition, decoded.length, Number(batch.offsetLag()));
}

/** Starts the projection; resolves once the consumer is running. `disconnect()` stops it. */
export async function runKafkaProjection<E>(options: ProjectionRunnerOptions<E>): Promise<Consumer> {
  assertReadCommittedFilter();
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    readUncommitted: false,
    sessionTimeout: 30_000,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    maxBytesPerPartition: 1_048_576,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning ?? true });
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    eachBatch: (payload) => handleBatch(options, payload),
  });
  return consumer;
}
