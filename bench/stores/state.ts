/**
 * `npx tsx bench/stores/state.ts`: the disk-backed stores at the sizes of issue #14, without a
 * broker — the store side of a restart, memory, and expiry:
 *
 * 1. load: `BENCH_STATE_ACCOUNTS` balances (default 1,000,000) and `BENCH_STATE_DEDUPE` dedupe
 *    keys (default 10,000,000) into one task's stores, committed 10,000 per transaction with a
 *    checkpoint, as the runtime commits;
 * 2. restart with a checkpoint: reopen the task's stores and serve the first reads (the Kafka
 *    side adds fencing and reading the changelog tail after the checkpoint);
 * 3. full restore without one: changelog records applied through the restore path, records/s,
 *    and what that means for the loaded state;
 * 4. memory: RSS (anonymous and file-backed, from /proc/self/status) after the load and after
 *    200,000 random reads;
 * 5. expiry: p50/p99 of a record (a get and a put on the dedupe store) with no expiry, and while
 *    `BENCH_STATE_EXPIRED` entries (default 2,000,000) expire 10,000 per punctuation, one
 *    punctuation per 1,000 records.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KeyValueStore } from '../../processors/runtime/api.js';
import { DiskStoreBackend } from '../../processors/runtime/disk-stores.js';
import { toJson } from '../../processors/runtime/json-serde.js';
import type { RuntimeStore } from '../../processors/runtime/stores.js';
import { DEFAULT_PURGE_BATCH, ttlStore } from '../../processors/ttl.js';

const int = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 1_000 || value > 50_000_000)
    throw new RangeError(`${name} must be a whole number in [1000, 50000000], got ${raw}`);
  return value;
};
const ACCOUNTS = int('BENCH_STATE_ACCOUNTS', 1_000_000);
const DEDUPE = int('BENCH_STATE_DEDUPE', 10_000_000);
const EXPIRED = int('BENCH_STATE_EXPIRED', 2_000_000);
const COMMIT = 10_000;
const TOPIC = 'bench-changelog';

type Store<V> = RuntimeStore & KeyValueStore<V>;
interface Seen {
  readonly principal: string;
  readonly paymentId: string;
  readonly firstSeenMs: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const rss = () => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return `RSS ${fmt(kib('VmRSS') / 1024)} MiB (anonymous ${fmt(kib('RssAnon') / 1024)}, file-backed ${fmt(kib('RssFile') / 1024)})`;
};

function open(path: string) {
  const backend = new DiskStoreBackend(path);
  const balances = backend.create(
    'ledger',
    { kind: 'kv', name: 'balances', maxEntries: 1 },
    () => 0,
  ) as Store<bigint>;
  const seen = backend.create(
    'dedupe',
    ttlStore<Seen>('seen', 1, (v) => v.firstSeenMs),
    () => 0,
  ) as Store<Seen>;
  return { backend, balances, seen };
}

function load(stores: ReturnType<typeof open>, offset: { value: bigint }): void {
  const commit = () => {
    stores.balances.commit();
    stores.seen.commit();
    offset.value += BigInt(COMMIT);
    stores.backend.flush(new Map([[TOPIC, offset.value]]));
  };
  let inTransaction = 0;
  for (let i = 0; i < ACCOUNTS; i++) {
    stores.balances.put(`account-${i}`, BigInt(i) * 100n);
    if (++inTransaction % COMMIT === 0) commit();
  }
  for (let i = 0; i < DEDUPE; i++) {
    // The first EXPIRED keys are old (expire in step 5); the rest are young.
    const firstSeenMs = i < EXPIRED ? i : 1_000_000_000 + i;
    stores.seen.put(`merchant-${i % 5_000}:key-${i}`, {
      principal: `merchant-${i % 5_000}`,
      paymentId: `p-${i}`,
      firstSeenMs,
    });
    if (++inTransaction % COMMIT === 0) commit();
  }
  commit();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Records (a get and a put) with a punctuation every `punctuateEvery` records; a commit per 1,000. */
function recordLatencies(
  stores: ReturnType<typeof open>,
  records: number,
  punctuateEvery: number | undefined,
) {
  const { seen } = stores;
  const commit = () => {
    seen.commit();
    stores.backend.flush(new Map());
  };
  const latencies: number[] = [];
  const punctuations: number[] = [];
  let expired = 0;
  for (let i = 0; i < records; i++) {
    let started = performance.now();
    const key = `merchant-${i % 5_000}:new-${i}-${punctuateEvery ?? 0}`;
    if (seen.get(key) === undefined)
      seen.put(key, { principal: 'm', paymentId: `n-${i}`, firstSeenMs: 2_000_000_000 });
    latencies.push(performance.now() - started);
    if (punctuateEvery !== undefined && i % punctuateEvery === 0) {
      started = performance.now();
      expired += seen.expireUpTo(EXPIRED, DEFAULT_PURGE_BATCH);
      punctuations.push(performance.now() - started);
    }
    if (i % 1_000 === 999) commit();
  }
  commit();
  return {
    latencies: latencies.sort((a, b) => a - b),
    punctuations: punctuations.sort((a, b) => a - b),
    expired,
  };
}

const root = mkdtempSync(join(tmpdir(), 'payflow-state-bench-'));
try {
  const path = join(root, 'task');
  let stores = open(path);
  let started = performance.now();
  load(stores, { value: 0n });
  console.log(
    `load: ${fmt(ACCOUNTS)} balances + ${fmt(DEDUPE)} dedupe keys in ${fmt(performance.now() - started)} ms; disk ${fmt(stores.backend.diskBytes / 2 ** 20)} MiB; ${rss()}`,
  );
  stores.backend.close();

  started = performance.now();
  stores = open(path);
  const checkpoint = stores.backend.checkpoint;
  const first = stores.balances.get('account-1') !== undefined && stores.seen.size === DEDUPE;
  console.log(
    `restart with a checkpoint (stores side): ${fmt(performance.now() - started)} ms to reopen, read the checkpoint (${checkpoint?.offsets.get(TOPIC)}) and serve reads (${first ? 'ok' : 'WRONG'})`,
  );

  for (let i = 0; i < 200_000; i++)
    stores.seen.get(`merchant-${(i * 7919) % 5_000}:key-${(i * 104_729) % DEDUPE}`);
  console.log(`after 200,000 random reads: ${rss()}`);

  const restoreRecords = 1_000_000;
  const target = open(join(root, 'restore'));
  started = performance.now();
  for (let i = 0; i < restoreRecords; i++) {
    await target.seen.restore(
      `k-${i}`,
      Buffer.from(toJson({ principal: 'm', paymentId: `p-${i}`, firstSeenMs: i })),
    );
    if (i % 5_000 === 4_999) target.backend.restored(new Map([[TOPIC, BigInt(i + 1)]]));
  }
  target.backend.restored(new Map([[TOPIC, BigInt(restoreRecords)]]));
  const restorePerSecond = restoreRecords / ((performance.now() - started) / 1_000);
  console.log(
    `full restore (stores side): ${fmt(restorePerSecond)} records/s applied; ${fmt(ACCOUNTS + DEDUPE)} entries -> ~${fmt((ACCOUNTS + DEDUPE) / restorePerSecond)} s plus the changelog read`,
  );
  target.backend.close();

  const baseline = recordLatencies(stores, 20_000, undefined).latencies;
  started = performance.now();
  const expiring = recordLatencies(stores, 20_000, 50);
  const ms = (n: number) => n.toFixed(3);
  console.log(
    `record p50/p99 without expiry: ${ms(percentile(baseline, 0.5))} / ${ms(percentile(baseline, 0.99))} ms; ` +
      `while ${fmt(expiring.expired)} entries expire (${DEFAULT_PURGE_BATCH} per punctuation, one per 50 records): ` +
      `${ms(percentile(expiring.latencies, 0.5))} / ${ms(percentile(expiring.latencies, 0.99))} ms; ` +
      `a punctuation p50/max ${ms(percentile(expiring.punctuations, 0.5))} / ${ms(expiring.punctuations.at(-1)!)} ms; ${fmt(performance.now() - started)} ms in all`,
  );
  console.log(`final: ${rss()}`);
  stores.backend.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
