/**
 * One process of the client comparison, running one job (BENCH_CLIENT_JOB, JSON) with one
 * client: `raw` (that client's own producer → its read_committed consumer, no transaction),
 * `loop` (the exactly-once consume → transform → produce loop, until told to stop or killed)
 * or `read-committed` (./aborted-check.ts). It reports over IPC, and exits when the bench is
 * gone (its IPC channel closes), even when the bench was killed.
 */
import { nowMs } from '../limits.js';
import { checkReadCommitted } from './aborted-check.js';
import { arrived, sendBulk, sendPaced, Tallies } from './records.js';
import {
  emptyStats,
  type ClientAdapter,
  type ClientName,
  type FromWorker,
  type LoopStats,
  type RawResult,
  type ToWorker,
  type WorkerJob,
} from './types.js';

const PARTITIONS = 6;

async function adapterOf(client: ClientName): Promise<ClientAdapter> {
  switch (client) {
    case 'kafkajs':
      return (await import('./kafkajs.js')).kafkajsClient;
    case 'confluent':
      return (await import('./confluent.js')).confluentClient;
    case 'platformatic':
      return (await import('./platformatic.js')).platformaticClient;
  }
}

const send = (message: FromWorker): void => {
  process.send?.(message);
};

async function raw(adapter: ClientAdapter, job: Extract<WorkerJob, { kind: 'raw' }>): Promise<RawResult> {
  const producer = await adapter.producer(job.brokers);
  const tallies = new Tallies();
  const consumer = await adapter.consumer(job.brokers, job.topic, job.groupId, 'earliest', (records) =>
    tallies.add(records),
  );
  try {
    const warmup = tallies.expect('warmup', job.warmup);
    await sendBulk(producer, job.topic, 'warmup', job.warmup, PARTITIONS, 100);
    await arrived(warmup, 'warm-up', 90_000);
    const bulk = tallies.expect('bulk', job.records);
    const firstSendAt = await sendBulk(producer, job.topic, 'bulk', job.records, PARTITIONS);
    await arrived(bulk, 'bulk load');
    const paced = tallies.expect('paced', job.rate * job.seconds);
    await sendPaced(producer, job.topic, 'paced', job.rate * job.seconds, job.rate, PARTITIONS);
    await arrived(paced, 'paced load');
    const latency = paced.latency();
    return {
      bulkRate: (job.records * 1_000) / (bulk.lastArrivalAt - firstSendAt),
      pacedP50: latency.p50,
      pacedP99: latency.p99,
      pacedMax: latency.max,
      duplicates: bulk.duplicates + paced.duplicates,
    };
  } finally {
    await consumer.stop().catch(() => undefined);
    await producer.close().catch(() => undefined);
  }
}

async function loop(adapter: ClientAdapter, job: Extract<WorkerJob, { kind: 'loop' }>): Promise<void> {
  const stats: LoopStats = emptyStats();
  const fail = (error: unknown): void => {
    send({
      type: 'failed',
      message: `the loop failed: ${error instanceof Error ? error.message : String(error)}`,
    });
    setTimeout(() => process.exit(1), 100);
  };
  const running = await adapter.loop(job.config, stats, fail);
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      send({ type: 'stats', stats: { ...stats, cpuMs: (cpu.user + cpu.system) / 1_000 } });
    } else if (message.type === 'stop') {
      void running.stop().then(
        () => process.exit(0),
        (error: unknown) => fail(error),
      );
    }
  });
  send({ type: 'started', version: adapter.version, producers: adapter.producers });
}

async function main(): Promise<void> {
  process.on('disconnect', () => process.exit(3));
  const job = JSON.parse(process.env.BENCH_CLIENT_JOB ?? 'null') as WorkerJob | null;
  if (job === null) throw new Error('BENCH_CLIENT_JOB is not set');
  const adapter = await adapterOf(job.client);
  if (job.kind === 'loop') return loop(adapter, job);
  send({ type: 'started', version: adapter.version, producers: adapter.producers });
  if (job.kind === 'raw') {
    send({ type: 'raw', result: await raw(adapter, job) });
  } else {
    const startedAt = nowMs();
    const result = await checkReadCommitted(
      adapter,
      job.brokers,
      job.topic,
      job.groupPrefix,
      job.transactionalIdPrefix,
    );
    send({
      type: 'read-committed',
      result: { ...result, detail: `${result.detail} (${((nowMs() - startedAt) / 1_000).toFixed(1)} s)` },
    });
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  setTimeout(() => process.exit(1), 100);
});
