/**
 * `npm run projections:rebuild -- <name> [--catch-up-timeout-ms=N] [--swap-timeout-ms=N]
 * [--lock-timeout-ms=N]`: rebuilds a projection from `payments.events` beside the live one and
 * swaps it in (projections/postgres/rebuild.ts for `postgres`), or in place for `archive`, whose
 * files are a function of the log (projections/s3-parquet/rebuild.ts; only the catch-up bound
 * applies, and a timeout removes nothing). The configuration is the main
 * job's in the Kafka mode (PAYFLOW_KAFKA_BROKERS, PAYFLOW_SCHEMA_REGISTRY_URL,
 * PAYFLOW_POSTGRES_URL, PAYFLOW_APPLICATION_ID...). Progress is logged as JSON lines on stdout.
 * Exit 0 once swapped; 2 for an unknown name, a projection PAYFLOW_PROJECTIONS doesn't have, a
 * projection without a rebuild, a bad option or configuration; 1 when the rebuild failed or
 * timed out (nothing was swapped).
 */
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { pino } from 'pino';

import { pinoLogCreator } from '../processors/runtime/kafka/log.js';
import { TombstoneError } from '../projections/accounts-runner.js';
import { projectedEvent, type ProjectedPaymentEvent } from '../projections/payment-view.js';
import { rebuildPaymentsProjection } from '../projections/postgres/rebuild.js';
import { rebuildArchive } from '../projections/s3-parquet/rebuild.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import type { PaymentEvent } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { ConfigError } from '../gateway/index.js';
import { configOrExit, mainJobConfig, PROJECTION_NAMES } from './config.js';
import { readModelsPool } from './kafka-job.js';
import { archiveS3Client } from './read-side.js';

/** Projections with a rebuild; the others of PROJECTION_NAMES exit 2 saying so. */
const REBUILDABLE = ['postgres', 'archive'] as const;

const OPTION_DEFAULTS = {
  'catch-up-timeout-ms': 600_000,
  'swap-timeout-ms': 30_000,
  'lock-timeout-ms': 10_000,
};
type OptionName = keyof typeof OPTION_DEFAULTS;

interface Invocation {
  readonly name: (typeof REBUILDABLE)[number];
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
  } else if (!(REBUILDABLE as readonly string[]).includes(name)) {
    problems.push(`${name} has no rebuild command; rebuildable: ${REBUILDABLE.join(', ')}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { name: name as Invocation['name'], timeouts };
}

function log(message: string, detail: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg: message, ...detail })}\n`);
}

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
  const pool = readModelsPool(config.postgres, log);
  const serde = registryAvroSerde<PaymentEvent>(
    createSchemaRegistry(config.kafka.registryUrl),
    valueSubject(TOPIC.paymentsEvents),
    AVRO.PaymentEvent,
  );
  const decode = async (message: KafkaMessage) => {
    if (message.value === null) throw new TombstoneError(TOPIC.paymentsEvents);
    return projectedEvent(await serde.deserialize(message.value, TOPIC.paymentsEvents));
  };
  try {
    if (invocation.name === 'archive') {
      await rebuildArchiveOf(config, kafka, decode, invocation.timeouts['catch-up-timeout-ms']);
      return;
    }
    await rebuildPaymentsProjection({
      kafka,
      pool,
      topic: TOPIC.paymentsEvents,
      groupPrefix: `${config.kafka.applicationId}.read-model.payments`,
      decode,
      catchUpTimeoutMs: invocation.timeouts['catch-up-timeout-ms'],
      swapTimeoutMs: invocation.timeouts['swap-timeout-ms'],
      lockTimeoutMs: invocation.timeouts['lock-timeout-ms'],
      log,
    });
  } catch (error) {
    log('rebuild failed; nothing was swapped', {
      projection: invocation.name,
      error: error instanceof Error ? error.message : String(error),
    });
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

/** The archive's rebuild, in place (projections/s3-parquet/rebuild.ts). */
async function rebuildArchiveOf(
  config: ReturnType<typeof mainJobConfig> & { readonly mode: 'kafka' },
  kafka: Kafka,
  decode: (message: KafkaMessage) => Promise<ProjectedPaymentEvent>,
  catchUpTimeoutMs: number,
): Promise<void> {
  const settings = config.readSide.archive!;
  const s3 = archiveS3Client(settings.s3);
  try {
    await rebuildArchive({
      kafka,
      s3,
      location: { bucket: settings.bucket, prefix: settings.prefix, fileOffsets: settings.fileOffsets },
      topic: TOPIC.paymentsEvents,
      groupPrefix: `${config.kafka.applicationId}.read-model.archive`,
      decode,
      catchUpTimeoutMs,
      log,
    });
  } finally {
    s3.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').at(-1)!))
  await main();
