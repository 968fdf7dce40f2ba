/**
 * `BENCH_ONLY=state-kafka npm run bench`: the restart of a task with state, on the real broker
 * and runtime. A task's state is its changelogs: the bench writes `BENCH_STATE_KAFKA_ACCOUNTS`
 * balances and `BENCH_STATE_KAFKA_DEDUPE` dedupe keys into the changelog topics of a processor
 * with the hot path's stores (bench/stores/state-kafka-task.ts, one partition), as the stores'
 * writes would have put them there, then runs the task process three times, each until its first
 * input record is processed and committed, stopped with SIGTERM:
 *
 * 1. no state directory: the stores are restored from the changelogs whole;
 * 2. restart with the directory the first run left, with its checkpoint: only the tail after it
 *    (the sentinels of the last owner, the first run's writes) is read;
 * 3. restart with the state directory removed: the whole changelogs again.
 *
 * Measured per run: process start (spawn) → first record processed, and → committed; the
 * runner's restore (records read, from where, how long). An input record is waiting in the input
 * topic before each start. Topics and groups are the run's own and are deleted at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';

import { toJson } from '../../processors/runtime/json-serde.js';
import { changelogTopic } from '../../topics/names.js';
import { REPO_ROOT } from '../config.js';
import { alignedTable, markdownOf } from '../report.js';
import { PROCESSOR, type Seen } from './state-kafka-task.js';

export interface StateKafkaBenchSettings {
  readonly accounts: number;
  readonly dedupe: number;
}

/** Changelog records per produce request, and requests in flight. */
const PRODUCE_BATCH = 5_000;
const PRODUCE_IN_FLIGHT = 4;
/** Bound on one task process reaching its first committed record. */
const RUN_TIMEOUT_MS = 45 * 60_000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1_000).toFixed(1)} s`;

interface ReadyEvent {
  readonly restoreMs: number;
  readonly restoredRecords: number;
  readonly restoredFrom: string;
  readonly restoredEntries: number;
}
interface Run {
  readonly processedMs: number;
  readonly committedMs: number;
  readonly ready: ReadyEvent;
}

async function produceChangelogs(
  producer: Producer,
  topics: { readonly balances: string; readonly seen: string },
  settings: StateKafkaBenchSettings,
): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  let messages: { key: string; value: Buffer }[] = [];
  let topic = topics.balances;
  const send = async () => {
    const batch = { topic, acks: -1, messages };
    messages = [];
    const sending = producer.send(batch).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
    if (inFlight.size >= PRODUCE_IN_FLIGHT) await Promise.race(inFlight);
  };
  for (let i = 0; i < settings.accounts; i++) {
    messages.push({ key: `account-${i}`, value: Buffer.from(toJson(BigInt(i) * 100n)) });
    if (messages.length === PRODUCE_BATCH) await send();
  }
  if (messages.length > 0) await send();
  await Promise.all(inFlight);
  topic = topics.seen;
  for (let i = 0; i < settings.dedupe; i++) {
    const value: Seen = { principal: `merchant-${i % 5_000}`, paymentId: `p-${i}`, firstSeenMs: i };
    messages.push({ key: `merchant-${i % 5_000}:key-${i}`, value: Buffer.from(toJson(value)) });
    if (messages.length === PRODUCE_BATCH) await send();
  }
  if (messages.length > 0) await send();
  await Promise.all(inFlight);
}

/** Starts the task process, waits for its first committed record, stops it with SIGTERM. */
async function runTask(env: NodeJS.ProcessEnv): Promise<Run> {
  const startedMs = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'bench/stores/state-kafka-task.ts')],
    {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let ready: ReadyEvent | undefined;
    let processedAtMs: number | undefined;
    const committedAtMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the task process committed no record within ${RUN_TIMEOUT_MS} ms`)),
        RUN_TIMEOUT_MS,
      );
      void exited.then((code) =>
        reject(new Error(`the task process exited ${code} before its first commit`)),
      );
      createInterface({ input: child.stdout }).on('line', (line) => {
        const event = JSON.parse(line) as { type: string; atMs?: number } & ReadyEvent;
        if (event.type === 'task-ready') ready = event;
        if (event.type === 'first-record') processedAtMs = event.atMs;
        if (event.type === 'first-commit') {
          clearTimeout(timer);
          resolve(event.atMs!);
        }
      });
    });
    if (ready === undefined || processedAtMs === undefined)
      throw new Error('the task process committed before it reported its restore and first record');
    return { processedMs: processedAtMs - startedMs, committedMs: committedAtMs - startedMs, ready };
  } finally {
    child.kill('SIGTERM');
    const stop = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(stop);
  }
}

async function removeRun(admin: Admin, applicationId: string, topics: readonly string[]): Promise<void> {
  const { groups } = await admin.listGroups();
  const ours = groups.map((g) => g.groupId).filter((id) => id.startsWith(applicationId));
  if (ours.length > 0) await admin.deleteGroups(ours).catch(() => undefined);
  await admin.deleteTopics({ topics: [...topics], timeout: 30_000 }).catch(() => undefined);
}

const HEADINGS = ['row', 'state', 'result', 'target'];

export async function measureStateKafka(
  settings: StateKafkaBenchSettings,
  brokers: readonly string[],
): Promise<{ text: string; markdown: string; notes: string[] }> {
  const kafka = new Kafka({
    clientId: 'payflow-bench-state',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
  });
  const applicationId = `bench-${Date.now()}-state`;
  const input = `${applicationId}-input`;
  const output = `${applicationId}-output`;
  const changelogs = {
    balances: changelogTopic(applicationId, PROCESSOR, 'balances'),
    seen: changelogTopic(applicationId, PROCESSOR, 'seen'),
  };
  const topics = [input, output, `${applicationId}-dlq`, changelogs.balances, changelogs.seen];
  const admin = kafka.admin();
  const producer = kafka.producer();
  const root = mkdtempSync(join(tmpdir(), 'payflow-state-kafka-bench-'));
  const stateDir = join(root, 'state');
  const rows: string[][] = [];
  const notes: string[] = [];
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: 1,
        ...(topic.endsWith('-changelog')
          ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }
          : {}),
      })),
    });
    await producer.connect();
    let started = performance.now();
    await produceChangelogs(producer, changelogs, settings);
    const total = settings.accounts + settings.dedupe;
    notes.push(
      `changelogs: ${fmt(total)} records produced in ${seconds(performance.now() - started)} (${PRODUCE_BATCH} per request, ${PRODUCE_IN_FLIGHT} in flight)`,
    );
    const env = {
      ...process.env,
      PAYFLOW_KAFKA_BROKERS: brokers.join(','),
      STATE_KAFKA_APPLICATION_ID: applicationId,
      STATE_KAFKA_INPUT: input,
      STATE_KAFKA_OUTPUT: output,
      STATE_KAFKA_DIR: stateDir,
    };
    const entries = `${fmt(settings.accounts)} balances + ${fmt(settings.dedupe)} dedupe keys`;
    const runs: [string, string, () => void][] = [
      ['full restore, no state directory: process start → first record', '—', () => undefined],
      ['restart with a checkpoint: process start → first record', '≤ 10 s', () => undefined],
      [
        'restart, state directory removed: process start → first record',
        '—',
        () => rmSync(stateDir, { recursive: true, force: true }),
      ],
    ];
    for (const [index, [row, target, before]] of runs.entries()) {
      before();
      await producer.send({
        topic: input,
        acks: -1,
        messages: [{ key: `merchant-0:first-${index}`, value: `r${index}` }],
      });
      started = performance.now();
      const run = await runTask(env);
      const { ready } = run;
      if (ready.restoredEntries < total)
        throw new Error(`the task holds ${ready.restoredEntries} entries after its restore, not ${total}`);
      rows.push([
        row,
        entries,
        `${seconds(run.processedMs)} (committed ${seconds(run.committedMs)}); restore ${seconds(ready.restoreMs)}, ${fmt(ready.restoredRecords)} changelog records from the ${ready.restoredFrom}`,
        target,
      ]);
    }
    notes.push(
      'process start = the spawn of `node --import tsx bench/stores/state-kafka-task.ts` (the TypeScript compiled at start, as the main job); restore = the runner\u2019s task-ready event: its fencing transaction, the checkpoint, the changelog read to its sentinel; then the input consumer group joins and the record waiting in the input topic is processed',
    );
  } finally {
    await producer.disconnect().catch(() => undefined);
    await removeRun(admin, applicationId, topics).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
  return { text: alignedTable(HEADINGS, rows), markdown: markdownOf(HEADINGS, rows), notes };
}
