/**
 * One processor on one partition: the part of the runtime both drivers share, so the in-memory
 * driver and the Kafka driver can't disagree about what a processor does with a record.
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
 * Nothing here talks to a broker: the driver feeds records in, writes the returned records,
 * changelog entries and offsets in one transaction, then calls `commit()` (or `abort()`).
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
import { MemoryKeyValueStore, MemoryWindowStore, type ChangelogWrite, type RuntimeStore } from './stores.js';
import type { BoundedBackoffPolicy } from './supervision.js';

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

export interface TaskResult {
  readonly produced: ProducedRecord[];
  readonly changelog: ChangelogWrite[];
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
    const storeNames = new Set<string>();
    for (const store of processor.stores) {
      if (storeNames.has(store.name)) problems.push(`${processor.name} declares store ${store.name} twice`);
      storeNames.add(store.name);
      if (!(store.maxEntries > 0)) problems.push(`${processor.name}.${store.name}: maxEntries must be > 0`);
    }
  }
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
  readonly #retry: RetryPolicy;
  readonly #punctuators: ScheduledPunctuator[];

  constructor(
    readonly processor: Processor,
    readonly partition: number,
    private readonly env: TaskEnvironment,
  ) {
    this.#observer = env.observer ?? noopObserver;
    for (const spec of processor.stores) {
      const store =
        spec.kind === 'kv'
          ? new MemoryKeyValueStore<unknown>(spec)
          : new MemoryWindowStore<unknown>(spec, () => this.#streamTimeMs);
      this.stores.set(spec.name, store);
    }
    const settings = env.retry ?? DEFAULT_RETRY;
    this.#retry = retry(handleType(RetriableError), {
      maxAttempts: settings.maxRetries,
      backoff: new ExponentialBackoff({
        initialDelay: settings.initialDelayMs,
        maxDelay: settings.maxDelayMs,
      }),
    });
    this.#retry.onRetry(() => this.#observer.retried(processor.name));
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
   * Processes records in order; the caller commits the result in one transaction. Throws
   * RetriableError (infrastructure: commit nothing, retry later) or TaskFailedError (stop the
   * partition, commit nothing).
   */
  async process(records: readonly RawRecord[]): Promise<TaskResult> {
    const produced: ProducedRecord[] = [];
    for (const raw of records) {
      const startedMs = performance.now();
      const value = await this.#decode(raw);
      if (value instanceof BadRecordError) {
        produced.push(...(await this.#badRecord(raw, value)));
        continue;
      }
      const record: InputRecord<unknown> = { ...raw, value };
      if (record.timestampMs > this.#streamTimeMs) this.#streamTimeMs = record.timestampMs;
      produced.push(...(await this.#processOne(raw, record)));
      produced.push(...(await this.#punctuate('stream-time', this.#streamTimeMs)));
      this.#observer.recordProcessed(this.processor.name, raw.topic, performance.now() - startedMs);
    }
    return { produced, changelog: await this.#changelog() };
  }

  /** Runs the wall-clock punctuators that are due at `nowMs`. */
  async punctuateWallClock(nowMs: number): Promise<TaskResult> {
    const produced = await this.#punctuate('wall-clock', nowMs);
    return { produced, changelog: await this.#changelog() };
  }

  commit(): void {
    for (const store of this.stores.values()) store.commit();
  }

  abort(): void {
    for (const store of this.stores.values()) store.abort();
  }

  async #changelog(): Promise<ChangelogWrite[]> {
    const writes: ChangelogWrite[] = [];
    for (const store of this.stores.values()) writes.push(...(await store.changelog()));
    return writes;
  }

  /**
   * The record's value, or the BadRecordError it is dead-lettered with. A serde's RetriableError
   * (the registry is out of reach) is retried, then thrown: it is never the record's fault.
   */
  async #decode(raw: RawRecord): Promise<unknown> {
    const bytes = raw.value;
    if (bytes === null) return new BadRecordError('TOMBSTONE', 'record has no value (tombstone)');
    try {
      return await this.#retry.execute(() =>
        serdeOf(this.env.topology, raw.topic).deserialize(bytes, raw.topic),
      );
    } catch (error) {
      if (error instanceof RetriableError) throw error;
      if (error instanceof BadRecordError) return error;
      const message = error instanceof Error ? error.message : String(error);
      return new BadRecordError('UNDECODABLE', message, { cause: error });
    }
  }

  async #processOne(raw: RawRecord, record: InputRecord<unknown>): Promise<ProducedRecord[]> {
    try {
      return await this.#retry.execute(() =>
        this.#attempt(raw.headers, raw.timestampMs, (context) => this.processor.process(record, context)),
      );
    } catch (error) {
      if (error instanceof BadRecordError) return this.#badRecord(raw, error);
      if (error instanceof RetriableError) throw error;
      throw this.#failed(raw, error);
    }
  }

  /** The dead letter of a bad record, and what the processor's `onBadRecord` forwards with it. */
  async #badRecord(raw: RawRecord, error: BadRecordError): Promise<ProducedRecord[]> {
    const deadLetter = this.#deadLetter(raw, error.deadLetterCode, error);
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
      reason: deadLetter.headers[HEADER.dlqReason] ?? error.message,
    };
    try {
      const produced = await this.#attempt(raw.headers, raw.timestampMs, (context) =>
        onBadRecord(bad, context),
      );
      return [deadLetter, ...produced];
    } catch (handlerError) {
      if (handlerError instanceof RetriableError) throw handlerError;
      throw this.#failed(raw, handlerError);
    }
  }

  #failed(raw: RawRecord | undefined, error: unknown): TaskFailedError {
    const failure = new TaskFailedError(
      this.processor.name,
      this.partition,
      raw === undefined ? undefined : { topic: raw.topic, offset: raw.offset },
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
  ): Promise<ProducedRecord[]> {
    for (const store of this.stores.values()) store.beginRecord();
    try {
      const forwarded: OutputRecord[] = [];
      run(this.#context(forwarded));
      const produced: ProducedRecord[] = [];
      for (const output of forwarded) {
        const serde = serdeOf(this.env.topology, output.topic);
        produced.push({
          topic: output.topic,
          key: output.key,
          value: await serde.serialize(output.value, output.topic),
          headers: output.headers ?? headers,
          timestampMs: output.timestampMs ?? timestampMs,
        });
      }
      for (const output of produced) this.#observer.recordForwarded(this.processor.name, output.topic);
      return produced;
    } catch (error) {
      for (const store of this.stores.values()) store.undoRecord();
      throw error;
    }
  }

  async #punctuate(type: Punctuator['type'], timestampMs: number): Promise<ProducedRecord[]> {
    const produced: ProducedRecord[] = [];
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
        produced.push(
          ...(await this.#attempt({}, timestampMs, (context) => punctuator.punctuate(context, timestampMs))),
        );
      } catch (error) {
        if (!(error instanceof RetriableError)) throw this.#failed(undefined, error);
        this.#observer.punctuationFailed(this.processor.name, error);
      }
    }
    return produced;
  }

  #context(forwarded: OutputRecord[]): ProcessorContext {
    const { processor } = this;
    const stores = this.stores;
    const observer = this.#observer;
    const env = this.env;
    const streamTime = () => this.#streamTimeMs;
    return {
      forward<V>(record: OutputRecord<V>): void {
        if (!processor.outputs.includes(record.topic)) {
          throw new Error(
            `${processor.name} forwarded to ${record.topic}, which is not among its declared outputs`,
          );
        }
        forwarded.push(record);
      },
      keyValueStore<V>(name: string): KeyValueStore<V> {
        const store = stores.get(name);
        if (!(store instanceof MemoryKeyValueStore))
          throw new Error(`${processor.name} has no key-value store ${name}`);
        return store as MemoryKeyValueStore<V>;
      },
      windowStore<V>(name: string): WindowStore<V> {
        const store = stores.get(name);
        if (!(store instanceof MemoryWindowStore))
          throw new Error(`${processor.name} has no window store ${name}`);
        const windows = store as MemoryWindowStore<V>;
        return {
          get size() {
            return windows.size;
          },
          fetch: (key, fromMs, toMs) => windows.fetch(key, fromMs, toMs),
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
