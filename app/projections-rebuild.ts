/**
 * `npm run projections:rebuild -- <name> [--catch-up-timeout-ms=N] [--swap-timeout-ms=N]
 * [--lock-timeout-ms=N]`: rebuilds a projection from `payments.events` beside the live one and
 * swaps it in: `postgres` (projections/postgres/rebuild.ts, the payments tables) or
 * `elasticsearch` (projections/elasticsearch/rebuild.ts, the transactions index behind its
 * alias); or in place for `archive`, whose files are a function of the log
 * (projections/s3-parquet/rebuild.ts; only the catch-up bound applies, and a timeout removes
 * nothing). The configuration is the main job's in the Kafka mode (PAYFLOW_KAFKA_BROKERS,
 * PAYFLOW_SCHEMA_REGISTRY_URL, PAYFLOW_POSTGRES_URL, PAYFLOW_ELASTICSEARCH_URL,
 * PAYFLOW_ELASTICSEARCH_INDEX, PAYFLOW_APPLICATION_ID...). The bounds: `--catch-up-timeout-ms`
 * to reach the end offsets taken at the start; `--swap-timeout-ms` to reach the log's end once
 * the live projection is held (the PostgreSQL lock, the index's write block), so how long it is
 * held at most; `--lock-timeout-ms` to get the lock or place the write block. Progress is logged
 * as JSON lines on stdout. Exit 0 once swapped (or, for the archive, rebuilt); 2 for an unknown
 * name, a projection PAYFLOW_PROJECTIONS doesn't have, a bad option or configuration; 1 when the
 * rebuild failed, timed out or was interrupted (SIGINT, SIGTERM: a rebuild with a swap stops at
 * its next step and cleans up, nothing swapped; a second signal ends the process).
 */
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { pino } from 'pino';

import { pinoLogCreator } from '../processors/runtime/kafka/log.js';
import { TombstoneError } from '../projections/accounts-runner.js';
import { projectedEvent, type ProjectedPaymentEvent } from '../projections/payment-view.js';
import { rebuildTransactionsIndex } from '../projections/elasticsearch/rebuild.js';
import { rebuildPaymentsProjection } from '../projections/postgres/rebuild.js';
import { rebuildArchive } from '../projections/s3-parquet/rebuild.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import type { PaymentEvent } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { ConfigError } from '../gateway/index.js';
import {
  configOrExit,
  mainJobConfig,
  PROJECTION_NAMES,
  type MainJobConfig,
  type ProjectionName,
} from './config.js';
import { readModelsPool } from './kafka-job.js';
import { archiveS3Client, isUnreachableReadSide } from './read-side.js';

const OPTION_DEFAULTS = {
  'catch-up-timeout-ms': 600_000,
  'swap-timeout-ms': 30_000,
  'lock-timeout-ms': 10_000,
};
type OptionName = keyof typeof OPTION_DEFAULTS;

interface Invocation {
  readonly name: ProjectionName;
  readonly timeouts: Readonly<Record<OptionName, number>>;
}

/** The projection and the bounds of the command line; a ConfigError names what's wrong. */
export function parseInvocation(args: readonly string[], configured: readonly string[]): Invocation {
  const [name, ...rest] = args;
  const problems: string[] = [];
  const timeouts: Record<OptionName, number> = { ...OPTION_DEFAULTS };
  for (const arg of rest) {
    const match = /^--([a-z-]+)=(\d{1,9})$/.exec(arg);
    if (match === null || !(match[1]! in OPTION_DEFAULTS) || Number(match[2]) < 1) {
      problems.push(
        `${arg}: expected --catch-up-timeout-ms=N, --swap-timeout-ms=N or --lock-timeout-ms=N (N ≥ 1)`,
      );
    } else timeouts[match[1] as OptionName] = Number(match[2]);
  }
  if (name === undefined || !(PROJECTION_NAMES as readonly string[]).includes(name)) {
    problems.push(
      `the projection to rebuild must be one of ${PROJECTION_NAMES.join(', ')} (got ${name ?? 'none'})`,
    );
  } else if (!configured.includes(name)) {
    problems.push(`${name} is not in PAYFLOW_PROJECTIONS (${configured.join(',')})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { name: name as Invocation['name'], timeouts };
}

function log(message: string, detail: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg: message, ...detail })}\n`);
}

type KafkaJobConfig = Extract<MainJobConfig, { mode: 'kafka' }>;

interface Rebuild {
  readonly config: KafkaJobConfig;
  readonly invocation: Invocation;
  /** What every rebuild takes alike (the archive's ignores `swapTimeoutMs` and `signal`). */
  readonly common: {
    readonly kafka: Kafka;
    readonly topic: string;
    readonly decode: (message: KafkaMessage) => Promise<ProjectedPaymentEvent>;
    readonly catchUpTimeoutMs: number;
    readonly swapTimeoutMs: number;
    readonly log: typeof log;
    readonly signal: AbortSignal;
  };
}

async function rebuildPostgres({ config, invocation, common }: Rebuild): Promise<void> {
  const pool = readModelsPool(config.postgres, log);
  try {
    await rebuildPaymentsProjection({
      ...common,
      pool,
      groupPrefix: `${config.kafka.applicationId}.read-model.payments`,
      lockTimeoutMs: invocation.timeouts['lock-timeout-ms'],
    });
  } finally {
    await pool.end();
  }
}

async function rebuildElasticsearch({ config, invocation, common }: Rebuild): Promise<void> {
  const settings = config.readSide.elasticsearch!;
  const client = new Client({ node: settings.url, requestTimeout: settings.timeoutMs, maxRetries: 2 });
  try {
    await rebuildTransactionsIndex({
      ...common,
      client,
      alias: settings.index,
      // The live projection's group (app/read-side.ts) and its rule for what is retried.
      groupPrefix: `${config.kafka.applicationId}.read-model.elasticsearch`,
      isUnreachable: isUnreachableReadSide,
      blockTimeoutMs: invocation.timeouts['lock-timeout-ms'],
    });
  } finally {
    await client.close();
  }
}

/** The archive's rebuild, in place (projections/s3-parquet/rebuild.ts). */
async function rebuildArchiveOf({ config, common }: Rebuild): Promise<void> {
  const settings = config.readSide.archive!;
  const s3 = archiveS3Client(settings.s3);
  try {
    await rebuildArchive({
      kafka: common.kafka,
      s3,
      location: { bucket: settings.bucket, prefix: settings.prefix, fileOffsets: settings.fileOffsets },
      topic: common.topic,
      groupPrefix: `${config.kafka.applicationId}.read-model.archive`,
      decode: common.decode,
      catchUpTimeoutMs: common.catchUpTimeoutMs,
      log,
    });
  } finally {
    s3.destroy();
  }
}

/** The rebuild of each projection (every one of PROJECTION_NAMES has one). */
const REBUILDS: Readonly<Record<Invocation['name'], (rebuild: Rebuild) => Promise<void>>> = {
  postgres: rebuildPostgres,
  elasticsearch: rebuildElasticsearch,
  archive: rebuildArchiveOf,
};

async function main(): Promise<void> {
  const config = configOrExit('projections:rebuild', () => {
    const job = mainJobConfig(process.env);
    if (job.mode !== 'kafka')
      throw new ConfigError(['PAYFLOW_KAFKA_BROKERS is required (projections are fed from the log)']);
    return job;
  });
  const configured = [
    'postgres',
    ...(config.readSide.elasticsearch === undefined ? [] : ['elasticsearch']),
    ...(config.readSide.archive === undefined ? [] : ['archive']),
  ];
  const invocation = configOrExit('projections:rebuild', () =>
    parseInvocation(process.argv.slice(2), configured),
  );
  const kafka = new Kafka({
    clientId: `${config.kafka.applicationId}-rebuild`,
    brokers: [...config.kafka.brokers],
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(pino({ name: 'payflow-rebuild' })),
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
  });
  const serde = registryAvroSerde<PaymentEvent>(
    createSchemaRegistry(config.kafka.registryUrl),
    valueSubject(TOPIC.paymentsEvents),
    AVRO.PaymentEvent,
  );
  // SIGINT or SIGTERM stops a rebuild with a swap at its next step and cleans up (for the index:
  // the write block lifted, the new index deleted), rather than leaving the live projection
  // blocked; a second signal ends the process. The archive's rebuild has nothing to clean up.
  const interrupted = new AbortController();
  for (const signal of invocation.name === 'archive' ? [] : (['SIGINT', 'SIGTERM'] as const))
    process.once(signal, () => {
      log('rebuild interrupted; stopping without a swap', { signal });
      interrupted.abort(new Error(`interrupted by ${signal}`));
    });
  const rebuild: Rebuild = {
    config,
    invocation,
    common: {
      kafka,
      topic: TOPIC.paymentsEvents,
      decode: async (message) => {
        if (message.value === null) throw new TombstoneError(TOPIC.paymentsEvents);
        return projectedEvent(await serde.deserialize(message.value, TOPIC.paymentsEvents));
      },
      catchUpTimeoutMs: invocation.timeouts['catch-up-timeout-ms'],
      swapTimeoutMs: invocation.timeouts['swap-timeout-ms'],
      log,
      signal: interrupted.signal,
    },
  };
  try {
    await REBUILDS[invocation.name](rebuild);
  } catch (error) {
    log('rebuild failed; nothing was swapped', {
      projection: invocation.name,
      error: error instanceof Error ? error.message : String(error),
    });
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').at(-1)!))
  await main();
