/**
 * Disk stores under SIGKILL, without a broker: a child process runs a task on disk stores
 * (test/support/store-crash-task.ts: a key-value and a window store, the changelog made durable
 * before each LMDB flush, as the Kafka runner commits) and is killed — once stopped inside an
 * LMDB write transaction that has already written a bogus value, then at random moments. After
 * every kill the stores hold exactly the changelog up to their checkpoint (data and checkpoint
 * agree, nothing of the interrupted write), a restore of the tail after the checkpoint gives the
 * state the whole committed changelog gives, and the last run's state is the input's.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import { kill } from '../../test/support/eos-harness.js';
import {
  COUNTS_CHANGELOG,
  CRASH_KEYS,
  input,
  openTask,
  readChangelog,
  SUMS_CHANGELOG,
  WINDOW_MS,
  type ChangelogRecord,
} from '../../test/support/store-crash-task.js';
import type { KeyValueStore, WindowStore } from './api.js';
import { toJson } from './json-serde.js';
import { compositeKey } from './stores.js';

const RECORDS = 60_000;

/** Changelog topic -> key -> value (JSON), the last committed write of each key; deletions drop it. */
function fold(records: readonly ChangelogRecord[], before?: ReadonlyMap<string, bigint>) {
  const state = new Map<string, Map<string, string>>([
    [SUMS_CHANGELOG, new Map()],
    [COUNTS_CHANGELOG, new Map()],
  ]);
  for (const record of records) {
    if (before !== undefined && record.offset >= (before.get(record.topic) ?? 0n)) continue;
    const topic = state.get(record.topic)!;
    if (record.value === null) topic.delete(record.key);
    else topic.set(record.key, record.value.toString('utf8'));
  }
  return state;
}

/** What the task's stores hold, in the changelog's terms. */
function stateOf(task: Awaited<ReturnType<typeof openTask>>['task']) {
  const stores = task.task('crash').stores;
  const sums = stores.get('sums') as unknown as KeyValueStore<string>;
  const counts = stores.get('counts') as unknown as WindowStore<number>;
  const windows = new Map<string, string>();
  for (let k = 0; k < CRASH_KEYS; k++)
    for (const { key, window, value } of counts.fetch(`k${k}`, 0, Number.MAX_SAFE_INTEGER))
      windows.set(compositeKey(key, window.startMs), toJson({ key, ...window, value }));
  return new Map([
    [SUMS_CHANGELOG, new Map([...sums.all()].map(([key, value]) => [key, toJson(value)]))],
    [COUNTS_CHANGELOG, windows],
  ]);
}

function start(stateDir: string, file: string, pauseAtCommit = -1) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/support/store-crash-task.ts',
      stateDir,
      file,
      String(RECORDS),
      String(pauseAtCommit),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const printed = (line: string) =>
    new Promise<void>((resolve, reject) => {
      lines.on('line', (text) => text === line && resolve());
      child.once('exit', (code, signal) =>
        reject(new Error(`exited ${code ?? signal} before printing ${line}`)),
      );
    });
  return { child, printed };
}

/** After a kill: the stores agree with their checkpoint, and restoring the tail gives the committed changelog's state. */
async function checkAfterKill(stateDir: string, file: string) {
  const { records } = readChangelog(file);
  const asFound = await openTask(stateDir, []);
  assert.equal(asFound.backend.inconsistent, false, 'data with a checkpoint');
  const checkpoint = asFound.checkpoint?.offsets ?? new Map<string, bigint>();
  assert.deepEqual(
    stateOf(asFound.task),
    fold(records, checkpoint),
    'the stores hold the changelog up to their checkpoint',
  );
  asFound.task.close();
  const restored = await openTask(stateDir, records);
  assert.deepEqual(stateOf(restored.task), fold(records), 'restored state equals the committed changelog');
  restored.task.close();
  return { tail: restored.restored, committed: records.length };
}

test(
  'a task killed with SIGKILL in the middle of a store write, then at random moments, restores exactly its committed changelog and ends with the state of its input',
  { timeout: 180_000 },
  async () => {
    const root = mkdtempSync(join(tmpdir(), 'payflow-store-crash-'));
    const stateDir = join(root, 'state');
    const file = join(root, 'changelog.jsonl');
    const children: ChildProcess[] = [];
    try {
      const paused = start(stateDir, file, 3);
      children.push(paused.child);
      await paused.printed('in-write');
      assert.equal(await kill(paused.child, 'SIGKILL'), null);
      const first = await checkAfterKill(stateDir, file);
      assert.ok(first.tail > 0, 'the interrupted commit is in the changelog tail, not in the stores');

      for (let round = 0; round < 3; round++) {
        const run = start(stateDir, file);
        children.push(run.child);
        await run.printed('restored');
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(Math.random() * 400)));
        await kill(run.child, 'SIGKILL');
        await checkAfterKill(stateDir, file);
        const { nextInput } = readChangelog(file);
        assert.ok(
          nextInput < RECORDS,
          `killed while processing (${nextInput} of ${RECORDS} records committed)`,
        );
      }

      const last = start(stateDir, file);
      children.push(last.child);
      await last.printed('done');
      assert.equal((await once(last.child, 'exit'))[0], 0);
      const { records } = readChangelog(file);
      const final = await openTask(stateDir, records);
      const sums = new Map<string, string>();
      const counts = new Map<string, number>();
      for (let i = 0; i < RECORDS; i++) {
        const { key, value, timestampMs } = input(i);
        sums.set(key, (BigInt(JSON.parse(sums.get(key) ?? '"0"') as string) + value).toString());
        sums.set(key, toJson(sums.get(key)));
        const windowKey = compositeKey(key, Math.floor(timestampMs / WINDOW_MS) * WINDOW_MS);
        counts.set(windowKey, (counts.get(windowKey) ?? 0) + 1);
      }
      const state = stateOf(final.task);
      assert.deepEqual(state.get(SUMS_CHANGELOG), sums, 'the sums of the input');
      assert.deepEqual(
        new Map(
          [...state.get(COUNTS_CHANGELOG)!].map(([key, json]) => [
            key,
            (JSON.parse(json) as { value: number }).value,
          ]),
        ),
        counts,
        'the window counts of the input',
      );
      final.task.close();
    } finally {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  },
);
