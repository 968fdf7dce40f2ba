/**
 * What every rebuild of a projection from the log shares (postgres/rebuild.ts,
 * elasticsearch/rebuild.ts, s3-parquet/rebuild.ts): the topic's end offsets at a moment, a bounded wait until a
 * consumer group's committed offsets reach them, the rebuild's own consumer group (from the
 * beginning, skipping the records the projection refuses, as the live one dead-lettered them
 * already), and removing that group afterwards.
 */
import type { Kafka, KafkaMessage } from 'kafkajs';

import {
  runKafkaProjection,
  type ProjectionSink,
  type RunningProjection,
  type SinkPositions,
} from './kafka-runner.js';

/** Structured progress: a message and its fields. */
export type RebuildLog = (message: string, detail: Record<string, unknown>) => void;

export class RebuildTimeoutError extends Error {
  constructor(step: string, timeoutMs: number, behind: Readonly<Record<number, string>>) {
    super(
      `${step}: not caught up after ${timeoutMs} ms (partitions behind, with their end: ${JSON.stringify(behind)})`,
    );
    this.name = 'RebuildTimeoutError';
  }
}

const POLL_MS = 250;
const PROGRESS_EVERY_MS = 5_000;

/** The topic's end offset per partition now; -1 for a partition with no record. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, o.high === o.low ? -1n : BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Offsets per partition as the progress lines show them. */
export function offsetsJson(offsets: ReadonlyMap<number, bigint>): Record<number, string> {
  return Object.fromEntries([...offsets].map(([partition, offset]) => [partition, String(offset)]));
}

/** The partitions whose committed offset in `groupId` is before `ends`, with their end. */
async function behind(kafka: Kafka, groupId: string, topic: string, ends: Map<number, bigint>) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    const late: Record<number, string> = {};
    for (const [partition, end] of ends)
      if (end >= 0n && (at.get(partition) ?? -1n) < end) late[partition] = String(end);
    return { late, at };
  } finally {
    await admin.disconnect();
  }
}

export interface CatchUp {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly groupId: string;
  readonly log: RebuildLog;
  /** Ends a wait with the signal's reason (the command was interrupted): nothing is swapped. */
  readonly signal?: AbortSignal;
}

/** The catch-up of `groupId` with a rebuild's options. */
export function catchUpOf(
  options: Pick<CatchUp, 'kafka' | 'topic' | 'log' | 'signal'>,
  groupId: string,
): CatchUp {
  const { kafka, topic, log, signal } = options;
  return { kafka, topic, groupId, log, ...(signal === undefined ? {} : { signal }) };
}

/**
 * Waits until `groupId` has committed `ends` on every partition (bounded by `timeoutMs`, else
 * RebuildTimeoutError naming `step`; an aborted `signal` throws its reason); returns its
 * committed offsets then.
 */
export async function waitCaughtUp(
  catchUp: CatchUp,
  ends: Map<number, bigint>,
  step: string,
  timeoutMs: number,
): Promise<Map<number, bigint>> {
  const { kafka, topic, groupId, log, signal } = catchUp;
  const deadline = Date.now() + timeoutMs;
  let nextProgress = Date.now() + PROGRESS_EVERY_MS;
  for (;;) {
    signal?.throwIfAborted();
    const { late, at } = await behind(kafka, groupId, topic, ends);
    if (Object.keys(late).length === 0) return at;
    if (Date.now() >= deadline) throw new RebuildTimeoutError(step, timeoutMs, late);
    if (Date.now() >= nextProgress) {
      log('rebuild catching up', { step, groupId, partitionsBehind: Object.keys(late).length });
      nextProgress = Date.now() + PROGRESS_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export interface RebuildConsumerOptions<E> extends CatchUp {
  readonly decode: (message: KafkaMessage, partition: number) => Promise<E>;
  readonly sink: ProjectionSink<E>;
  /** Which sink failures are the target's (retried); default the runner's. */
  readonly isUnreachable?: (error: unknown) => boolean;
  /** For a sink that commits where it can resume (the archive's, kafka-runner.ts). */
  readonly positions?: SinkPositions;
}

export interface RebuildConsumer extends RunningProjection {
  /** The records left out so far because the projection refuses them. */
  skipped(): number;
}

/**
 * The rebuild's consumer group, from the beginning of the topic. A record the projection refuses
 * is logged and left out, not dead-lettered again: the live projection dead-lettered it already.
 */
export async function startRebuildConsumer<E>(options: RebuildConsumerOptions<E>): Promise<RebuildConsumer> {
  let skipped = 0;
  const running = await runKafkaProjection({
    kafka: options.kafka,
    groupId: options.groupId,
    topic: options.topic,
    fromBeginning: true,
    decode: options.decode,
    sink: options.sink,
    ...(options.isUnreachable === undefined ? {} : { isUnreachable: options.isUnreachable }),
    ...(options.positions === undefined ? {} : { positions: options.positions }),
    deadLetter: (_message, partition, reason) => {
      skipped += 1;
      options.log('rebuild skipped a record the projection refuses', { partition, reason: reason.message });
      return Promise.resolve();
    },
    onSinkError: (error, attempt, delayMs) =>
      options.log('rebuild write failed; retrying', {
        attempt,
        delayMs,
        error: error instanceof Error ? error.message : String(error),
      }),
  });
  return { disconnect: () => running.disconnect(), skipped: () => skipped };
}

/** Removes the rebuild's consumer group (best effort: an empty group expires anyway). */
export async function deleteRebuildGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin
    .connect()
    .then(() => admin.deleteGroups([groupId]))
    .catch(() => undefined)
    .finally(() => admin.disconnect().catch(() => undefined));
}
