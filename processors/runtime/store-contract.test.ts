/**
 * The key-value and window store contracts, run against both stores: the in-memory ones
 * (embedded default, unit tests) and the disk-backed ones (the Kafka mode). The disk stores' own
 * rules (checkpoint, ownership, bounded cache, no capacity bound) follow.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import {
  StoreCapacityError,
  type KeyValueStore,
  type KeyValueStoreSpec,
  type WindowStore,
  type WindowStoreSpec,
} from './api.js';
import { DiskKeyValueStore, DiskStoreBackend, TaskStateDirectory } from './disk-stores.js';
import { toJson } from './json-serde.js';
import { MappedMemoryGovernor } from './mapped-memory.js';
import {
  MemoryKeyValueStore,
  MemoryWindowStore,
  type ChangelogWrite,
  type RuntimeStore,
  type StoreBackend,
} from './stores.js';

const root = mkdtempSync(join(tmpdir(), 'payflow-store-contract-'));
after(() => rmSync(root, { recursive: true, force: true }));
let directories = 0;

/**
 * A governor always over its budget: every write transaction of every directory reopens its LMDB
 * environment, so the contracts also hold when the database handles are opened anew under the
 * stores between any two transactions (what the memory budget does now and then).
 */
const alwaysReopen = () =>
  new MappedMemoryGovernor({ budgetBytes: 0, checkIntervalMs: 0, rssFileBytes: () => 1 });

type Store = RuntimeStore & KeyValueStore<number>;
interface Harness {
  readonly store: Store;
  /** Commits the transaction as a task does: the store, then its backend. */
  commit(): void;
  /** A fresh store over the same committed state (disk: reopened; memory: restored from the changelog). */
  reopen(): Promise<Harness>;
}

function memoryHarness(spec: KeyValueStoreSpec): Harness {
  const store = new MemoryKeyValueStore<number>(spec);
  return {
    store,
    commit: () => store.commit(),
    async reopen() {
      store.abort();
      const next = memoryHarness(spec);
      for (const [key, value] of store.all()) await next.store.restore(key, Buffer.from(toJson(value)));
      return next;
    },
  };
}

function diskHarness(
  spec: KeyValueStoreSpec,
  cacheEntries = 100,
  path = join(root, `d${directories++}`),
  governor?: MappedMemoryGovernor,
) {
  const backend = new DiskStoreBackend(path, cacheEntries, governor);
  const store = backend.create('p', spec, () => 0) as Store;
  const harness: Harness & { backend: StoreBackend } = {
    store,
    backend,
    commit() {
      store.commit();
      backend.flush(new Map());
    },
    reopen() {
      backend.close();
      return Promise.resolve(diskHarness(spec, cacheEntries, path, governor));
    },
  };
  return harness;
}

const spec: KeyValueStoreSpec = { kind: 'kv', name: 'amounts', maxEntries: 1_000, timeOf: (v: number) => v };

for (const [kind, make] of [
  ['in-memory', memoryHarness],
  ['disk', (s: KeyValueStoreSpec) => diskHarness(s)],
  [
    'disk, environment reopened after every write',
    (s: KeyValueStoreSpec) => diskHarness(s, 100, undefined, alwaysReopen()),
  ],
] as const) {
  describe(`key-value store contract: ${kind}`, () => {
    test('a write is visible within the transaction and survives its commit', async () => {
      const h = make(spec);
      h.store.put('a', 1);
      assert.equal(h.store.get('a'), 1);
      h.commit();
      assert.equal(h.store.get('a'), 1);
      const again = await h.reopen();
      assert.equal(again.store.get('a'), 1);
      assert.equal(again.store.size, 1);
    });

    test('an aborted transaction leaves the committed state', async () => {
      const h = make(spec);
      h.store.put('a', 1);
      h.commit();
      h.store.put('a', 2);
      h.store.put('b', 3);
      h.store.delete('a');
      h.store.abort();
      assert.equal(h.store.get('a'), 1);
      assert.equal(h.store.get('b'), undefined);
      assert.equal(h.store.size, 1);
      assert.deepEqual([...(await h.reopen()).store.all()], [['a', 1]]);
    });

    test("an undone record's writes are gone, the transaction's earlier ones stay", () => {
      const h = make(spec);
      h.store.beginRecord();
      h.store.put('a', 1);
      h.store.beginRecord();
      h.store.put('a', 2);
      h.store.put('b', 2);
      h.store.undoRecord();
      assert.equal(h.store.get('a'), 1);
      assert.equal(h.store.get('b'), undefined);
      assert.equal(h.store.size, 1);
    });

    test('all() yields committed and staged entries in ascending key order, deletions left out', () => {
      const h = make(spec);
      for (const key of ['b', 'd', 'f']) h.store.put(key, key.charCodeAt(0));
      h.commit();
      h.store.put('a', 1);
      h.store.put('e', 5);
      h.store.delete('d');
      h.store.put('f', 6);
      assert.deepEqual(
        [...h.store.all()],
        [
          ['a', 1],
          ['b', 98],
          ['e', 5],
          ['f', 6],
        ],
      );
    });

    test('putIfAbsent keeps an existing value and returns it', () => {
      const h = make(spec);
      assert.equal(h.store.putIfAbsent('a', 1), undefined);
      h.commit();
      assert.equal(h.store.putIfAbsent('a', 2), 1);
      assert.equal(h.store.get('a'), 1);
    });

    test('the changelog of a transaction holds its last write per key, null for a deletion', async () => {
      const h = make(spec);
      h.store.put('a', 1);
      h.commit();
      h.store.put('a', 2);
      h.store.put('b', 1);
      h.store.delete('b');
      h.store.delete('a');
      h.store.put('c', 3);
      const writes = (await h.store.changelog()).map((w) => [w.key, w.value?.toString() ?? null]);
      assert.deepEqual(
        writes.sort(),
        [
          ['a', null],
          ['b', null],
          ['c', '3'],
        ].sort(),
      );
    });

    test('expiry deletes the oldest entries up to the time, a bounded batch at a time', async () => {
      const h = make(spec);
      for (let i = 0; i < 10; i++) h.store.put(`k${i}`, i * 10);
      h.commit();
      assert.equal(h.store.expireUpTo(45, 3), 3);
      assert.deepEqual(
        [...h.store.all()].map(([key]) => key),
        ['k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9'],
      );
      h.commit();
      assert.equal(h.store.expireUpTo(45, 3), 2);
      h.commit();
      const again = await h.reopen();
      assert.equal(again.store.expireUpTo(45, 3), 0);
      assert.equal(again.store.size, 5);
    });

    test('repeated expiry calls in one transaction go on where the last one stopped', () => {
      const h = make(spec);
      for (let i = 0; i < 10; i++) h.store.put(`k${i}`, i);
      h.commit();
      const batches = [0, 1, 2, 3].map(() => h.store.expireUpTo(100, 3));
      assert.deepEqual(batches, [3, 3, 3, 1]);
      assert.equal(h.store.size, 0);
    });

    test('an entry rewritten younger in the transaction is not expired by its old time', () => {
      const h = make(spec);
      h.store.put('k', 0);
      h.commit();
      h.store.put('k', 100);
      assert.equal(h.store.expireUpTo(50, 10), 0);
      assert.equal(h.store.get('k'), 100);
    });
  });
}

test('the in-memory store refuses a key past maxEntries (StoreCapacityError)', () => {
  const store = new MemoryKeyValueStore<number>({ kind: 'kv', name: 's', maxEntries: 2 });
  store.put('a', 1);
  store.put('b', 1);
  assert.throws(() => store.put('c', 1), StoreCapacityError);
});

describe('disk store', () => {
  test('a small cache with many more keys than fit loses nothing and refuses nothing', async () => {
    const h = diskHarness({ kind: 'kv', name: 's', maxEntries: 10 }, 16);
    const keys = 5_000;
    for (let i = 0; i < keys; i++) {
      h.store.put(`key-${i}`, i);
      if (i % 500 === 499) h.commit();
    }
    h.commit();
    assert.equal(h.store.size, keys);
    assert.ok((h.store as DiskKeyValueStore<number>).cachedEntries <= 16);
    for (let i = 0; i < keys; i++) assert.equal(h.store.get(`key-${i}`), i);
    const reopened = await h.reopen();
    assert.equal(reopened.store.size, keys);
    assert.equal([...reopened.store.all()].length, keys);
  });

  test('the checkpoint is written with the data and survives a reopen', async () => {
    const h = diskHarness(spec);
    assert.equal(h.backend.checkpoint, undefined);
    h.store.put('a', 1);
    h.store.commit();
    h.backend.flush(new Map([['app-p-amounts-changelog', 42n]]));
    const again = (await h.reopen()) as ReturnType<typeof diskHarness>;
    assert.deepEqual(again.backend.checkpoint?.offsets, new Map([['app-p-amounts-changelog', 42n]]));
    assert.equal(again.store.get('a'), 1);
  });

  test('data without a checkpoint is inconsistent, and a wipe empties the stores', async () => {
    const h = diskHarness(spec);
    h.store.put('a', 1);
    h.commit();
    const again = (await h.reopen()) as ReturnType<typeof diskHarness>;
    assert.equal(again.backend.inconsistent, true);
    again.backend.wipe();
    assert.equal(again.backend.inconsistent, false);
    assert.equal(again.store.size, 0);
    assert.equal(again.store.get('a'), undefined);
  });

  test("a commit of a task whose directory a newer owner claimed writes nothing (a zombie's)", () => {
    const path = join(root, 'claimed');
    const old = diskHarness(spec, 100, path);
    old.backend.claim('old');
    const newer = new TaskStateDirectory(path);
    newer.claim('new');
    old.store.put('a', 1);
    old.store.commit();
    assert.throws(() => old.backend.flush(new Map([['t', 1n]])), /newer owner/);
    assert.equal(newer.checkpoint(), undefined);
    assert.equal(newer.database('p.amounts').get('a'), undefined);
  });
});

type Windows = RuntimeStore & WindowStore<number>;
interface WindowHarness {
  readonly store: Windows;
  /** Stream time as the task would have it. */
  streamTimeMs: number;
  /** Commits the transaction as a task does (its changelog first), then the backend. */
  commit(): Promise<ChangelogWrite[]>;
  /** A fresh store over the same state (disk: reopened; memory: restored from the changelog so far). */
  reopen(): Promise<WindowHarness>;
}

const windowSpec = (
  window: Partial<WindowStoreSpec['window']> = {},
  maxEntries = 1_000,
): WindowStoreSpec => ({
  kind: 'window',
  name: 'counts',
  maxEntries,
  window: { type: 'tumbling', sizeMs: 10, advanceMs: 10, graceMs: 5, retentionMs: 20, ...window },
});

function memoryWindows(spec: WindowStoreSpec, log: ChangelogWrite[] = []): WindowHarness {
  const harness: WindowHarness = {
    streamTimeMs: 0,
    store: new MemoryWindowStore<number>(spec, () => harness.streamTimeMs),
    async commit() {
      const writes = await harness.store.changelog();
      harness.store.commit();
      log.push(...writes);
      return writes;
    },
    async reopen() {
      harness.store.abort();
      const next = memoryWindows(spec, log);
      for (const write of log) await next.store.restore(write.key, write.value);
      return next;
    },
  };
  return harness;
}

function diskWindows(
  spec: WindowStoreSpec,
  cacheEntries = 100,
  path = join(root, `w${directories++}`),
  governor?: MappedMemoryGovernor,
) {
  const backend = new DiskStoreBackend(path, cacheEntries, governor);
  const harness: WindowHarness & { backend: StoreBackend } = {
    streamTimeMs: 0,
    backend,
    store: backend.create('p', spec, () => harness.streamTimeMs) as Windows,
    async commit() {
      const writes = await harness.store.changelog();
      harness.store.commit();
      backend.flush(new Map());
      return writes;
    },
    reopen() {
      backend.close();
      return Promise.resolve(diskWindows(spec, cacheEntries, path, governor));
    },
  };
  return harness;
}

const add = (h: WindowHarness, key: string, timestampMs: number, by = 1) => {
  h.streamTimeMs = Math.max(h.streamTimeMs, timestampMs);
  return h.store.update(key, timestampMs, (previous) => (previous ?? 0) + by);
};
const windowsOf = (h: WindowHarness, key: string, fromMs = -1_000, toMs = 1_000_000) =>
  h.store.fetch(key, fromMs, toMs).map(({ window, value }) => [window.startMs, window.endMs, value]);

for (const [kind, make] of [
  ['in-memory', memoryWindows],
  ['disk', (s: WindowStoreSpec) => diskWindows(s)],
  [
    'disk, environment reopened after every write',
    (s: WindowStoreSpec) => diskWindows(s, 100, undefined, alwaysReopen()),
  ],
] as const) {
  describe(`window store contract: ${kind}`, () => {
    test('a record adds to its tumbling window; fetch gives the windows in range by start, and they survive a commit and a reopen', async () => {
      const h = make(windowSpec());
      add(h, 'a', 3);
      add(h, 'a', 14);
      add(h, 'a', 7);
      add(h, 'b', 12);
      assert.deepEqual(windowsOf(h, 'a'), [
        [0, 10, 2],
        [10, 20, 1],
      ]);
      assert.deepEqual(windowsOf(h, 'a', 5, 10), [[10, 20, 1]]);
      await h.commit();
      add(h, 'a', 15, 10);
      assert.deepEqual(windowsOf(h, 'a'), [
        [0, 10, 2],
        [10, 20, 11],
      ]);
      await h.commit();
      const again = await h.reopen();
      assert.deepEqual(windowsOf(again, 'a'), [
        [0, 10, 2],
        [10, 20, 11],
      ]);
      assert.deepEqual(windowsOf(again, 'b'), [[10, 20, 1]]);
      assert.equal(again.store.size, 3);
    });

    test('a record for windows past their grace is late and changes nothing', () => {
      const h = make(windowSpec());
      add(h, 'a', 3);
      h.streamTimeMs = 15; // window [0,10) takes records until 10 + 5
      const late = h.store.update('a', 4, (previous) => (previous ?? 0) + 1);
      assert.deepEqual(late, { late: true, updated: [] });
      assert.deepEqual(windowsOf(h, 'a'), [[0, 10, 1]]);
    });

    test('a hopping record counts in every window it falls in, none starting before 0', () => {
      const h = make(windowSpec({ type: 'hopping', sizeMs: 10, advanceMs: 5 }));
      const result = add(h, 'a', 7);
      assert.equal(result.late, false);
      assert.deepEqual(windowsOf(h, 'a'), [
        [0, 10, 1],
        [5, 15, 1],
      ]);
    });

    test('an undone record and an aborted transaction leave no window behind', async () => {
      const h = make(windowSpec());
      add(h, 'a', 3);
      await h.commit();
      h.store.beginRecord();
      add(h, 'a', 4);
      h.store.beginRecord();
      add(h, 'a', 5, 100);
      add(h, 'a', 12, 100);
      h.store.undoRecord();
      assert.deepEqual(windowsOf(h, 'a'), [[0, 10, 2]]);
      h.store.abort();
      assert.deepEqual(windowsOf(h, 'a'), [[0, 10, 1]]);
      assert.equal(h.store.size, 1);
    });

    test("windows past retention go: the updated key's own at its update, every key's oldest first in bounded batches", async () => {
      const h = make(windowSpec());
      const keys = 150;
      for (let i = 0; i < keys; i++) add(h, `k${i}`, 1);
      add(h, 'a', 2);
      add(h, 'b', 25);
      await h.commit();
      // [0,10) is kept until stream time 10 + 20.
      add(h, 'a', 29);
      assert.equal(windowsOf(h, 'a').length, 2);
      assert.equal(h.store.expireRetention(1_000), 0, 'nothing past retention yet');
      add(h, 'a', 30);
      assert.deepEqual(windowsOf(h, 'a'), [
        [20, 30, 1],
        [30, 40, 1],
      ]);
      const left = () =>
        Array.from({ length: keys }, (_, i) => windowsOf(h, `k${i}`).length).reduce((x, y) => x + y);
      assert.equal(left(), keys, "an update removes only its own key's windows");
      assert.equal(h.store.expireRetention(60), 60);
      assert.equal(h.store.expireRetention(60), 60, 'the next batch of the same transaction goes on');
      assert.equal(left(), keys - 120);
      await h.commit();
      assert.equal(h.store.expireRetention(60), 30);
      assert.equal(h.store.expireRetention(60), 0);
      await h.commit();
      assert.equal(left(), 0);
      assert.deepEqual(windowsOf(h, 'b'), [[20, 30, 1]], 'a window within its retention stays');
      assert.deepEqual(windowsOf(await h.reopen(), 'k0'), []);
    });

    test('the changelog holds each written window as a JSON entry under key\\0start, null for a removed one', async () => {
      const h = make(windowSpec());
      add(h, 'a', 3);
      await h.commit();
      h.streamTimeMs = 40;
      add(h, 'a', 40);
      const writes = (await h.commit()).map((w) => [w.key, w.value?.toString() ?? null]).sort();
      assert.deepEqual(writes, [
        ['a\u00000', null],
        ['a\u000040', '{"key":"a","startMs":40,"endMs":50,"value":1}'],
      ]);
    });
  });
}

test('the in-memory window store refuses a window past maxEntries (StoreCapacityError)', () => {
  const h = memoryWindows(windowSpec({}, 2));
  add(h, 'a', 1);
  add(h, 'b', 1);
  assert.throws(() => add(h, 'c', 1), StoreCapacityError);
});

describe('disk window store', () => {
  test('a small cache with many more windows than fit, and more than maxEntries, loses nothing and refuses nothing', async () => {
    const h = diskWindows(windowSpec({ retentionMs: 1_000_000 }, 10), 16);
    const keys = 2_000;
    for (let i = 0; i < keys; i++) {
      add(h, `key-${i}`, 1, i);
      add(h, `key-${i}`, 11, i + 1);
      if (i % 250 === 249) await h.commit();
    }
    await h.commit();
    assert.equal(h.store.size, 2 * keys);
    const reopened = await h.reopen();
    for (let i = 0; i < keys; i++)
      assert.deepEqual(windowsOf(reopened, `key-${i}`), [
        [0, 10, i],
        [10, 20, i + 1],
      ]);
  });
});
