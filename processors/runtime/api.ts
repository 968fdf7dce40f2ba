/**
 * The processor contract. A processor file reads as the business rule and nothing else:
 * offsets, transactions, changelogs, restore, retries, dead-lettering and metrics belong to the
 * runtime that drives it (the Kafka driver or the in-memory driver).
 *
 * A processor never performs I/O. It reads one record, reads and writes its state stores through
 * the context, and forwards output records. Everything it does for one input record is committed
 * atomically by the runtime: outputs, state changes and the input offset, or none of them.
 */

import type { Serde } from '../../schemas/serde.js';
import type { DeadLetterCode, Headers } from '../../topics/headers.js';

/** Kafka headers as the runtime exposes them, and the header names carried end to end (topics/headers.ts). */
export { DEAD_LETTER_CODES, HEADER, type DeadLetterCode, type Headers } from '../../topics/headers.js';
export { RetriableError, type Serde } from '../../schemas/serde.js';

/** An input record, immutable. Keys are strings (payment id, account id, ...). */
export interface InputRecord<V> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: V;
  readonly timestampMs: number;
  readonly headers: Headers;
}

/** A record a processor emits. The runtime serializes it with the topic's serde. */
export interface OutputRecord<V = unknown> {
  readonly topic: string;
  readonly key: string;
  readonly value: V;
  /** Defaults to the input record's headers (so the correlation id travels on). */
  readonly headers?: Headers;
  /** Defaults to the input record's timestamp. */
  readonly timestampMs?: number;
}

export interface ReadOnlyKeyValueStore<V> {
  get(key: string): V | undefined;
  /** Entries in ascending key order. */
  all(): IterableIterator<readonly [string, V]>;
  readonly size: number;
}

export interface KeyValueStore<V> extends ReadOnlyKeyValueStore<V> {
  put(key: string, value: V): void;
  /** Returns the existing value and leaves it untouched, or stores `value` and returns undefined. */
  putIfAbsent(key: string, value: V): V | undefined;
  delete(key: string): void;
  /**
   * Deletes, oldest first, up to `limit` entries whose time (the spec's `timeOf`) is at or
   * before `maxTimeMs`, reading a time-ordered index (never a scan of the store), and returns how
   * many it deleted. Fewer than `limit` means none is left to expire. A store whose spec declares
   * no `timeOf` has no index: it throws.
   */
  expireUpTo(maxTimeMs: number, limit: number): number;
}

/** Declares a state store a processor uses. Stores are partitioned like the processor's input. */
export type StoreSpec = KeyValueStoreSpec | WindowStoreSpec;

export interface KeyValueStoreSpec {
  readonly kind: 'kv';
  readonly name: string;
  /**
   * Bound per partition of the in-memory store (the embedded default and unit tests): exceeding
   * it is a StoreCapacityError (the record is dead-lettered STORE_CAPACITY). The disk-backed
   * stores of the Kafka mode ignore it: their capacity is the disk.
   */
  readonly maxEntries: number;
  /**
   * The time of an entry (e.g. when it was recorded): the store keeps a time-ordered index of its
   * entries by it, so `expireUpTo` expires the oldest entries in bounded steps. Pure.
   */
  readonly timeOf?: (value: never) => number;
}

export interface WindowStoreSpec {
  readonly kind: 'window';
  readonly name: string;
  readonly maxEntries: number;
  readonly window: WindowSpec;
}

/**
 * tumbling: fixed windows [k*size, (k+1)*size). hopping: windows of sizeMs starting every
 * advanceMs, so a record lands in size/advance windows. Both start at or after 0.
 *
 * sliding: a record at t belongs to the window [t - sizeMs, t] (advanceMs ignored); records with
 * the same timestamp share it. The aggregate over the sliding window ending at t is the
 * combination of the windows whose end lies in [t - sizeMs, t], i.e. whose start lies in
 * [t - 2*sizeMs, t - sizeMs]: `fetch(key, t - 2 * sizeMs, t - sizeMs)`.
 */
export interface WindowSpec {
  readonly type: 'tumbling' | 'hopping' | 'sliding';
  readonly sizeMs: number;
  readonly advanceMs: number;
  /** How long after a window's end a late record is still accepted (by stream time). */
  readonly graceMs: number;
  /** How long a window is kept after its end (by stream time); must be >= graceMs. */
  readonly retentionMs: number;
}

/** A time window. Tumbling and hopping windows are [startMs, endMs); sliding windows are [startMs, endMs]. */
export interface TimeWindow {
  readonly startMs: number;
  readonly endMs: number;
}

export interface WindowedValue<V> {
  readonly key: string;
  readonly window: TimeWindow;
  readonly value: V;
}

/**
 * The outcome of adding one record to a window store. `late` means every window the record
 * belongs to had already closed (stream time passed window end + grace): nothing was written and
 * the runtime counted the record as dropped.
 */
export type WindowUpdateResult<V> =
  | { readonly late: false; readonly updated: readonly WindowedValue<V>[] }
  | { readonly late: true; readonly updated: readonly [] };

export interface WindowStore<V> {
  /**
   * Adds a record at `timestampMs` to every open window it belongs to: each window's value becomes
   * `aggregate(previous value or undefined, window)`. Windows already closed are left untouched.
   */
  update(
    key: string,
    timestampMs: number,
    aggregate: (previous: V | undefined, window: TimeWindow) => V,
  ): WindowUpdateResult<V>;
  /** Windows of `key` whose start lies in [fromMs, toMs], ascending by start. */
  fetch(key: string, fromMs: number, toMs: number): readonly WindowedValue<V>[];
  /**
   * Removes, oldest first, up to `limit` windows whose retention has passed (stream time at or
   * past end + retentionMs), from the store's time index; returns how many. For a stream-time
   * punctuator (`retentionPurger` in processors/ttl.ts): a bounded batch per punctuation.
   */
  expireRetention(limit: number): number;
  readonly size: number;
}

/** A replicated, read-only table fed from every partition of a compacted topic (latest value per key). */
export interface GlobalTable<V> {
  get(key: string): V | undefined;
  readonly size: number;
}

export interface ProcessorContext {
  /** Emit a record to one of the processor's declared output topics. */
  forward<V>(record: OutputRecord<V>): void;
  keyValueStore<V>(name: string): KeyValueStore<V>;
  windowStore<V>(name: string): WindowStore<V>;
  /** A table declared in the processor's `globalTables`. */
  globalTable<V>(name: string): GlobalTable<V>;
  /** Highest record timestamp seen by this partition so far. */
  readonly streamTimeMs: number;
  /** Wall clock as the driver sees it (controllable in the in-memory driver). */
  readonly wallClockMs: number;
}

export interface Punctuator {
  readonly type: 'stream-time' | 'wall-clock';
  readonly intervalMs: number;
  punctuate(context: ProcessorContext, timestampMs: number): void;
}

export interface Processor<V = unknown> {
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly stores: readonly StoreSpec[];
  readonly punctuators?: readonly Punctuator[];
  /** Compacted topics read as replicated tables through `context.globalTable(topic)`. */
  readonly globalTables?: readonly string[];
  process(record: InputRecord<V>, context: ProcessorContext): void;
  /**
   * Called (pure, like `process`) for an input that is dead-lettered as bad data, in the same
   * transaction as its dead letter: a processor on a payment's path forwards the payment's
   * terminal event here so the payment ends visibly. Throwing from it stops the partition.
   */
  onBadRecord?(record: BadRecord, context: ProcessorContext): void;
}

/** An input dead-lettered as bad data, as `onBadRecord` sees it (its value could not be used). */
export interface BadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly timestampMs: number;
  readonly headers: Headers;
  readonly code: DeadLetterCode;
  /** The error message, as in `payflow-dlq-reason`. */
  readonly reason: string;
  /**
   * The decoded value when the record decoded but was refused (a full store, a processor's
   * BadRecordError); absent for bytes the serde can't read and for a tombstone.
   */
  readonly value?: unknown;
}

/*
 * Failure classes. What a processor or a serde throws decides what happens to the record:
 *
 * - BadRecordError (bad data): the record is dead-lettered with its code, the processor's
 *   `onBadRecord` may end the payment it belongs to, and the partition moves on.
 * - RetriableError (infrastructure: registry, broker, a store out of reach): retried with capped
 *   backoff, never dead-lettered; the record is not committed until it succeeds.
 * - anything else (a program error or a broken invariant, see `assertInvariant`): the partition
 *   stops. Nothing of the record is committed or dead-lettered; its task fails, is counted and
 *   logged, and the processor's component is reported `failed` (readiness is red) until the
 *   process is restarted with a fix.
 */

/**
 * A record that is bad data: it is dead-lettered with `deadLetterCode` and the partition moves on.
 * A serde throws it (or any error but a RetriableError) for bytes it cannot read; a processor
 * throws it for an input its contract can't accept.
 */
export class BadRecordError extends Error {
  constructor(
    readonly deadLetterCode: DeadLetterCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BadRecordError';
  }
}

/** A broken invariant: a program error, so the partition stops rather than go on. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

/** Throws InvariantError when `condition` is false: the partition stops, nothing is committed. */
export function assertInvariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new InvariantError(message());
}

/** Raised when a store would exceed its declared `maxEntries`; the record is dead-lettered STORE_CAPACITY. */
export class StoreCapacityError extends BadRecordError {
  constructor(
    readonly store: string,
    readonly maxEntries: number,
  ) {
    super('STORE_CAPACITY', `state store ${store} is full (${maxEntries} entries per partition)`);
    this.name = 'StoreCapacityError';
  }
}

/** A topic as the runtime sees it. */
export interface TopicSpec<V = unknown> {
  readonly name: string;
  readonly partitions: number;
  readonly serde: Serde<V>;
  /**
   * An edge inside a sub-topology rather than a Kafka topic: a record forwarded to it goes
   * straight to the one processor that reads it, in memory, in the same task and transaction
   * (Kafka Streams' fused processors). Its key must land on the forwarding task's partition; its
   * serde is used only to dead-letter a record the reader refuses. Never written to Kafka.
   */
  readonly inTask?: boolean;
}

/**
 * The whole application in one place: every topic it touches, every processor, and where
 * records that can't be processed go.
 */
export interface Topology {
  readonly applicationId: string;
  readonly topics: readonly TopicSpec[];
  readonly processors: readonly Processor[];
  /** Records that are bad data (BadRecordError, undecodable, full store) land here, with the code in headers. */
  readonly deadLetterTopic: string;
  /**
   * Names of sub-topologies, by any processor they hold (a sub-topology is its consumer group
   * `<applicationId>-<name>` and its tasks' transactional ids). Unnamed, a sub-topology is named
   * after its first processor.
   */
  readonly subTopologyNames?: Readonly<Record<string, string>>;
}
