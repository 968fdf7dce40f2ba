/**
 * What the main job runs on Kafka behind its gateway: the exactly-once pipeline and the
 * PostgreSQL read models fed from the log. It runs in the main job's own process
 * (PAYFLOW_WORKERS=1) or in each pipeline worker (app/worker.ts); either way it joins the same
 * consumer groups, so any number of such processes share the partitions.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

import type { ComponentHealth } from '../processors/runtime/supervision.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import { TOPIC } from '../topics/catalogue.js';
import type {
  KafkaSettings,
  MainJobConfig,
  PipelineSettings,
  PostgresSettings,
  ReadSideSettings,
} from './config.js';
import { pipelineStopBoundMs, startKafkaPipeline, type KafkaPipeline } from './kafka.js';
import type { Lifecycle } from './lifecycle.js';
import { startPostgresReadModels, type PostgresReadModels } from './read-models.js';

export type KafkaJobConfig = Extract<MainJobConfig, { mode: 'kafka' }>;

/** What the pipeline and the read models need of the main job's configuration (plain data). */
export interface KafkaJobSettings {
  readonly kafka: KafkaSettings;
  readonly pipeline: PipelineSettings;
  readonly postgres: PostgresSettings;
  /** The Elasticsearch and archive projections beside PostgreSQL's (PAYFLOW_PROJECTIONS). */
  readonly readSide: ReadSideSettings;
  /** Bound on writing one dead letter of a read model. */
  readonly produceTimeoutMs: number;
}

export function kafkaJobSettings(config: KafkaJobConfig): KafkaJobSettings {
  return {
    kafka: config.kafka,
    pipeline: config.pipeline,
    postgres: config.postgres,
    readSide: config.readSide,
    produceTimeoutMs: config.gateway.publishTimeoutMs,
  };
}

type Log = (message: string, detail: Record<string, unknown>) => void;

const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
/** The client-side bound on a query is the server's statement timeout plus this. */
const POSTGRES_QUERY_TIMEOUT_MARGIN_MS = 5_000;

/** The read models' pool: every query bounded on the server and, for a server gone silent, on the client. */
export function readModelsPool(postgres: PostgresSettings, log: Log): pg.Pool {
  const pool = new pg.Pool({
    connectionString: postgres.url,
    max: postgres.poolMax,
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    statement_timeout: postgres.statementTimeoutMs,
    query_timeout: postgres.statementTimeoutMs + POSTGRES_QUERY_TIMEOUT_MARGIN_MS,
    keepAlive: true,
  });
  pool.on('error', (error) => log('idle PostgreSQL connection failed', { error: error.message }));
  return pool;
}

export interface PipelineAndReadModels {
  readonly pipeline: KafkaPipeline;
  readonly readModels: PostgresReadModels;
}

/** Starts the pipeline, then the read models on `pool`; both registered with `lifecycle`. */
export async function startPipelineAndReadModels(
  config: KafkaJobSettings,
  options: {
    readonly metricsRegistry: Registry;
    readonly logger: Logger;
    /** One health for the process: the broker, the processors, the global tables, the read models. */
    readonly health: ComponentHealth;
    readonly pool: pg.Pool;
    readonly lifecycle: Lifecycle;
    readonly log: Log;
  },
): Promise<PipelineAndReadModels> {
  const { metricsRegistry, logger, health, pool, lifecycle, log } = options;
  const pipeline = lifecycle.own(
    'pipeline',
    await startKafkaPipeline(config.kafka, config.pipeline, { metricsRegistry, logger, health }),
    (p) => p.stop(),
    { closeTimeoutMs: pipelineStopBoundMs(config.pipeline) },
  );
  const registry = createSchemaRegistry(config.kafka.registryUrl);
  const serde = <V>(topic: string, contract: Parameters<typeof registryAvroSerde<V>>[2]) =>
    registryAvroSerde<V>(registry, valueSubject(topic), contract);
  const readModels = lifecycle.own(
    'read models',
    await startPostgresReadModels({
      kafka: pipeline.kafka,
      pool,
      applicationId: config.kafka.applicationId,
      statementTimeoutMs: config.postgres.statementTimeoutMs,
      readSide: config.readSide,
      serdes: {
        paymentEvent: serde(TOPIC.paymentsEvents, AVRO.PaymentEvent),
        account: serde(TOPIC.accounts, AVRO.Account),
        outcome: serde(TOPIC.accountsOutcomes, AVRO.AccountCommandOutcome),
        posting: serde(TOPIC.ledgerPostings, AVRO.LedgerPosting),
        balance: serde(TOPIC.ledgerBalances, AVRO.AccountBalance),
      },
      metricsRegistry,
      health,
      produceTimeoutMs: config.produceTimeoutMs,
      onError: (readModel, error, attempt, delayMs) =>
        log('read model write failed; retrying', {
          readModel,
          attempt,
          delayMs,
          error: error instanceof Error ? error.message : String(error),
        }),
    }),
    (r) => r.stop(),
  );
  return { pipeline, readModels };
}

/** Not up: the driver's components first, then the rest of the process's (the read models). */
export function notUpDetail(pipeline: KafkaPipeline, health: ComponentHealth): string | undefined {
  return pipeline.driver.notReadyDetail ?? health.describeNotUp();
}
