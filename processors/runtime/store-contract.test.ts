/**
 * The key-value store contract, run against both stores: the in-memory one (embedded default,
 * unit tests) and the disk-backed one (the Kafka mode). The disk store's own rules (checkpoint,
 * ownership, bounded cache) follow.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { StoreCapacityError, type KeyValueStore, type KeyValueStoreSpec } from './api.js';
import { DiskKeyValueStore, DiskStoreBackend, TaskStateDirectory } from './disk-stores.js';
import { toJson } from './json-serde.js';
import { MemoryKeyValueStore, type RuntimeStore, type StoreBackend } from './stores.js';

const root = mkdtempSync(join(tmpdir(), 'payflow-store-contract-'));
after(() => rmSync(root, { recursive: true, force: true }));
let directories = 0;

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

function diskHarness(spec: KeyValueStoreSpec, cacheEntries = 100, path = join(root, `d${directories++}`)) {
  const backend = new DiskStoreBackend(path, cacheEntries);
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
      return Promise.resolve(diskHarness(spec, cacheEntries, path));
    },
  };
  return harness;
}

const spec: KeyValueStoreSpec = { kind: 'kv', name: 'amounts', maxEntries: 1_000, timeOf: (v: number) => v };

for (const [kind, make] of [
  ['in-memory', memoryHarness],
  ['disk', (s: KeyValueStoreSpec) => diskHarness(s)],
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
