/**
 * The main job: PayFlow's ingress gateway and the whole payment pipeline behind it.
 *
 * - **Embedded default** (no `PAYFLOW_KAFKA_BROKERS`): the pipeline (accounts, dedupe, validate,
 *   ledger) on the in-memory driver, in-memory read models behind the gateway's queries. Needs no
 *   servers.
 * - **Kafka mode** (`PAYFLOW_KAFKA_BROKERS` set, with `PAYFLOW_SCHEMA_REGISTRY_URL` and
 *   `PAYFLOW_POSTGRES_URL`): topics and changelogs created, contracts registered, the same
 *   topology on the Kafka driver with exactly-once processing; the gateway publishes commands to
 *   Kafka (acks=all) in the registry's wire format; the read models are the PostgreSQL payments
 *   and accounts projections, fed from the log. The gateway runs in this process and the pipeline
 *   with the read models' consumers in PAYFLOW_WORKERS supervised worker processes
 *   (app/workers.ts; 1: all in this process). A payment the log acknowledged
 *   answers on its status URL at once (INITIATED) until the read model has it (read-your-writes,
 *   projections/accepted-payments.ts).
 *
 * Either way `PAYFLOW_REDIS_URL` moves the idempotency fast path from memory to Redis.
 * Configuration comes from the environment and is validated before anything starts; a bad or
 * missing value stops the process with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

import { Client as ElasticClient } from '@elastic/elasticsearch';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Counter, type Registry } from 'prom-client';

import {
  buildGateway,
  connectRedis,
  createIdempotencyStore,
  KafkaCommandPublisher,
  type CommandSerializer,
  type GatewayConfig,
  type GatewayPorts,
  type PaymentQueries,
  withSearch,
} from '../gateway/index.js';
import { cachedSearch } from '../gateway/search-cache.js';
import { EmbeddedPipeline } from './embedded.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';
import { pinoLogCreator } from '../processors/runtime/kafka/log.js';
import { configOrExit, mainJobConfig, type MainJobConfig } from './config.js';
import { kafkaJobSettings, notUpDetail, readModelsPool, startPipelineAndReadModels } from './kafka-job.js';
import { Lifecycle } from './lifecycle.js';
import { startPeriodicReconciliation } from './reconciliation.js';
import { registerReviewQueueMetrics } from './risk-metrics.js';
import { forkWorker, workerBounds } from './worker.js';
import { ProcessTreeRegistry, WorkerPool } from './workers.js';
import {
  MemoryAcceptedPayments,
  RedisAcceptedPayments,
  withAcceptedPayments,
  type AcceptedPaymentsStore,
} from '../projections/accepted-payments.js';
import { ElasticsearchTransactionsProjection } from '../projections/elasticsearch/transactions.js';
import { migrateAccountsProjection, PostgresAccountsProjection } from '../projections/postgres/accounts.js';
import { migratePaymentsProjection, PostgresPaymentsProjection } from '../projections/postgres/payments.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import { TOPIC } from '../topics/catalogue.js';

const DEV_TOKEN_TTL_S = 12 * 60 * 60;
const REDIS_CONNECT_TIMEOUT_MS = 5_000;
const RECONCILIATION_CLOSE_TIMEOUT_MS = 5_000;

export interface MainJob {
  readonly mode: MainJobConfig['mode'];
  /** `http://host:port` the gateway listens on. */
  readonly address: string;
  readonly app: FastifyInstance;
  /** The in-memory pipeline, in the embedded mode. */
  readonly embedded: EmbeddedPipeline | undefined;
  /** Stops accepting requests, lets the requests and batches in flight finish, disconnects. */
  close(): Promise<void>;
}

interface Wiring {
  readonly ports: Omit<GatewayPorts, 'idempotency'>;
  readonly embedded?: EmbeddedPipeline;
}

type Log = (message: string, detail: Record<string, unknown>) => void;

function embeddedWiring(
  config: Extract<MainJobConfig, { mode: 'embedded' }>,
  metricsRegistry: Registry,
  log: Log,
  lifecycle: Lifecycle,
): Wiring {
  const health = new ComponentHealth({
    registry: metricsRegistry,
    log: pino({ name: 'payflow', level: config.gateway.logLevel }),
  });
  const pipeline = new EmbeddedPipeline({
    metricsRegistry,
    health,
    pipeline: config.pipeline,
    maxRecordsPerTopic: config.embedded.maxRecordsPerTopic,
    maxPayments: config.embedded.maxPayments,
    maxAccounts: config.embedded.maxAccounts,
  });
  pipeline.start();
  lifecycle.own('embedded pipeline', pipeline, (p) => p.stop());
  if (config.ignoredWorkers !== undefined)
    log('PAYFLOW_WORKERS applies to the Kafka mode only; the embedded mode runs in this one process', {
      workers: config.ignoredWorkers,
    });
  // A partition a program error stopped makes /readyz 503 naming it; commands are still taken
  // (the other partitions go on, and the stopped one processes them once restarted with a fix).
  const readiness = {
    check: () => {
      const notUp = pipeline.driver.notReadyDetail;
      return Promise.resolve(
        notUp === undefined ? { ready: true } : { ready: false, detail: `not up: ${notUp}` },
      );
    },
  };
  return {
    ports: { publisher: pipeline, payments: pipeline.payments, accounts: pipeline.accounts, readiness },
    embedded: pipeline,
  };
}

async function kafkaWiring(
  config: Extract<MainJobConfig, { mode: 'kafka' }>,
  metricsRegistry: Registry,
  log: Log,
  gatewayRedis: Redis | undefined,
  lifecycle: Lifecycle,
): Promise<Wiring> {
  const pool = lifecycle.own('PostgreSQL pool', readModelsPool(config.postgres, log), (p) => p.end());
  const logger = pino({ name: 'payflow', level: config.gateway.logLevel });
  const backend =
    config.workers === 1
      ? await inProcessBackend(config, { metricsRegistry, logger, pool, lifecycle, log })
      : await workersBackend(config, { metricsRegistry, logger, pool, lifecycle });

  if (config.reconciliation.intervalMs > 0)
    lifecycle.own(
      'reconciliation',
      startPeriodicReconciliation(
        {
          kafka: backend.kafka,
          registryUrl: config.kafka.registryUrl,
          applicationId: config.kafka.applicationId,
          pool,
          readSide: config.readSide,
        },
        config.reconciliation,
        { metricsRegistry, log },
      ),
      (reconciliation) => reconciliation.stop(),
      // A run in progress is given up: it only reads.
      { closeTimeoutMs: RECONCILIATION_CLOSE_TIMEOUT_MS },
    );

  const registry = createSchemaRegistry(config.kafka.registryUrl);
  const serde = <V>(topic: string, contract: Parameters<typeof registryAvroSerde<V>>[2]) =>
    registryAvroSerde<V>(registry, valueSubject(topic), contract);
  const publisher = lifecycle.own(
    'command publisher',
    await KafkaCommandPublisher.connect({
      kafka: backend.kafka,
      serializer: commandSerializer({
        [TOPIC.paymentsCommands]: serde(TOPIC.paymentsCommands, AVRO.PaymentCommand),
        [TOPIC.accountsCommands]: serde(TOPIC.accountsCommands, AVRO.AccountCommand),
        [TOPIC.reviewsDecisions]: serde(TOPIC.reviewsDecisions, AVRO.ReviewDecision),
        [TOPIC.riskDenylist]: serde(TOPIC.riskDenylist, AVRO.DenyListEntry),
      }),
      paymentsTopic: TOPIC.paymentsCommands,
      accountsTopic: TOPIC.accountsCommands,
      produceTimeoutMs: config.gateway.publishTimeoutMs,
      denyListPropagationMs: config.gateway.denyListPropagationMs,
    }),
    (p) => p.close(),
  );

  const accepted = acceptedPaymentsStore(gatewayRedis);
  const readYourWrites = withAcceptedPayments(
    publisher,
    paymentQueries(config, backend, lifecycle, metricsRegistry),
    accepted,
    (error) =>
      log(
        'the accepted-payments store failed; the status URL may answer 404 until the read model has the payment',
        { error: error instanceof Error ? error.message : String(error) },
      ),
  );

  return {
    ports: {
      publisher: readYourWrites.publisher,
      payments: readYourWrites.payments,
      accounts: backend.accounts,
      ...readinessPorts(backend, pool),
    },
  };
}

/**
 * The gateway's payment queries: a payment, the review queue and the event store from
 * PostgreSQL; an account's history and the search from Elasticsearch when the transactions
 * index is among the projections (PAYFLOW_PROJECTIONS), else from PostgreSQL too.
 */
function paymentQueries(
  config: Extract<MainJobConfig, { mode: 'kafka' }>,
  backend: KafkaBackend,
  lifecycle: Lifecycle,
  metricsRegistry: Registry,
): PaymentQueries {
  const search = config.readSide.elasticsearch;
  if (search === undefined) return backend.payments;
  const client = lifecycle.own(
    'Elasticsearch query client',
    new ElasticClient({ node: search.url, requestTimeout: search.timeoutMs, maxRetries: 1 }),
    (c) => c.close(),
  );
  const lookups = new Counter({
    name: 'payflow_gateway_search_cache_lookups_total',
    help: 'History and search pages asked of the Elasticsearch cache, by result (hit, miss) and query',
    labelNames: ['result', 'query'] as const,
    registers: [metricsRegistry],
  });
  return withSearch(
    backend.payments,
    cachedSearch(new ElasticsearchTransactionsProjection(client, search.index), {
      ttlMs: search.cacheTtlMs,
      maxEntries: search.cacheMaxEntries,
      lookups,
    }),
  );
}

/** What the gateway uses of the pipeline and read models, wherever they run. */
interface KafkaBackend {
  readonly kafka: Kafka;
  readonly payments: PostgresPaymentsProjection;
  readonly accounts: PostgresAccountsProjection;
  /** What is not up; undefined when all is. */
  notUp(): string | undefined;
  /** Why new commands are refused; undefined while they are taken. */
  intakeRefused(): string | undefined;
}

interface BackendDeps {
  readonly metricsRegistry: Registry;
  readonly logger: Logger;
  readonly pool: pg.Pool;
  readonly lifecycle: Lifecycle;
}

/** PAYFLOW_WORKERS=1: the pipeline and the read models in this process. */
async function inProcessBackend(
  config: Extract<MainJobConfig, { mode: 'kafka' }>,
  deps: BackendDeps & { readonly log: Log },
): Promise<KafkaBackend> {
  const health = new ComponentHealth({ registry: deps.metricsRegistry, log: deps.logger });
  const { pipeline, readModels } = await startPipelineAndReadModels(kafkaJobSettings(config), {
    ...deps,
    health,
  });
  return {
    kafka: pipeline.kafka,
    payments: readModels.payments,
    accounts: readModels.accounts,
    notUp: () => notUpDetail(pipeline, health),
    intakeRefused: () => pipeline.driver.notReadyDetail,
  };
}

/**
 * PAYFLOW_WORKERS > 1: the pipeline and the read models in that many worker processes. This
 * process creates the read models' tables first (so the workers do not race to), serves their
 * queries from its own pool and publishes commands with its own client.
 */
async function workersBackend(
  config: Extract<MainJobConfig, { mode: 'kafka' }>,
  deps: BackendDeps,
): Promise<KafkaBackend> {
  await migratePaymentsProjection(deps.pool);
  await migrateAccountsProjection(deps.pool);
  const settings = kafkaJobSettings(config);
  const workers = deps.lifecycle.own(
    'pipeline workers',
    await WorkerPool.start({
      count: config.workers,
      spawn: (workerId) =>
        forkWorker(workerId, { role: 'main-job', settings, logLevel: config.gateway.logLevel }),
      log: deps.logger,
      metricsRegistry: deps.metricsRegistry,
      ...workerBounds(config.pipeline),
    }),
    (pool) => pool.stop(),
    { closeTimeoutMs: workerBounds(config.pipeline).closeTimeoutMs },
  );
  if (deps.metricsRegistry instanceof ProcessTreeRegistry)
    deps.metricsRegistry.include(() => workers.workerMetrics());
  const kafka = new Kafka({
    clientId: `${config.kafka.applicationId}-gateway`,
    brokers: [...config.kafka.brokers],
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(deps.logger),
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
  });
  return {
    kafka,
    payments: new PostgresPaymentsProjection(deps.pool),
    accounts: new PostgresAccountsProjection(deps.pool, {
      statementTimeoutMs: config.postgres.statementTimeoutMs,
    }),
    notUp: () => {
      const readiness = workers.readiness();
      return readiness.ready ? undefined : readiness.detail;
    },
    intakeRefused: () => {
      const intake = workers.intake();
      return intake.accepting ? undefined : intake.detail;
    },
  };
}

/** The gateway's commands in the registry's wire format, by topic. */
/** The gateway's writes by topic: each topic's registry serde. */
function commandSerializer(
  serdes: Readonly<Record<string, { serialize(value: never, topic: string): Buffer | Promise<Buffer> }>>,
): CommandSerializer {
  return {
    serialize: async (topic, value) => {
      const serde = serdes[topic];
      if (serde === undefined) throw new Error(`no command contract for topic ${topic}`);
      return serde.serialize(value as never, topic);
    },
  };
}

/**
 * Readiness: every component up and PostgreSQL answering. Intake: new commands are refused while
 * the log or a processor can't take them; a read model that is down only delays the status URL.
 */
function readinessPorts(backend: KafkaBackend, pool: pg.Pool): Pick<GatewayPorts, 'readiness' | 'intake'> {
  return {
    readiness: {
      check: async () => {
        const notUp = backend.notUp();
        if (notUp !== undefined) return { ready: false, detail: `not up: ${notUp}` };
        await pool.query('SELECT 1');
        return { ready: true };
      },
    },
    intake: {
      accepting: () => {
        const refused = backend.intakeRefused();
        return refused === undefined ? { accepting: true } : { accepting: false, detail: refused };
      },
    },
  };
}

/** How long the status URL of an accepted payment answers before the read model has it. */
const ACCEPTED_PAYMENT_TTL_MS = 10 * 60_000;
const ACCEPTED_PAYMENTS_MEMORY_MAX = 100_000;

/** A client of the gateway's Redis (PAYFLOW_REDIS_URL), bounded like the idempotency store's. */
function connectGatewayRedis(redis: NonNullable<GatewayConfig['redis']>): Promise<Redis> {
  return connectRedis({
    url: redis.url,
    commandTimeoutMs: redis.commandTimeoutMs,
    connectTimeoutMs: REDIS_CONNECT_TIMEOUT_MS,
  });
}

/** Redis when the gateway has one (shared by every instance), otherwise bounded memory. */
function acceptedPaymentsStore(redis: Redis | undefined): AcceptedPaymentsStore {
  if (redis === undefined) {
    return new MemoryAcceptedPayments({
      ttlMs: ACCEPTED_PAYMENT_TTL_MS,
      maxEntries: ACCEPTED_PAYMENTS_MEMORY_MAX,
    });
  }
  return new RedisAcceptedPayments(redis, { ttlMs: ACCEPTED_PAYMENT_TTL_MS });
}

/**
 * Starts the main job as configured by `env` and listens. The whole configuration is parsed
 * first: a bad value throws ConfigError (naming the variable) before anything opens.
 */
export async function startMainJob(
  env: NodeJS.ProcessEnv,
  options: { readonly metricsRegistry?: Registry } = {},
): Promise<MainJob> {
  return startConfiguredMainJob(mainJobConfig(env), options);
}

/** Starts the main job from a parsed configuration (see app/config.ts) and listens. */
export async function startConfiguredMainJob(
  config: MainJobConfig,
  options: { readonly metricsRegistry?: Registry } = {},
): Promise<MainJob> {
  const gateway = config.gateway;
  // Its /metrics also serves the pipeline workers' metrics, when there are workers.
  const metricsRegistry = options.metricsRegistry ?? new ProcessTreeRegistry();
  if (options.metricsRegistry === undefined)
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });

  let app: FastifyInstance | undefined;
  const log: Log = (message, detail) =>
    app === undefined
      ? process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...detail })}\n`)
      : app.log.warn(detail, message);
  // Everything the job opens is closed through this, newest first, once the gateway has stopped.
  const lifecycle = new Lifecycle({ log: { warn: (detail, message) => log(message, detail) } });
  try {
    // One client of the gateway's Redis serves idempotency, accepted payments and the rate limit.
    const gatewayRedis =
      gateway.redis === undefined
        ? undefined
        : lifecycle.own(
            'Redis',
            await connectGatewayRedis(gateway.redis),
            async (r) => void (await r.quit()),
          );
    const wiring =
      config.mode === 'embedded'
        ? embeddedWiring(config, metricsRegistry, log, lifecycle)
        : await kafkaWiring(config, metricsRegistry, log, gatewayRedis, lifecycle);
    registerReviewQueueMetrics(metricsRegistry, wiring.ports.payments);
    const idempotency = lifecycle.own(
      'idempotency store',
      await createIdempotencyStore(gateway, gatewayRedis),
      (store) => store.close(),
    );
    app = await buildGateway({
      config: gateway,
      metricsRegistry,
      ports: { ...wiring.ports, idempotency },
      piiKeyRing: config.pii.keyRing,
      ...(gatewayRedis === undefined
        ? {}
        : {
            rateLimitRedis: {
              redis: gatewayRedis,
              ...(gateway.redis === undefined ? {} : { timeoutMs: gateway.redis.commandTimeoutMs }),
            },
          }),
    });
    // The gateway stops taking requests first; then the log, read models and stores close.
    app.addHook('onClose', () => lifecycle.close());
    const address = await app.listen({ host: gateway.host, port: gateway.port });
    app.log.info(
      {
        address,
        mode: config.mode,
        idempotency: gateway.redis === undefined ? 'memory' : 'redis',
        ...(config.mode === 'kafka' ? { applicationId: config.kafka.applicationId } : {}),
        // The key id only, never the key; an ephemeral key seals nothing that outlives the process.
        piiKeyId: config.pii.keyRing.activeKeyId,
        piiKeyEphemeral: config.pii.ephemeral,
      },
      'PayFlow is listening; the OpenAPI document is at /openapi.json',
    );
    const listening = app;
    return {
      mode: config.mode,
      address,
      app: listening,
      embedded: wiring.embedded,
      close: () => listening.close(),
    };
  } catch (error) {
    if (app !== undefined) await app.close().catch(() => undefined);
    await lifecycle.close().catch(() => undefined);
    throw error;
  }
}

/**
 * A newcomer's `npm start` needs no set-up: without any JWT setting, an ephemeral HS256 secret
 * is generated for this process only and tokens for both roles are printed. The secret itself
 * is never printed, and it dies with the process.
 */
async function developmentAuth(
  env: NodeJS.ProcessEnv,
): Promise<{ producer: string; admin: string } | undefined> {
  if (env.PAYFLOW_JWT_SECRET || env.PAYFLOW_JWT_PUBLIC_KEY || env.PAYFLOW_JWT_JWKS_URL) return undefined;
  const secret = randomBytes(32).toString('base64url');
  env.PAYFLOW_JWT_SECRET = secret;
  const sign = (sub: string, roles: string[], owners?: string[]) =>
    new SignJWT(owners === undefined ? { roles } : { roles, owners })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(`${DEV_TOKEN_TTL_S}s`)
      .sign(new TextEncoder().encode(secret));
  // The development producer acts for any owner, as a producer did before ownership existed.
  return {
    producer: await sign('dev-producer', ['producer'], ['*']),
    admin: await sign('dev-admin', ['admin']),
  };
}

async function cli(): Promise<void> {
  const devTokens = await developmentAuth(process.env);
  const config = configOrExit('payflow', () => mainJobConfig(process.env));
  const job = await startConfiguredMainJob(config);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      job.app.log.info({ signal }, 'stopping: in-flight requests and batches finish first');
      void job.close().then(
        () => process.exit(0),
        (error: unknown) => {
          job.app.log.error({ error }, 'stopping failed');
          process.exit(1);
        },
      );
    });
  }
  if (devTokens !== undefined) {
    process.stdout.write(
      `\nDevelopment tokens (valid ${DEV_TOKEN_TTL_S / 3600} h, this process only):\n` +
        `  producer: ${devTokens.producer}\n  admin:    ${devTokens.admin}\n\n`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await cli();
