/**
 * The main job: PayFlow's ingress gateway and the whole payment pipeline behind it, in one process.
 *
 * - **Embedded default** (no `PAYFLOW_KAFKA_BROKERS`): the pipeline (accounts, dedupe, validate,
 *   ledger) on the in-memory driver, in-memory read models behind the gateway's queries. Needs no
 *   servers.
 * - **Kafka mode** (`PAYFLOW_KAFKA_BROKERS` set, with `PAYFLOW_SCHEMA_REGISTRY_URL` and
 *   `PAYFLOW_POSTGRES_URL`): topics and changelogs created, contracts registered, the same
 *   topology on the Kafka driver with exactly-once processing; the gateway publishes commands to
 *   Kafka (acks=all) in the registry's wire format; the read models are the PostgreSQL payments
 *   and accounts projections, fed from the log by this process. A payment the log acknowledged
 *   answers on its status URL at once (INITIATED) until the read model has it (read-your-writes,
 *   projections/accepted-payments.ts).
 *
 * Either way `PAYFLOW_REDIS_URL` moves the idempotency fast path from memory to Redis.
 * Configuration comes from the environment and is validated before anything starts; a bad or
 * missing value stops the process with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

import {
  buildGateway,
  connectRedis,
  createIdempotencyStore,
  KafkaCommandPublisher,
  type CommandSerializer,
  type GatewayConfig,
  type GatewayPorts,
} from '../gateway/index.js';
import { EmbeddedPipeline } from './embedded.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';
import { configOrExit, mainJobConfig, type MainJobConfig } from './config.js';
import { pipelineStopBoundMs, startKafkaPipeline, type KafkaPipeline } from './kafka.js';
import { Lifecycle } from './lifecycle.js';
import {
  MemoryAcceptedPayments,
  RedisAcceptedPayments,
  withAcceptedPayments,
  type AcceptedPaymentsStore,
} from '../projections/accepted-payments.js';
import { startPostgresReadModels } from './read-models.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import type { Serde } from '../schemas/serde.js';
import type { AccountCommand, PaymentCommand } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';

const DEV_TOKEN_TTL_S = 12 * 60 * 60;
const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
/** The client-side bound on a query is the server's statement timeout plus this. */
const POSTGRES_QUERY_TIMEOUT_MARGIN_MS = 5_000;
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

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
  // One health for the process: the broker, the processors, the global tables, the read models.
  const health = new ComponentHealth({ registry: metricsRegistry, log: logger });
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
      serdes: {
        paymentEvent: serde(TOPIC.paymentsEvents, AVRO.PaymentEvent),
        account: serde(TOPIC.accounts, AVRO.Account),
        posting: serde(TOPIC.ledgerPostings, AVRO.LedgerPosting),
        balance: serde(TOPIC.ledgerBalances, AVRO.AccountBalance),
      },
      metricsRegistry,
      health,
      produceTimeoutMs: config.gateway.publishTimeoutMs,
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

  const publisher = lifecycle.own(
    'command publisher',
    await KafkaCommandPublisher.connect({
      kafka: pipeline.kafka,
      serializer: commandSerializer(
        serde(TOPIC.paymentsCommands, AVRO.PaymentCommand),
        serde(TOPIC.accountsCommands, AVRO.AccountCommand),
      ),
      paymentsTopic: TOPIC.paymentsCommands,
      accountsTopic: TOPIC.accountsCommands,
      produceTimeoutMs: config.gateway.publishTimeoutMs,
    }),
    (p) => p.close(),
  );

  const accepted = acceptedPaymentsStore(gatewayRedis);
  const readYourWrites = withAcceptedPayments(publisher, readModels.payments, accepted, (error) =>
    log(
      'the accepted-payments store failed; the status URL may answer 404 until the read model has the payment',
      { error: error instanceof Error ? error.message : String(error) },
    ),
  );

  return {
    ports: {
      publisher: readYourWrites.publisher,
      payments: readYourWrites.payments,
      accounts: readModels.accounts,
      ...readinessPorts(pipeline, health, pool),
    },
  };
}

/** The read models' pool: every query bounded on the server and, for a server gone silent, on the client. */
function readModelsPool(postgres: Extract<MainJobConfig, { mode: 'kafka' }>['postgres'], log: Log): pg.Pool {
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

/** The gateway's commands in the registry's wire format, by topic. */
function commandSerializer(
  payments: Serde<PaymentCommand>,
  accounts: Serde<AccountCommand>,
): CommandSerializer {
  return {
    serialize: async (topic, value) => {
      if (topic === TOPIC.paymentsCommands) return payments.serialize(value as PaymentCommand, topic);
      if (topic === TOPIC.accountsCommands) return accounts.serialize(value as AccountCommand, topic);
      throw new Error(`no command contract for topic ${topic}`);
    },
  };
}

/**
 * Readiness: every component up and PostgreSQL answering. Intake: new commands are refused while
 * the log or a processor can't take them; a read model that is down only delays the status URL.
 */
function readinessPorts(
  pipeline: KafkaPipeline,
  health: ComponentHealth,
  pool: pg.Pool,
): Pick<GatewayPorts, 'readiness' | 'intake'> {
  return {
    readiness: {
      check: async () => {
        const notUp = pipeline.driver.notReadyDetail ?? health.describeNotUp();
        if (notUp !== undefined) return { ready: false, detail: `not up: ${notUp}` };
        await pool.query('SELECT 1');
        return { ready: true };
      },
    },
    intake: {
      accepting: () => {
        const notUp = pipeline.driver.notReadyDetail;
        return notUp === undefined ? { accepting: true } : { accepting: false, detail: notUp };
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
  const metricsRegistry = options.metricsRegistry ?? new Registry();
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
        ? embeddedWiring(config, metricsRegistry, lifecycle)
        : await kafkaWiring(config, metricsRegistry, log, gatewayRedis, lifecycle);
    const idempotency = lifecycle.own(
      'idempotency store',
      await createIdempotencyStore(gateway, gatewayRedis),
      (store) => store.close(),
    );
    app = await buildGateway({
      config: gateway,
      metricsRegistry,
      ports: { ...wiring.ports, idempotency },
      ...(gatewayRedis === undefined ? {} : { rateLimitRedis: { redis: gatewayRedis } }),
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
  const sign = (sub: string, roles: string[]) =>
    new SignJWT({ roles })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(`${DEV_TOKEN_TTL_S}s`)
      .sign(new TextEncoder().encode(secret));
  return { producer: await sign('dev-producer', ['producer']), admin: await sign('dev-admin', ['admin']) };
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
