/**
 * The memory budget of the disk stores (mapped-memory.ts): when the governor reopens an LMDB
 * environment and what it checks, and — in child processes of their own, so the file-backed RSS
 * is the stores' alone — that a store with many more keys than its cache stays under the budget
 * through a full restore and random reads, where without the budget its RSS holds the whole file.
 * (The store contracts run on environments reopened after every write too: store-contract.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { MappedMemoryGovernor, processRssFileBytes, type Remappable } from './mapped-memory.js';

const MiB = 2 ** 20;

function environment(): Remappable & { remapped: number } {
  const env = {
    remapped: 0,
    remap() {
      env.remapped++;
    },
  };
  return env;
}

describe('mapped memory governor', () => {
  test('under the budget nothing is reopened; over it, the environment that wrote is reopened at once and every other after its next write', () => {
    let rss = 100 * MiB;
    const governor = new MappedMemoryGovernor({
      budgetBytes: 200 * MiB,
      checkIntervalMs: 0,
      rssFileBytes: () => rss,
    });
    const [a, b, c] = [environment(), environment(), environment()];
    for (const env of [a, b, c]) governor.register(env);
    governor.afterWrite(a);
    assert.deepEqual([a.remapped, b.remapped, c.remapped], [0, 0, 0]);
    rss = 300 * MiB;
    governor.afterWrite(a);
    assert.deepEqual(
      [a.remapped, b.remapped, c.remapped],
      [1, 0, 0],
      'only the writer, between its transactions',
    );
    rss = 150 * MiB;
    governor.afterWrite(b);
    governor.afterWrite(a);
    assert.deepEqual(
      [a.remapped, b.remapped, c.remapped],
      [1, 1, 0],
      'b was due even though the RSS is back under',
    );
    governor.afterWrite(c);
    governor.afterWrite(c);
    assert.deepEqual([a.remapped, b.remapped, c.remapped], [1, 1, 1], 'each due environment once');
    assert.equal(governor.remaps, 3);
  });

  test('the RSS is read at most once per check interval, and never without a budget or by a closed environment', () => {
    let now = 0;
    let reads = 0;
    const governor = new MappedMemoryGovernor({
      budgetBytes: 1,
      checkIntervalMs: 100,
      nowMs: () => now,
      rssFileBytes: () => (reads++, 2),
    });
    const a = environment();
    governor.register(a);
    governor.afterWrite(a);
    now = 99;
    governor.afterWrite(a);
    assert.deepEqual([reads, a.remapped], [1, 1]);
    now = 100;
    governor.afterWrite(a);
    assert.deepEqual([reads, a.remapped], [2, 2]);

    const unbounded = new MappedMemoryGovernor({ budgetBytes: Infinity, rssFileBytes: () => (reads++, 2) });
    unbounded.register(a);
    unbounded.afterWrite(a);
    assert.deepEqual([reads, a.remapped], [2, 2]);

    const b = environment();
    governor.register(b);
    now = 200;
    governor.afterWrite(a);
    governor.unregister(b);
    governor.register(b);
    governor.afterWrite(b);
    assert.equal(b.remapped, 0, 'a closed environment is no longer due (a new one starts afresh)');
  });

  test(
    'the process file-backed RSS is read from /proc/self/status',
    { skip: process.platform !== 'linux' },
    () => {
      const rss = processRssFileBytes();
      assert.ok(rss !== undefined && rss > MiB && rss < 16 * 1024 * MiB, `RssFile ${rss}`);
    },
  );
});

const KEYS = 300_000;
const BUDGET_MIB = 8;
/** What one transaction may touch past the check that preceded it (250 random reads, 64 KiB each at most). */
const SLACK_MIB = 24;

interface Growth {
  readonly peakMiB: number;
  readonly finalMiB: number;
  readonly fileMiB: number;
  readonly remaps: number;
}

async function runTask(path: string, budget: string): Promise<Growth> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/mapped-memory-task.ts', path, String(KEYS), budget],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, 'test/support/mapped-memory-task.ts failed');
  return JSON.parse(output) as Growth;
}

test(
  `a store of ${KEYS.toLocaleString('en-US')} keys (cache 1,000) keeps the process's file-backed RSS within ${BUDGET_MIB} MiB of budget (+ one transaction's pages) through a full restore and random reads; without the budget it holds the whole LMDB file`,
  { skip: process.platform !== 'linux', timeout: 120_000 },
  async () => {
    const root = mkdtempSync(join(tmpdir(), 'payflow-mapped-memory-'));
    try {
      const [bounded, unbounded] = await Promise.all([
        runTask(join(root, 'bounded'), String(BUDGET_MIB)),
        runTask(join(root, 'unbounded'), 'off'),
      ]);
      const bound = BUDGET_MIB + SLACK_MIB;
      assert.ok(bounded.remaps > 0, 'the environment was reopened');
      assert.ok(bounded.peakMiB <= bound, `peak growth ${bounded.peakMiB.toFixed(1)} MiB > ${bound} MiB`);
      assert.ok(bounded.finalMiB <= bound, `final growth ${bounded.finalMiB.toFixed(1)} MiB > ${bound} MiB`);
      // Without the mechanism the same work leaves the file's pages mapped: the bound above fails.
      assert.equal(unbounded.remaps, 0);
      assert.ok(
        unbounded.finalMiB > Math.max(bound + 8, unbounded.fileMiB * 0.75),
        `without a budget the growth is ${unbounded.finalMiB.toFixed(1)} MiB for a ${unbounded.fileMiB.toFixed(1)} MiB file`,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);
