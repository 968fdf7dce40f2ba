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
 *    and our fencing. Records below it are skipped; if the consumer is ahead of it, it seeks back.
 * 4. Process. Records of a batch are processed in chunks of at most `maxRecordsPerTransaction`;
 *    each chunk's outputs, changelog writes and next input offset go in ONE transaction. State
 *    writes are buffered and applied to the task's stores only after the commit succeeds. Any
 *    failure aborts, drops the task (its state is rebuilt from the changelog) and rethrows so
 *    kafkajs redelivers the batch.
 *
 * The partition logic is pure: a record and the task's stores in, records out.
 */
import { randomUUID } from 'node:crypto';

import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';

import { CoPartitionAssigner } from './copartition-assigner.js';

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestampMs: number;
}

export interface EmittedRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The task's state as the logic sees it: named stores of bytes, written through on commit. */
export interface TaskStores {
  get(store: string, key: string): Buffer | undefined;
  put(store: string, key: string, value: Buffer | null): void;
}

export interface PartitionLogic {
  process(record: ConsumedRecord, stores: TaskStores): readonly EmittedRecord[];
}

export interface EosRunnerOptions {
  readonly kafka: Kafka;
  readonly applicationId: string;
  readonly name: string;
  readonly inputTopic: string;
  readonly stores: readonly string[];
  readonly logic: PartitionLogic;
  /** Bound on the records of one transaction. */
  readonly maxRecordsPerTransaction?: number;
  /** Bound on restoring one assignment's stores. */
  readonly restoreTimeoutMs?: number;
  readonly sessionTimeoutMs?: number;
  /** Broker-side bound on an open transaction of a dead owner that nobody fences. */
  readonly transactionTimeoutMs?: number;
  readonly onEvent?: (event: RunnerEvent) => void;
}

export type RunnerEvent =
  | { readonly type: 'task-ready'; readonly partition: number; readonly restoredEntries: number; readonly restoreMs: number }
  | { readonly type: 'task-dropped'; readonly partition: number; readonly reason: string }
  | { readonly type: 'committed'; readonly partition: number; readonly records: number; readonly commitMs: number };

/** Reserved changelog key of restore sentinels; never a store key. */
export const RESTORE_SENTINEL_KEY = '\u0000payflow-restore-sentinel';

export function changelogTopic(applicationId: string, name: string, store: string): string {
  return `${applicationId}-${name}-${store}-changelog`;
}

interface Task {
  readonly partition: number;
  readonly producer: Producer;
  readonly stores: Map<string, Map<string, Buffer>>;
  nextOffset: bigint;
}

/** Buffered writes of one transaction over the task's committed stores. */
class Overlay implements TaskStores {
  readonly writes = new Map<string, Map<string, Buffer | null>>();

  constructor(private readonly committed: Map<string, Map<string, Buffer>>) {}

  get(store: string, key: string): Buffer | undefined {
    const written = this.writes.get(store);
    if (written?.has(key)) return written.get(key) ?? undefined;
    return this.committed.get(store)?.get(key);
  }

  put(store: string, key: string, value: Buffer | null): void {
    if (!this.committed.has(store)) throw new Error(`unknown store ${store}`);
    if (key === RESTORE_SENTINEL_KEY) throw new Error('the restore sentinel key is reserved');
    let written = this.writes.get(store);
    if (written === undefined) this.writes.set(store, (written = new Map<string, Buffer | null>()));
    written.set(key, value);
  }

  applyTo(stores: Map<string, Map<string, Buffer>>): void {
    for (const [store, written] of this.writes) {
      const target = stores.get(store)!;
      for (const [key, value] of written) {
        if (value === null) target.delete(key);
        else target.set(key, value);
      }
    }
  }
}

function headersOf(message: KafkaMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return headers;
}

export class EosRunner {
  readonly #options: Required<Omit<EosRunnerOptions, 'onEvent'>> & Pick<EosRunnerOptions, 'onEvent'>;
  readonly #tasks = new Map<number, Task>();
  readonly #groupId: string;
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;

  constructor(options: EosRunnerOptions) {
    this.#options = {
      maxRecordsPerTransaction: 500,
      restoreTimeoutMs: 60_000,
      sessionTimeoutMs: 10_000,
      transactionTimeoutMs: 30_000,
      ...options,
    };
    this.#groupId = `${options.applicationId}-${options.name}`;
  }

  get groupId(): string {
    return this.#groupId;
  }

  async start(): Promise<void> {
    const { kafka, inputTopic, sessionTimeoutMs } = this.#options;
    this.#admin = kafka.admin();
    await this.#admin.connect();
    const consumer = kafka.consumer({
      groupId: this.#groupId,
      readUncommitted: false,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: sessionTimeoutMs * 2,
      heartbeatInterval: Math.floor(sessionTimeoutMs / 5),
      partitionAssigners: [CoPartitionAssigner],
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const owned = new Set(event.payload.memberAssignment[inputTopic] ?? []);
      for (const partition of [...this.#tasks.keys()]) {
        if (!owned.has(partition)) void this.#dropTask(partition, 'partition revoked');
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic: inputTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => this.#onBatch(payload),
    });
  }

  /** Finishes the batch in flight, then leaves the group and closes every producer. */
  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
    await Promise.all([...this.#tasks.keys()].map((partition) => this.#dropTask(partition, 'shutdown')));
    await this.#admin?.disconnect();
  }

  /**
   * Restores a partition's stores exactly as a new owner would (fence, sentinel, read) without
   * consuming input, and returns them. For operators and tests checking what a restart would see.
   */
  async restorePartition(partition: number): Promise<Map<string, Map<string, Buffer>>> {
    const ownAdmin = this.#admin === undefined;
    if (ownAdmin) {
      this.#admin = this.#options.kafka.admin();
      await this.#admin.connect();
    }
    try {
      const task = await this.#createTask(partition);
      await this.#dropTask(partition, 'inspection done');
      return task.stores;
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

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.isEmpty()) return;
    const task = this.#tasks.get(batch.partition) ?? (await this.#createTask(batch.partition));
    const firstOffset = BigInt(batch.messages[0]!.offset);
    if (firstOffset > task.nextOffset) {
      // Our consumer is ahead of what is committed (a failed transaction): go back to the truth.
      this.#consumer!.seek({ topic: batch.topic, partition: batch.partition, offset: task.nextOffset.toString() });
      return;
    }
    const pending = batch.messages.filter((m) => BigInt(m.offset) >= task.nextOffset);
    for (let start = 0; start < pending.length; start += this.#options.maxRecordsPerTransaction) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = pending.slice(start, start + this.#options.maxRecordsPerTransaction);
      await this.#commitChunk(task, batch.topic, chunk);
      payload.resolveOffset(chunk.at(-1)!.offset);
      await payload.heartbeat();
    }
  }

  async #commitChunk(task: Task, topic: string, chunk: readonly KafkaMessage[]): Promise<void> {
    const overlay = new Overlay(task.stores);
    const emitted: EmittedRecord[] = [];
    for (const message of chunk) {
      const record: ConsumedRecord = {
        topic,
        partition: task.partition,
        offset: BigInt(message.offset),
        key: message.key?.toString() ?? '',
        value: message.value,
        headers: headersOf(message),
        timestampMs: Number(message.timestamp),
      };
      emitted.push(...this.#options.logic.process(record, overlay));
    }
    const nextOffset = BigInt(chunk.at(-1)!.offset) + 1n;
    const startedMs = Date.now();
    const transaction = await task.producer.transaction();
    try {
      const topicMessages = this.#topicMessages(task.partition, emitted, overlay);
      if (topicMessages.length > 0) await transaction.sendBatch({ topicMessages, acks: -1 });
      await transaction.sendOffsets({
        consumerGroupId: this.#groupId,
        topics: [{ topic, partitions: [{ partition: task.partition, offset: nextOffset.toString() }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      await this.#dropTask(task.partition, `transaction failed: ${String(error)}`);
      throw error;
    }
    overlay.applyTo(task.stores);
    task.nextOffset = nextOffset;
    this.#options.onEvent?.({ type: 'committed', partition: task.partition, records: chunk.length, commitMs: Date.now() - startedMs });
  }

  #topicMessages(partition: number, emitted: readonly EmittedRecord[], overlay: Overlay): { topic: string; messages: Message[] }[] {
    const byTopic = new Map<string, Message[]>();
    const add = (topic: string, message: Message) => {
      const list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, [message]);
      else list.push(message);
    };
    for (const record of emitted) add(record.topic, { key: record.key, value: record.value, headers: { ...record.headers } });
    for (const [store, writes] of overlay.writes) {
      const topic = changelogTopic(this.#options.applicationId, this.#options.name, store);
      for (const [key, value] of writes) add(topic, { key, value, partition });
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  async #createTask(partition: number): Promise<Task> {
    const { kafka, applicationId, name, transactionTimeoutMs } = this.#options;
    const producer = kafka.producer({
      transactionalId: `${applicationId}-${name}-${partition}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: transactionTimeoutMs,
      allowAutoTopicCreation: false,
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
    const stores = await this.#restore(partition, nonce);
    const task: Task = { partition, producer, stores, nextOffset: await this.#committedOffset(partition) };
    this.#tasks.set(partition, task);
    const restoredEntries = [...stores.values()].reduce((sum, store) => sum + store.size, 0);
    this.#options.onEvent?.({ type: 'task-ready', partition, restoredEntries, restoreMs: Date.now() - startedMs });
    return task;
  }

  async #committedOffset(partition: number): Promise<bigint> {
    const topics = await this.#admin!.fetchOffsets({ groupId: this.#groupId, topics: [this.#options.inputTopic] });
    const offset = topics[0]?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    return offset === '-1' ? 0n : BigInt(offset);
  }

  /** Reads the partition of every changelog until this task's own sentinel shows up in each. */
  async #restore(partition: number, nonce: string): Promise<Map<string, Map<string, Buffer>>> {
    const { kafka, applicationId, name, stores: storeNames, restoreTimeoutMs } = this.#options;
    const stores = new Map(storeNames.map((store) => [store, new Map<string, Buffer>()]));
    if (storeNames.length === 0) return stores;
    const storeOfTopic = new Map(storeNames.map((store) => [changelogTopic(applicationId, name, store), store]));
    const waiting = new Set(storeOfTopic.keys());
    const restoreGroup = `${this.#groupId}-restore-${partition}-${nonce}`;
    const consumer = kafka.consumer({ groupId: restoreGroup, readUncommitted: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [...waiting], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`restore of partition ${partition} exceeded ${restoreTimeoutMs} ms`)), restoreTimeoutMs);
        void consumer.run({
          eachBatch: ({ batch }) => {
            if (batch.partition !== partition) return Promise.resolve();
            const store = stores.get(storeOfTopic.get(batch.topic)!)!;
            for (const message of batch.messages) {
              const key = message.key?.toString() ?? '';
              if (key === RESTORE_SENTINEL_KEY) {
                if (message.value?.toString() === nonce) waiting.delete(batch.topic);
              } else if (message.value === null) store.delete(key);
              else store.set(key, message.value);
            }
            if (waiting.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        });
      });
    } finally {
      await consumer.disconnect();
      await this.#admin!.deleteGroups([restoreGroup]).catch(() => undefined);
    }
    return stores;
  }
}
