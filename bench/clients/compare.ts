/**
 * `BENCH_ONLY=clients npm run bench`: kafkajs, @confluentinc/kafka-javascript and
 * @platformatic/kafka side by side, each in processes of its own. Per client:
 *   1. raw: that client's idempotent producer → its read_committed consumer, no transaction;
 *   2. the exactly-once loop (./worker.ts, ./window.ts): bulk throughput of one hop over records
 *      waiting in the input, then end-to-end latency at a paced rate (the bench's kafkajs load
 *      generator and collector, the same for every client);
 *   3. kill -9: the loop killed twice while a paced load runs, restarted each time; the output,
 *      read read_committed, must hold every input record exactly once;
 *   4. read_committed: ./aborted-check.ts with that client's producers and consumers.
 */
import type { Admin, Kafka } from 'kafkajs';

import { PARTITIONS, type BenchSettings } from '../config.js';
import type { Leftovers } from '../leftovers.js';
import { BenchError, Deadline, sleep, withTimeout } from '../limits.js';
import { Collector, LoadGenerator } from '../load.js';
import { processCpuMs } from '../machine.js';
import { BROKER_PID } from '../usage.js';
import { installClients } from './install.js';
import { markdownTable, textTable, type ClientRow } from './table.js';
import { emptyStats, type ClientName, type LoopConfig, type LoopStats } from './types.js';
import { WorkerProcess } from './worker-process.js';

const WARMUP = 1_200;

/** Transactional producers of each client's loop (see each adapter). */
const PRODUCERS: Record<ClientName, string> = {
  kafkajs: 'per input partition',
  confluent: 'per process (KIP-447)',
  platformatic: 'per process (KIP-447)',
};
const KILL_RECORDS = 30_000;
const KILL_RATE = 2_000;
/** Each kill comes once this share of the records is on the output: the loop is mid-run. */
const KILL_AT = [0.25, 0.6] as const;
const MAX_RECORDS = 1_000;
const MAX_MS = 100;

interface Variant {
  readonly client: ClientName;
  readonly label: string;
  readonly node: string;
}

interface Context {
  readonly runId: string;
  readonly settings: BenchSettings;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly deadline: Deadline;
  readonly leftovers: Leftovers;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function topics(ctx: Context, names: readonly string[], partitions = PARTITIONS): Promise<void> {
  for (const topic of names) ctx.leftovers.topics.add(topic);
  await withTimeout(
    ctx.admin.createTopics({
      waitForLeaders: true,
      topics: names.map((topic) => ({ topic, numPartitions: partitions })),
    }),
    30_000,
    `creating ${names.join(', ')}`,
  );
}

async function raw(ctx: Context, v: Variant, tag: string) {
  const topic = `${tag}-raw`;
  await topics(ctx, [topic]);
  ctx.leftovers.groups.add(`${tag}-raw`);
  const worker = await WorkerProcess.start(
    {
      kind: 'raw',
      client: v.client,
      brokers: ctx.settings.brokers,
      topic,
      groupId: `${tag}-raw`,
      warmup: WARMUP,
      records: ctx.settings.records,
      rate: ctx.settings.rate,
      seconds: ctx.settings.seconds,
    },
    v.node,
  );
  try {
    return (await worker.next('raw', ctx.deadline.remainingMs, `${v.label}: produce → consume`)).result;
  } finally {
    await worker.kill();
  }
}

const loopConfig = (ctx: Context, tag: string, input: string, output: string): LoopConfig => ({
  brokers: ctx.settings.brokers,
  input,
  output,
  partitions: PARTITIONS,
  groupId: `${tag}-loop`,
  transactionalIdPrefix: `${tag}-loop`,
  maxRecords: MAX_RECORDS,
  maxMs: MAX_MS,
});

const cpuShare = (cpuMs: number, wallMs: number): string =>
  Number.isFinite(cpuMs) && wallMs > 0 ? `${Math.round((100 * cpuMs) / wallMs)}%` : 'n/a';

const brokerCpu = (): number =>
  BROKER_PID === undefined ? Number.NaN : (processCpuMs(BROKER_PID) ?? Number.NaN);

/** A loop between two fresh topics, the kafkajs load generator on the input, the collector on the output. */
async function openHop(ctx: Context, v: Variant, tag: string) {
  const [input, output] = [`${tag}-in`, `${tag}-out`];
  await topics(ctx, [input, output]);
  const config = loopConfig(ctx, tag, input, output);
  ctx.leftovers.groups.add(config.groupId);
  const producer = ctx.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await withTimeout(producer.connect(), 20_000, 'connecting the load producer');
  const collector = new Collector(ctx.kafka, `${tag}-collector`, output);
  ctx.leftovers.groups.add(collector.groupId);
  await collector.start();
  const start = async () => {
    const loop = await WorkerProcess.start({ kind: 'loop', client: v.client, config }, v.node);
    ctx.leftovers.processes.set(loop, `the ${v.label} loop`);
    return loop;
  };
  const hop = {
    input,
    collector,
    load: new LoadGenerator(producer, ctx.deadline),
    loop: await start(),
    /** Stops the loop (gracefully, or by SIGKILL) and starts a new one on the same group and ids. */
    async restart(kill: boolean): Promise<WorkerProcess> {
      await (kill ? hop.loop.kill() : hop.loop.stop());
      ctx.leftovers.processes.delete(hop.loop);
      hop.loop = await start();
      return hop.loop;
    },
    async close(): Promise<void> {
      await hop.loop.stop().catch(() => hop.loop.kill());
      ctx.leftovers.processes.delete(hop.loop);
      await collector.stop().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
  return hop;
}

async function eos(ctx: Context, v: Variant, tag: string, notes: string[]) {
  const hop = await openHop(ctx, v, tag);
  const { collector, load, input } = hop;
  try {
    collector.expect('warmup', WARMUP);
    await load.bulk(input, 'warmup', WARMUP, 100);
    await collector.drained('warmup', ctx.deadline, 90_000);
    // The bulk records wait in the input before the loop (restarted) reads them: the hop's own
    // rate, not the load generator's.
    await hop.loop.stop();
    const bulk = collector.expect('bulk', ctx.settings.records);
    await load.bulk(input, 'bulk', ctx.settings.records);
    const loop = await hop.restart(false);
    const beforeBulk = await loop.stats();
    const broker0 = brokerCpu();
    await collector.drained('bulk', ctx.deadline, 30_000);
    const afterBulk = await loop.stats();
    const broker1 = brokerCpu();
    const hopMs = afterBulk.lastCommitAt - afterBulk.firstRecordAt;
    const bulkRate = (afterBulk.records * 1_000) / hopMs;
    const paced = collector.expect('paced', ctx.settings.rate * ctx.settings.seconds);
    await load.paced(input, 'paced', ctx.settings.rate * ctx.settings.seconds, ctx.settings.rate);
    await collector.drained('paced', ctx.deadline, 30_000);
    await sleep(1_000); // a duplicate would come after the last first copy
    const afterPaced = await loop.stats();
    const broker2 = brokerCpu();
    const pacedMs = afterPaced.lastCommitAt - afterBulk.lastCommitAt;
    const per = (s: LoopStats, b: LoopStats) =>
      `${(s.transactions - b.transactions).toLocaleString('en-US')} transactions of ` +
      `${((s.records - b.records) / Math.max(1, s.transactions - b.transactions)).toFixed(0)} records, ` +
      `${((s.commitMs - b.commitMs) / Math.max(1, s.transactions - b.transactions)).toFixed(1)} ms each`;
    const zero = emptyStats();
    notes.push(
      `  EOS bulk: ${afterBulk.records.toLocaleString('en-US')} records in ${(hopMs / 1_000).toFixed(1)} s ` +
        `(first record read → last commit); ${per(afterBulk, zero)}; CPU of a core: loop ` +
        `${cpuShare(afterBulk.cpuMs - beforeBulk.cpuMs, hopMs)}, broker ${cpuShare(broker1 - broker0, hopMs)}`,
      `  EOS paced: ${per(afterPaced, afterBulk)}; CPU of a core: loop ${cpuShare(afterPaced.cpuMs - afterBulk.cpuMs, pacedMs)}, ` +
        `broker ${cpuShare(broker2 - broker1, pacedMs)}`,
    );
    const latency = paced.latency();
    return { bulkRate, latency, duplicates: bulk.duplicates + paced.duplicates };
  } finally {
    await hop.close();
  }
}

/** kill -9 twice under a paced load, restart each time; every record once on the output. */
async function killTest(ctx: Context, v: Variant, tag: string): Promise<{ passed: boolean; detail: string }> {
  const hop = await openHop(ctx, v, `${tag}-kill`);
  const { collector, load, input } = hop;
  try {
    const tally = collector.expect('paced', KILL_RECORDS);
    const sending = load.paced(input, 'paced', KILL_RECORDS, KILL_RATE);
    const killedAt: number[] = [];
    for (const share of KILL_AT) {
      const due = Date.now() + 60_000;
      while (tally.distinct < share * KILL_RECORDS) {
        if (hop.loop.failure !== undefined) throw new BenchError(hop.loop.failure);
        if (Date.now() > due)
          throw new BenchError(`the loop made no progress to ${share * 100}% of the records within 60 s`);
        await sleep(5);
      }
      killedAt.push(tally.distinct);
      await hop.restart(true);
    }
    await sending;
    await collector.drained('paced', ctx.deadline, 60_000);
    await sleep(2_000);
    const passed = tally.distinct === KILL_RECORDS && tally.duplicates === 0;
    return {
      passed,
      detail:
        `${KILL_RECORDS.toLocaleString('en-US')} records at ${KILL_RATE}/s, killed (SIGKILL) with ` +
        `${killedAt.map((n) => n.toLocaleString('en-US')).join(' and ')} on the output, restarted each time: ` +
        `${tally.distinct.toLocaleString('en-US')} distinct, ${tally.duplicates} duplicates`,
    };
  } finally {
    await hop.close();
  }
}

async function readCommitted(ctx: Context, v: Variant, tag: string) {
  const topic = `${tag}-rc`;
  await topics(ctx, [topic], 1);
  for (let i = 0; i <= 12; i++) ctx.leftovers.groups.add(`${tag}-rc-${i}`);
  const worker = await WorkerProcess.start(
    {
      kind: 'read-committed',
      client: v.client,
      brokers: ctx.settings.brokers,
      topic,
      groupPrefix: `${tag}-rc`,
      transactionalIdPrefix: `${tag}-rc`,
    },
    v.node,
  );
  try {
    return (await worker.next('read-committed', 120_000, `${v.label}: read_committed check`)).result;
  } finally {
    await worker.kill();
  }
}

/** Runs `step`; a failure becomes a note and undefined, so one client's failure does not end the run. */
async function attempt<T>(what: string, notes: string[], step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (error) {
    notes.push(`  ${what} FAILED: ${message(error)}`);
    return undefined;
  }
}

async function measureVariant(
  ctx: Context,
  v: Variant,
  index: number,
): Promise<{ row: ClientRow; notes: string[] }> {
  const tag = `${ctx.runId}-c${index}-${v.client}`;
  const notes: string[] = [];
  process.stderr.write(`bench: clients: ${v.label}: produce → consume …\n`);
  const rawResult = await attempt('produce → consume', notes, () => raw(ctx, v, tag));
  process.stderr.write(`bench: clients: ${v.label}: exactly-once loop …\n`);
  const eosResult = await attempt('EOS loop', notes, () => eos(ctx, v, tag, notes));
  process.stderr.write(`bench: clients: ${v.label}: kill -9 …\n`);
  const kill = await attempt('kill -9', notes, () => killTest(ctx, v, tag));
  process.stderr.write(`bench: clients: ${v.label}: read_committed …\n`);
  const rc = await attempt('read_committed', notes, () => readCommitted(ctx, v, tag));
  const problems = await ctx.leftovers.remove(ctx.admin);
  for (const problem of problems) process.stderr.write(`bench: clean-up: ${problem}\n`);
  if (kill) notes.push(`  kill -9: ${kill.passed ? 'pass' : 'FAIL'}: ${kill.detail}`);
  if (rc) notes.push(`  read_committed: ${rc.passed ? 'pass' : 'FAIL'}: ${rc.detail}`);
  return {
    row: {
      client: v.label,
      producers: PRODUCERS[v.client],
      raw: rawResult,
      eos: eosResult,
      killPassed: kill ? kill.passed : undefined,
      readCommittedPassed: rc ? rc.passed : undefined,
    },
    notes,
  };
}

export async function measureClients(
  runId: string,
  settings: BenchSettings,
  kafka: Kafka,
  admin: Admin,
  deadline: Deadline,
  leftovers: Leftovers,
): Promise<void> {
  const ctx: Context = { runId, settings, kafka, admin, deadline, leftovers };
  const installed = installClients();
  const node24 = 'path' in installed.node24 ? installed.node24.path : undefined;
  const variants: Variant[] = [
    { client: 'kafkajs', label: `kafkajs, Node ${process.versions.node}`, node: process.execPath },
    ...(node24 === undefined
      ? []
      : [{ client: 'kafkajs' as const, label: 'kafkajs, Node 24', node: node24 }]),
    { client: 'confluent', label: `confluent, Node ${process.versions.node}`, node: process.execPath },
    { client: 'platformatic', label: 'platformatic, Node 24', node: node24 ?? process.execPath },
  ];
  const rows: ClientRow[] = [];
  const notes: string[] = [];
  for (const [index, variant] of variants.entries()) {
    const problem = installed.problems.get(variant.client);
    if (problem !== undefined) {
      rows.push({
        client: `${variant.label} (not installed)`,
        producers: PRODUCERS[variant.client],
        raw: undefined,
        eos: undefined,
        killPassed: undefined,
        readCommittedPassed: undefined,
      });
      notes.push(variant.label, `  not installed: ${problem}`);
      continue;
    }
    process.stderr.write(`bench: clients: measuring ${variant.label} …\n`);
    deadline.check(`measuring ${variant.label}`);
    const measured = await measureVariant(ctx, variant, index);
    rows.push(measured.row);
    notes.push(variant.label, ...measured.notes);
  }
  console.log(textTable(rows));
  console.log('');
  console.log(
    `Each client in processes of its own; EOS loop: read_committed, one transaction per ${MAX_MS} ms or ` +
      `${MAX_RECORDS.toLocaleString('en-US')} records; kill -9: ${KILL_AT.length} kills under ${KILL_RATE}/s.`,
  );
  for (const note of notes) console.log(`  ${note}`);
  console.log('');
  console.log(markdownTable(rows));
}
