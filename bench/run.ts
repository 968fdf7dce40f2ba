/**
 * `npm run bench`: throughput and end-to-end latency on the local Kafka broker, in one run and
 * one table, of
 *   1. plain kafkajs: idempotent producer → read_committed consumer (the physical limit here),
 *   2. one identity processor on the exactly-once Kafka driver (in → out),
 *   3. six identity processors in a chain (in → t1 → … → t5 → out), exactly-once.
 *
 * Each path gets fresh topics (`bench-<timestamp>-…`, 6 partitions), a warm-up, a bulk load for
 * throughput and a paced load for latency; its topics and groups are deleted afterwards.
 * Settings: BENCH_RECORDS, BENCH_RATE, BENCH_SECONDS, BENCH_TIMEOUT_SECONDS (see config.ts).
 */
import os from 'node:os';

import { Kafka, logLevel, type Admin } from 'kafkajs';

import { changelogTopic } from '../processors/runtime/kafka/eos-runner.js';
import { chainNames, identityChain, type ChainStats } from './chain.js';
import { ChainProcess } from './chain-process.js';
import { isLoopbackHost, loadSettings, PARTITIONS, type BenchSettings } from './config.js';
import { BenchError, Deadline, withTimeout } from './limits.js';
import { BULK_BATCH, Collector, LoadGenerator, VALUE_BYTES } from './load.js';
import { brokerPid, describeMachine, processCpuMs } from './machine.js';
import { markdownTable, textTable, type Row } from './report.js';

const WARMUP_RECORDS = 1_200;

/** What a run created on the broker, removed when the path is done or the run fails. */
class Leftovers {
  readonly topics = new Set<string>();
  readonly groups = new Set<string>();
  readonly chains = new Set<ChainProcess>();

  async remove(admin: Admin): Promise<string[]> {
    const problems: string[] = [];
    for (const chain of this.chains) {
      await chain
        .stop()
        .catch((error: unknown) => problems.push(`stopping a chain process: ${String(error)}`));
    }
    this.chains.clear();
    if (this.groups.size > 0) {
      await withTimeout(admin.deleteGroups([...this.groups]), 15_000, 'deleting consumer groups').catch(
        (error: unknown) => problems.push(`deleting consumer groups: ${String(error)}`),
      );
      this.groups.clear();
    }
    if (this.topics.size > 0) {
      await withTimeout(
        admin.deleteTopics({ topics: [...this.topics], timeout: 15_000 }),
        20_000,
        'deleting topics',
      ).catch((error: unknown) =>
        problems.push(`deleting topics ${[...this.topics].join(', ')}: ${String(error)}`),
      );
      this.topics.clear();
    }
    return problems;
  }
}

interface Measured {
  readonly row: Row;
  readonly notes: readonly string[];
}

/** Resource counters at one moment. */
interface Snapshot {
  readonly atMs: number;
  readonly benchCpu: NodeJS.CpuUsage;
  readonly brokerCpuMs: number;
  readonly chain: ChainStats | undefined;
}

const percent = (part: number, whole: number): string =>
  whole > 0 && Number.isFinite(part) ? `${Math.round((100 * part) / whole)}%` : 'n/a';

async function snapshot(chain: ChainProcess | undefined): Promise<Snapshot> {
  return {
    atMs: Date.now(),
    benchCpu: process.cpuUsage(),
    brokerCpuMs: brokerCpu(),
    chain: await chain?.stats(),
  };
}

/** CPU per process and, for a chain, what its transactions did between two snapshots. */
function usage(before: Snapshot, after: Snapshot): string {
  const wallMs = after.atMs - before.atMs;
  const cpu = [
    `bench ${percent((after.benchCpu.user - before.benchCpu.user + after.benchCpu.system - before.benchCpu.system) / 1_000, wallMs)}`,
    `broker ${percent(after.brokerCpuMs - before.brokerCpuMs, wallMs)}`,
  ];
  const parts: string[] = [];
  const [b, a] = [before.chain, after.chain];
  if (b !== undefined && a !== undefined) {
    const active = a.loopActiveMs - b.loopActiveMs;
    const idle = a.loopIdleMs - b.loopIdleMs;
    cpu.push(
      `chain process ${percent(a.cpuMs - b.cpuMs, wallMs)} (its event loop busy ${percent(active, active + idle)})`,
    );
    const transactions = a.transactions - b.transactions;
    const each = (total: number) => (transactions > 0 ? (total / transactions).toFixed(1) : 'n/a');
    parts.push(
      `${transactions.toLocaleString('en-US')} transactions over all hops, ${each(a.records - b.records)} records ` +
        `and ${each(a.commitMs - b.commitMs)} ms each`,
      `${(a.concurrentRetries - b.concurrentRetries).toLocaleString('en-US')} produce retries on ` +
        `CONCURRENT_TRANSACTIONS (${((a.concurrentBackoffMs - b.concurrentBackoffMs) / 1_000).toFixed(1)} s backoff)`,
    );
    if (a.drops > b.drops)
      parts.push(`${a.drops - b.drops} task(s) dropped, last: ${a.lastDropReason ?? '?'}`);
  }
  return [`CPU of a core: ${cpu.join(', ')}`, ...parts].join('; ');
}

async function measure(
  hops: number,
  label: string,
  runId: string,
  settings: BenchSettings,
  kafka: Kafka,
  admin: Admin,
  deadline: Deadline,
  leftovers: Leftovers,
): Promise<Measured> {
  const names = chainNames(`${runId}-${hops === 0 ? 'kafkajs' : `chain${hops}`}`, hops);
  const topology = identityChain(names, PARTITIONS);
  const first = names.topics[0]!;
  const last = names.topics.at(-1)!;
  const topics = [
    ...names.topics.map((topic) => ({ topic, numPartitions: PARTITIONS })),
    ...(hops === 0 ? [] : [{ topic: names.deadLetterTopic, numPartitions: 1 }]),
    ...topology.processors.flatMap((p) =>
      p.stores.map((store) => ({
        topic: changelogTopic(names.applicationId, p.name, store.name),
        numPartitions: PARTITIONS,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      })),
    ),
  ];
  for (const { topic } of topics) leftovers.topics.add(topic);
  await withTimeout(
    admin.createTopics({ waitForLeaders: true, topics }),
    30_000,
    `creating the topics of "${label}"`,
  );

  // A producer per path: a kafkajs client keeps refreshing metadata of every topic it has written
  // to, and the previous path's topics are gone.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await withTimeout(producer.connect(), 20_000, 'connecting the load producer');
  const collector = new Collector(kafka, `${names.applicationId}-collector`, last);
  leftovers.groups.add(collector.groupId);
  await collector.start();
  let chain: ChainProcess | undefined;
  if (hops > 0) {
    for (const p of topology.processors) leftovers.groups.add(`${names.applicationId}-${p.name}`);
    chain = await ChainProcess.start(
      {
        brokers: settings.brokers,
        applicationId: names.applicationId,
        hops,
        partitions: PARTITIONS,
        lifetimeMs: deadline.remainingMs + 30_000,
      },
      60_000,
    );
    leftovers.chains.add(chain);
  }
  try {
    const load = new LoadGenerator(producer, deadline);

    // Warm-up: groups joined, every task's transactional producer created, code paths hot.
    collector.expect('warmup', WARMUP_RECORDS);
    await load.bulk(first, 'warmup', WARMUP_RECORDS, 100);
    await collector.drained('warmup', deadline, 90_000);

    const bulkStart = await snapshot(chain);
    const bulk = collector.expect('bulk', settings.records);
    const sent = await load.bulk(first, 'bulk', settings.records);
    await collector.drained('bulk', deadline, 30_000);
    const bulkEnd = await snapshot(chain);
    const bulkMs = bulk.lastArrivalAt - sent.firstSendAt;
    const bulkRate = (settings.records * 1_000) / bulkMs;

    const pacedCount = settings.rate * settings.seconds;
    const paced = collector.expect('paced', pacedCount);
    const pacedSent = await load.paced(first, 'paced', pacedCount, settings.rate);
    await collector.drained('paced', deadline, 30_000);
    const pacedEnd = await snapshot(chain);

    const bulkLatency = bulk.latency();
    const pacedLatency = paced.latency();
    const offered = pacedCount / Math.max(0.001, (pacedSent.lastSendAt - pacedSent.firstSendAt) / 1_000);
    const notes = [
      `${label}`,
      `  bulk:  ${(bulkMs / 1_000).toFixed(1)} s end to end, the producer done after ` +
        `${((sent.lastSendAt - sent.firstSendAt) / 1_000).toFixed(1)} s; ${usage(bulkStart, bulkEnd)}`,
      `  paced: offered ${Math.round(offered).toLocaleString('en-US')} records/s; ${usage(bulkEnd, pacedEnd)}`,
    ];
    if (settings.rate > 0.8 * bulkRate)
      notes.push(
        `  the paced rate is over 80% of this path's bulk throughput: its latency is mostly queueing`,
      );
    return {
      row: {
        path: label,
        bulkRecords: settings.records,
        bulkRate,
        bulkP50: bulkLatency.p50,
        bulkP99: bulkLatency.p99,
        pacedRate: settings.rate,
        pacedSeconds: settings.seconds,
        pacedP50: pacedLatency.p50,
        pacedP99: pacedLatency.p99,
        pacedMax: pacedLatency.max,
        duplicates: bulk.duplicates + paced.duplicates,
      },
      notes,
    };
  } finally {
    if (chain !== undefined) {
      await chain.stop();
      leftovers.chains.delete(chain);
    }
    await collector.stop();
    await withTimeout(producer.disconnect(), 10_000, 'disconnecting the load producer');
  }
}

const loadAverage = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');

const BROKER_PID = brokerPid();
const brokerCpu = (): number =>
  BROKER_PID === undefined ? Number.NaN : (processCpuMs(BROKER_PID) ?? Number.NaN);

async function main(): Promise<void> {
  const settings = loadSettings();
  const deadline = new Deadline(settings.timeoutSeconds);
  const runId = `bench-${Date.now()}`;
  const machine = describeMachine(BROKER_PID);
  const leftovers = new Leftovers();

  const kafka = new Kafka({
    clientId: 'payflow-bench',
    brokers: [...settings.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 3 },
  });
  const admin = kafka.admin();
  await withTimeout(
    admin.connect(),
    20_000,
    `connecting to the Kafka broker at ${settings.brokers.join(',')}`,
  ).catch((error: unknown) => {
    throw new BenchError(
      `cannot reach the Kafka broker at ${settings.brokers.join(',')} (${settings.brokerSource}): ` +
        `${error instanceof Error ? error.message : String(error)}. Is the local stack up? (npm run stack -- up)`,
    );
  });
  let cleaningUp: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleaningUp ??= (async () => {
      const problems = await withTimeout(leftovers.remove(admin), 45_000, 'cleaning up').catch(
        (error: unknown) => [String(error)],
      );
      for (const problem of problems) process.stderr.write(`bench: clean-up: ${problem}\n`);
      await withTimeout(admin.disconnect(), 10_000, 'disconnecting').catch(() => undefined);
    })());

  const watchdog = setTimeout(
    () => {
      process.stderr.write(
        `bench: no result within the time budget (${settings.timeoutSeconds} s, BENCH_TIMEOUT_SECONDS); giving up\n`,
      );
      void cleanUp().finally(() => process.exit(2));
    },
    (settings.timeoutSeconds + 30) * 1_000,
  );
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, removing the run's topics\n`);
      void cleanUp().finally(() => process.exit(130));
    });
  }

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  try {
    const cluster = await withTimeout(admin.describeCluster(), 15_000, 'describing the cluster');
    const remote = cluster.brokers.filter((b) => !isLoopbackHost(b.host));
    if (remote.length > 0)
      throw new BenchError(
        `refusing to run: the broker advertises non-loopback addresses (${remote.map((b) => `${b.host}:${b.port}`).join(', ')})`,
      );

    const gib = machine.memoryGiB.toFixed(1);
    console.log(`PayFlow bench ${runId}`);
    console.log(
      `machine: ${machine.cpu}, ${machine.cores} cores, ${gib} GiB RAM, ${machine.os}, Node ${machine.node}`,
    );
    console.log(
      `kafka:   ${machine.kafka === 'unknown' ? 'version unknown' : `Kafka ${machine.kafka}`}, ` +
        `${cluster.brokers.length} broker(s) at ${settings.brokers.join(',')} (${settings.brokerSource}), ` +
        `${PARTITIONS} partitions per topic`,
    );
    console.log(
      `load:    bulk ${settings.records.toLocaleString('en-US')} records (${BULK_BATCH} per request, idempotent ` +
        `producer, acks=-1); paced ${settings.rate.toLocaleString('en-US')} records/s for ${settings.seconds} s; ` +
        `${VALUE_BYTES}-byte JSON values`,
    );
    console.log(
      `load avg at start: ${loadAverage()} (the broker, the chain process and anything else share these cores)`,
    );
    console.log('');

    const paths: readonly (readonly [number, string])[] = [
      [0, 'kafkajs produce → consume'],
      [1, '1 identity processor, EOS'],
      [6, '6 identity processors, EOS'],
    ];
    const results: Measured[] = [];
    for (const [hops, label] of paths) {
      process.stderr.write(`bench: measuring ${label} …\n`);
      results.push(await measure(hops, label, runId, settings, kafka, admin, deadline, leftovers));
      const problems = await leftovers.remove(admin);
      for (const problem of problems) process.stderr.write(`bench: clean-up: ${problem}\n`);
    }

    const rows = results.map((r) => r.row);
    console.log(textTable(rows));
    console.log('');
    console.log('Where the time went (CPU as a share of one core over each phase):');
    for (const { notes } of results) for (const note of notes) console.log(`  ${note}`);
    console.log(`  load avg at end: ${loadAverage()}`);
    console.log('');
    console.log(markdownTable(rows));
  } finally {
    await withTimeout(producer.disconnect(), 10_000, 'disconnecting the load producer').catch(
      () => undefined,
    );
    await cleanUp();
    clearTimeout(watchdog);
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  const message =
    error instanceof BenchError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}
