/**
 * Runs a projection as a Kafka consumer group: reads committed events only, decodes each batch,
 * hands it to the sink, and commits the offsets only after the sink has made the batch durable.
 * The sink is idempotent, so a crash between the two replays a batch harmlessly.
 *
 * No record blocks a projection. Only an unreachable target (`isUnreachable`: connection
 * refused or reset, a timeout, the database shutting down) is retried, with capped exponential
 * backoff for as long as it takes: the consumer keeps its heartbeat, the lag grows, nothing is
 * skipped. Any other failure is the data's: the batch is then applied record by record, and each
 * record the sink refuses goes to `deadLetter` with a reason code from a closed list
 * (`deadLetterCode`), and the projection moves on. A record that can't be decoded is
 * dead-lettered (`UNDECODABLE`) and skipped; a decoder that can't reach the schema registry
 * (RetriableError) fails the batch instead, and the supervisor's new consumer reads it again.
 *
 * The consumer is supervised (processors/runtime/supervision.ts): after any client error it is
 * replaced with capped backoff, and its health is reported as `supervision.component`.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Registry } from 'prom-client';

import { DEAD_LETTER_CODES, RetriableError, type DeadLetterCode } from '../processors/runtime/api.js';
import { assertReadCommittedFilter } from '../processors/runtime/kafka/read-committed.js';
import { reportConsumer, SUPERVISED_CONSUMER_RETRY } from '../processors/runtime/kafka/supervision.js';
import {
  backoffDelayMs,
  ComponentHealth,
  Supervisor,
  type BackoffPolicy,
  type SupervisorHooks,
} from '../processors/runtime/supervision.js';

export interface ProjectionSink<E> {
  apply(events: readonly E[]): Promise<void> | void;
}

export interface ProjectionRunnerOptions<E> {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  /** `partition` is the record's, for sinks that order by log position. */
  readonly decode: (message: KafkaMessage, partition: number) => Promise<E>;
  readonly sink: ProjectionSink<E>;
  readonly deadLetter: (message: KafkaMessage, partition: number, reason: Error) => Promise<void>;
  readonly retry?: BackoffPolicy;
  /** Called after each failed attempt, for logs and metrics. */
  readonly onSinkError?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly onBatchApplied?: (partition: number, count: number, offsetLag: number) => void;
  readonly fromBeginning?: boolean;
  /** True when the target could not be reached (retried); default `isUnreachableTarget`. Anything else is the record's. */
  readonly isUnreachable?: (error: unknown) => boolean;
  /**
   * For a sink that holds records past a batch (the archive's open files): the runner commits
   * what `after` answers instead of the batch's end, commits what `flush` returns every
   * `flushIntervalMs`, and tells `assigned` the partitions it holds after each rebalance.
   */
  readonly positions?: SinkPositions;
  /** Where the consumer's health is reported; default: a health of its own named by the group. */
  readonly supervision?: {
    readonly component: string;
    readonly health: ComponentHealth;
    readonly registry?: Registry;
  };
}

/** An offset to commit for a partition, with the sink's metadata. */
export interface CommitPosition {
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string;
}

export interface SinkPositions {
  /** After a batch of `partition` is applied, read up to `nextOffset`: what to commit. */
  after(partition: number, nextOffset: bigint): CommitPosition;
  readonly flushIntervalMs: number;
  /** Called every `flushIntervalMs` while the consumer runs; returns the positions that changed. */
  flush(): Promise<readonly CommitPosition[]>;
  /** Called once before the consumer stops; the positions it returns are committed (best effort). */
  drain(): Promise<readonly CommitPosition[]>;
  assigned(partitions: readonly number[]): void;
}

const asCommit = (topic: string) => (position: CommitPosition) => ({
  topic,
  partition: position.partition,
  offset: position.offset.toString(),
  metadata: position.metadata,
});

/**
 * A projection dead-letters a record with a code (header `payflow-dlq-error-code`) from the one
 * closed list every writer of the dead-letter topic shares (`DEAD_LETTER_CODES`, see
 * processors/runtime/api.ts): `UNDECODABLE`, `TOMBSTONE`, `UNBALANCED_POSTING`,
 * `MISSING_PREDECESSOR`, `SEQUENCE_GAP`, `REFUSED_BY_TARGET` or `UNAPPLICABLE`.
 */
export { DEAD_LETTER_CODES, type DeadLetterCode };

/** An error that names its dead-letter code (`deadLetterCode` reads it). */
export interface CodedError extends Error {
  readonly deadLetterCode: DeadLetterCode;
}

/** Wraps a decode failure so it is dead-lettered UNDECODABLE, unless it already names its code. */
export class UndecodableError extends Error implements CodedError {
  readonly deadLetterCode = 'UNDECODABLE';
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'UndecodableError';
  }
}

/** The dead-letter code of a record's failure. */
export function deadLetterCode(error: unknown): DeadLetterCode {
  const named = (error as Partial<CodedError> | null)?.deadLetterCode;
  if (named !== undefined && (DEAD_LETTER_CODES as readonly string[]).includes(named)) return named;
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (typeof sqlState === 'string' && /^2[23][0-9A-Z]{3}$/.test(sqlState)) return 'REFUSED_BY_TARGET';
  return 'UNAPPLICABLE';
}

/** Socket-level failures: the peer is not there or went away. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** node-postgres's own failures to reach or keep a server, which carry no SQLSTATE. */
const PG_CONNECTION_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|connection error and is not queryable|Client was closed|Query read timeout|error establishing an SSL connection|server does not support SSL connections/i;

/**
 * Whether an error says the target could not be reached or can't serve now, rather than refusing
 * the record. An error with a PostgreSQL SQLSTATE is judged by its code alone: the data classes
 * 22 (data exception) and 23 (integrity constraint violation) are the record's; every other class
 * (08 connection, 53 resources, 57 shutdown or statement timeout, 40 serialization, 25006
 * read-only after a failover, 58 / XX server faults, 28 / 3D access, 42 a table missing after the
 * database was re-created) is the server's and retried: the lag grows and shows it. Without a SQLSTATE: a network error
 * code, or node-postgres's connection messages. Looks through `cause` chains.
 */
export function isUnreachableTarget(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NETWORK_ERRORS.has(code)) return true;
      if (/^[0-9A-Z]{5}$/.test(code) && !/^E[A-Z]+$/.test(code)) return !/^(22|23)/.test(code);
    }
    if (typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Bound on a positioned sink's last uploads when the consumer stops. */
const DRAIN_TIMEOUT_MS = 10_000;

const DEFAULT_RETRY: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 10_000 };
/** Heartbeat at least this often while waiting out a failing sink, well within the session timeout. */
const HEARTBEAT_INTERVAL_MS = 3_000;

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
      if (error instanceof RetriableError) throw error;
      const coded = (error as Partial<CodedError> | null)?.deadLetterCode !== undefined;
      await options.deadLetter(
        message,
        payload.batch.partition,
        coded ? asError(error) : new UndecodableError(error),
      );
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
      if (!(options.isUnreachable ?? isUnreachableTarget)(error)) return { permanent: asError(error) };
      const delayMs = backoffDelayMs(policy, attempt);
      options.onSinkError?.(error, attempt, delayMs);
      await sleepWithHeartbeat(delayMs, payload);
    }
  }
  return 'stopped';
}

/** After a batch failed on its data: each record alone, dead-lettering the ones refused. */
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

async function handleBatch<E>(
  options: ProjectionRunnerOptions<E>,
  payload: EachBatchPayload,
  commit: Consumer['commitOffsets'],
): Promise<void> {
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
  if (options.positions === undefined) await payload.commitOffsetsIfNecessary();
  else {
    const position = options.positions.after(batch.partition, BigInt(batch.lastOffset()) + 1n);
    await commit([asCommit(batch.topic)(position)]);
  }
  await payload.heartbeat();
  options.onBatchApplied?.(batch.partition, decoded.length, Number(batch.offsetLag()));
}

export interface RunningProjection {
  /** Stops the consumer (a batch in flight finishes or is replayed later). */
  disconnect(): Promise<void>;
}

async function startConsumer<E>(
  options: ProjectionRunnerOptions<E>,
  hooks: SupervisorHooks,
): Promise<RunningProjection> {
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    readUncommitted: false,
    sessionTimeout: 30_000,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    maxBytesPerPartition: 1_048_576,
    retry: SUPERVISED_CONSUMER_RETRY,
  });
  reportConsumer(consumer, hooks);
  const { positions } = options;
  let flushing: ReturnType<typeof setInterval> | undefined;
  if (positions !== undefined) {
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      positions.assigned(event.payload.memberAssignment[options.topic] ?? []);
    });
    // A fetch of only control records or aborted records never reaches eachBatch, yet the
    // partition was read past them: without this, a log ending so would never count as archived.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      const { topic, partition, batchSize, lastOffset } = event.payload;
      if (topic !== options.topic || batchSize !== 0) return;
      const position = positions.after(partition, BigInt(lastOffset) + 1n);
      consumer
        .commitOffsets([asCommit(options.topic)(position)])
        .catch((error: unknown) => options.onSinkError?.(error, 1, 0));
    });
    let busy = false;
    flushing = setInterval(() => {
      if (busy) return;
      busy = true;
      positions
        .flush()
        .then((changed) =>
          changed.length === 0 ? undefined : consumer.commitOffsets(changed.map(asCommit(options.topic))),
        )
        .catch((error: unknown) => options.onSinkError?.(error, 1, positions.flushIntervalMs))
        .finally(() => {
          busy = false;
        });
    }, positions.flushIntervalMs);
    flushing.unref();
  }
  const stop = async () => {
    clearInterval(flushing);
    if (positions !== undefined) {
      // What the sink still holds is uploaded before the consumer leaves; a failure only means
      // the next owner writes it again from the committed offset.
      // Bounded: a store that hangs must not hold the stop past the supervisor's own bound.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = positions
        .drain()
        .then((changed) =>
          changed.length === 0 ? undefined : consumer.commitOffsets(changed.map(asCommit(options.topic))),
        );
      await Promise.race([
        drained,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the sink did not drain within ${DRAIN_TIMEOUT_MS} ms`)),
            DRAIN_TIMEOUT_MS,
          );
        }),
      ])
        .catch((error: unknown) => options.onSinkError?.(error, 1, 0))
        .finally(() => clearTimeout(timer));
    }
    await consumer.disconnect();
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      // A positioned sink commits where it can resume, which may be behind what it has read.
      autoCommit: positions === undefined,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => handleBatch(options, payload, (offsets) => consumer.commitOffsets(offsets)),
    });
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { disconnect: stop };
}

/** Starts the projection; resolves once the consumer is running. `disconnect()` stops it for good. */
export async function runKafkaProjection<E>(options: ProjectionRunnerOptions<E>): Promise<RunningProjection> {
  assertReadCommittedFilter();
  const supervision = options.supervision ?? { component: options.groupId, health: new ComponentHealth() };
  const supervisor = new Supervisor({
    component: supervision.component,
    health: supervision.health,
    start: (hooks) => startConsumer(options, hooks).then((running) => ({ stop: () => running.disconnect() })),
    ...(supervision.registry === undefined ? {} : { registry: supervision.registry }),
  });
  await supervisor.start();
  return { disconnect: () => supervisor.stop() };
}
