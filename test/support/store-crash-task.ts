/**
 * A task on disk stores that a test kills with SIGKILL, without a broker: a running sum per key
 * (a key-value store) and a count per key and 1-second tumbling window (a window store), run by
 * the runtime's SubTopologyTask on a DiskStoreBackend, committing as the Kafka runner does — the
 * transaction's changelog made durable first (here: appended to a file and fsynced, then a commit
 * marker with the next input offset, as a Kafka transaction commits records and offsets
 * together), then the stores' LMDB flush with the changelog offsets as their checkpoint.
 *
 * Run as a program: `store-crash-task.ts <stateDir> <changelogFile> <records> <pauseAtCommit>`
 * restores the stores from the checkpoint (the committed changelog records after it), goes on
 * from the last committed input offset (printing `restored` when it starts processing) and prints
 * `done` when all `records` are processed. With
 * `pauseAtCommit` >= 0, that commit's LMDB write transaction writes a bogus value into the sums
 * and then stops inside the transaction, printing `in-write`: a SIGKILL then lands in the middle
 * of a store write.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import type { Processor, Topology } from '../../processors/runtime/api.js';
import { DiskStoreBackend } from '../../processors/runtime/disk-stores.js';
import { SubTopologyTask, type RawRecord } from '../../processors/runtime/task.js';
import { subTopologiesOf } from '../../processors/runtime/topology.js';
import { changelogTopic } from '../../topics/names.js';
import { decimalSerde } from './running-sum.js';

export const CRASH_APP = 'store-crash';
const INPUT = `${CRASH_APP}-in`;
export const RECORDS_PER_COMMIT = 250;
export const CRASH_KEYS = 97;
export const WINDOW_MS = 1_000;

/** Input record i: its key, value and timestamp (the same in every run). */
export const input = (i: number) => ({
  key: `k${i % CRASH_KEYS}`,
  value: BigInt(i % 13),
  timestampMs: i * 10,
});

const crashProcessor: Processor<bigint> = {
  name: 'crash',
  inputs: [INPUT],
  outputs: [],
  stores: [
    { kind: 'kv', name: 'sums', maxEntries: 10 },
    {
      kind: 'window',
      name: 'counts',
      maxEntries: 10,
      window: { type: 'tumbling', sizeMs: WINDOW_MS, advanceMs: WINDOW_MS, graceMs: 1e12, retentionMs: 1e12 },
    },
  ],
  process(record, context) {
    const sums = context.keyValueStore<string>('sums');
    sums.put(record.key, (BigInt(sums.get(record.key) ?? '0') + record.value).toString());
    context.windowStore<number>('counts').update(record.key, record.timestampMs, (n) => (n ?? 0) + 1);
  },
};

export const crashTopology: Topology = {
  applicationId: CRASH_APP,
  topics: [{ name: INPUT, partitions: 1, serde: decimalSerde }],
  processors: [crashProcessor],
  deadLetterTopic: `${CRASH_APP}-dlq`,
};

export const SUMS_CHANGELOG = changelogTopic(CRASH_APP, 'crash', 'sums');
export const COUNTS_CHANGELOG = changelogTopic(CRASH_APP, 'crash', 'counts');

export interface ChangelogRecord {
  readonly topic: string;
  readonly offset: bigint;
  readonly key: string;
  readonly value: Buffer | null;
}

/**
 * The committed changelog records of the file (a transaction without its marker is dropped, as a
 * read_committed consumer skips an aborted one; its records still take offsets), the next input
 * offset, and the offset after each changelog's last record. A line is one write(2), so a SIGKILL
 * never tears it.
 */
export function readChangelog(file: string): {
  records: ChangelogRecord[];
  nextInput: number;
  ends: Map<string, bigint>;
} {
  const records: ChangelogRecord[] = [];
  let pending: ChangelogRecord[] = [];
  let nextInput = 0;
  const offsets = new Map<string, bigint>();
  if (!existsSync(file)) return { records, nextInput, ends: offsets };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const parsed = JSON.parse(line) as {
      begin?: number;
      commit?: number;
      topic?: string;
      key?: string;
      value?: string | null;
    };
    if (parsed.begin !== undefined) {
      pending = []; // records before a transaction's start without their marker never committed
      continue;
    }
    if (parsed.commit !== undefined) {
      records.push(...pending);
      pending = [];
      nextInput = parsed.commit;
      continue;
    }
    const topic = parsed.topic!;
    const offset = offsets.get(topic) ?? 0n;
    offsets.set(topic, offset + 1n);
    const value =
      parsed.value === null || parsed.value === undefined ? null : Buffer.from(parsed.value, 'base64');
    pending.push({ topic, offset, key: parsed.key!, value });
  }
  return { records, nextInput, ends: offsets };
}

/** The task on the stores of `stateDir`, restored from the checkpoint on (wiped and restored whole if untrusted). */
export async function openTask(stateDir: string, changelog: readonly ChangelogRecord[]) {
  const backend = new DiskStoreBackend(stateDir, 8);
  const task = new SubTopologyTask(subTopologiesOf(crashTopology)[0]!, 0, {
    topology: crashTopology,
    wallClock: () => Date.now(),
    globalTable: () => {
      throw new Error('no global tables');
    },
    storeBackend: () => backend,
  });
  const checkpoint = backend.checkpoint;
  if (checkpoint === undefined && backend.inconsistent) backend.wipe();
  const from = (topic: string) => checkpoint?.offsets.get(topic) ?? 0n;
  const progress = new Map<string, bigint>();
  let restored = 0;
  for (const record of changelog) {
    if (record.offset < from(record.topic)) continue;
    await task.restore(record.topic, record.key, record.value);
    progress.set(record.topic, record.offset + 1n);
    restored++;
  }
  task.restored(progress);
  return { task, backend, checkpoint, restored };
}

async function main(stateDir: string, file: string, total: number, pauseAtCommit: number): Promise<void> {
  const { records, nextInput, ends } = readChangelog(file);
  const { task, backend } = await openTask(stateDir, records);
  writeSync(1, 'restored\n');
  const fd = openSync(file, 'a');
  let commits = 0;
  for (let start = nextInput; start < total; start += RECORDS_PER_COMMIT) {
    const batch: RawRecord[] = [];
    for (let i = start; i < Math.min(total, start + RECORDS_PER_COMMIT); i++) {
      const { key, value, timestampMs } = input(i);
      batch.push({
        topic: INPUT,
        partition: 0,
        offset: i,
        key,
        value: Buffer.from(value.toString()),
        headers: {},
        timestampMs,
      });
    }
    await task.process(batch);
    const changelog = await task.changelog();
    let lines = `${JSON.stringify({ begin: start })}\n`;
    for (const record of changelog) {
      lines += `${JSON.stringify({ topic: record.topic, key: record.key, value: record.value?.toString('base64') ?? null })}\n`;
      ends.set(record.topic, (ends.get(record.topic) ?? 0n) + 1n);
    }
    // The records, then the marker: a SIGKILL in between leaves a transaction that never committed.
    writeSync(fd, lines);
    writeSync(fd, `${JSON.stringify({ commit: start + batch.length })}\n`);
    fsyncSync(fd);
    if (commits++ === pauseAtCommit)
      backend.directory.queue((directory) => {
        directory.database('crash.sums').putSync('k1', Buffer.from('"bogus"'));
        writeSync(1, 'in-write\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
      });
    task.commit(new Map(ends));
  }
  closeSync(fd);
  task.close();
  writeSync(1, 'done\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [stateDir, file, total, pause] = process.argv.slice(2);
  appendFileSync(file!, '');
  await main(stateDir!, file!, Number(total), Number(pause ?? -1));
}
