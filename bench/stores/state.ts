/**
 * `BENCH_ONLY=state npm run bench`: the disk-backed state stores at the sizes of issue #14, in
 * process, without a broker — the store side of a restart, of a full restore, of memory and of
 * expiry. Each row's size is a setting (BENCH_STATE_*), so a smoke run stays small:
 *
 * 1. full restore without a checkpoint: `BENCH_STATE_ACCOUNTS` balances and `BENCH_STATE_DEDUPE`
 *    dedupe keys (a time-indexed store, as dedupe's `seen`) written into an empty task directory
 *    through the restore path, progress recorded every 10,000 records as the runner does per
 *    fetched batch. The Kafka side (fetching the changelog) comes on top.
 * 2. restart with a checkpoint: that directory reopened as a new task opens it — stores created,
 *    checkpoint read, the inconsistency check — and the first record processed and committed (a
 *    dedupe lookup and insert, a balance update). The Kafka side of such a restart reads only the
 *    tail after the checkpoint (test/integration/runtime-checkpoint.test.ts: the sentinels).
 * 3. memory: a child process (bench/stores/rss-child.ts) restores `BENCH_STATE_RSS_DEDUPE` dedupe
 *    keys, reads 200,000 random ones and processes 20,000 records, under the default
 *    mapped-memory budget; its RSS (anonymous and file-backed) and peak RSS.
 * 4. expiry: record latency (a dedupe lookup and insert; the punctuation counted in the record
 *    that triggers it, as stream-time punctuation runs) without expiry, then while the oldest
 *    `BENCH_STATE_EXPIRED` keys expire 10,000 per punctuation, a punctuation every 1,000 records
 *    (60 times as often as dedupe's at 1,000 records/s), a commit every 1,000 records.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KeyValueStore } from '../../processors/runtime/api.js';
import { DiskStoreBackend } from '../../processors/runtime/disk-stores.js';
import { toJson } from '../../processors/runtime/json-serde.js';
import type { RuntimeStore } from '../../processors/runtime/stores.js';
import { DEFAULT_PURGE_BATCH, ttlStore } from '../../processors/ttl.js';
import { REPO_ROOT } from '../config.js';
import { alignedTable, markdownOf } from '../report.js';

export interface StateBenchSettings {
  readonly accounts: number;
  readonly dedupe: number;
  readonly rssDedupe: number;
  readonly expired: number;
}

const RESTORE_BATCH = 10_000;
const RECORDS_PER_COMMIT = 1_000;
const PUNCTUATE_EVERY = 1_000;
const BALANCES = 'ledger-balances-changelog';
const SEEN = 'dedupe-seen-changelog';
/** Changelog entries of the young dedupe keys are recorded this long after the old ones. */
const YOUNG_MS = 1_000_000_000_000;

type Store<V> = RuntimeStore & KeyValueStore<V>;
interface Seen {
  readonly principal: string;
  readonly paymentId: string;
  readonly firstSeenMs: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1_000).toFixed(1)} s`;
const ms3 = (n: number) => n.toFixed(3);

/** A task's stores as the ledger's balances and dedupe's seen keys, in one task directory. */
export function openStores(path: string) {
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
export type Stores = ReturnType<typeof openStores>;

export const seenKey = (i: number) => `merchant-${i % 5_000}:key-${i}`;

/**
 * Writes changelog records through the restore path, `RESTORE_BATCH` per progress record: the
 * balances, then `dedupe` keys of which the first `old` are old (they expire in row 4).
 */
export async function restoreChangelog(stores: Stores, accounts: number, dedupe: number, old: number) {
  let inBatch = 0;
  const offsets = new Map([
    [BALANCES, 0n],
    [SEEN, 0n],
  ]);
  const progress = async (topic: string) => {
    offsets.set(topic, offsets.get(topic)! + 1n);
    if (++inBatch < RESTORE_BATCH) return;
    inBatch = 0;
    stores.backend.restored(offsets);
    // The runner gets each batch from a fetch: the event loop turns between two.
    await new Promise((resolve) => setImmediate(resolve));
  };
  for (let i = 0; i < accounts; i++) {
    await stores.balances.restore(`account-${i}`, Buffer.from(toJson(BigInt(i) * 100n)));
    await progress(BALANCES);
  }
  for (let i = 0; i < dedupe; i++) {
    const value: Seen = {
      principal: `merchant-${i % 5_000}`,
      paymentId: `p-${i}`,
      firstSeenMs: i < old ? i : YOUNG_MS + i,
    };
    await stores.seen.restore(seenKey(i), Buffer.from(toJson(value)));
    await progress(SEEN);
  }
  stores.backend.restored(offsets);
}

/** One record of the dedupe hot path: a lookup and, for a new key, an insert; a balance update. */
export function processRecord(stores: Stores, i: number, tag: string): void {
  const key = `merchant-${i % 5_000}:${tag}-${i}`;
  if (stores.seen.get(key) === undefined)
    stores.seen.put(key, {
      principal: `merchant-${i % 5_000}`,
      paymentId: `n-${i}`,
      firstSeenMs: 2 * YOUNG_MS,
    });
  const account = `account-${(i * 7_919) % 1_000}`;
  stores.balances.put(account, (stores.balances.get(account) ?? 0n) + 1n);
}

export function commit(stores: Stores): void {
  stores.balances.commit();
  stores.seen.commit();
  stores.backend.flush(new Map());
}

/** RSS figures of this process, MiB, from /proc/self/status. */
export async function rssOf(): Promise<{ rss: number; anon: number; file: number; peak: number }> {
  const { readFileSync } = await import('node:fs');
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile'), peak: kib('VmHWM') };
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function recordLatencies(stores: Stores, records: number, tag: string, expire: boolean) {
  const latencies = new Float64Array(records);
  const punctuations: number[] = [];
  const commits: number[] = [];
  let expired = 0;
  for (let i = 0; i < records; i++) {
    const started = performance.now();
    processRecord(stores, i, tag);
    if (expire && i % PUNCTUATE_EVERY === PUNCTUATE_EVERY - 1) {
      const punctuated = performance.now();
      expired += stores.seen.expireUpTo(YOUNG_MS - 1, DEFAULT_PURGE_BATCH);
      punctuations.push(performance.now() - punctuated);
    }
    latencies[i] = performance.now() - started;
    if (i % RECORDS_PER_COMMIT === RECORDS_PER_COMMIT - 1) {
      const committing = performance.now();
      commit(stores);
      commits.push(performance.now() - committing);
    }
  }
  commit(stores);
  latencies.sort();
  const line = `p50 ${ms3(quantile(latencies, 0.5))} / p99 ${ms3(quantile(latencies, 0.99))} / p99.9 ${ms3(quantile(latencies, 0.999))} / max ${ms3(latencies[records - 1]!)} ms`;
  commits.sort((a, b) => a - b);
  punctuations.sort((a, b) => a - b);
  return { latencies, line, punctuations, commits, expired };
}

async function rssRow(settings: StateBenchSettings, root: string) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'bench/stores/rss-child.ts'),
      join(root, 'rss'),
      String(settings.rssDedupe),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`bench/stores/rss-child.ts exited ${code}`);
  return JSON.parse(output) as {
    loadMs: number;
    afterLoad: Awaited<ReturnType<typeof rssOf>>;
    afterWork: Awaited<ReturnType<typeof rssOf>>;
    diskMiB: number;
    budgetMiB: number;
    remaps: number;
  };
}

const HEADINGS = ['row', 'state', 'result', 'target'];

export async function measureState(
  settings: StateBenchSettings,
): Promise<{ text: string; markdown: string; notes: string[] }> {
  const root = mkdtempSync(join(tmpdir(), 'payflow-state-bench-'));
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    const entries = `${fmt(settings.accounts)} balances + ${fmt(settings.dedupe)} dedupe keys`;
    const path = join(root, 'task');
    let stores = openStores(path);
    let started = performance.now();
    await restoreChangelog(stores, settings.accounts, settings.dedupe, settings.expired);
    const restoreMs = performance.now() - started;
    const total = settings.accounts + settings.dedupe;
    rows.push([
      'full restore, no checkpoint (stores side)',
      entries,
      `${seconds(restoreMs)} (${fmt(total / (restoreMs / 1_000))} records/s)`,
      '—',
    ]);
    notes.push(
      `restore: ${fmt(total)} changelog records applied, progress every ${fmt(RESTORE_BATCH)}; disk ${fmt(stores.backend.diskBytes / 2 ** 20)} MiB; the changelog fetch from Kafka comes on top`,
    );
    stores.backend.close();

    started = performance.now();
    stores = openStores(path);
    const checkpoint = stores.backend.checkpoint;
    const consistent = !stores.backend.inconsistent;
    processRecord(stores, 0, 'first');
    commit(stores);
    const restartMs = performance.now() - started;
    const right =
      consistent &&
      checkpoint?.offsets.get(SEEN) === BigInt(settings.dedupe) &&
      stores.seen.size === settings.dedupe + 1 &&
      stores.balances.get(`account-${settings.accounts - 1}`) === BigInt(settings.accounts - 1) * 100n;
    if (!right) throw new Error('the reopened stores do not hold what was restored into them');
    rows.push([
      'restart with a checkpoint: open to first record committed (stores side)',
      entries,
      `${fmt(restartMs)} ms`,
      '≤ 10 s',
    ]);

    const baseline = recordLatencies(stores, 20_000, 'base', false);
    const expiryRecords =
      Math.ceil(settings.expired / DEFAULT_PURGE_BATCH) * PUNCTUATE_EVERY + PUNCTUATE_EVERY;
    started = performance.now();
    const expiring = recordLatencies(stores, expiryRecords, 'exp', true);
    const expiryMs = performance.now() - started;
    if (expiring.expired !== settings.expired)
      throw new Error(`expired ${expiring.expired} entries, not ${settings.expired}`);
    rows.push(['records, no expiry', entries, baseline.line, '—']);
    rows.push([
      `records while ${fmt(settings.expired)} entries expire`,
      entries,
      expiring.line,
      'p99 as without',
    ]);
    const punctuations = expiring.punctuations;
    notes.push(
      `expiry: ${fmt(expiring.expired)} entries in ${punctuations.length} punctuations of at most ${fmt(DEFAULT_PURGE_BATCH)} over ${fmt(expiryRecords)} records (${seconds(expiryMs)}); ` +
        `a punctuation p50 ${ms3(punctuations[Math.floor(punctuations.length / 2)]!)} / max ${ms3(punctuations.at(-1)!)} ms; ` +
        `a commit of ${fmt(RECORDS_PER_COMMIT)} records (with a punctuation's deletions) p50 ${ms3(expiring.commits[Math.floor(expiring.commits.length / 2)]!)} / max ${ms3(expiring.commits.at(-1)!)} ms, ` +
        `without expiry p50 ${ms3(baseline.commits[Math.floor(baseline.commits.length / 2)]!)} / max ${ms3(baseline.commits.at(-1)!)} ms`,
    );
    stores.backend.close();
    rmSync(path, { recursive: true, force: true });

    const rss = await rssRow(settings, root);
    const mib = (n: number) => `${fmt(n)} MiB`;
    rows.push([
      'task process RSS after 200,000 random reads and 20,000 records',
      `${fmt(settings.rssDedupe)} dedupe keys, mapped-memory budget ${mib(rss.budgetMiB)}`,
      `${mib(rss.afterWork.rss)} (anonymous ${mib(rss.afterWork.anon)}, file-backed ${mib(rss.afterWork.file)}); peak ${mib(rss.afterWork.peak)}`,
      '≤ 1 GiB',
    ]);
    notes.push(
      `memory: ${fmt(settings.rssDedupe)} dedupe keys restored in ${seconds(rss.loadMs)}, disk ${mib(rss.diskMiB)}; RSS right after: ${mib(rss.afterLoad.rss)} (anonymous ${mib(rss.afterLoad.anon)}, file-backed ${mib(rss.afterLoad.file)}); ` +
        `the environment reopened ${fmt(rss.remaps)} times to keep the file-backed RSS under the budget. ` +
        'File-backed pages are the memory-mapped LMDB file (and the program\u2019s code); anonymous memory is what the process holds',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { text: alignedTable(HEADINGS, rows), markdown: markdownOf(HEADINGS, rows), notes };
}
