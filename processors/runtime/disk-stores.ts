/**
 * Disk-backed state stores (the Kafka mode's): LMDB through `lmdb` (see README.md for why), one
 * LMDB environment per task — `<stateDir>/<applicationId>/<sub-topology>/<partition>/` — holding
 * every store of the task's processors as named databases, their time indexes, and a checkpoint.
 *
 * Semantics are the in-memory stores' (stores.ts): the writes of the transaction in progress are
 * staged in memory (bounded by the transaction's records) and visible within the task; a record
 * that throws leaves no trace; `commit(changelogEnds)` writes every store's staged writes, their
 * index entries and the checkpoint — the changelog offset each store holds — in one LMDB write
 * transaction, so after a crash the data and the checkpoint always agree. Committed values are
 * read from LMDB (memory-mapped; the kernel pages it) through a bounded LRU cache of decoded
 * values, so the process's memory does not grow with the number of keys. There is no capacity
 * error: capacity is the disk.
 *
 * Ownership: a task claims its directory with its fencing nonce; a commit of a task that is no
 * longer the claimant (a zombie whose partition moved to another process on the same machine)
 * fails without writing, so it can't write older state over the new owner's.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { open, type Database, type Key, type RootDatabase } from 'lmdb';

import type {
  KeyValueStore,
  KeyValueStoreSpec,
  StoreSpec,
  TimeWindow,
  WindowSpec,
  WindowStore,
  WindowStoreSpec,
  WindowUpdateResult,
  WindowedValue,
} from './api.js';
import { fromJson, toJson } from './json-serde.js';
import { type MappedMemoryGovernor, processMappedMemory, type Remappable } from './mapped-memory.js';
import {
  compositeKey,
  DELETED,
  parseCompositeKey,
  type Staged,
  StagingLayer,
  validateWindowSpec,
  updateOpenWindows,
  type ChangelogWrite,
  type RuntimeStore,
  type StoreBackend,
  type StoreCheckpoint,
  type WindowEntry,
} from './stores.js';

/** Decoded committed values kept in memory per store, at most (the LRU cache). */
export const DEFAULT_STORE_CACHE_ENTRIES = 10_000;

/**
 * The address space an environment maps at first (virtual: nothing is allocated or written).
 * LMDB grows the map by doubling once the data outgrows it, and lmdb-js keeps every earlier
 * mapping of a grown environment until it is closed, so a file grown from a small map is
 * resident once per mapping that touched its pages (10 GiB of RSS for a 5.2 GiB file). Mapped
 * large from the start, it is mapped once; beyond, the reopens of the memory budget drop them.
 */
const INITIAL_MAP_BYTES = 16 * 2 ** 30;

/** The value of an index entry (the key says it all). */
const NO_VALUE = Buffer.alloc(0);
const META_CHECKPOINT = 'checkpoint';
const META_OWNER = 'owner';

/** Thrown by a commit of a task whose directory another task (a newer owner) has claimed. */
export class StoreOwnershipError extends Error {
  constructor(path: string) {
    super(`state directory ${path} was claimed by a newer owner of the partition; this task is a zombie`);
    this.name = 'StoreOwnershipError';
  }
}

type StoreWrite = (directory: TaskStateDirectory) => void;

/**
 * One task's LMDB environment: its stores' databases, their indexes, the checkpoint, the owner.
 *
 * The environment is reopened (closed and opened again: its memory map dropped) when the memory
 * governor says so, right after one of its write transactions; the database handles are then
 * opened again by name. Stores therefore never keep a handle: they ask the directory for it
 * (`database`, `windowDatabase`, `timeIndex`) at each use.
 */
export class TaskStateDirectory implements Remappable {
  #root!: RootDatabase<unknown, string>;
  #meta!: Database<unknown, string>;
  readonly #databases = new Map<string, Database<Buffer, string>>();
  readonly #windowDatabases = new Map<string, Database<Buffer, [string, number]>>();
  readonly #indexes = new Map<string, Database<Buffer, [number, string]>>();
  readonly #governor: MappedMemoryGovernor;
  #owner: string | undefined;
  #pending: StoreWrite[] = [];
  #restoreWrites: StoreWrite[] = [];
  #remaps = 0;

  constructor(
    readonly path: string,
    readonly cacheEntries = DEFAULT_STORE_CACHE_ENTRIES,
    /** Bounds the mapped pages of the process's environments (reopens this one when over budget). */
    governor: MappedMemoryGovernor = processMappedMemory,
  ) {
    mkdirSync(path, { recursive: true });
    this.#open();
    this.#governor = governor;
    governor.register(this);
  }

  #open(): void {
    const path = this.path;
    // noSync: a commit is durable in Kafka (the changelog) before it reaches this store; after a
    // machine crash LMDB keeps its last synced transaction, consistent with its checkpoint, and
    // the tail is restored. Without writeMap, a process crash loses nothing written.
    this.#root = open<unknown, string>({
      path,
      maxDbs: 64,
      noSync: true,
      encoding: 'msgpack',
      mapSize: INITIAL_MAP_BYTES,
    });
    this.#meta = this.#root.openDB<unknown, string>('meta', { encoding: 'msgpack' });
    for (const store of this.#databases.keys())
      this.#databases.set(store, this.#root.openDB<Buffer, string>(`store:${store}`, { encoding: 'binary' }));
    for (const store of this.#windowDatabases.keys())
      this.#windowDatabases.set(
        store,
        this.#root.openDB<Buffer, [string, number]>(`windows:${store}`, { encoding: 'binary' }),
      );
    for (const store of this.#indexes.keys())
      this.#indexes.set(
        store,
        this.#root.openDB<Buffer, [number, string]>(`time:${store}`, { encoding: 'binary' }),
      );
  }

  /**
   * Closes and reopens the environment, which unmaps its file: the pages reads and writes
   * touched leave the process's RSS (they stay in the page cache). Only between transactions:
   * nothing staged or queued is touched, and every database is opened again by name.
   */
  remap(): void {
    void this.#root.close();
    this.#open();
    this.#remaps++;
  }

  /** Times the environment was reopened to drop its mapping. */
  get remaps(): number {
    return this.#remaps;
  }

  /** The directory of a task under the state directory. */
  static forTask(stateDir: string, applicationId: string, subTopology: string, partition: number): string {
    return join(stateDir, applicationId, subTopology, String(partition));
  }

  database(store: string): Database<Buffer, string> {
    let db = this.#databases.get(store);
    if (db === undefined) {
      db = this.#root.openDB<Buffer, string>(`store:${store}`, { encoding: 'binary' });
      this.#databases.set(store, db);
    }
    return db;
  }

  /** A window store's database: keys [record key, window start], so a key's windows are one range. */
  windowDatabase(store: string): Database<Buffer, [string, number]> {
    let db = this.#windowDatabases.get(store);
    if (db === undefined) {
      db = this.#root.openDB<Buffer, [string, number]>(`windows:${store}`, { encoding: 'binary' });
      this.#windowDatabases.set(store, db);
    }
    return db;
  }

  /** The time index of a store: keys [timeMs, key], no values. */
  timeIndex(store: string): Database<Buffer, [number, string]> {
    let db = this.#indexes.get(store);
    if (db === undefined) {
      db = this.#root.openDB<Buffer, [number, string]>(`time:${store}`, { encoding: 'binary' });
      this.#indexes.set(store, db);
    }
    return db;
  }

  /** The committed checkpoint, or undefined when the stores have none (restore everything). */
  checkpoint(): StoreCheckpoint | undefined {
    const raw = this.#meta.get(META_CHECKPOINT) as
      { readonly offsets: Record<string, string>; readonly writtenAtMs: number } | undefined;
    if (raw === undefined) return undefined;
    return {
      offsets: new Map(Object.entries(raw.offsets).map(([topic, offset]) => [topic, BigInt(offset)])),
      writtenAtMs: raw.writtenAtMs,
    };
  }

  /** Claims the directory for a task (its fencing nonce): older claimants' commits fail from now on. */
  claim(owner: string): void {
    this.#owner = owner;
    this.#meta.putSync(META_OWNER, owner);
  }

  /** Queues a store's committed writes for the next `flush`. */
  queue(write: StoreWrite): void {
    this.#pending.push(write);
  }

  /** Queues a restored record's write; written by `flushRestore`. */
  queueRestore(write: StoreWrite): void {
    this.#restoreWrites.push(write);
  }

  get restoreBuffered(): number {
    return this.#restoreWrites.length;
  }

  /**
   * Writes what the stores queued and the checkpoint (merged over the previous one) in one LMDB
   * transaction; refused when another task has claimed the directory since.
   */
  flush(offsets: ReadonlyMap<string, bigint>): void {
    const writes = this.#pending;
    this.#pending = [];
    this.#write(writes, offsets);
    this.#governor.afterWrite(this);
  }

  /** Drops the queued writes (the transaction was aborted). */
  discard(): void {
    this.#pending = [];
  }

  /** Writes the buffered restored records and the restore's progress in one transaction. */
  flushRestore(offsets: ReadonlyMap<string, bigint>): void {
    const writes = this.#restoreWrites;
    this.#restoreWrites = [];
    this.#write(writes, offsets);
    this.#governor.afterWrite(this);
  }

  #write(writes: readonly StoreWrite[], offsets: ReadonlyMap<string, bigint>): void {
    this.#root.transactionSync(() => {
      if (this.#owner !== undefined && this.#meta.get(META_OWNER) !== this.#owner)
        throw new StoreOwnershipError(this.path);
      for (const write of writes) write(this);
      if (offsets.size === 0) return;
      const merged: Record<string, string> = {};
      for (const [topic, offset] of this.checkpoint()?.offsets ?? []) merged[topic] = offset.toString();
      for (const [topic, offset] of offsets) merged[topic] = offset.toString();
      this.#meta.putSync(META_CHECKPOINT, { offsets: merged, writtenAtMs: Date.now() });
    });
  }

  /** Removes every store's data and the checkpoint: the next restore reads the changelogs whole. */
  wipe(): void {
    // The checkpoint goes first: a crash in between leaves data without a checkpoint, which the
    // next restore wipes again (`hasData`).
    this.#meta.removeSync(META_CHECKPOINT);
    for (const db of this.#allDatabases()) db.clearSync();
    this.#pending = [];
    this.#restoreWrites = [];
  }

  /** True when any store or index of the directory holds an entry. */
  hasData(): boolean {
    return this.#allDatabases().some((db) => db.getKeysCount({ limit: 1 }) > 0);
  }

  /** The databases of the stores opened in this directory (every store of the task: it opens them all). */
  #allDatabases(): { clearSync(): void; getKeysCount(options?: { limit: number }): number }[] {
    return [...this.#databases.values(), ...this.#windowDatabases.values(), ...this.#indexes.values()];
  }

  /** Bytes the task's LMDB files take on disk. */
  get diskBytes(): number {
    try {
      return statSync(join(this.path, 'data.mdb')).blocks * 512;
    } catch {
      return 0;
    }
  }

  close(): void {
    this.#governor.unregister(this);
    void this.#root.close();
  }

  /** Deletes the directory (tests, and a wipe of a directory LMDB can't open). */
  static remove(path: string): void {
    rmSync(path, { recursive: true, force: true });
  }
}

/**
 * A bounded cache of decoded committed values, least recently used out first in two
 * generations: `young` takes what is set or read, and once it holds half the capacity it becomes
 * `old` (the previous old is dropped whole); a value read from `old` moves back to `young`. At
 * most `capacity` values, every operation O(1). (A single Map in access order evicting its first
 * key is not: V8 leaves the removed entries in place until it rehashes, and finding the first
 * live one walks over them, which made commits of large batches crawl.)
 */
class LruCache<V> {
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  readonly #generation: number;

  constructor(capacity: number) {
    this.#generation = Math.floor(capacity / 2);
  }

  get(key: string): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) {
      this.#old.delete(key);
      this.#setYoung(key, old);
    }
    return old;
  }

  set(key: string, value: V): void {
    if (this.#generation <= 0) return;
    this.#old.delete(key);
    this.#setYoung(key, value);
  }

  #setYoung(key: string, value: V): void {
    this.#young.set(key, value);
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }

  delete(key: string): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }
}

/** Entries of an LMDB database, from its statistics (O(1), no scan). */
function entryCount<K extends Key>(db: Database<Buffer, K>): number {
  return (db.getStats() as { entryCount: number }).entryCount;
}

/** UTF-8 byte order, LMDB's order of string keys. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * A staged layer over one LMDB database: the transaction's writes in memory with a per-record
 * undo log, committed values read through the cache. Keys are the changelog's keys; `dbKey`
 * gives a key's place in the database (the key itself for a key-value store).
 */
class DiskStagedMap<V, K extends Key = string> extends StagingLayer<V> {
  readonly #cache: LruCache<V>;
  #committedSize: number;
  #stagedDelta = 0;
  /** Times of committed values this transaction learned from the index (saves reading them at commit). */
  readonly #committedTimes = new Map<string, number>();

  constructor(
    /** The store's database, from the directory at each use (it is reopened now and then). */
    private readonly database: () => Database<Buffer, K>,
    private readonly dbKey: (key: string) => K,
    cacheEntries: number,
    /** The store's time index ([time, key], kept with the data in the same LMDB transaction), if any. */
    private readonly index?: {
      readonly db: () => Database<Buffer, [number, string]>;
      readonly timeOf: (value: V) => number;
    },
  ) {
    super();
    this.#cache = new LruCache<V>(cacheEntries);
    this.#committedSize = entryCount(database());
  }

  get db(): Database<Buffer, K> {
    return this.database();
  }

  get size(): number {
    return this.#committedSize + this.#stagedDelta;
  }

  get cached(): number {
    return this.#cache.size;
  }

  protected committedValue(key: string): V | undefined {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const bytes = this.db.get(this.dbKey(key));
    if (bytes === undefined) return undefined;
    const value = fromJson<V>(bytes.toString('utf8'));
    this.#cache.set(key, value);
    return value;
  }

  protected changed(_key: string, before: boolean, after: boolean): void {
    this.#stagedDelta += (after ? 1 : 0) - (before ? 1 : 0);
  }

  /** The index says the key's committed value has this time (so the commit need not read it). */
  knowCommittedTime(key: string, timeMs: number): void {
    this.#committedTimes.set(key, timeMs);
  }

  /** The key's write in this transaction (DELETED for a deletion), undefined when it has none. */
  stagedValue(key: string): Staged<V> | undefined {
    return this.stagedWrites.get(key);
  }

  /** The staged keys in LMDB's order (bounded by the transaction's writes). */
  stagedKeys(): string[] {
    return [...this.stagedWrites.keys()].sort(compareKeys);
  }

  /** Queues the staged writes into the directory's next transaction and makes them the committed view. */
  commit(directory: TaskStateDirectory): void {
    const writes = [...this.stagedWrites];
    const times = this.#committedTimes;
    this.endTransaction();
    this.#stagedDelta = 0;
    if (writes.length === 0) return;
    const encoded = writes.map(([key, value]) =>
      value === DELETED
        ? ([key, null, undefined, times.get(key)] as const)
        : ([key, Buffer.from(toJson(value)), value, times.get(key)] as const),
    );
    times.clear();
    directory.queue(() => {
      for (const [key, bytes, value, before] of encoded) this.#apply(key, bytes, value, before);
    });
    for (const [key, value] of writes) {
      if (value === DELETED) this.#cache.delete(key);
      else this.#cache.set(key, value);
    }
  }

  abort(): void {
    this.endTransaction();
    this.#committedTimes.clear();
    this.#stagedDelta = 0;
  }

  /** Queues a restored record, its changelog bytes as they are (applied by the restore flush). */
  restore(directory: TaskStateDirectory, key: string, bytes: Buffer | null): void {
    directory.queueRestore(() => this.#apply(key, bytes));
    this.#cache.delete(key);
  }

  /**
   * Writes one key inside the directory's LMDB transaction (`value` encoded, or null to delete),
   * and its index entry. `beforeTimeMs`: the committed value's time when the index told it (the
   * value is then neither read nor decoded).
   */
  #apply(key: string, value: Buffer | null, decoded?: V, beforeTimeMs?: number): void {
    const index = this.index;
    const db = this.db;
    const at = this.dbKey(key);
    let existed: boolean;
    let before = beforeTimeMs;
    if (index === undefined) existed = db.doesExist(at);
    else if (before !== undefined) existed = true;
    else {
      const bytes = db.get(at);
      existed = bytes !== undefined;
      if (bytes !== undefined) before = index.timeOf(fromJson<V>(bytes.toString('utf8')));
    }
    if (value === null) {
      if (existed) {
        db.removeSync(at);
        this.#committedSize--;
      }
    } else {
      db.putSync(at, value);
      if (!existed) this.#committedSize++;
    }
    if (index === undefined) return;
    const indexDb = index.db();
    if (before !== undefined) indexDb.removeSync([before, key]);
    if (value !== null)
      indexDb.putSync([index.timeOf(decoded ?? fromJson<V>(value.toString('utf8'))), key], NO_VALUE);
  }

  resetAfterWipe(): void {
    this.abort();
    this.#cache.clear();
    this.#committedSize = entryCount(this.db);
  }
}

/**
 * Expiry from a store's committed time index ([timeMs, key], exact as of the last commit), in
 * bounded steps: a call looks at most 2 * limit index entries, and the next call of the same
 * transaction goes on after the last one looked at (entries whose key the transaction changed are
 * skipped: the commit indexes them anew), so repeated calls make progress without re-reading.
 */
class IndexExpiry {
  #cursor: [number, string] | undefined;

  /** The store's time index, from the directory at each use. */
  constructor(private readonly index: () => Database<Buffer, [number, string]>) {}

  /**
   * Deletes (through `remove`) up to `limit` keys indexed at or before `maxTimeMs` whose time is
   * still the indexed one. A key the transaction has not written is taken on the index's word
   * (the index is exact as of the last commit: no read of the value); a key it wrote counts with
   * its staged value's time (`timeOf`), or not at all when deleted.
   */
  expire<V>(
    maxTimeMs: number,
    limit: number,
    map: DiskStagedMap<V, Key>,
    timeOf: (value: V) => number,
    remove: (key: string) => void,
  ): number {
    let deleted = 0;
    const cursor = this.#cursor;
    const range =
      cursor === undefined ? { limit: 2 * limit } : { limit: 2 * limit, start: cursor, exclusiveStart: true };
    for (const entry of this.index().getKeys(range)) {
      const [timeMs, key] = entry;
      if (timeMs > maxTimeMs || deleted >= limit) break;
      this.#cursor = entry;
      const staged = map.stagedValue(key);
      if (staged !== undefined && (staged === DELETED || timeOf(staged) !== timeMs)) continue;
      map.knowCommittedTime(key, timeMs);
      remove(key);
      deleted++;
    }
    return deleted;
  }

  /** The transaction ended (committed, aborted) or the store was rewritten: start from the oldest again. */
  reset(): void {
    this.#cursor = undefined;
  }
}

/**
 * What both disk stores share: the staged map over the store's database, the changelog of the
 * transaction, commit into the directory's next LMDB transaction, restore and reset.
 */
abstract class DiskStore<V, K extends Key> implements RuntimeStore {
  abstract readonly kind: 'kv' | 'window';
  readonly persistent = true;

  constructor(
    readonly name: string,
    protected readonly directory: TaskStateDirectory,
    protected readonly map: DiskStagedMap<V, K>,
    protected readonly expiry: IndexExpiry | undefined,
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

  changelog(): Promise<ChangelogWrite[]> {
    const writes: ChangelogWrite[] = [];
    for (const [key, value] of this.map.staged())
      writes.push({
        store: this.name,
        key,
        value: this.map.isDeleted(value) ? null : Buffer.from(toJson(value)),
      });
    return Promise.resolve(writes);
  }

  commit(): void {
    this.map.commit(this.directory);
    this.endTransaction();
  }

  abort(): void {
    this.map.abort();
    this.endTransaction();
  }

  restore(key: string, value: Buffer | null): Promise<void> {
    this.map.restore(this.directory, key, value);
    return Promise.resolve();
  }

  /** Forgets the cache and counts the committed entries again (after a wipe or a restore). */
  resetAfterWipe(): void {
    this.map.resetAfterWipe();
    this.endTransaction();
  }

  /** The transaction ended: what a store keeps per transaction is forgotten. */
  protected endTransaction(): void {
    this.expiry?.reset();
  }
}

/** A key-value store on disk: the KeyValueStore contract of the in-memory one, no capacity bound. */
export class DiskKeyValueStore<V> extends DiskStore<V, string> implements KeyValueStore<V> {
  readonly kind = 'kv';
  readonly #timeOf: ((value: V) => number) | undefined;

  constructor(
    spec: KeyValueStoreSpec,
    directory: TaskStateDirectory,
    /** The store's databases in the directory (unique over the task's processors). */
    databaseName: string = spec.name,
  ) {
    const timeOf = spec.timeOf as ((value: V) => number) | undefined;
    // Opened now, so the directory knows every database of the task (hasData, wipe, reopen).
    directory.database(databaseName);
    if (timeOf !== undefined) directory.timeIndex(databaseName);
    const index = timeOf === undefined ? undefined : () => directory.timeIndex(databaseName);
    const map = new DiskStagedMap<V>(
      () => directory.database(databaseName),
      (key) => key,
      directory.cacheEntries,
      index === undefined || timeOf === undefined ? undefined : { db: index, timeOf },
    );
    super(spec.name, directory, map, index === undefined ? undefined : new IndexExpiry(index));
    this.#timeOf = timeOf;
  }

  /** Decoded values in the cache (bounded by the directory's cacheEntries). */
  get cachedEntries(): number {
    return this.map.cached;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  *all(): IterableIterator<readonly [string, V]> {
    const staged = this.map.stagedKeys();
    let next = 0;
    const stagedBefore = function* (map: DiskStagedMap<V>, key: string | undefined) {
      while (next < staged.length && (key === undefined || compareKeys(staged[next]!, key) < 0)) {
        const value = map.get(staged[next]!);
        if (value !== undefined) yield [staged[next]!, value] as const;
        next++;
      }
    };
    for (const { key, value: bytes } of this.map.db.getRange({})) {
      yield* stagedBefore(this.map, key);
      if (next < staged.length && staged[next] === key) {
        next++;
        const value = this.map.get(key);
        if (value !== undefined) yield [key, value];
        continue;
      }
      yield [key, fromJson<V>(bytes.toString('utf8'))];
    }
    yield* stagedBefore(this.map, undefined);
  }

  put(key: string, value: V): void {
    this.map.write(key, value);
  }

  putIfAbsent(key: string, value: V): V | undefined {
    const existing = this.map.get(key);
    if (existing !== undefined) return existing;
    this.map.write(key, value);
    return undefined;
  }

  delete(key: string): void {
    this.map.write(key, undefined);
  }

  expireUpTo(maxTimeMs: number, limit: number): number {
    const timeOf = this.#timeOf;
    const expiry = this.expiry;
    if (timeOf === undefined || expiry === undefined)
      throw new Error(`state store ${this.name} declares no timeOf: it has no time index to expire from`);
    // A key expire hands over has a value: the index names it and the transaction has not deleted it.
    return expiry.expire(maxTimeMs, limit, this.map, timeOf, (key) => this.map.write(key, undefined, true));
  }
}

/**
 * A window store on disk: the WindowStore contract of the in-memory one (windowsFor, grace,
 * retention), no capacity bound. Windows live in LMDB keyed [record key, window start], so
 * `fetch` reads one range of the key; the changelog keys and values are the in-memory store's
 * (`compositeKey`, a JSON WindowEntry). A time index [end + retention, changelog key] gives
 * retention in bounded steps: each update removes the updated key's own windows past retention
 * (one range read, only those), and `expireRetention` the oldest expired windows of all keys, a
 * bounded batch per punctuation.
 */
export class DiskWindowStore<V>
  extends DiskStore<WindowEntry<V>, [string, number]>
  implements WindowStore<V>
{
  readonly kind = 'window';
  readonly #spec: WindowSpec;
  readonly #streamTime: () => number;
  /** Window starts this transaction wrote, per record key (a fetch merges them with the committed range). */
  readonly #stagedStarts = new Map<string, Set<number>>();

  constructor(
    spec: WindowStoreSpec,
    directory: TaskStateDirectory,
    databaseName: string,
    streamTime: () => number,
  ) {
    validateWindowSpec(spec.name, spec.window);
    const retentionMs = spec.window.retentionMs;
    // Opened now, so the directory knows every database of the task (hasData, wipe, reopen).
    directory.timeIndex(databaseName);
    directory.windowDatabase(databaseName);
    const index = () => directory.timeIndex(databaseName);
    const map = new DiskStagedMap<WindowEntry<V>, [string, number]>(
      () => directory.windowDatabase(databaseName),
      (composite) => {
        const { key, startMs } = parseCompositeKey(composite);
        return [key, startMs];
      },
      directory.cacheEntries,
      { db: index, timeOf: (entry) => entry.endMs + retentionMs },
    );
    super(spec.name, directory, map, new IndexExpiry(index));
    this.#spec = spec.window;
    this.#streamTime = streamTime;
  }

  update(
    key: string,
    timestampMs: number,
    aggregate: (previous: V | undefined, window: TimeWindow) => V,
  ): WindowUpdateResult<V> {
    const streamTime = this.#streamTime();
    this.#expireKey(key, streamTime);
    return updateOpenWindows(this.#spec, streamTime, key, timestampMs, aggregate, {
      get: (composite) => this.map.get(composite),
      put: (_composite, entry) => this.#write(key, entry.startMs, entry),
    });
  }

  fetch(key: string, fromMs: number, toMs: number): readonly WindowedValue<V>[] {
    const starts = this.#committedStarts(key, fromMs, toMs);
    for (const start of this.#stagedStarts.get(key) ?? [])
      if (start >= fromMs && start <= toMs) starts.add(start);
    const windows: WindowedValue<V>[] = [];
    for (const start of [...starts].sort((a, b) => a - b)) {
      const entry = this.map.get(compositeKey(key, start));
      if (entry !== undefined)
        windows.push({ key, window: { startMs: entry.startMs, endMs: entry.endMs }, value: entry.value });
    }
    return windows;
  }

  /** Starts of the key's committed windows in [fromMs, toMs]: one range of the database. */
  #committedStarts(key: string, fromMs: number, toMs: number): Set<number> {
    const starts = new Set<number>();
    for (const [recordKey, start] of this.map.db.getKeys({ start: [key, fromMs] })) {
      if (recordKey !== key || start > toMs) break;
      starts.add(start);
    }
    return starts;
  }

  #write(key: string, startMs: number, entry: WindowEntry<V> | undefined, present?: boolean): void {
    let starts = this.#stagedStarts.get(key);
    if (starts === undefined) this.#stagedStarts.set(key, (starts = new Set()));
    starts.add(startMs);
    this.map.write(compositeKey(key, startMs), entry, present);
  }

  /** Removes the key's windows past retention: those starting at or before streamTime - size - retention. */
  #expireKey(key: string, streamTime: number): void {
    const lastExpiredStart = streamTime - this.#spec.sizeMs - this.#spec.retentionMs;
    const starts = this.#committedStarts(key, -Number.MAX_VALUE, lastExpiredStart);
    for (const start of this.#stagedStarts.get(key) ?? []) if (start <= lastExpiredStart) starts.add(start);
    for (const start of starts) {
      const entry = this.map.get(compositeKey(key, start));
      if (entry !== undefined && entry.endMs + this.#spec.retentionMs <= streamTime)
        this.#write(key, start, undefined);
    }
  }

  expireRetention(limit: number): number {
    return this.expiry!.expire(
      this.#streamTime(),
      limit,
      this.map,
      (entry) => entry.endMs + this.#spec.retentionMs,
      (composite) => {
        const { key, startMs } = parseCompositeKey(composite);
        this.#write(key, startMs, undefined, true);
      },
    );
  }

  protected override endTransaction(): void {
    super.endTransaction();
    this.#stagedStarts.clear();
  }
}

/** Stores on disk, key-value and window, one TaskStateDirectory per task. */
export class DiskStoreBackend implements StoreBackend {
  readonly #directory: TaskStateDirectory;
  readonly #stores: (DiskKeyValueStore<unknown> | DiskWindowStore<unknown>)[] = [];

  constructor(
    path: string,
    cacheEntries = DEFAULT_STORE_CACHE_ENTRIES,
    governor: MappedMemoryGovernor = processMappedMemory,
  ) {
    this.#directory = new TaskStateDirectory(path, cacheEntries, governor);
  }

  get directory(): TaskStateDirectory {
    return this.#directory;
  }

  create(processor: string, spec: StoreSpec, streamTime: () => number): RuntimeStore {
    const databaseName = `${processor}.${spec.name}`;
    const store =
      spec.kind === 'kv'
        ? new DiskKeyValueStore<unknown>(spec, this.#directory, databaseName)
        : new DiskWindowStore<unknown>(spec, this.#directory, databaseName, streamTime);
    this.#stores.push(store);
    return store;
  }

  get checkpoint(): StoreCheckpoint | undefined {
    return this.#directory.checkpoint();
  }

  get inconsistent(): boolean {
    return this.#directory.checkpoint() === undefined && this.#directory.hasData();
  }

  claim(owner: string): void {
    this.#directory.claim(owner);
  }

  flush(changelogEnds: ReadonlyMap<string, bigint>): void {
    this.#directory.flush(changelogEnds);
  }

  discard(): void {
    this.#directory.discard();
  }

  restored(progress: ReadonlyMap<string, bigint>): void {
    this.#directory.flushRestore(progress);
    for (const store of this.#stores) store.resetAfterWipe();
  }

  wipe(): void {
    this.#directory.wipe();
    for (const store of this.#stores) store.resetAfterWipe();
  }

  get diskBytes(): number {
    return this.#directory.diskBytes;
  }

  close(): void {
    this.#directory.close();
  }
}
