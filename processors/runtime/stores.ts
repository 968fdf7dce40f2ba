/**
 * The in-memory state stores both drivers use. A store holds committed values plus the writes of
 * the transaction in progress; the writes of the record being processed can be undone alone
 * (a record that throws leaves no trace), the transaction's writes are either committed (and
 * become changelog records) or aborted.
 *
 * Memory is bounded per partition by the spec's `maxEntries`; a write that would exceed it throws
 * StoreCapacityError (the runtime dead-letters the record and keeps going).
 */
import {
  StoreCapacityError,
  type KeyValueStore,
  type KeyValueStoreSpec,
  type Serde,
  type StoreSpec,
  type TimeWindow,
  type WindowSpec,
  type WindowStore,
  type WindowStoreSpec,
  type WindowUpdateResult,
  type WindowedValue,
} from './api.js';
import { jsonSerde } from './json-serde.js';
import { expireFromIndex, TimeIndex } from './time-index.js';

export const DELETED = Symbol('deleted');
export type Staged<V> = V | typeof DELETED;

/** One changelog record: a key's new value, or null for a deletion. */
export interface ChangelogWrite {
  readonly store: string;
  readonly key: string;
  readonly value: Buffer | null;
}

/** What the runtime needs from every store, whatever its kind. */
export interface RuntimeStore {
  readonly kind: 'kv' | 'window';
  /** True for a store whose committed state survives the process (its checkpoint counts). */
  readonly persistent?: boolean;
  readonly name: string;
  readonly size: number;
  /** Starts recording undo information for one record. */
  beginRecord(): void;
  /** Drops the current record's writes. */
  undoRecord(): void;
  /** The transaction's writes, serialized for the changelog. */
  changelog(): Promise<ChangelogWrite[]>;
  /** Makes the transaction's writes the committed state. */
  commit(): void;
  /** Drops the transaction's writes. */
  abort(): void;
  /** Applies one changelog record during restore (bypasses staging and capacity). */
  restore(key: string, value: Buffer | null): Promise<void>;
}

/**
 * The transaction layer every store has over its committed state: the transaction's writes (a
 * deletion is DELETED) and the current record's undo log. Subclasses hold the committed state
 * (a Map, or LMDB) and are told whenever a key's visible presence may have changed.
 */
export abstract class StagingLayer<V> {
  protected readonly stagedWrites = new Map<string, Staged<V>>();
  #undo: [string, Staged<V> | undefined][] | undefined;

  protected abstract committedValue(key: string): V | undefined;
  /** A write, an undo or an abort may have changed the key's visible value. */
  protected abstract changed(key: string, before: boolean, after: boolean): void;

  get(key: string): V | undefined {
    const staged = this.stagedWrites.get(key);
    if (staged === DELETED) return undefined;
    return staged ?? this.committedValue(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * Writes within the transaction; `undefined` deletes. `present`: whether the key has a value
   * now, when the caller knows (it saves a read of the committed value).
   */
  write(key: string, value: V | undefined, present?: boolean): void {
    const before = present ?? this.has(key);
    this.#undo?.push([key, this.stagedWrites.get(key)]);
    this.stagedWrites.set(key, value === undefined ? DELETED : value);
    this.changed(key, before, value !== undefined);
  }

  beginRecord(): void {
    this.#undo = [];
  }

  undoRecord(): void {
    const undo = this.#undo ?? [];
    this.#undo = undefined;
    for (const [key, previous] of undo.reverse()) {
      const before = this.has(key);
      if (previous === undefined) this.stagedWrites.delete(key);
      else this.stagedWrites.set(key, previous);
      this.changed(key, before, this.has(key));
    }
  }

  staged(): IterableIterator<[string, Staged<V>]> {
    return this.stagedWrites.entries();
  }

  isDeleted(value: Staged<V>): value is typeof DELETED {
    return value === DELETED;
  }

  /** Forgets the transaction (after its writes were committed or dropped). */
  protected endTransaction(): void {
    this.stagedWrites.clear();
    this.#undo = undefined;
  }
}

/** A map with a committed layer, a transaction layer and a per-record undo log. */
class StagedMap<V> extends StagingLayer<V> {
  readonly #committed = new Map<string, V>();
  #size = 0;

  constructor(
    private readonly onPresenceChange: (key: string, present: boolean) => void = () => undefined,
    /** Told whenever the visible value of a key may have changed (a write, an undo, an abort, a restore). */
    private readonly onValueChange: (key: string) => void = () => undefined,
  ) {
    super();
  }

  get size(): number {
    return this.#size;
  }

  protected committedValue(key: string): V | undefined {
    return this.#committed.get(key);
  }

  protected changed(key: string, before: boolean, after: boolean): void {
    this.#presence(key, before, after);
    this.onValueChange(key);
  }

  commit(): void {
    for (const [key, value] of this.stagedWrites) {
      if (value === DELETED) this.#committed.delete(key);
      else this.#committed.set(key, value);
    }
    this.endTransaction();
  }

  abort(): void {
    const keys = [...this.stagedWrites.keys()];
    const before = keys.map((key) => this.has(key));
    this.endTransaction();
    keys.forEach((key, i) => this.changed(key, before[i]!, this.has(key)));
  }

  /** Direct write to the committed layer (restore). */
  restore(key: string, value: V | undefined): void {
    const before = this.#committed.has(key);
    if (value === undefined) this.#committed.delete(key);
    else this.#committed.set(key, value);
    this.#presence(key, before, value !== undefined);
    this.onValueChange(key);
  }

  keys(): string[] {
    const keys = new Set(this.#committed.keys());
    for (const [key, value] of this.stagedWrites) {
      if (value === DELETED) keys.delete(key);
      else keys.add(key);
    }
    return [...keys];
  }

  #presence(key: string, before: boolean, after: boolean): void {
    if (before === after) return;
    this.#size += after ? 1 : -1;
    this.onPresenceChange(key, after);
  }
}

abstract class BaseStore<V> implements RuntimeStore {
  abstract readonly kind: 'kv' | 'window';
  constructor(
    readonly name: string,
    protected readonly maxEntries: number,
    protected readonly serde: Serde<V>,
    protected readonly map: StagedMap<V>,
  ) {}

  get size(): number {
    return this.map.size;
  }

  beginRecord(): void {
    this.map.beginRecord();
  }

  undoRecord(): void {
    this.map.undoRecord();
  }

  commit(): void {
    this.map.commit();
  }

  abort(): void {
    this.map.abort();
  }

  async changelog(): Promise<ChangelogWrite[]> {
    const writes: ChangelogWrite[] = [];
    for (const [key, value] of this.map.staged()) {
      writes.push({
        store: this.name,
        key,
        value: this.map.isDeleted(value) ? null : await this.serde.serialize(value, this.name),
      });
    }
    return writes;
  }

  async restore(key: string, value: Buffer | null): Promise<void> {
    this.map.restore(key, value === null ? undefined : await this.serde.deserialize(value, this.name));
  }

  protected ensureRoom(key: string): void {
    if (!this.map.has(key) && this.map.size >= this.maxEntries)
      throw new StoreCapacityError(this.name, this.maxEntries);
  }
}

export class MemoryKeyValueStore<V> extends BaseStore<V> implements KeyValueStore<V> {
  readonly kind = 'kv';
  readonly #timeOf: ((value: V) => number) | undefined;
  readonly #index: TimeIndex | undefined;

  constructor(spec: KeyValueStoreSpec, serde: Serde<V> = jsonSerde<V>()) {
    const timeOf = spec.timeOf as ((value: V) => number) | undefined;
    const index = timeOf === undefined ? undefined : new TimeIndex();
    let map: StagedMap<V> | undefined = undefined;
    map = new StagedMap<V>(undefined, (key) => {
      const value = map!.get(key);
      if (value !== undefined) index?.push(timeOf!(value), key);
    });
    super(spec.name, spec.maxEntries, serde, map);
    this.#timeOf = timeOf;
    this.#index = index;
  }

  expireUpTo(maxTimeMs: number, limit: number): number {
    const timeOf = this.#timeOf;
    if (timeOf === undefined || this.#index === undefined)
      throw new Error(`state store ${this.name} declares no timeOf: it has no time index to expire from`);
    return expireFromIndex(
      this.#index,
      maxTimeMs,
      limit,
      (key) => {
        const value = this.map.get(key);
        return value === undefined ? undefined : timeOf(value);
      },
      (key) => this.delete(key),
    );
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  *all(): IterableIterator<readonly [string, V]> {
    for (const key of this.map.keys().sort()) {
      const value = this.map.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  put(key: string, value: V): void {
    this.ensureRoom(key);
    this.map.write(key, value);
  }

  putIfAbsent(key: string, value: V): V | undefined {
    const existing = this.map.get(key);
    if (existing !== undefined) return existing;
    this.put(key, value);
    return undefined;
  }

  delete(key: string): void {
    this.map.write(key, undefined);
  }
}

/** The windows a record at `timestampMs` belongs to. */
export function windowsFor(spec: WindowSpec, timestampMs: number): TimeWindow[] {
  if (spec.type === 'sliding') return [{ startMs: timestampMs - spec.sizeMs, endMs: timestampMs }];
  const advance = spec.type === 'tumbling' ? spec.sizeMs : spec.advanceMs;
  const windows: TimeWindow[] = [];
  const lastStart = Math.floor(timestampMs / advance) * advance;
  // Windows start at or after epoch 0, as in Kafka Streams.
  for (let start = lastStart; start > timestampMs - spec.sizeMs && start >= 0; start -= advance) {
    windows.unshift({ startMs: start, endMs: start + spec.sizeMs });
  }
  return windows;
}

/** Kafka Streams' rule: a window accepts records until stream time reaches its end plus grace. */
export function windowIsOpen(spec: WindowSpec, window: TimeWindow, streamTimeMs: number): boolean {
  return streamTimeMs < window.endMs + spec.graceMs;
}

/** What a window store keeps per window (the changelog value, as JSON). */
export interface WindowEntry<V> {
  readonly key: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly value: V;
}

const SEPARATOR = '\u0000';
/** A window's changelog key: the record key and the window's start. */
export const compositeKey = (key: string, startMs: number) => `${key}${SEPARATOR}${startMs}`;

/** The record key and window start of a changelog key (`compositeKey`'s inverse). */
export function parseCompositeKey(composite: string): { readonly key: string; readonly startMs: number } {
  const cut = composite.lastIndexOf(SEPARATOR);
  return { key: composite.slice(0, cut), startMs: Number(composite.slice(cut + 1)) };
}

/** Windows past retention an in-memory store at its maxEntries removes before refusing a new one. */
export const WINDOW_EXPIRY_STEP = 64;

export function validateWindowSpec(store: string, spec: WindowSpec): void {
  const problems: string[] = [];
  if (!(spec.sizeMs > 0)) problems.push('sizeMs must be > 0');
  if (spec.type === 'hopping' && !(spec.advanceMs > 0 && spec.advanceMs <= spec.sizeMs))
    problems.push('advanceMs must be in (0, sizeMs]');
  if (spec.graceMs < 0) problems.push('graceMs must be >= 0');
  if (spec.retentionMs < spec.graceMs) problems.push('retentionMs must be >= graceMs');
  if (problems.length > 0) throw new Error(`window store ${store}: ${problems.join('; ')}`);
}

/**
 * Applies a record to every window of `key` it belongs to that is still open at `streamTime`
 * (both window stores' update, after their expiry): each window's entry is read with `get` and
 * written back with `put`, under its changelog key.
 */
export function updateOpenWindows<V>(
  spec: WindowSpec,
  streamTime: number,
  key: string,
  timestampMs: number,
  aggregate: (previous: V | undefined, window: TimeWindow) => V,
  entries: {
    readonly get: (composite: string) => WindowEntry<V> | undefined;
    readonly put: (composite: string, entry: WindowEntry<V>) => void;
  },
): WindowUpdateResult<V> {
  const open = windowsFor(spec, timestampMs).filter((window) => windowIsOpen(spec, window, streamTime));
  if (open.length === 0) return { late: true, updated: [] };
  const updated: WindowedValue<V>[] = [];
  for (const window of open) {
    const composite = compositeKey(key, window.startMs);
    const value = aggregate(entries.get(composite)?.value, window);
    entries.put(composite, { key, startMs: window.startMs, endMs: window.endMs, value });
    updated.push({ key, window, value });
  }
  return { late: false, updated };
}

/**
 * Windowed aggregates per key. Windows are kept until stream time passes their end plus the
 * retention; records for windows past their grace period are reported late and not applied.
 */
export class MemoryWindowStore<V> extends BaseStore<WindowEntry<V>> implements WindowStore<V> {
  readonly kind = 'window';
  readonly #spec: WindowSpec;
  readonly #starts: Map<string, Set<number>>;
  readonly #streamTime: () => number;
  /** Windows by the stream time at which retention removes them (end + retentionMs). */
  readonly #expiry: TimeIndex;

  constructor(
    spec: WindowStoreSpec,
    streamTime: () => number,
    serde: Serde<WindowEntry<V>> = jsonSerde<WindowEntry<V>>(),
  ) {
    validateWindowSpec(spec.name, spec.window);
    const starts = new Map<string, Set<number>>();
    const expiry = new TimeIndex();
    let map: StagedMap<WindowEntry<V>> | undefined = undefined;
    map = new StagedMap<WindowEntry<V>>(
      (composite, present) => {
        const { key, startMs: start } = parseCompositeKey(composite);
        let set = starts.get(key);
        if (present) {
          if (set === undefined) starts.set(key, (set = new Set()));
          set.add(start);
        } else if (set !== undefined) {
          set.delete(start);
          if (set.size === 0) starts.delete(key);
        }
      },
      (composite) => {
        const entry = map!.get(composite);
        if (entry !== undefined) expiry.push(entry.endMs + spec.window.retentionMs, composite);
      },
    );
    super(spec.name, spec.maxEntries, serde, map);
    this.#expiry = expiry;
    this.#spec = spec.window;
    this.#starts = starts;
    this.#streamTime = streamTime;
  }

  update(
    key: string,
    timestampMs: number,
    aggregate: (previous: V | undefined, window: TimeWindow) => V,
  ): WindowUpdateResult<V> {
    const streamTime = this.#streamTime();
    this.#expire(key, streamTime);
    return updateOpenWindows(this.#spec, streamTime, key, timestampMs, aggregate, {
      get: (composite) => {
        if (!this.map.has(composite) && this.map.size >= this.maxEntries)
          this.#expireOldest(streamTime, WINDOW_EXPIRY_STEP);
        this.ensureRoom(composite);
        return this.map.get(composite);
      },
      put: (composite, entry) => this.map.write(composite, entry),
    });
  }

  fetch(key: string, fromMs: number, toMs: number): readonly WindowedValue<V>[] {
    const starts = [...(this.#starts.get(key) ?? [])]
      .filter((start) => start >= fromMs && start <= toMs)
      .sort((a, b) => a - b);
    return starts.map((start) => {
      const entry = this.map.get(compositeKey(key, start))!;
      return { key, window: { startMs: entry.startMs, endMs: entry.endMs }, value: entry.value };
    });
  }

  #expire(key: string, streamTime: number): void {
    for (const start of [...(this.#starts.get(key) ?? [])]) {
      const composite = compositeKey(key, start);
      const entry = this.map.get(composite);
      if (entry !== undefined && entry.endMs + this.#spec.retentionMs <= streamTime)
        this.map.write(composite, undefined);
    }
  }

  expireRetention(limit: number): number {
    return this.#expireOldest(this.#streamTime(), limit);
  }

  /** Removes up to `limit` windows past retention, oldest first, from the time index. */
  #expireOldest(streamTime: number, limit: number): number {
    return expireFromIndex(
      this.#expiry,
      streamTime,
      limit,
      (composite) => {
        const entry = this.map.get(composite);
        return entry === undefined ? undefined : entry.endMs + this.#spec.retentionMs;
      },
      (composite) => this.map.write(composite, undefined),
    );
  }
}

/** A window store as the runtime holds it. */
export type RuntimeWindowStore = RuntimeStore & WindowStore<unknown>;

/** Where a task's stores stand against their changelogs. */
export interface StoreCheckpoint {
  /** Changelog topic -> the next offset to restore from (everything before it is in the store). */
  readonly offsets: ReadonlyMap<string, bigint>;
  /** Wall clock of the commit that wrote it. */
  readonly writtenAtMs: number;
}

/**
 * Where a task's stores live: in memory (the embedded default, unit tests) or on disk
 * (disk-stores.ts, the Kafka mode). One per task (sub-topology partition); the task commits its
 * stores, then `flush`es the backend with the changelog offsets the commit reached.
 */
export interface StoreBackend {
  create(processor: string, spec: StoreSpec, streamTime: () => number): RuntimeStore;
  /** Where the stores stand against their changelogs; undefined: restore the changelogs whole. */
  readonly checkpoint: StoreCheckpoint | undefined;
  /** True when the backend holds state that no checkpoint vouches for (it must be wiped). */
  readonly inconsistent: boolean;
  /** Claims the stores for the task with this fencing nonce (a zombie's later commits fail). */
  claim(owner: string): void;
  /** Writes what the stores committed, with the changelog offsets they now hold, atomically. */
  flush(changelogEnds: ReadonlyMap<string, bigint>): void;
  /** Drops what the stores committed since the last flush (not used by memory). */
  discard(): void;
  /** Writes restored records with the restore's progress (changelog topic -> next offset). */
  restored(progress: ReadonlyMap<string, bigint>): void;
  /** Removes all state and the checkpoint. */
  wipe(): void;
  readonly diskBytes: number;
  close(): void;
}

/** The in-memory stores: nothing survives the process, no checkpoint. */
export class MemoryStoreBackend implements StoreBackend {
  readonly checkpoint = undefined;
  readonly inconsistent = false;
  readonly diskBytes = 0;

  create(_processor: string, spec: StoreSpec, streamTime: () => number): RuntimeStore {
    return spec.kind === 'kv'
      ? new MemoryKeyValueStore<unknown>(spec)
      : new MemoryWindowStore<unknown>(spec, streamTime);
  }

  claim(): void {}
  flush(): void {}
  discard(): void {}
  restored(): void {}
  wipe(): void {}
  close(): void {}
}
