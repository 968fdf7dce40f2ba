/**
 * The payment pipeline on Kafka: creates the catalogue's topics and the state stores' changelog
 * topics (idempotent), registers every Avro contract in the schema registry (BACKWARD), and runs
 * the pipeline topology on the Kafka driver with exactly-once processing. Used by the main job's
 * Kafka mode and by `npm run processors` (the pipeline alone, scaled out by running more).
 */
import { Kafka, logLevel } from 'kafkajs';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';

import {
  createSchemaRegistry,
  registerSchemas,
  registryAvroSerde,
  valueSubject,
} from '../schemas/registry.js';
import type { KafkaSettings, PipelineSettings } from './config.js';
import { changelogTopicConfig, topicCatalogue, topicCreateSpecs } from '../topics/catalogue.js';
import { createTopics } from '../topics/create.js';
import { paymentPipeline } from '../processors/pipeline.js';
import type { Topology } from '../processors/runtime/api.js';
import { KafkaDriver } from '../processors/runtime/kafka/driver.js';
import { pinoLogCreator } from '../processors/runtime/kafka/log.js';
import { RuntimeMetrics } from '../processors/runtime/metrics.js';
import {
  backoffDelayMs,
  ComponentHealth,
  DEFAULT_STOP_TIMEOUT_MS,
  reasonOf,
} from '../processors/runtime/supervision.js';
import { withRiskMetrics } from './risk-metrics.js';

/** Bound on registering the contracts at start-up while the registry answers errors (e.g. its database restarts). */
const REGISTER_SCHEMAS_TIMEOUT_MS = 120_000;

async function registerWithRetry(
  register: () => Promise<unknown>,
  logger: Logger | undefined,
): Promise<void> {
  const deadline = Date.now() + REGISTER_SCHEMAS_TIMEOUT_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await register();
      return;
    } catch (error) {
      const delayMs = backoffDelayMs({ initialDelayMs: 500, maxDelayMs: 10_000 }, attempt);
      if (Date.now() + delayMs > deadline) throw error;
      logger?.warn({ attempt, delayMs, reason: reasonOf(error) }, 'registering the schemas failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/**
 * How long stopping the pipeline may take: the runners and then the global tables each get the
 * supervisor's stop bound, and a runner's batch in flight may wait out a transaction.
 */
export function pipelineStopBoundMs(settings: PipelineSettings): number {
  return 2 * DEFAULT_STOP_TIMEOUT_MS + settings.runtime.transactionTimeoutMs + 15_000;
}

export interface KafkaPipeline {
  readonly kafka: Kafka;
  readonly topology: Topology;
  readonly driver: KafkaDriver;
  /** Finishes the batches in flight, commits, leaves the consumer groups. */
  stop(): Promise<void>;
}

/** Prepares topics and schemas, then starts the pipeline; resolves once it is running. */
export async function startKafkaPipeline(
  config: KafkaSettings,
  settings: PipelineSettings,
  options: {
    readonly metricsRegistry: Registry;
    /** Where kafkajs logs go (structured); default: a pino logger on stdout at info. */
    readonly logger?: Logger;
    /** Where the runners, tables and broker report; default: one of the pipeline's own. */
    readonly health?: ComponentHealth;
  },
): Promise<KafkaPipeline> {
  const kafka = new Kafka({
    clientId: config.applicationId,
    brokers: [...config.brokers],
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(options.logger ?? pino({ name: 'payflow-kafka' })),
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
  });
  const catalogue = topicCatalogue({ partitions: settings.partitions });
  const registry = createSchemaRegistry(config.registryUrl);
  const topology = paymentPipeline({
    applicationId: config.applicationId,
    partitions: settings.partitions,
    processors: withRiskMetrics(settings.processors, options.metricsRegistry),
    serdeOf: (topic) => registryAvroSerde(registry, valueSubject(topic.name), topic.value.contract),
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const changelogs = topology.processors.flatMap((processor) => {
      const partitions = topology.topics.find((t) => t.name === processor.inputs[0])!.partitions;
      return processor.stores.map((store) =>
        changelogTopicConfig(config.applicationId, processor.name, store.name, partitions),
      );
    });
    await createTopics(admin, [...topicCreateSpecs(catalogue), ...changelogs]);
  } finally {
    await admin.disconnect();
  }
  await registerWithRetry(() => registerSchemas(config.registryUrl, catalogue), options.logger);
  const driver = new KafkaDriver(topology, {
    kafka,
    metrics: new RuntimeMetrics(options.metricsRegistry),
    metricsRegistry: options.metricsRegistry,
    ...settings.runtime,
    health: options.health ?? new ComponentHealth({ registry: options.metricsRegistry }),
  });
  await driver.start();
  return { kafka, topology, driver, stop: () => driver.stop() };
}
