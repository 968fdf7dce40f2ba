/**
 * `npx tsx bench/stores/candidates.ts`: the embedded engines a disk-backed state store could sit
 * on, measured on the operations a store needs — batched puts (one write transaction per
 * commit), point reads (the record loop's `get`, which the store contract wants synchronous), and
 * iteration in key order (`all()`, restore scans).
 *
 * `lmdb` is a dependency of the project. The RocksDB and LevelDB bindings are not: install them
 * beside the project to compare (`npm install --no-save @nxtedition/rocksdb classic-level`), or
 * point BENCH_STORE_MODULES at a folder whose node_modules holds them. A missing one is reported,
 * not measured.
 *
 * BENCH_STORE_KEYS (default 500,000; 10,000 – 5,000,000): keys per engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { open as openLmdb } from 'lmdb';

const KEYS = boundedInt(process.env.BENCH_STORE_KEYS, 500_000, 10_000, 5_000_000);
const BATCH = 1_000;
const READS = 200_000;
const VALUE = Buffer.from(JSON.stringify({ principal: 'merchant-0001', firstSeenMs: 1_760_000_000_000 }));

function boundedInt(raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new RangeError(`BENCH_STORE_KEYS must be a whole number in [${min}, ${max}], got ${raw}`);
  return value;
}

const keyOf = (i: number) => `dedupe:merchant-${(i * 7919) % KEYS}:${i.toString(36).padStart(8, '0')}`;

interface Row {
  readonly engine: string;
  readonly putPerSecond: number;
  readonly getPerSecond: number;
  readonly getSync: boolean;
  readonly iteratePerSecond: number;
  readonly note: string;
}

/** The operations an engine offers, each as the store would call it. */
interface Engine {
  readonly name: string;
  readonly getSync: boolean;
  writeBatch(entries: readonly (readonly [string, Buffer])[]): Promise<void> | void;
  get(key: string): unknown;
  iterate(): Promise<number> | number;
  close(): Promise<void> | void;
}

async function measure(engine: Engine, note: string): Promise<Row> {
  let started = performance.now();
  for (let from = 0; from < KEYS; from += BATCH) {
    const batch: [string, Buffer][] = [];
    for (let i = from; i < Math.min(KEYS, from + BATCH); i++) batch.push([keyOf(i), VALUE]);
    await engine.writeBatch(batch);
  }
  const putPerSecond = KEYS / ((performance.now() - started) / 1_000);
  started = performance.now();
  for (let i = 0; i < READS; i++) {
    const found = await engine.get(keyOf((i * 104_729) % KEYS));
    if (found === undefined) throw new Error(`${engine.name}: a key written is missing`);
  }
  const getPerSecond = READS / ((performance.now() - started) / 1_000);
  started = performance.now();
  const seen = await engine.iterate();
  if (seen !== KEYS) throw new Error(`${engine.name}: iterated ${seen} keys of ${KEYS}`);
  const iteratePerSecond = KEYS / ((performance.now() - started) / 1_000);
  await engine.close();
  return { engine: engine.name, putPerSecond, getPerSecond, getSync: engine.getSync, iteratePerSecond, note };
}

function lmdbEngine(path: string, noSync: boolean): Engine {
  const db = openLmdb<Buffer, string>({ path, encoding: 'binary', noSync });
  return {
    name: `lmdb 3.5.6 (LMDB${noSync ? ', noSync' : ', fsync per commit'})`,
    getSync: true,
    writeBatch: (entries) =>
      db.transactionSync(() => {
        for (const [key, value] of entries) db.putSync(key, value);
      }),
    get: (key) => db.get(key),
    iterate: () => {
      let count = 0;
      for (const entry of db.getRange({})) if (entry.key !== undefined) count++;
      return count;
    },
    close: () => db.close(),
  };
}

/** abstract-level engines (RocksDB through @nxtedition/rocksdb, LevelDB through classic-level): async only. */
interface LevelLike {
  open(): Promise<void>;
  batch(ops: { type: 'put'; key: string; value: Buffer }[]): Promise<void>;
  get(key: string): Promise<unknown>;
  keys(): AsyncIterable<unknown>;
  close(): Promise<void>;
}

async function levelEngine(name: string, module: string, exportName: string, path: string): Promise<Engine> {
  const base = process.env.BENCH_STORE_MODULES ?? process.cwd();
  const resolved = createRequire(join(base, 'package.json')).resolve(module);
  const loaded = (await import(pathToFileURL(resolved).href)) as Record<
    string,
    new (location: string, options: object) => LevelLike
  >;
  const Level = loaded[exportName]!;
  const db = new Level(path, { valueEncoding: 'buffer' });
  await db.open();
  return {
    name,
    getSync: false,
    writeBatch: (entries) => db.batch(entries.map(([key, value]) => ({ type: 'put', key, value }))),
    get: (key) => db.get(key),
    iterate: async () => {
      let count = 0;
      for await (const key of db.keys()) if (key !== undefined) count++;
      return count;
    },
    close: () => db.close(),
  };
}

const root = mkdtempSync(join(tmpdir(), 'payflow-store-bench-'));
const rows: Row[] = [];
const missing: string[] = [];
try {
  rows.push(await measure(lmdbEngine(join(root, 'lmdb'), false), 'sync get and sync write transactions'));
  rows.push(await measure(lmdbEngine(join(root, 'lmdb-nosync'), true), 'as the state stores open it'));
  for (const [name, module, exportName] of [
    ['@nxtedition/rocksdb (RocksDB)', '@nxtedition/rocksdb', 'RocksLevel'],
    ['classic-level (LevelDB)', 'classic-level', 'ClassicLevel'],
  ] as const) {
    try {
      const engine = await levelEngine(name, module, exportName, join(root, module.replace('/', '_')));
      rows.push(await measure(engine, 'async get (a promise per read)'));
    } catch (error) {
      missing.push(`${name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`| engine | put/s (batches of ${BATCH}) | get/s | sync get | ordered iteration/s | note |`);
console.log('| --- | ---: | ---: | --- | ---: | --- |');
for (const row of rows)
  console.log(
    `| ${row.engine} | ${fmt(row.putPerSecond)} | ${fmt(row.getPerSecond)} | ${row.getSync ? 'yes' : 'no'} | ${fmt(row.iteratePerSecond)} | ${row.note} |`,
  );
console.log(
  `\n${fmt(KEYS)} keys, ${VALUE.length}-byte values, ${fmt(READS)} random reads; Node ${process.version}`,
);
for (const line of missing) console.log(`not measured: ${line}`);
