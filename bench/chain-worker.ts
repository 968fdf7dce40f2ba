/**
 * The process that runs an identity chain on the Kafka driver (exactly-once), as a deployment
 * would: its own process, its own event loop. Started by bench/run.ts over IPC; configured by
 * BENCH_CHAIN (a ChainWorkerConfig). It reports counters on request, stops on request, and exits
 * when its parent goes away or its lifetime is up.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';

import { KafkaDriver } from '../processors/runtime/kafka/driver.js';
import {
  chainNames,
  identityChain,
  isToChain,
  type ChainStats,
  type ChainWorkerConfig,
  type FromChain,
} from './chain.js';

const send = (message: FromChain): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });

const config = JSON.parse(process.env.BENCH_CHAIN ?? 'null') as ChainWorkerConfig | null;
if (config === null || !process.send) {
  process.stderr.write('chain-worker: run by bench/run.ts (needs BENCH_CHAIN and an IPC channel)\n');
  process.exit(2);
}

setTimeout(() => {
  process.stderr.write(`chain-worker: lifetime of ${config.lifetimeMs} ms is up, exiting\n`);
  process.exit(3);
}, config.lifetimeMs).unref();

const counters = {
  transactions: 0,
  records: 0,
  commitMs: 0,
  drops: 0,
  lastDropReason: undefined as string | undefined,
  concurrentRetries: 0,
  concurrentBackoffMs: 0,
};

/**
 * Counts the produce retries a transactional producer makes because the broker is still
 * finishing its previous transaction (CONCURRENT_TRANSACTIONS), and the backoff they wait.
 * kafkajs logs each at error level, so counting them costs nothing while the chain is healthy.
 */
const countRetries = () => (entry: LogEntry) => {
  const { message } = entry.log;
  if (!message.startsWith('Failed to send messages') || !/concurrent operation/i.test(message)) return;
  counters.concurrentRetries += 1;
  const retryTime: unknown = entry.log.retryTime;
  if (typeof retryTime === 'number') counters.concurrentBackoffMs += retryTime;
};

const driver = new KafkaDriver(
  identityChain(chainNames(config.applicationId, config.hops), config.partitions),
  {
    kafka: new Kafka({
      clientId: `${config.applicationId}-chain`,
      brokers: [...config.brokers],
      logLevel: logLevel.ERROR,
      logCreator: countRetries,
    }),
    sessionTimeoutMs: 10_000,
    onEvent: (_processor, event) => {
      if (event.type === 'committed') {
        counters.transactions += 1;
        counters.records += event.records;
        counters.commitMs += event.commitMs;
      } else if (event.type === 'task-dropped' && event.reason !== 'shutdown') {
        counters.drops += 1;
        counters.lastDropReason = event.reason;
      }
    },
  },
);

function stats(): ChainStats {
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return {
    cpuMs: (cpu.user + cpu.system) / 1_000,
    loopActiveMs: loop.active,
    loopIdleMs: loop.idle,
    ...counters,
  };
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const forced = setTimeout(() => process.exit(code === 0 ? 4 : code), 20_000);
  try {
    await driver.stop();
    await send({ type: 'stopped' });
  } finally {
    clearTimeout(forced);
    process.exit(code);
  }
}

process.on('message', (message: unknown) => {
  if (!isToChain(message)) return;
  if (message.type === 'stats') void send({ type: 'stats', stats: stats() });
  else void stop(0);
});
process.on('disconnect', () => void stop(1));
process.once('SIGTERM', () => void stop(0));

try {
  await driver.start();
  await send({ type: 'started' });
} catch (error) {
  await send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
