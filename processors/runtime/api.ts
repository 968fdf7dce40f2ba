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
import type { Headers } from '../../topics/headers.js';

/** Kafka headers as the runtime exposes them, and the header names carried end to end (topics/headers.ts). */
export { HEADER, type Headers } from '../../topics/headers.js';
export type { Serde } from '../../schemas/serde.js';

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
}

/** Declares a state store a processor uses. Stores are partitioned like the processor's input. */
export type StoreSpec = KeyValueStoreSpec | WindowStoreSpec;

export interface KeyValueStoreSpec {
  readonly kind: 'kv';
  readonly name: string;
  /** Hard bound per partition; exceeding it is a StoreCapacityError (the record is dead-lettered). */
  readonly maxEntries: number;
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
}

/**
 * Thrown by a processor (or a serde) for a failure worth retrying: the runtime retries the record
 * with capped exponential backoff, then dead-letters it when the attempts are used up. Any other
 * error dead-letters the record at once.
 */
export class RetriableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetriableError';
  }
}

/** Raised when a store would exceed its declared `maxEntries`; the record is dead-lettered. */
export class StoreCapacityError extends Error {
  constructor(
    readonly store: string,
    readonly maxEntries: number,
  ) {
    super(`state store ${store} is full (${maxEntries} entries per partition)`);
    this.name = 'StoreCapacityError';
  }
}

/** A topic as the runtime sees it. */
export interface TopicSpec<V = unknown> {
  readonly name: string;
  readonly partitions: number;
  readonly serde: Serde<V>;
}

/**
 * The whole application in one place: every topic it touches, every processor, and where
 * records that can't be processed go.
 */
export interface Topology {
  readonly applicationId: string;
  readonly topics: readonly TopicSpec[];
  readonly processors: readonly Processor[];
  /** Records that fail decoding or processing land here, with the reason in headers. */
  readonly deadLetterTopic: string;
}
