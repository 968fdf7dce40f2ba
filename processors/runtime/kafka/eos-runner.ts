/**
 * Exactly-once processing on Kafka with kafkajs: one runner per sub-topology (consumer group
 * `<applicationId>-<name>`), one task per input partition, each with its own transactional
 * producer (Kafka Streams' pre-KIP-447 "EOS alpha" scheme — kafkajs has neither KIP-447
 * group-metadata fencing nor cooperative rebalancing, so this is the safe design).
 *
 * Per partition task:
 * 1. Fence. The task's producer uses transactionalId `<applicationId>-<name>-<partition>`; its
 *    first transaction bumps the epoch, which aborts any open transaction of a previous owner
 *    (a crashed or paused process) and makes that owner's later commits fail.
 * 2. Restore. State is written through to compacted changelog topics in the same transactions
 *    as the outputs. To know where the changelog ends under read_committed (transaction markers
 *    take offsets but are never delivered), the task first commits a sentinel record with a fresh
 *    nonce to each of its changelog partitions, then reads its own partitions — from the disk
 *    stores' checkpoint, else from the beginning — until it sees its own sentinel.
 * 3. Position. Only after fencing does it read the group's committed offset (admin.fetchOffsets):
 *    that closes the window in which a zombie could commit between our consumer's offset fetch
 *    and our fencing. Records below it are skipped, and so are records the task has processed
 *    but not yet committed (kafkajs fetches from the committed offset again after a rebalance).
 * 4. Process, then commit per interval (Kafka Streams' `commit.interval.ms`). Records are
 *    processed as they arrive; their outputs are held and their store writes staged. One
 *    transaction carries everything since the last commit — outputs, changelog writes and the
 *    next input offsets — once `commitIntervalMs` has passed since its first record, or once it
 *    holds `maxRecordsPerTransaction` records, whichever comes first. State writes become the
 *    task's state only after the commit succeeds. A failure of the infrastructure (the broker,
 *    the registry: RetriableError) aborts, drops the task (its state is rebuilt from the
 *    changelog) and crashes the consumer, so its supervisor starts a new runner that reads every
 *    uncommitted record again from the committed offsets.
 * 5. Stop. A program error or broken invariant (TaskFailedError) aborts the transaction, drops
 *    the task and pauses its partition: nothing since the last commit is committed or
 *    dead-lettered, the other partitions go on, and the runner reports `failed` to its supervisor
 *    (readiness red, `task-failed` event) until it is replaced or the process restarts.
 *
 * A task reads every source topic of its sub-topology (partition N of each); its batches,
 * punctuations and commits never run concurrently. What happens to a record is the
 * SubTopologyTask's business (see ../task.ts); this file is Kafka.
 */
import { randomUUID } from 'node:crypto';

import {
  AssignerProtocol,
  type Admin,
  type PartitionAssigner,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Message,
  type Producer,
} from 'kafkajs';

import type { SupervisorHooks } from '../supervision.js';
import { TaskFailedError, type PartitionTask, type ProducedRecord, type RawRecord } from '../task.js';
import { CoPartitionAssigner } from './copartition-assigner.js';
import { assertReadCommittedFilter } from './read-committed.js';
import { reportConsumer, SUPERVISED_CONSUMER_RETRY } from './supervision.js';
import { keyPartitioner } from '../../../topics/partitioner.js';

export type { PartitionTask } from '../task.js';

/** Kafka Streams' default `commit.interval.ms` under exactly-once. */
export const DEFAULT_COMMIT_INTERVAL_MS = 100;
export const DEFAULT_MAX_RECORDS_PER_TRANSACTION = 1_000;
/** Half the changelogs' default `delete.retention.ms`. */
export const DEFAULT_MAX_CHECKPOINT_AGE_MS = 12 * 3_600_000;

export interface EosRunnerOptions {
  readonly kafka: Kafka;
  readonly applicationId: string;
  /** The sub-topology: names the consumer group and the transactional ids. */
  readonly name: string;
  readonly inputTopics: readonly string[];
  /** The changelog topics of the task's stores. */
  readonly changelogTopics: readonly string[];
  readonly createTask: (partition: number) => PartitionTask;
  /** A transaction commits once this long has passed since its first record. */
  readonly commitIntervalMs?: number;
  /** ... or once it holds this many input records, whichever comes first. */
  readonly maxRecordsPerTransaction?: number;
  /** Bound on restoring one assignment's stores. */
  readonly restoreTimeoutMs?: number;
  /**
   * A checkpoint older than this is not trusted (the stores are wiped and restored whole): the
   * changelogs' tombstones are kept only `delete.retention.ms` (24 h by default), so a tail read
   * after a longer stop could miss deletions.
   */
  readonly maxCheckpointAgeMs?: number;
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
      /** Changelog records read (every one from this task's own partitions). */
      readonly restoredRecords: number;
      /** `checkpoint`: only the changelog tails after the stores' checkpoint were read. */
      readonly restoredFrom: 'checkpoint' | 'beginning';
      readonly diskBytes: number;
    }
  | { readonly type: 'task-dropped'; readonly partition: number; readonly reason: string }
  | {
      readonly type: 'committed';
      readonly partition: number;
      readonly records: number;
      readonly commitMs: number;
      readonly entries: number;
      readonly diskBytes: number;
    }
  | { readonly type: 'lag'; readonly topic: string; readonly partition: number; readonly lag: number }
  | { readonly type: 'punctuation-failed'; readonly partition: number; readonly reason: string }
  /** A program error stopped the partition: nothing committed, nothing dead-lettered. */
  | { readonly type: 'task-failed'; readonly partition: number; readonly reason: string };

/** Reserved changelog key of restore sentinels; never a store key. */
export const RESTORE_SENTINEL_KEY = '\u0000payflow-restore-sentinel';

/** What a task has processed since its last commit: the next transaction's content. */
interface Uncommitted {
  readonly produced: ProducedRecord[];
  /** Input topic -> the offset after its last processed record. */
  readonly offsets: Map<string, bigint>;
  records: number;
  readonly sinceMs: number;
}

/** A partition assigned to this runner: its transactional producer, its offsets and its task. */
interface AssignedPartition {
  readonly partition: number;
  readonly producer: Producer;
  readonly logic: PartitionTask;
  /** Input topic -> the next offset to process (committed, or processed and held in `uncommitted`). */
  readonly nextOffsets: Map<string, bigint>;
  uncommitted: Uncommitted | undefined;
  commitTimer: NodeJS.Timeout | undefined;
  /** Serializes the task's batches, punctuations and commits. */
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
  /** Set when a commit outside a batch failed: the consumer is replaced (once). */
  #crashed = false;
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
      commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS,
      maxRecordsPerTransaction: DEFAULT_MAX_RECORDS_PER_TRANSACTION,
      restoreTimeoutMs: 60_000,
      maxCheckpointAgeMs: DEFAULT_MAX_CHECKPOINT_AGE_MS,
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
   * Commits what the tasks have processed (after the batch in flight), then leaves the group and
   * closes every producer, all within the transaction timeout: after a crash a commit may be
   * stuck on an unreachable broker. A transaction left open is aborted by the next owner's fencing.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#punctuation);
    // Batches that arrive from now on are not processed; kafkajs's disconnect waits for the one
    // in flight. Past the bound, closing the producers makes a stuck send fail and return.
    const drained = (async () => {
      await Promise.all(
        [...this.#tasks.values()].map((task) =>
          this.#locked(task, () => this.#commit(task)).catch(() => undefined),
        ),
      );
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
      // The inspection fences the partition's live task, if this runner has one: that task is
      // dropped first (its producer closed), and the partition's next record creates it again.
      await this.#dropTask(partition, 'inspected');
      const task = await this.#createTask(partition);
      await this.#dropTask(partition, 'inspection done', false);
      return task.logic;
    } finally {
      if (ownAdmin) {
        await this.#admin?.disconnect();
        this.#admin = undefined;
      }
    }
  }

  async #dropTask(partition: number, reason: string, close = true): Promise<void> {
    const task = this.#tasks.get(partition);
    if (task === undefined) return;
    this.#tasks.delete(partition);
    clearTimeout(task.commitTimer);
    if (close) task.logic.close();
    // What it processed since its last commit is gone with it: the next owner reads it again.
    task.uncommitted = undefined;
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
    if (batch.isEmpty() || this.#stopped) return;
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
      if (this.#failed.has(batch.partition) || this.#stopped) return;
      if (this.#tasks.get(batch.partition) !== task)
        throw new Error(`partition ${batch.partition} was dropped; the batch is redelivered`);
      // Records below the committed offset were handled by a previous owner (we fenced it, then
      // read the offset), records below nextOffset by this task; a batch may start above it:
      // transaction markers take offsets too.
      const nextOffset = task.nextOffsets.get(batch.topic) ?? 0n;
      const pending = batch.messages.filter((m) => BigInt(m.offset) >= nextOffset);
      let start = 0;
      while (start < pending.length) {
        if (!payload.isRunning() || payload.isStale()) break;
        const room = this.#options.maxRecordsPerTransaction - (task.uncommitted?.records ?? 0);
        const chunk = pending.slice(start, start + Math.max(1, room));
        start += chunk.length;
        if (!(await this.#processChunk(task, batch.topic, chunk))) return;
        // The consumer's own position moves on; the group's offset moves with the transaction.
        payload.resolveOffset(chunk.at(-1)!.offset);
        if (this.#due(task)) await this.#commit(task);
        await payload.heartbeat();
      }
      this.#scheduleCommit(task);
    });
  }

  /** False when a program error stopped the partition (nothing since the last commit is committed). */
  async #processChunk(
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
    const produced = await this.#run(task, () => task.logic.process(records));
    if (produced === undefined) return false;
    const nextOffset = BigInt(chunk.at(-1)!.offset) + 1n;
    const uncommitted = this.#uncommitted(task);
    uncommitted.produced.push(...produced);
    uncommitted.offsets.set(topic, nextOffset);
    uncommitted.records += chunk.length;
    task.nextOffsets.set(topic, nextOffset);
    return true;
  }

  /**
   * Runs processing work of the task. A program error stops the partition (undefined: nothing
   * since the last commit will be committed); any other failure drops the task and is rethrown.
   */
  async #run(
    task: AssignedPartition,
    work: () => Promise<ProducedRecord[]>,
  ): Promise<ProducedRecord[] | undefined> {
    try {
      return await work();
    } catch (error) {
      task.uncommitted = undefined;
      task.logic.abort();
      if (error instanceof TaskFailedError) {
        await this.#failPartition(task, error);
        return undefined;
      }
      await this.#dropTask(task.partition, `processing failed: ${String(error)}`);
      throw error;
    }
  }

  #uncommitted(task: AssignedPartition): Uncommitted {
    task.uncommitted ??= { produced: [], offsets: new Map(), records: 0, sinceMs: Date.now() };
    return task.uncommitted;
  }

  #due(task: AssignedPartition): boolean {
    const uncommitted = task.uncommitted;
    return (
      uncommitted !== undefined &&
      (uncommitted.records >= this.#options.maxRecordsPerTransaction ||
        Date.now() - uncommitted.sinceMs >= this.#options.commitIntervalMs)
    );
  }

  /** Commits the task's uncommitted work when its interval is up (a commit outside a batch). */
  #scheduleCommit(task: AssignedPartition): void {
    if (task.uncommitted === undefined || task.commitTimer !== undefined) return;
    const delay = Math.max(0, task.uncommitted.sinceMs + this.#options.commitIntervalMs - Date.now());
    task.commitTimer = setTimeout(() => {
      task.commitTimer = undefined;
      this.#locked(task, () => this.#commit(task)).catch((error: unknown) => this.#crash(error));
    }, delay);
  }

  /**
   * A commit outside a batch failed: the task is dropped, and the consumer, whose position is
   * past the uncommitted records, is replaced by the supervisor so they are read again.
   */
  #crash(error: unknown): void {
    if (this.#stopped || this.#crashed) return;
    this.#crashed = true;
    if (this.#hooks !== undefined) this.#hooks.crashed(error);
    else void this.#consumer?.disconnect().catch(() => undefined);
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
        await this.#locked(task, async () => {
          if (this.#tasks.get(task.partition) !== task || this.#stopped) return;
          const produced = await this.#run(task, () => task.logic.punctuateWallClock(Date.now()));
          if (produced === undefined) return;
          if (produced.length > 0 || task.uncommitted !== undefined)
            this.#uncommitted(task).produced.push(...produced);
          if (this.#due(task)) await this.#commit(task);
          this.#scheduleCommit(task);
        });
      } catch (error) {
        this.#options.onEvent?.({
          type: 'punctuation-failed',
          partition: task.partition,
          reason: String(error),
        });
        this.#crash(error);
      }
    }
  }

  /**
   * One Kafka transaction: everything the task processed since its last commit — outputs,
   * changelog writes, the next input offsets. On failure the task is dropped and the error
   * rethrown (the consumer must read the uncommitted records again).
   */
  async #commit(task: AssignedPartition): Promise<void> {
    clearTimeout(task.commitTimer);
    task.commitTimer = undefined;
    const uncommitted = task.uncommitted;
    if (uncommitted === undefined || this.#tasks.get(task.partition) !== task) return;
    task.uncommitted = undefined;
    const startedMs = Date.now();
    let changelogEnds = new Map<string, bigint>();
    try {
      const changelog = await task.logic.changelog();
      if (uncommitted.offsets.size > 0 || uncommitted.produced.length > 0 || changelog.length > 0) {
        const transaction = await task.producer.transaction();
        try {
          const topicMessages = topicMessagesOf([...uncommitted.produced, ...changelog]);
          if (topicMessages.length > 0) {
            const written = await transaction.sendBatch({ topicMessages, acks: -1 });
            changelogEnds = changelogEndsOf(written, changelog, task.partition);
          }
          if (uncommitted.offsets.size > 0) {
            await transaction.sendOffsets({
              consumerGroupId: this.#groupId,
              topics: [...uncommitted.offsets].map(([topic, offset]) => ({
                topic,
                partitions: [{ partition: task.partition, offset: offset.toString() }],
              })),
            });
          }
          await transaction.commit();
        } catch (error) {
          await transaction.abort().catch(() => undefined);
          throw error;
        }
      }
    } catch (error) {
      task.logic.abort();
      await this.#dropTask(task.partition, `transaction failed: ${String(error)}`);
      throw error;
    }
    try {
      task.logic.commit(changelogEnds);
    } catch (error) {
      // The stores could not record the commit (a newer owner claimed them): this task is done.
      await this.#dropTask(task.partition, `state store commit failed: ${String(error)}`);
      throw error;
    }
    this.#options.onEvent?.({
      type: 'committed',
      partition: task.partition,
      records: uncommitted.records,
      commitMs: Date.now() - startedMs,
      entries: task.logic.entries,
      diskBytes: task.logic.backend.diskBytes,
    });
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
      const topicMessages = this.#options.changelogTopics.map((topic) => ({
        topic,
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
    let restored: RestoreOutcome;
    try {
      const logic = this.#options.createTask(partition);
      try {
        logic.backend.claim(nonce);
        restored = await this.#restore(partition, nonce, logic);
      } catch (error) {
        logic.close();
        throw error;
      }
      task = {
        partition,
        producer,
        logic,
        nextOffsets: await this.#committedOffsets(partition),
        uncommitted: undefined,
        commitTimer: undefined,
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
      restoredRecords: restored.records,
      restoredFrom: restored.from,
      diskBytes: task.logic.backend.diskBytes,
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

  /**
   * Reads this task's partition of every changelog, from the stores' checkpoint (or the
   * beginning), until this task's own sentinel shows up in each. The restore consumer is assigned
   * only this partition of each changelog (kafkajs has no `assign`: a one-member group whose
   * assigner hands out exactly that), so it fetches nothing of other partitions. A checkpoint
   * that is too old, or outside the changelog's offsets (ahead of its end: the topic was
   * recreated or truncated), and data without a checkpoint (a crash between a wipe and its
   * restore) are not trusted: the stores are wiped and restored whole.
   */
  async #restore(partition: number, nonce: string, logic: PartitionTask): Promise<RestoreOutcome> {
    const { kafka, changelogTopics, restoreTimeoutMs } = this.#options;
    if (changelogTopics.length === 0) return { records: 0, from: 'beginning' };
    const starts = await this.#restoreStarts(partition, logic);
    const from = [...starts.values()].some((offset) => offset !== undefined) ? 'checkpoint' : 'beginning';
    const waiting = new Set(changelogTopics);
    const restoreGroup = `${this.#groupId}-restore-${partition}-${nonce}`;
    const consumer = kafka.consumer({
      groupId: restoreGroup,
      readUncommitted: false,
      partitionAssigners: [onlyPartitionAssigner(partition)],
    });
    let records = 0;
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
            records += batch.messages.length;
            if (batch.partition !== partition)
              throw new Error(`restore of partition ${partition} was handed partition ${batch.partition}`);
            for (const message of batch.messages) {
              const key = message.key?.toString() ?? '';
              if (key === RESTORE_SENTINEL_KEY) {
                if (message.value?.toString() === nonce) waiting.delete(batch.topic);
              } else {
                await logic.restore(batch.topic, key, message.value);
              }
            }
            const last = batch.messages.at(-1);
            if (last !== undefined) logic.restored(new Map([[batch.topic, BigInt(last.offset) + 1n]]));
            if (waiting.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
        for (const [topic, offset] of starts)
          if (offset !== undefined) consumer.seek({ topic, partition, offset: offset.toString() });
      });
    } finally {
      await consumer.disconnect();
      await this.#admin!.deleteGroups([restoreGroup]).catch(() => undefined);
    }
    return { records, from };
  }

  /** Changelog topic -> the offset to restore from (undefined: the beginning); wipes untrusted stores. */
  async #restoreStarts(partition: number, logic: PartitionTask): Promise<Map<string, bigint | undefined>> {
    const { changelogTopics, maxCheckpointAgeMs } = this.#options;
    const starts = new Map<string, bigint | undefined>(changelogTopics.map((topic) => [topic, undefined]));
    const { backend } = logic;
    const checkpoint = backend.checkpoint;
    if (checkpoint === undefined) {
      if (backend.inconsistent) backend.wipe();
      return starts;
    }
    let trusted = Date.now() - checkpoint.writtenAtMs <= maxCheckpointAgeMs;
    for (const topic of changelogTopics) {
      const offset = checkpoint.offsets.get(topic);
      if (!trusted || offset === undefined) continue;
      const bounds = (await this.#admin!.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
      const low = BigInt(bounds?.low ?? '0');
      const high = BigInt(bounds?.high ?? '0');
      if (offset < low || offset > high) trusted = false;
      else starts.set(topic, offset);
    }
    if (trusted) return starts;
    backend.wipe();
    return new Map(changelogTopics.map((topic) => [topic, undefined]));
  }
}

interface RestoreOutcome {
  readonly records: number;
  readonly from: 'checkpoint' | 'beginning';
}

/**
 * The changelog offset after the transaction's last record in each of the task's changelog
 * partitions. A produce response gives the base offset per partition; should kafkajs have split
 * a partition's records over several batches, the smallest base plus the count is still at or
 * below the true end, and a checkpoint that is low only makes a restore read a little more.
 */
function changelogEndsOf(
  written: readonly { topicName: string; partition: number; baseOffset?: string }[],
  changelog: readonly ProducedRecord[],
  partition: number,
): Map<string, bigint> {
  const counts = new Map<string, number>();
  for (const record of changelog) counts.set(record.topic, (counts.get(record.topic) ?? 0) + 1);
  const ends = new Map<string, bigint>();
  for (const { topicName, partition: written_partition, baseOffset } of written) {
    const count = counts.get(topicName);
    if (count === undefined || written_partition !== partition || baseOffset === undefined) continue;
    const base = BigInt(baseOffset);
    if (base < 0n) continue;
    const end = base + BigInt(count);
    const previous = ends.get(topicName);
    ends.set(topicName, previous === undefined || end < previous ? end : previous);
  }
  return ends;
}

/** A partition assigner that gives the (single) member of a restore group one partition of every topic. */
function onlyPartitionAssigner(partition: number): PartitionAssigner {
  return () => ({
    name: 'PayFlowOnePartition',
    version: 0,
    assign: ({ members, topics }) =>
      Promise.resolve(
        members.map(({ memberId }, index) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 0,
            assignment: index === 0 ? Object.fromEntries(topics.map((topic) => [topic, [partition]])) : {},
            userData: Buffer.alloc(0),
          }),
        })),
      ),
    protocol: ({ topics }) => ({
      name: 'PayFlowOnePartition',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    }),
  });
}

function topicMessagesOf(records: readonly ProducedRecord[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const record of records) {
    const message: Message = {
      key: record.key,
      value: record.value,
      headers: { ...record.headers },
      timestamp: String(record.timestampMs),
      ...(record.partition === undefined ? {} : { partition: record.partition }),
    };
    const list = byTopic.get(record.topic);
    if (list === undefined) byTopic.set(record.topic, [message]);
    else list.push(message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
