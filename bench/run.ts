/**
 * `npm run bench`: throughput and end-to-end latency on the local Kafka broker, in one run and
 * one table, of
 *   1. plain kafkajs: idempotent producer → read_committed consumer (the physical limit here),
 *   2. one identity processor on the exactly-once Kafka driver (in → out),
 *   3. six identity processors in a chain (in → t1 → … → t5 → out), exactly-once,
 *   4. the payment pipeline end to end: the main job in the Kafka mode, HTTP POST → PaymentCompleted
 *      event seen by a consumer (bench/payments.ts), and in the embedded mode.
 *
 * Each identity path gets fresh topics (`bench-<timestamp>-…`, 6 partitions), a warm-up, a bulk
 * load for throughput and a paced load for latency; its topics and groups are deleted afterwards.
 * The payment rows use the real topics and fresh accounts. Settings: see config.ts and README.md;
 * BENCH_ONLY=identity|payments measures one group of rows; BENCH_ONLY=clients compares Kafka
 * clients instead (bench/clients/compare.ts); BENCH_ONLY=fraud measures fraud scoring alone, in
 * process, without the broker (bench/fraud.ts); BENCH_ONLY=state the disk-backed state stores at
 * size, in process (bench/stores/state.ts); BENCH_ONLY=state-kafka a task's restart with state on
 * the broker (bench/stores/state-kafka.ts); BENCH_ONLY=history an account's history with a million
 * payments stored, through the gateway on Elasticsearch and on PostgreSQL (bench/history.ts).
 */
import os from 'node:os';

import { Kafka, logLevel, type Admin } from 'kafkajs';

import { changelogTopic } from '../topics/names.js';
import { chainNames, identityChain } from './chain.js';
import { chainWorkers, ChainProcesses } from './chain-process.js';
import { isLoopbackHost, loadSettings, PARTITIONS, type BenchSettings } from './config.js';
import { Leftovers } from './leftovers.js';
import { BenchError, Deadline, withTimeout } from './limits.js';
import { BULK_BATCH, Collector, LoadGenerator, VALUE_BYTES } from './load.js';
import { describeMachine } from './machine.js';
import { measurePayments, PAYMENT_LABELS } from './payments.js';
import { measureClients } from './clients/compare.js';
import { measureFraudScoring } from './fraud.js';
import { measureState } from './stores/state.js';
import { measureStateKafka } from './stores/state-kafka.js';
import { measureHistory, type HistoryBenchSettings } from './history.js';
import { markdownTable, textTable, type Measured } from './report.js';
import { BROKER_PID, snapshot, usage } from './usage.js';

const WARMUP_RECORDS = 1_200;

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
  let chain: ChainProcesses | undefined;
  if (hops > 0) {
    for (const p of topology.processors) leftovers.groups.add(`${names.applicationId}-${p.name}`);
    chain = await ChainProcesses.start(
      {
        brokers: settings.brokers,
        applicationId: names.applicationId,
        hops,
        partitions: PARTITIONS,
        lifetimeMs: deadline.remainingMs + 30_000,
      },
      60_000,
      chainWorkers(),
    );
    leftovers.processes.set(chain, 'the chain processes');
  }
  try {
    const load = new LoadGenerator(producer, deadline);

    // Warm-up: groups joined, every task's transactional producer created, code paths hot.
    collector.expect('warmup', WARMUP_RECORDS);
    await load.bulk(first, 'warmup', WARMUP_RECORDS, 100);
    await collector.drained('warmup', deadline, 90_000);

    const bulkStart = await snapshot({ chain });
    const bulk = collector.expect('bulk', settings.records);
    const sent = await load.bulk(first, 'bulk', settings.records);
    await collector.drained('bulk', deadline, 30_000);
    const bulkEnd = await snapshot({ chain });
    const bulkMs = bulk.lastArrivalAt - sent.firstSendAt;
    const bulkRate = (settings.records * 1_000) / bulkMs;

    const pacedCount = settings.rate * settings.seconds;
    const paced = collector.expect('paced', pacedCount);
    const pacedSent = await load.paced(first, 'paced', pacedCount, settings.rate);
    await collector.drained('paced', deadline, 30_000);
    const pacedEnd = await snapshot({ chain });

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
        stuck: 0,
      },
      notes,
    };
  } finally {
    if (chain !== undefined) {
      await chain.stop();
      leftovers.processes.delete(chain);
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

async function main(): Promise<void> {
  const settings = loadSettings();
  if (settings.groups.includes('fraud')) return fraudOnly(settings);
  if (settings.groups.includes('state')) return stateOnly(settings);
  if (settings.groups.includes('state-kafka')) return stateKafkaOnly(settings);
  if (settings.history !== undefined) return historyOnly(settings.history);
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
      process.stderr.write(`bench: ${signal}, stopping the run's processes and removing its topics\n`);
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
    const identity = settings.groups.includes('identity');
    const payments = settings.groups.includes('payments');
    if (identity)
      console.log(
        `load:    bulk ${settings.records.toLocaleString('en-US')} records (${BULK_BATCH} per request, idempotent ` +
          `producer, acks=-1); paced ${settings.rate.toLocaleString('en-US')} records/s for ${settings.seconds} s; ` +
          `${VALUE_BYTES}-byte JSON values`,
      );
    if (payments) {
      const p = settings.payments;
      console.log(
        `${identity ? 'payments:' : 'load:   '} bulk ${p.payments.toLocaleString('en-US')} payments by ${p.clients} ` +
          `HTTP clients; paced ${p.rate.toLocaleString('en-US')} payments/s for ${settings.seconds} s; ` +
          `among ${p.accounts} fresh funded accounts; a payment is stuck when none of its phase ended for ` +
          `${p.stallSeconds} s`,
      );
    }
    if (settings.groups.includes('clients'))
      console.log(
        `load:    per client: bulk ${settings.records.toLocaleString('en-US')} records, paced ` +
          `${settings.rate.toLocaleString('en-US')} records/s for ${settings.seconds} s; ${VALUE_BYTES}-byte JSON values`,
      );
    console.log(
      `load avg at start: ${loadAverage()} (the broker, the process under test and anything else share these cores)`,
    );
    console.log('');
    if (settings.groups.includes('clients')) {
      await measureClients(runId, settings, kafka, admin, deadline, leftovers);
      console.log(`load avg at end: ${loadAverage()}`);
      return;
    }

    const paths: readonly (readonly [string, () => Promise<Measured>])[] = [
      ...(identity
        ? ([
            [0, 'kafkajs produce → consume'],
            [1, '1 identity processor, EOS'],
            [6, '6 identity processors, EOS'],
          ] as const)
        : []
      ).map(
        ([hops, label]) =>
          [label, () => measure(hops, label, runId, settings, kafka, admin, deadline, leftovers)] as const,
      ),
      ...(payments ? (['kafka', 'embedded'] as const) : []).map(
        (mode) =>
          [
            PAYMENT_LABELS[mode],
            () => measurePayments(mode, runId, settings, kafka, deadline, leftovers),
          ] as const,
      ),
    ];
    const results: Measured[] = [];
    for (const [label, measurePath] of paths) {
      process.stderr.write(`bench: measuring ${label} …\n`);
      results.push(await measurePath());
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

/** Fraud scoring alone: no broker, no servers, nothing to clean up. */
function fraudOnly(settings: BenchSettings): void {
  const loadAtStart = loadAverage();
  inProcessReport('fraud scoring', loadAtStart, measureFraudScoring(settings.fraudPayments));
}

async function stateOnly(settings: BenchSettings): Promise<void> {
  const loadAtStart = loadAverage();
  inProcessReport('state stores (disk, LMDB)', loadAtStart, await measureState(settings.state));
}

/** A task's restart with state on the broker: the task process started three times. */
async function stateKafkaOnly(settings: BenchSettings): Promise<void> {
  const loadAtStart = loadAverage();
  inProcessReport(
    `task restart with state (Kafka at ${settings.brokers.join(',')})`,
    loadAtStart,
    await measureStateKafka(settings.stateKafka, settings.brokers),
  );
}

/** An account's history through the gateway on Elasticsearch and PostgreSQL of the local stack. */
async function historyOnly(settings: HistoryBenchSettings): Promise<void> {
  const loadAtStart = loadAverage();
  const runId = Date.now().toString(36);
  inProcessReport(
    'account history (GET /v1/accounts/{id}/payments)',
    loadAtStart,
    await measureHistory(runId, settings),
  );
}

/** The report of a row group measured in process: the machine, the table, its notes, the markdown. */
function inProcessReport(
  title: string,
  loadAtStart: string,
  { text, markdown, notes }: { text: string; markdown: string; notes: readonly string[] },
): void {
  const machine = describeMachine(undefined);
  console.log(`PayFlow bench: ${title}`);
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB RAM, ${machine.os}, Node ${machine.node}`,
  );
  console.log(`load avg at start: ${loadAtStart}`);
  console.log('');
  console.log(text);
  console.log('');
  for (const note of notes) console.log(`  ${note}`);
  console.log(`  load avg at end: ${loadAverage()}`);
  console.log('');
  console.log(markdown);
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
