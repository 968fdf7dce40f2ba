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
import { z } from 'zod';

import {
  buildGateway,
  ConfigError,
  connectRedis,
  createIdempotencyStore,
  KafkaCommandPublisher,
  loadGatewayConfig,
  type GatewayConfig,
  type GatewayPorts,
} from './gateway/index.js';
import { EmbeddedPipeline } from './processors/embedded-pipeline.js';
import { ComponentHealth } from './processors/runtime/supervision.js';
import {
  kafkaPipelineConfig,
  startKafkaPipeline,
  type KafkaPipelineConfig,
} from './processors/kafka-pipeline.js';
import {
  MemoryAcceptedPayments,
  RedisAcceptedPayments,
  withAcceptedPayments,
  type AcceptedPaymentsStore,
} from './projections/accepted-payments.js';
import { startPostgresReadModels } from './projections/postgres/read-models.js';
import { AVRO } from './schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from './schemas/registry.js';
import type { AccountCommand, PaymentCommand } from './schemas/types.js';
import { TOPIC } from './topics/catalogue.js';

const DEV_TOKEN_TTL_S = 12 * 60 * 60;
const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
/** The client-side bound on a query is the server's statement timeout plus this. */
const POSTGRES_QUERY_TIMEOUT_MARGIN_MS = 5_000;
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

export type MainJobMode =
  | { readonly mode: 'embedded' }
  | {
      readonly mode: 'kafka';
      readonly pipeline: KafkaPipelineConfig;
      readonly postgres: {
        readonly url: string;
        readonly poolMax: number;
        readonly statementTimeoutMs: number;
      };
    };

const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' });
const integerIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function parsed<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const got = name.includes('URL') ? '' : ` (got ${JSON.stringify(value ?? null)})`;
  throw new ConfigError([`${name} ${result.error.issues[0]?.message ?? 'is invalid'}${got}`]);
}

/** Kafka mode when PAYFLOW_KAFKA_BROKERS is set; then the registry and PostgreSQL are required. */
export function mainJobMode(env: NodeJS.ProcessEnv): MainJobMode {
  if (!env.PAYFLOW_KAFKA_BROKERS) return { mode: 'embedded' };
  let pipeline: KafkaPipelineConfig;
  try {
    pipeline = kafkaPipelineConfig(env);
  } catch (error) {
    throw new ConfigError([error instanceof Error ? error.message : String(error)]);
  }
  if (!env.PAYFLOW_POSTGRES_URL) {
    throw new ConfigError([
      'PAYFLOW_POSTGRES_URL is required when PAYFLOW_KAFKA_BROKERS is set (the read models are in PostgreSQL)',
    ]);
  }
  return {
    mode: 'kafka',
    pipeline,
    postgres: {
      url: parsed('PAYFLOW_POSTGRES_URL', postgresUrl, env.PAYFLOW_POSTGRES_URL),
      poolMax: parsed(
        'PAYFLOW_POSTGRES_POOL_MAX',
        integerIn(1, 1_000),
        env.PAYFLOW_POSTGRES_POOL_MAX ?? '10',
      ),
      statementTimeoutMs: parsed(
        'PAYFLOW_POSTGRES_STATEMENT_TIMEOUT_MS',
        integerIn(100, 600_000),
        env.PAYFLOW_POSTGRES_STATEMENT_TIMEOUT_MS ?? '10000',
      ),
    },
  };
}

export interface MainJob {
  readonly mode: MainJobMode['mode'];
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
  /** Undo of everything started, newest first. */
  readonly closers: (() => Promise<void>)[];
}

function embeddedWiring(metricsRegistry: Registry, logLevel: GatewayConfig['logLevel']): Wiring {
  const health = new ComponentHealth({
    registry: metricsRegistry,
    log: pino({ name: 'payflow', level: logLevel }),
  });
  const pipeline = new EmbeddedPipeline({ metricsRegistry, health });
  pipeline.start();
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
    closers: [() => Promise.resolve(pipeline.stop())],
  };
}

async function kafkaWiring(
  mode: Extract<MainJobMode, { mode: 'kafka' }>,
  config: GatewayConfig,
  env: NodeJS.ProcessEnv,
  metricsRegistry: Registry,
  log: (message: string, detail: Record<string, unknown>) => void,
  gatewayRedis: Redis | undefined,
): Promise<Wiring> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const pool = new pg.Pool({
      connectionString: mode.postgres.url,
      max: mode.postgres.poolMax,
      connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
      statement_timeout: mode.postgres.statementTimeoutMs,
      // A server that stops answering (frozen, partitioned) fails the query on the client too.
      query_timeout: mode.postgres.statementTimeoutMs + POSTGRES_QUERY_TIMEOUT_MARGIN_MS,
      keepAlive: true,
    });
    pool.on('error', (error) => log('idle PostgreSQL connection failed', { error: error.message }));
    closers.unshift(() => pool.end());

    const logger = pino({ name: 'payflow', level: config.logLevel });
    // One health for the process: the broker, the processors, the global tables, the read models.
    const health = new ComponentHealth({ registry: metricsRegistry, log: logger });
    const pipeline = await startKafkaPipeline(mode.pipeline, { metricsRegistry, env, logger, health });
    closers.unshift(() => pipeline.stop());

    const registry = createSchemaRegistry(mode.pipeline.registryUrl);
    const serde = <V>(topic: string, contract: Parameters<typeof registryAvroSerde<V>>[2]) =>
      registryAvroSerde<V>(registry, valueSubject(topic), contract);
    const paymentCommands = serde(TOPIC.paymentsCommands, AVRO.PaymentCommand);
    const accountCommands = serde(TOPIC.accountsCommands, AVRO.AccountCommand);

    const readModels = await startPostgresReadModels({
      kafka: pipeline.kafka,
      pool,
      applicationId: mode.pipeline.applicationId,
      serdes: {
        paymentEvent: serde(TOPIC.paymentsEvents, AVRO.PaymentEvent),
        account: serde(TOPIC.accounts, AVRO.Account),
        posting: serde(TOPIC.ledgerPostings, AVRO.LedgerPosting),
        balance: serde(TOPIC.ledgerBalances, AVRO.AccountBalance),
      },
      metricsRegistry,
      health,
      produceTimeoutMs: config.publishTimeoutMs,
      onError: (readModel, error, attempt, delayMs) =>
        log('read model write failed; retrying', {
          readModel,
          attempt,
          delayMs,
          error: error instanceof Error ? error.message : String(error),
        }),
    });
    closers.unshift(() => readModels.stop());

    const publisher = await KafkaCommandPublisher.connect({
      kafka: pipeline.kafka,
      serializer: {
        serialize: async (topic, value) => {
          if (topic === TOPIC.paymentsCommands)
            return paymentCommands.serialize(value as PaymentCommand, topic);
          if (topic === TOPIC.accountsCommands)
            return accountCommands.serialize(value as AccountCommand, topic);
          throw new Error(`no command contract for topic ${topic}`);
        },
      },
      paymentsTopic: TOPIC.paymentsCommands,
      accountsTopic: TOPIC.accountsCommands,
      produceTimeoutMs: config.publishTimeoutMs,
    });
    closers.unshift(() => publisher.close());

    const accepted = acceptedPaymentsStore(gatewayRedis);
    const readYourWrites = withAcceptedPayments(publisher, readModels.payments, accepted, (error) =>
      log(
        'the accepted-payments store failed; the status URL may answer 404 until the read model has the payment',
        {
          error: error instanceof Error ? error.message : String(error),
        },
      ),
    );

    return {
      ports: {
        publisher: readYourWrites.publisher,
        payments: readYourWrites.payments,
        accounts: readModels.accounts,
        readiness: {
          check: async () => {
            const notUp = pipeline.driver.notReadyDetail ?? health.describeNotUp();
            if (notUp !== undefined) return { ready: false, detail: `not up: ${notUp}` };
            await pool.query('SELECT 1');
            return { ready: true };
          },
        },
        // New commands are refused while the log or a processor can't take them; a read model
        // that is down only delays the status URL.
        intake: {
          accepting: () => {
            const notUp = pipeline.driver.notReadyDetail;
            return notUp === undefined ? { accepting: true } : { accepting: false, detail: notUp };
          },
        },
      },
      closers,
    };
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
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
 * Starts the main job as configured by `env` and listens. Throws ConfigError (naming the
 * variable) before starting anything when the configuration is wrong.
 */
export async function startMainJob(
  env: NodeJS.ProcessEnv,
  options: { readonly metricsRegistry?: Registry } = {},
): Promise<MainJob> {
  const config = loadGatewayConfig(env);
  const mode = mainJobMode(env);
  const metricsRegistry = options.metricsRegistry ?? new Registry();
  if (options.metricsRegistry === undefined)
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });

  let app: FastifyInstance | undefined;
  const log = (message: string, detail: Record<string, unknown>) =>
    app === undefined
      ? process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...detail })}\n`)
      : app.log.warn(detail, message);
  // One client of the gateway's Redis serves idempotency, accepted payments and the rate limit.
  const gatewayRedis = config.redis === undefined ? undefined : await connectGatewayRedis(config.redis);
  let wiring: Wiring;
  try {
    wiring =
      mode.mode === 'embedded'
        ? embeddedWiring(metricsRegistry, config.logLevel)
        : await kafkaWiring(mode, config, env, metricsRegistry, log, gatewayRedis);
  } catch (error) {
    await gatewayRedis?.quit().catch(() => undefined);
    throw error;
  }
  if (gatewayRedis !== undefined) wiring.closers.push(async () => void (await gatewayRedis.quit()));
  try {
    const idempotency = await createIdempotencyStore(config, gatewayRedis);
    wiring.closers.unshift(() => idempotency.close());
    app = await buildGateway({
      config,
      metricsRegistry,
      ports: { ...wiring.ports, idempotency },
      ...(gatewayRedis === undefined ? {} : { rateLimitRedis: { redis: gatewayRedis } }),
    });
    // The gateway stops taking requests first; then the log, read models and stores close.
    app.addHook('onClose', async () => {
      for (const close of wiring.closers) await close();
    });
    const address = await app.listen({ host: config.host, port: config.port });
    app.log.info(
      {
        address,
        mode: mode.mode,
        idempotency: config.redis === undefined ? 'memory' : 'redis',
        ...(mode.mode === 'kafka' ? { applicationId: mode.pipeline.applicationId } : {}),
      },
      'PayFlow is listening; the OpenAPI document is at /openapi.json',
    );
    const listening = app;
    return {
      mode: mode.mode,
      address,
      app: listening,
      embedded: wiring.embedded,
      close: () => listening.close(),
    };
  } catch (error) {
    if (app !== undefined) await app.close().catch(() => undefined);
    else for (const close of wiring.closers) await close().catch(() => undefined);
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
  let job: MainJob;
  try {
    job = await startMainJob(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`payflow: invalid configuration: ${error.message}\n`);
    process.exit(2);
  }
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
