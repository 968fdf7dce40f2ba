/**
 * Exactly-once processing on Kafka with kafkajs: one task per input partition, each with its own
 * transactional producer (Kafka Streams' pre-KIP-447 "EOS alpha" scheme — kafkajs has neither
 * KIP-447 group-metadata fencing nor cooperative rebalancing, so this is the safe design).
 *
 * Per partition task:
 * 1. Fence. The task's producer uses transactionalId `<applicationId>-<name>-<partition>`; its
 *    first transaction bumps the epoch, which aborts any open transaction of a previous owner
 *    (a crashed or paused process) and makes that owner's later commits fail.
 * 2. Restore. State lives in memory and is written through to compacted changelog topics in the
 *    same transactions as the outputs. To know where the changelog ends under read_committed
 *    (transaction markers take offsets but are never delivered), the task first commits a
 *    sentinel record with a fresh nonce to each of its changelog partitions, then reads from the
 *    beginning until it sees its own sentinel.
 * 3. Position. Only after fencing does it read the group's committed offset (admin.fetchOffsets):
 *    that closes the window in which a zombie could commit between our consumer's offset fetch
 *    and our fencing. Records below it are skipped. The consumer never runs ahead of it: offsets
 *    are resolved only after their transaction commits, and a failure rethrows so kafkajs
 *    fetches the batch again.
 * 4. Process. Records of a batch are processed in chunks of at most `maxRecordsPerTransaction`;
 *    each chunk's outputs, changelog writes and next input offset go in ONE transaction. State
 *    writes are staged and become the task's state only after the commit succeeds. A failure of
 *    the infrastructure (the broker, the registry: RetriableError) aborts, drops the task (its
 *    state is rebuilt from the changelog) and rethrows, so the consumer crashes and its
 *    supervisor starts a new runner that reads the uncommitted records again.
 * 5. Stop. A program error or broken invariant (TaskFailedError) aborts the transaction, drops
 *    the task and pauses its partition: nothing of the record is committed or dead-lettered,
 *    the other partitions go on, and the runner reports `failed` to its supervisor (readiness
 *    red, `task-failed` event) until it is replaced or the process restarts.
 *
 * A task may read several co-partitioned input topics (partition N of each); batches of one task
 * never run concurrently. Wall-clock punctuation runs in its own transaction between batches.
 * What happens to a record is the PartitionTask's business (see ../task.ts); this file is Kafka.
 */
import { randomUUID } from 'node:crypto';

import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Message,
  type Producer,
} from 'kafkajs';

import type { ChangelogWrite } from '../stores.js';
import type { SupervisorHooks } from '../supervision.js';
import { TaskFailedError, type RawRecord, type TaskResult } from '../task.js';
import { CoPartitionAssigner } from './copartition-assigner.js';
import { assertReadCommittedFilter } from './read-committed.js';
import { reportConsumer, SUPERVISED_CONSUMER_RETRY } from './supervision.js';
import { changelogTopic } from '../../../topics/names.js';
import { keyPartitioner } from '../../../topics/partitioner.js';

/** The logic of one partition, as the Kafka runner drives it (ProcessorTask implements it). */
export interface PartitionTask {
  restore(store: string, key: string, value: Buffer | null): Promise<void>;
  process(records: readonly RawRecord[]): Promise<TaskResult>;
  punctuateWallClock(nowMs: number): Promise<TaskResult>;
  commit(): void;
  abort(): void;
  /** Entries over the task's stores (for metrics). */
  readonly entries: number;
}

export interface EosRunnerOptions {
  readonly kafka: Kafka;
  readonly applicationId: string;
  readonly name: string;
  readonly inputTopics: readonly string[];
  readonly stores: readonly string[];
  readonly createTask: (partition: number) => PartitionTask;
  /** Bound on the records of one transaction. */
  readonly maxRecordsPerTransaction?: number;
  /** Bound on restoring one assignment's stores. */
  readonly restoreTimeoutMs?: number;
  readonly sessionTimeoutMs?: number;
  /** Broker-side bound on an open transaction of a dead owner that nobody fences. */
  readonly transactionTimeoutMs?: number;
  /** How often wall-clock punctuators are checked; 0 disables wall-clock punctuation. */
  readonly wallClockPunctuationMs?: number;
  readonly onEvent?: (event: RunnerEvent) => void;
}

export type RunnerEvent =
  | {
      readonly type: 'task-ready';
      readonly partition: number;
      readonly restoredEntries: number;
      readonly restoreMs: number;
    }
  | { readonly type: 'task-dropped'; readonly partition: number; readonly reason: string }
  | {
      readonly type: 'committed';
      readonly partition: number;
      readonly records: number;
      readonly commitMs: number;
      readonly entries: number;
    }
  | { readonly type: 'lag'; readonly topic: string; readonly partition: number; readonly lag: number }
  | { readonly type: 'punctuation-failed'; readonly partition: number; readonly reason: string }
  /** A program error stopped the partition: nothing committed, nothing dead-lettered. */
  | { readonly type: 'task-failed'; readonly partition: number; readonly reason: string };

/** Reserved changelog key of restore sentinels; never a store key. */
export const RESTORE_SENTINEL_KEY = '\u0000payflow-restore-sentinel';

/** A partition assigned to this runner: its transactional producer, its offsets and its task. */
interface AssignedPartition {
  readonly partition: number;
  readonly producer: Producer;
  readonly logic: PartitionTask;
  readonly nextOffsets: Map<string, bigint>;
  /** Serializes the task's batches and punctuations. */
  lock: Promise<void>;
}

/**
 * A transaction that starts right after the previous one committed is refused with
 * CONCURRENT_TRANSACTIONS until the coordinator has written the commit markers, a few
 * milliseconds. kafkajs retries the whole send after its default 300 ms, which added ~300 ms to
 * every hop of a busy partition; Java's producer retries this case after 20 ms. The first retry
 * waits 20 ms here, and the wait still doubles up to 30 s for a broker that is really away. The
 * count stays unbounded, as kafkajs requires for an idempotent producer: the coordinator aborts a
 * transaction older than the transaction timeout, the next send is then fenced, fails for good
 * and drops the task.
 */
const TRANSACTIONAL_RETRY = {
  initialRetryTime: 20,
  maxRetryTime: 30_000,
  retries: Number.MAX_SAFE_INTEGER,
} as const;

function headersOf(message: KafkaMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return headers;
}

export class EosRunner {
  readonly #options: Required<Omit<EosRunnerOptions, 'onEvent'>> & Pick<EosRunnerOptions, 'onEvent'>;
  readonly #tasks = new Map<number, AssignedPartition>();
  readonly #creating = new Map<number, Promise<AssignedPartition>>();
  readonly #groupId: string;
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;
  #punctuation: NodeJS.Timeout | undefined;
  /** Set by stop(): a task still being created then is closed instead of kept. */
  #stopped = false;
  /** Partitions stopped by a program error, with why; they stay paused for this runner's life. */
  readonly #failed = new Map<number, string>();
  #hooks: SupervisorHooks | undefined;

  constructor(options: EosRunnerOptions) {
    assertReadCommittedFilter();
    this.#options = {
      maxRecordsPerTransaction: 500,
      restoreTimeoutMs: 60_000,
      sessionTimeoutMs: 10_000,
      transactionTimeoutMs: 30_000,
      wallClockPunctuationMs: 0,
      ...options,
    };
    this.#groupId = `${options.applicationId}-${options.name}`;
  }

  get groupId(): string {
    return this.#groupId;
  }

  /** Partitions this instance currently owns with their state restored. */
  get readyPartitions(): number[] {
    return [...this.#tasks.keys()].sort((a, b) => a - b);
  }

  /** Partitions stopped by a program error, with the reason. */
  get failedPartitions(): ReadonlyMap<number, string> {
    return this.#failed;
  }

  /**
   * Joins the group and starts consuming. With `hooks`, the runner reports to its supervisor:
   * up once it has joined the group, crashed when its consumer stops on an error (kafkajs is told
   * not to restart it; the supervisor starts a new runner). A start that fails cleans up after itself.
   */
  async start(hooks?: SupervisorHooks): Promise<void> {
    try {
      await this.#start(hooks);
    } catch (error) {
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  async #start(hooks: SupervisorHooks | undefined): Promise<void> {
    const { kafka, inputTopics, sessionTimeoutMs } = this.#options;
    this.#hooks = hooks;
    this.#admin = kafka.admin();
    await this.#admin.connect();
    const consumer = kafka.consumer({
      groupId: this.#groupId,
      readUncommitted: false,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: sessionTimeoutMs * 2,
      heartbeatInterval: Math.floor(sessionTimeoutMs / 5),
      partitionAssigners: [CoPartitionAssigner],
      retry: SUPERVISED_CONSUMER_RETRY,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const owned = new Set(inputTopics.flatMap((topic) => event.payload.memberAssignment[topic] ?? []));
      for (const partition of [...this.#tasks.keys()]) {
        if (!owned.has(partition)) void this.#dropTask(partition, 'partition revoked');
      }
    });
    if (hooks !== undefined) reportConsumer(consumer, hooks);
    await consumer.connect();
    await consumer.subscribe({ topics: [...inputTopics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    if (this.#options.wallClockPunctuationMs > 0) {
      this.#punctuation = setInterval(() => void this.#punctuateAll(), this.#options.wallClockPunctuationMs);
    }
  }

  /**
   * Finishes the batch in flight (waiting at most the transaction timeout for it: after a crash
   * a batch may be stuck on an unreachable broker), then leaves the group and closes every
   * producer. A transaction left open is aborted by the next owner's fencing.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#punctuation);
    // kafkajs's disconnect waits for the batch in flight, so both are bounded together; past the
    // bound, closing the producers makes a send stuck on the broker fail and the batch return.
    const drained = (async () => {
      await this.#consumer?.disconnect().catch(() => undefined);
      await Promise.all([...this.#tasks.values()].map((task) => task.lock));
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise((resolve) => (timer = setTimeout(resolve, this.#options.transactionTimeoutMs))),
    ]);
    clearTimeout(timer);
    await Promise.all([...this.#tasks.keys()].map((partition) => this.#dropTask(partition, 'shutdown')));
    await this.#admin?.disconnect().catch(() => undefined);
  }

  /**
   * Restores a partition's stores exactly as a new owner would (fence, sentinel, read) without
   * consuming input, and returns the restored task. For operators and tests checking what a
   * restart would see.
   */
  async restorePartition(partition: number): Promise<PartitionTask> {
    const ownAdmin = this.#admin === undefined;
    if (ownAdmin) {
      this.#admin = this.#options.kafka.admin();
      await this.#admin.connect();
    }
    try {
      const task = await this.#createTask(partition);
      await this.#dropTask(partition, 'inspection done');
      return task.logic;
    } finally {
      if (ownAdmin) {
        await this.#admin?.disconnect();
        this.#admin = undefined;
      }
    }
  }

  async #dropTask(partition: number, reason: string): Promise<void> {
    const task = this.#tasks.get(partition);
    if (task === undefined) return;
    this.#tasks.delete(partition);
    this.#options.onEvent?.({ type: 'task-dropped', partition, reason });
    await task.producer.disconnect().catch(() => undefined);
  }

  #taskFor(partition: number): Promise<AssignedPartition> {
    const existing = this.#tasks.get(partition);
    if (existing !== undefined) return Promise.resolve(existing);
    let creating = this.#creating.get(partition);
    if (creating === undefined) {
      creating = this.#createTask(partition).finally(() => this.#creating.delete(partition));
      this.#creating.set(partition, creating);
    }
    return creating;
  }

  /** Runs `work` after the task's previous batch or punctuation has finished. */
  #locked<T>(task: AssignedPartition, work: () => Promise<T>): Promise<T> {
    const run = task.lock.then(work);
    task.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.isEmpty()) return;
    if (this.#failed.has(batch.partition)) {
      this.#pause(batch.partition);
      return;
    }
    this.#options.onEvent?.({
      type: 'lag',
      topic: batch.topic,
      partition: batch.partition,
      lag: Number(batch.offsetLagLow()),
    });
    const task = await this.#taskFor(batch.partition);
    await this.#locked(task, async () => {
      // A batch of another input that waited for the one whose program error stopped the partition.
      if (this.#failed.has(batch.partition)) return;
      if (this.#tasks.get(batch.partition) !== task)
        throw new Error(`partition ${batch.partition} was dropped; the batch is redelivered`);
      // Records below the committed offset were handled by a previous owner (we fenced it, then
      // read the offset); a batch may start above it: transaction markers take offsets too.
      const nextOffset = task.nextOffsets.get(batch.topic) ?? 0n;
      const pending = batch.messages.filter((m) => BigInt(m.offset) >= nextOffset);
      for (let start = 0; start < pending.length; start += this.#options.maxRecordsPerTransaction) {
        if (!payload.isRunning() || payload.isStale()) return;
        const chunk = pending.slice(start, start + this.#options.maxRecordsPerTransaction);
        if (!(await this.#commitChunk(task, batch.topic, chunk))) return;
        payload.resolveOffset(chunk.at(-1)!.offset);
        await payload.heartbeat();
      }
    });
  }

  /** False when a program error stopped the partition (nothing was committed). */
  async #commitChunk(
    task: AssignedPartition,
    topic: string,
    chunk: readonly KafkaMessage[],
  ): Promise<boolean> {
    const records: RawRecord[] = chunk.map((message) => ({
      topic,
      partition: task.partition,
      offset: Number(message.offset),
      key: message.key?.toString() ?? '',
      value: message.value,
      headers: headersOf(message),
      timestampMs: Number(message.timestamp),
    }));
    const nextOffset = BigInt(chunk.at(-1)!.offset) + 1n;
    const committed = await this.#transact(task, chunk.length, () => task.logic.process(records), {
      topic,
      offset: nextOffset,
    });
    if (committed) task.nextOffsets.set(topic, nextOffset);
    return committed;
  }

  /** Stops a partition for a program error: its task goes, its input stays paused and uncommitted. */
  async #failPartition(task: AssignedPartition, error: TaskFailedError): Promise<void> {
    this.#failed.set(task.partition, error.message);
    this.#pause(task.partition);
    await this.#dropTask(task.partition, `program error: ${error.message}`);
    this.#options.onEvent?.({ type: 'task-failed', partition: task.partition, reason: error.message });
    this.#hooks?.failed(error);
  }

  #pause(partition: number): void {
    this.#consumer?.pause(this.#options.inputTopics.map((topic) => ({ topic, partitions: [partition] })));
  }

  async #punctuateAll(): Promise<void> {
    for (const task of [...this.#tasks.values()]) {
      try {
        await this.#locked(task, () =>
          this.#transact(task, 0, () => task.logic.punctuateWallClock(Date.now()), undefined),
        );
      } catch (error) {
        this.#options.onEvent?.({
          type: 'punctuation-failed',
          partition: task.partition,
          reason: String(error),
        });
      }
    }
  }

  /**
   * One Kafka transaction: the task's outputs, changelog writes and (optionally) the input offset.
   * False when a program error stopped the partition instead (nothing sent, nothing committed).
   */
  async #transact(
    task: AssignedPartition,
    records: number,
    work: () => Promise<TaskResult>,
    offset: { topic: string; offset: bigint } | undefined,
  ): Promise<boolean> {
    let result: TaskResult;
    try {
      result = await work();
    } catch (error) {
      task.logic.abort();
      if (error instanceof TaskFailedError) {
        await this.#failPartition(task, error);
        return false;
      }
      await this.#dropTask(task.partition, `processing failed: ${String(error)}`);
      throw error;
    }
    if (offset === undefined && result.produced.length === 0 && result.changelog.length === 0) return true;
    const startedMs = Date.now();
    const transaction = await task.producer.transaction();
    try {
      const topicMessages = this.#topicMessages(task.partition, result);
      if (topicMessages.length > 0) await transaction.sendBatch({ topicMessages, acks: -1 });
      if (offset !== undefined) {
        await transaction.sendOffsets({
          consumerGroupId: this.#groupId,
          topics: [
            {
              topic: offset.topic,
              partitions: [{ partition: task.partition, offset: offset.offset.toString() }],
            },
          ],
        });
      }
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      task.logic.abort();
      await this.#dropTask(task.partition, `transaction failed: ${String(error)}`);
      throw error;
    }
    task.logic.commit();
    this.#options.onEvent?.({
      type: 'committed',
      partition: task.partition,
      records,
      commitMs: Date.now() - startedMs,
      entries: task.logic.entries,
    });
    return true;
  }

  #topicMessages(partition: number, result: TaskResult): { topic: string; messages: Message[] }[] {
    const byTopic = new Map<string, Message[]>();
    const add = (topic: string, message: Message) => {
      const list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, [message]);
      else list.push(message);
    };
    for (const record of result.produced) {
      add(record.topic, {
        key: record.key,
        value: record.value,
        headers: { ...record.headers },
        timestamp: String(record.timestampMs),
        ...(record.partition === undefined ? {} : { partition: record.partition }),
      });
    }
    for (const write of result.changelog as readonly ChangelogWrite[]) {
      const topic = changelogTopic(this.#options.applicationId, this.#options.name, write.store);
      add(topic, { key: write.key, value: write.value, partition });
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  async #createTask(partition: number): Promise<AssignedPartition> {
    const { kafka, applicationId, name, transactionTimeoutMs } = this.#options;
    const producer = kafka.producer({
      transactionalId: `${applicationId}-${name}-${partition}`,
      // Outputs carry their partition (murmur2, as Java's clients); the default is the same one.
      createPartitioner: keyPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: transactionTimeoutMs,
      allowAutoTopicCreation: false,
      retry: TRANSACTIONAL_RETRY,
    });
    await producer.connect();
    const startedMs = Date.now();
    const nonce = randomUUID();
    // The first transaction fences any previous owner; its sentinel marks the changelog's end.
    const fence = await producer.transaction();
    try {
      const topicMessages = this.#options.stores.map((store) => ({
        topic: changelogTopic(applicationId, name, store),
        messages: [{ key: RESTORE_SENTINEL_KEY, value: nonce, partition }],
      }));
      if (topicMessages.length > 0) await fence.sendBatch({ topicMessages, acks: -1 });
      await fence.commit();
    } catch (error) {
      await fence.abort().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    let task: AssignedPartition;
    try {
      const logic = this.#options.createTask(partition);
      await this.#restore(partition, nonce, logic);
      task = {
        partition,
        producer,
        logic,
        nextOffsets: await this.#committedOffsets(partition),
        lock: Promise.resolve(),
      };
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    this.#tasks.set(partition, task);
    if (this.#stopped) {
      await this.#dropTask(partition, 'shutdown');
      throw new Error(`the runner of ${name} stopped while partition ${partition} was restored`);
    }
    this.#options.onEvent?.({
      type: 'task-ready',
      partition,
      restoredEntries: task.logic.entries,
      restoreMs: Date.now() - startedMs,
    });
    return task;
  }

  async #committedOffsets(partition: number): Promise<Map<string, bigint>> {
    const topics = await this.#admin!.fetchOffsets({
      groupId: this.#groupId,
      topics: [...this.#options.inputTopics],
    });
    const offsets = new Map<string, bigint>();
    for (const { topic, partitions } of topics) {
      const offset = partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      offsets.set(topic, offset === '-1' ? 0n : BigInt(offset));
    }
    return offsets;
  }

  /** Reads the partition of every changelog until this task's own sentinel shows up in each. */
  async #restore(partition: number, nonce: string, logic: PartitionTask): Promise<void> {
    const { kafka, applicationId, name, stores: storeNames, restoreTimeoutMs } = this.#options;
    if (storeNames.length === 0) return;
    const storeOfTopic = new Map(
      storeNames.map((store) => [changelogTopic(applicationId, name, store), store]),
    );
    const waiting = new Set(storeOfTopic.keys());
    const restoreGroup = `${this.#groupId}-restore-${partition}-${nonce}`;
    const consumer = kafka.consumer({ groupId: restoreGroup, readUncommitted: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [...waiting], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`restore of partition ${partition} exceeded ${restoreTimeoutMs} ms`)),
          restoreTimeoutMs,
        );
        void consumer.run({
          eachBatch: async ({ batch }) => {
            if (batch.partition !== partition) return;
            const store = storeOfTopic.get(batch.topic)!;
            for (const message of batch.messages) {
              const key = message.key?.toString() ?? '';
              if (key === RESTORE_SENTINEL_KEY) {
                if (message.value?.toString() === nonce) waiting.delete(batch.topic);
              } else {
                await logic.restore(store, key, message.value);
              }
            }
            if (waiting.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
    } finally {
      await consumer.disconnect();
      await this.#admin!.deleteGroups([restoreGroup]).catch(() => undefined);
    }
  }
}
