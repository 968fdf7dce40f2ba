/**
 * One processor on one partition (ProcessorTask), and one sub-topology on one partition
 * (SubTopologyTask: its processors, records passing between them in memory): the part of the
 * runtime both drivers share, so the in-memory driver and the Kafka driver can't disagree about
 * what a processor does with a record.
 *
 * The task decodes input, runs the processor against its stores, serializes what it forwards,
 * and sorts failures into the three classes of api.ts:
 * - bad data (a BadRecordError, a full store, bytes the serde can't read, a tombstone): the
 *   record goes to the dead-letter topic with its code, reason, processor and source position in
 *   headers, together with what the processor's `onBadRecord` forwards; the partition moves on;
 * - infrastructure (RetriableError): retried in place with capped exponential backoff
 *   (cockatiel), then thrown to the driver, which retries the uncommitted record after a restart;
 * - anything else: TaskFailedError, thrown to the driver, which stops the partition.
 * A failed record leaves no state change and no output behind.
 *
 * Nothing here talks to a broker: the driver feeds records in (one or many calls per
 * transaction), writes the returned records, the changelog entries of the writes since the last
 * commit and the offsets in one transaction, then calls `commit()` (or `abort()`).
 */
import { ExponentialBackoff, handleType, retry, type RetryPolicy } from 'cockatiel';

import {
  BadRecordError,
  RetriableError,
  type BadRecord,
  type DeadLetterCode,
  type GlobalTable,
  type Headers,
  type InputRecord,
  type KeyValueStore,
  type OutputRecord,
  type Processor,
  type ProcessorContext,
  type Punctuator,
  type Serde,
  type Topology,
  type WindowStore,
} from './api.js';
import { deadLetterHeaders, HEADER } from '../../topics/headers.js';
import { changelogTopic } from '../../topics/names.js';
import { partitionOfKey } from '../../topics/partitioner.js';
import {
  MemoryStoreBackend,
  type ChangelogWrite,
  type RuntimeStore,
  type RuntimeWindowStore,
  type StoreBackend,
} from './stores.js';
import type { BoundedBackoffPolicy } from './supervision.js';
import { analyseTopology, type SubTopology } from './topology.js';

/** A record as it comes off a log: bytes, before decoding. */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestampMs: number;
}

/** A record to append to a log. `partition` unset: the default (murmur2 of the key) partitioner decides. */
export interface ProducedRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestampMs: number;
  readonly partition?: number;
}

/**
 * What a processor's try emitted, in forward order: a record for Kafka (serialized), or a record
 * on an in-task topic for the next processor of the sub-topology (a value, never serialized).
 */
export type Emitted =
  | { readonly kind: 'kafka'; readonly record: ProducedRecord }
  | { readonly kind: 'in-task'; readonly record: InTaskRecord };

export interface InTaskRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: unknown;
  readonly headers: Headers;
  readonly timestampMs: number;
}

/**
 * The logic of one partition of a sub-topology, as a driver runs it. `process` and
 * `punctuateWallClock` may be called many times per transaction; `changelog` gives the store
 * writes since the last `commit`/`abort` as records for the transaction.
 */
export interface PartitionTask {
  restore(changelogTopic: string, key: string, value: Buffer | null): Promise<void>;
  process(records: readonly RawRecord[]): Promise<ProducedRecord[]>;
  punctuateWallClock(nowMs: number): Promise<ProducedRecord[]>;
  changelog(): Promise<ProducedRecord[]>;
  /**
   * Makes the transaction's writes the committed state; with `changelogEnds` (changelog topic ->
   * the offset after the transaction's last record in it), a disk backend records them as its
   * checkpoint, atomically with the data.
   */
  commit(changelogEnds?: ReadonlyMap<string, bigint>): void;
  abort(): void;
  /** Records the restore's progress (changelog topic -> next offset) with the restored records. */
  restored(progress: ReadonlyMap<string, bigint>): void;
  /** Entries over the task's stores (for metrics). */
  readonly entries: number;
  /** Where the task's stores live (checkpoint, restore progress, wipe, disk usage). */
  readonly backend: StoreBackend;
  /** Releases the stores (closes their files). */
  close(): void;
}

/** What a task reports as it works; the metrics module turns these into Prometheus series. */
export interface TaskObserver {
  recordProcessed(processor: string, topic: string, latencyMs: number): void;
  recordForwarded(processor: string, topic: string): void;
  deadLettered(processor: string, code: DeadLetterCode): void;
  lateRecordDropped(processor: string, store: string): void;
  retried(processor: string): void;
  /** A punctuation hit an infrastructure failure; its writes were undone, it runs again when due. */
  punctuationFailed(processor: string, error: unknown): void;
  /** A program error or broken invariant stopped a partition. */
  taskFailed(processor: string, error: TaskFailedError): void;
}

/**
 * A program error or broken invariant while processing a record (or punctuating): the partition
 * stops. The driver commits nothing of the record, dead-letters nothing, and reports the
 * processor's component failed with this message.
 */
export class TaskFailedError extends Error {
  constructor(
    readonly processor: string,
    readonly partition: number,
    /** The record that failed; undefined for a punctuation. */
    readonly at: { readonly topic: string; readonly offset: number } | undefined,
    cause: unknown,
  ) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const where = at === undefined ? 'in a punctuation' : `at ${at.topic} offset ${at.offset}`;
    super(`${processor} partition ${partition} stopped ${where}: ${what}`, { cause });
    this.name = 'TaskFailedError';
  }
}

export const DEFAULT_RETRY: BoundedBackoffPolicy = { maxRetries: 5, initialDelayMs: 100, maxDelayMs: 5_000 };

export interface TaskEnvironment {
  readonly topology: Topology;
  readonly wallClock: () => number;
  readonly globalTable: (topic: string) => GlobalTable<unknown>;
  readonly retry?: BoundedBackoffPolicy;
  readonly observer?: TaskObserver;
  /** The stores of a sub-topology's partition; default: in memory. */
  readonly storeBackend?: (subTopology: string, partition: number) => StoreBackend;
}

const noopObserver: TaskObserver = {
  recordProcessed: () => undefined,
  recordForwarded: () => undefined,
  deadLettered: () => undefined,
  lateRecordDropped: () => undefined,
  retried: () => undefined,
  punctuationFailed: () => undefined,
  taskFailed: () => undefined,
};

export function serdeOf(topology: Topology, topic: string): Serde<unknown> {
  const spec = topology.topics.find((t) => t.name === topic);
  if (spec === undefined)
    throw new Error(`topic ${topic} is not declared in topology ${topology.applicationId}`);
  return spec.serde;
}

/** Checks the topology once, before any record flows: unknown topics and duplicate names are programmer errors. */
export function validateTopology(topology: Topology): void {
  const problems: string[] = [];
  const topics = new Set(topology.topics.map((t) => t.name));
  const names = new Set<string>();
  for (const processor of topology.processors) {
    if (names.has(processor.name)) problems.push(`processor name ${processor.name} is used twice`);
    names.add(processor.name);
    for (const topic of [...processor.inputs, ...processor.outputs, ...(processor.globalTables ?? [])]) {
      if (!topics.has(topic))
        problems.push(`${processor.name} uses topic ${topic}, which the topology does not declare`);
    }
    if (processor.inputs.length === 0) problems.push(`${processor.name} has no input`);
    const inputPartitions = new Set(
      processor.inputs.map((input) => topology.topics.find((t) => t.name === input)?.partitions),
    );
    if (inputPartitions.size > 1)
      problems.push(
        `${processor.name} reads topics with different partition counts; they must be co-partitioned`,
      );
    for (const output of processor.outputs) {
      const spec = topology.topics.find((t) => t.name === output);
      const input = topology.topics.find((t) => t.name === processor.inputs[0]);
      if (spec?.inTask === true && input !== undefined && spec.partitions !== input.partitions)
        problems.push(
          `${processor.name} writes in-task topic ${output}, which is not co-partitioned with its input`,
        );
    }
    const storeNames = new Set<string>();
    for (const store of processor.stores) {
      if (storeNames.has(store.name)) problems.push(`${processor.name} declares store ${store.name} twice`);
      storeNames.add(store.name);
      if (!(store.maxEntries > 0)) problems.push(`${processor.name}.${store.name}: maxEntries must be > 0`);
    }
  }
  problems.push(...analyseTopology(topology).problems);
  if (problems.length > 0)
    throw new Error(`invalid topology ${topology.applicationId}:\n  ${problems.join('\n  ')}`);
}

interface ScheduledPunctuator {
  readonly punctuator: Punctuator;
  nextMs: number | undefined;
}

const nextDue = (timestampMs: number, intervalMs: number) =>
  (Math.floor(timestampMs / intervalMs) + 1) * intervalMs;

export class ProcessorTask {
  readonly stores = new Map<string, RuntimeStore>();
  #streamTimeMs = -1;
  readonly #observer: TaskObserver;
  /** Retries after a first try failed on infrastructure (undefined: no retries configured). */
  readonly #retry: RetryPolicy | undefined;
  readonly #firstRetryDelayMs: number;
  readonly #punctuators: ScheduledPunctuator[];
  readonly #inTask: ReadonlySet<string>;

  constructor(
    readonly processor: Processor,
    readonly partition: number,
    private readonly env: TaskEnvironment,
    backend: StoreBackend = new MemoryStoreBackend(),
  ) {
    this.#observer = env.observer ?? noopObserver;
    this.#inTask = new Set(env.topology.topics.filter((t) => t.inTask === true).map((t) => t.name));
    for (const spec of processor.stores)
      this.stores.set(
        spec.name,
        backend.create(processor.name, spec, () => this.#streamTimeMs),
      );
    const settings = env.retry ?? DEFAULT_RETRY;
    // The first try runs outside the policy (no promise or closure of cockatiel's per record);
    // only a try that failed on infrastructure enters it, after the first backoff step.
    this.#firstRetryDelayMs = settings.initialDelayMs;
    this.#retry =
      settings.maxRetries === 0
        ? undefined
        : retry(handleType(RetriableError), {
            maxAttempts: settings.maxRetries - 1,
            backoff: new ExponentialBackoff({
              initialDelay: Math.min(settings.initialDelayMs * 2, settings.maxDelayMs),
              maxDelay: settings.maxDelayMs,
            }),
          });
    this.#retry?.onRetry(() => this.#observer.retried(processor.name));
    this.#punctuators = (processor.punctuators ?? []).map((punctuator) => ({
      punctuator,
      nextMs: undefined,
    }));
  }

  get streamTimeMs(): number {
    return this.#streamTimeMs;
  }

  /** Total entries over the task's stores. */
  get entries(): number {
    let total = 0;
    for (const store of this.stores.values()) total += store.size;
    return total;
  }

  async restore(store: string, key: string, value: Buffer | null): Promise<void> {
    const target = this.stores.get(store);
    if (target === undefined) throw new Error(`${this.processor.name}: changelog for unknown store ${store}`);
    await target.restore(key, value);
  }

  /**
   * Processes one record read from a log (decoding it first). Throws RetriableError
   * (infrastructure: commit nothing, retry later) or TaskFailedError (stop the partition,
   * commit nothing).
   */
  async processRaw(raw: RawRecord): Promise<Emitted[]> {
    const startedMs = performance.now();
    const value = await this.#decode(raw);
    if (value instanceof BadRecordError) return this.#badRecord(raw, value);
    const emitted = await this.#processRecord({ ...raw, value }, () => Promise.resolve(raw));
    this.#observer.recordProcessed(this.processor.name, raw.topic, performance.now() - startedMs);
    return emitted;
  }

  /**
   * Processes a record another processor of the sub-topology forwarded on an in-task topic: no
   * decoding; its bytes are made only if it has to be dead-lettered. `offset` is the offset of
   * the Kafka record that started the chain.
   */
  async processForwarded(record: InputRecord<unknown>): Promise<Emitted[]> {
    const startedMs = performance.now();
    const emitted = await this.#processRecord(record, async () => ({
      ...record,
      value: await this.#bytesOf(record),
    }));
    this.#observer.recordProcessed(this.processor.name, record.topic, performance.now() - startedMs);
    return emitted;
  }

  /**
   * Processes records in order (one transaction's worth, as a driver's test sees it): what they
   * emit for Kafka, and the changelog of their writes. Records on in-task topics are not passed on.
   */
  async process(
    records: readonly RawRecord[],
  ): Promise<{ produced: ProducedRecord[]; changelog: ChangelogWrite[] }> {
    const produced: ProducedRecord[] = [];
    for (const raw of records)
      for (const emitted of await this.processRaw(raw))
        if (emitted.kind === 'kafka') produced.push(emitted.record);
    return { produced, changelog: await this.changelogWrites() };
  }

  /** Runs the wall-clock punctuators that are due at `nowMs`. */
  punctuateWallClock(nowMs: number): Promise<Emitted[]> {
    return this.#punctuate('wall-clock', nowMs);
  }

  commit(): void {
    for (const store of this.stores.values()) store.commit();
  }

  abort(): void {
    for (const store of this.stores.values()) store.abort();
  }

  /** The store writes since the last commit or abort, serialized for the changelog. */
  async changelogWrites(): Promise<ChangelogWrite[]> {
    const writes: ChangelogWrite[] = [];
    for (const store of this.stores.values()) writes.push(...(await store.changelog()));
    return writes;
  }

  async #processRecord(record: InputRecord<unknown>, rawOf: () => Promise<RawRecord>): Promise<Emitted[]> {
    if (record.timestampMs > this.#streamTimeMs) this.#streamTimeMs = record.timestampMs;
    let emitted: Emitted[];
    try {
      emitted = await this.#retrying(() =>
        this.#attempt(record.headers, record.timestampMs, (context) =>
          this.processor.process(record, context),
        ),
      );
    } catch (error) {
      if (error instanceof BadRecordError) return this.#badRecord(await rawOf(), error, record.value);
      if (error instanceof RetriableError) throw error;
      throw this.#failed(record, error);
    }
    emitted.push(...(await this.#punctuate('stream-time', this.#streamTimeMs)));
    return emitted;
  }

  /**
   * Runs `work`; if it fails on infrastructure (RetriableError), retries it with capped
   * exponential backoff (`retry` settings: `maxRetries` retries, the first after
   * `initialDelayMs`), then throws the last error.
   */
  async #retrying<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const policy = this.#retry;
      if (!(error instanceof RetriableError) || policy === undefined) throw error;
      this.#observer.retried(this.processor.name);
      await new Promise((resolve) => setTimeout(resolve, this.#firstRetryDelayMs));
      // The policy's first try is this retry; its own retries are the rest, backing off further.
      return policy.execute(() => work());
    }
  }

  /** The bytes of an in-task record, for its dead letter (null if its serde refuses it). */
  async #bytesOf(record: InputRecord<unknown>): Promise<Buffer | null> {
    try {
      return await serdeOf(this.env.topology, record.topic).serialize(record.value, record.topic);
    } catch {
      return null;
    }
  }

  /**
   * The record's value, or the BadRecordError it is dead-lettered with. A serde's RetriableError
   * (the registry is out of reach) is retried, then thrown: it is never the record's fault.
   */
  async #decode(raw: RawRecord): Promise<unknown> {
    const bytes = raw.value;
    if (bytes === null) return new BadRecordError('TOMBSTONE', 'record has no value (tombstone)');
    try {
      return await this.#retrying(() => serdeOf(this.env.topology, raw.topic).deserialize(bytes, raw.topic));
    } catch (error) {
      if (error instanceof RetriableError) throw error;
      if (error instanceof BadRecordError) return error;
      const message = error instanceof Error ? error.message : String(error);
      return new BadRecordError('UNDECODABLE', message, { cause: error });
    }
  }

  /** The dead letter of a bad record, and what the processor's `onBadRecord` forwards with it. */
  async #badRecord(raw: RawRecord, error: BadRecordError, value?: unknown): Promise<Emitted[]> {
    const deadLetter: Emitted = { kind: 'kafka', record: this.#deadLetter(raw, error.deadLetterCode, error) };
    const onBadRecord = this.processor.onBadRecord?.bind(this.processor);
    if (onBadRecord === undefined) return [deadLetter];
    const bad: BadRecord = {
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
      key: raw.key,
      timestampMs: raw.timestampMs,
      headers: raw.headers,
      code: error.deadLetterCode,
      reason: deadLetter.record.headers[HEADER.dlqReason] ?? error.message,
      ...(value === undefined ? {} : { value }),
    };
    try {
      const emitted = await this.#attempt(raw.headers, raw.timestampMs, (context) =>
        onBadRecord(bad, context),
      );
      return [deadLetter, ...emitted];
    } catch (handlerError) {
      if (handlerError instanceof RetriableError) throw handlerError;
      throw this.#failed(raw, handlerError);
    }
  }

  #failed(
    at: { readonly topic: string; readonly offset: number } | undefined,
    error: unknown,
  ): TaskFailedError {
    const failure = new TaskFailedError(
      this.processor.name,
      this.partition,
      at === undefined ? undefined : { topic: at.topic, offset: at.offset },
      error,
    );
    this.#observer.taskFailed(this.processor.name, failure);
    return failure;
  }

  /** One try: the stores' record undo log is open; on any error the try leaves nothing behind. */
  async #attempt(
    headers: Headers,
    timestampMs: number,
    run: (context: ProcessorContext) => void,
  ): Promise<Emitted[]> {
    for (const store of this.stores.values()) store.beginRecord();
    try {
      const forwarded: OutputRecord[] = [];
      run(this.#context(forwarded));
      const emitted: Emitted[] = [];
      for (const output of forwarded) {
        const outHeaders = output.headers ?? headers;
        const outTimestampMs = output.timestampMs ?? timestampMs;
        if (this.#inTask.has(output.topic)) {
          emitted.push({
            kind: 'in-task',
            record: {
              topic: output.topic,
              key: output.key,
              value: output.value,
              headers: outHeaders,
              timestampMs: outTimestampMs,
            },
          });
          continue;
        }
        const serde = serdeOf(this.env.topology, output.topic);
        emitted.push({
          kind: 'kafka',
          record: {
            topic: output.topic,
            key: output.key,
            value: await serde.serialize(output.value, output.topic),
            headers: outHeaders,
            timestampMs: outTimestampMs,
          },
        });
      }
      for (const output of forwarded) this.#observer.recordForwarded(this.processor.name, output.topic);
      return emitted;
    } catch (error) {
      for (const store of this.stores.values()) store.undoRecord();
      throw error;
    }
  }

  async #punctuate(type: Punctuator['type'], timestampMs: number): Promise<Emitted[]> {
    const emitted: Emitted[] = [];
    for (const scheduled of this.#punctuators) {
      const { punctuator } = scheduled;
      if (punctuator.type !== type || timestampMs < 0) continue;
      if (scheduled.nextMs === undefined) {
        scheduled.nextMs = nextDue(timestampMs, punctuator.intervalMs);
        continue;
      }
      if (timestampMs < scheduled.nextMs) continue;
      scheduled.nextMs = nextDue(timestampMs, punctuator.intervalMs);
      try {
        emitted.push(
          ...(await this.#attempt({}, timestampMs, (context) => punctuator.punctuate(context, timestampMs))),
        );
      } catch (error) {
        if (!(error instanceof RetriableError)) throw this.#failed(undefined, error);
        this.#observer.punctuationFailed(this.processor.name, error);
      }
    }
    return emitted;
  }

  #context(forwarded: OutputRecord[]): ProcessorContext {
    const { processor, partition } = this;
    const stores = this.stores;
    const observer = this.#observer;
    const env = this.env;
    const inTask = this.#inTask;
    const streamTime = () => this.#streamTimeMs;
    return {
      forward<V>(record: OutputRecord<V>): void {
        if (!processor.outputs.includes(record.topic)) {
          throw new Error(
            `${processor.name} forwarded to ${record.topic}, which is not among its declared outputs`,
          );
        }
        if (inTask.has(record.topic)) {
          const partitions = env.topology.topics.find((t) => t.name === record.topic)!.partitions;
          const target = partitionOfKey(record.key, partitions);
          if (target !== partition)
            throw new Error(
              `${processor.name} forwarded key ${JSON.stringify(record.key)} to in-task topic ${record.topic}, ` +
                `which belongs to partition ${target}, not this task's partition ${partition}: ` +
                'an in-task edge must keep the key of its sub-topology',
            );
        }
        forwarded.push(record);
      },
      keyValueStore<V>(name: string): KeyValueStore<V> {
        const store = stores.get(name);
        if (store?.kind !== 'kv') throw new Error(`${processor.name} has no key-value store ${name}`);
        return store as RuntimeStore & KeyValueStore<V>;
      },
      windowStore<V>(name: string): WindowStore<V> {
        const store = stores.get(name);
        if (store?.kind !== 'window') throw new Error(`${processor.name} has no window store ${name}`);
        const windows = store as RuntimeWindowStore as RuntimeStore & WindowStore<V>;
        return {
          get size() {
            return windows.size;
          },
          fetch: (key, fromMs, toMs) => windows.fetch(key, fromMs, toMs),
          expireRetention: (limit) => windows.expireRetention(limit),
          update: (key, timestampMs, aggregate) => {
            const result = windows.update(key, timestampMs, aggregate);
            if (result.late) observer.lateRecordDropped(processor.name, name);
            return result;
          },
        };
      },
      globalTable<V>(name: string): GlobalTable<V> {
        if (!(processor.globalTables ?? []).includes(name))
          throw new Error(`${processor.name} did not declare global table ${name}`);
        return env.globalTable(name) as GlobalTable<V>;
      },
      get streamTimeMs() {
        return streamTime();
      },
      get wallClockMs() {
        return env.wallClock();
      },
    };
  }

  #deadLetter(raw: RawRecord, code: DeadLetterCode, error: unknown): ProducedRecord {
    this.#observer.deadLettered(this.processor.name, code);
    const message = error instanceof Error ? error.message : String(error);
    return {
      topic: this.env.topology.deadLetterTopic,
      key: raw.key,
      value: raw.value,
      timestampMs: raw.timestampMs,
      headers: deadLetterHeaders(raw.headers, {
        reason: message,
        code,
        processor: this.processor.name,
        sourceTopic: raw.topic,
        sourcePartition: raw.partition,
        sourceOffset: raw.offset,
      }),
    };
  }
}

/**
 * One sub-topology on one partition: a ProcessorTask per processor, a Kafka record handed to
 * every processor that reads its topic, and what a processor forwards on an in-task topic handed
 * straight (depth first, in forward order) to the processor that reads it. Every processor's
 * writes and outputs belong to the same transaction.
 */
export class SubTopologyTask implements PartitionTask {
  readonly tasks = new Map<string, ProcessorTask>();
  readonly #readers = new Map<string, ProcessorTask[]>();
  readonly #changelogs = new Map<string, { readonly task: ProcessorTask; readonly store: string }>();
  readonly backend: StoreBackend;

  constructor(
    readonly subTopology: SubTopology,
    readonly partition: number,
    private readonly env: TaskEnvironment,
  ) {
    this.backend = env.storeBackend?.(subTopology.name, partition) ?? new MemoryStoreBackend();
    for (const processor of subTopology.processors) {
      const task = new ProcessorTask(processor, partition, env, this.backend);
      this.tasks.set(processor.name, task);
      for (const input of processor.inputs) {
        const readers = this.#readers.get(input);
        if (readers === undefined) this.#readers.set(input, [task]);
        else readers.push(task);
      }
    }
    for (const store of subTopology.stores)
      this.#changelogs.set(store.changelogTopic, {
        task: this.tasks.get(store.processor)!,
        store: store.store,
      });
  }

  /** The task of one of the sub-topology's processors. */
  task(processor: string): ProcessorTask {
    const task = this.tasks.get(processor);
    if (task === undefined)
      throw new Error(`sub-topology ${this.subTopology.name} has no processor ${processor}`);
    return task;
  }

  get entries(): number {
    let total = 0;
    for (const task of this.tasks.values()) total += task.entries;
    return total;
  }

  async restore(topic: string, key: string, value: Buffer | null): Promise<void> {
    const target = this.#changelogs.get(topic);
    if (target === undefined) throw new Error(`${this.subTopology.name}: unknown changelog topic ${topic}`);
    await target.task.restore(target.store, key, value);
  }

  async process(records: readonly RawRecord[]): Promise<ProducedRecord[]> {
    const produced: ProducedRecord[] = [];
    for (const raw of records) {
      const readers = this.#readers.get(raw.topic);
      if (readers === undefined) throw new Error(`${this.subTopology.name} does not read ${raw.topic}`);
      for (const reader of readers) await this.#route(await reader.processRaw(raw), raw.offset, produced);
    }
    return produced;
  }

  async punctuateWallClock(nowMs: number): Promise<ProducedRecord[]> {
    const produced: ProducedRecord[] = [];
    for (const task of this.tasks.values())
      await this.#route(await task.punctuateWallClock(nowMs), -1, produced);
    return produced;
  }

  async changelog(): Promise<ProducedRecord[]> {
    const records: ProducedRecord[] = [];
    const timestampMs = this.env.wallClock();
    for (const task of this.tasks.values()) {
      for (const write of await task.changelogWrites()) {
        records.push({
          topic: changelogTopic(this.env.topology.applicationId, task.processor.name, write.store),
          key: write.key,
          value: write.value,
          headers: {},
          timestampMs,
          partition: this.partition,
        });
      }
    }
    return records;
  }

  commit(changelogEnds: ReadonlyMap<string, bigint> = new Map()): void {
    for (const task of this.tasks.values()) task.commit();
    this.backend.flush(this.#persistentOnly(changelogEnds));
  }

  restored(progress: ReadonlyMap<string, bigint>): void {
    this.backend.restored(this.#persistentOnly(progress));
  }

  /** Offsets of the changelogs whose stores persist: only those a checkpoint may vouch for. */
  #persistentOnly(offsets: ReadonlyMap<string, bigint>): Map<string, bigint> {
    const kept = new Map<string, bigint>();
    for (const [topic, offset] of offsets) {
      const target = this.#changelogs.get(topic);
      if (target?.task.stores.get(target.store)?.persistent === true) kept.set(topic, offset);
    }
    return kept;
  }

  abort(): void {
    for (const task of this.tasks.values()) task.abort();
    this.backend.discard();
  }

  close(): void {
    this.backend.close();
  }

  async #route(emitted: readonly Emitted[], sourceOffset: number, produced: ProducedRecord[]): Promise<void> {
    for (const item of emitted) {
      if (item.kind === 'kafka') {
        produced.push(item.record);
        continue;
      }
      const { record } = item;
      const reader = this.#readers.get(record.topic)![0]!;
      const forwarded = await reader.processForwarded({
        topic: record.topic,
        partition: this.partition,
        offset: sourceOffset,
        key: record.key,
        value: record.value,
        timestampMs: record.timestampMs,
        headers: record.headers,
      });
      await this.#route(forwarded, sourceOffset, produced);
    }
  }
}
