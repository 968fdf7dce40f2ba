/**
 * PayFlow's configuration: every `PAYFLOW_*` variable of every program (the main job, `npm run
 * processors`, `npm run topics:create`) in one schema, each with its meaning, default and bounds,
 * parsed once at start-up before anything opens. The gateway's section is declared beside the
 * gateway (gateway/config.ts) and joined here. A bad value, or a value a program needs and does
 * not have, stops the program with exit 2 and one line per problem naming the variable:
 *
 *     payflow: invalid configuration: PAYFLOW_TOPIC_PARTITIONS must be a whole number (got "abc")
 *
 * The README's configuration table is generated from this schema (`npm run config:docs`) and a
 * test fails when the two differ. The variables of the local stack's scripts are listed too
 * (`STACK_VARIABLES`); they are read by bash, not by node.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { z } from 'zod';

import {
  ConfigError,
  envInteger,
  GATEWAY_ENV,
  gatewayConfigOf,
  jsonFileOf,
  parseEnv,
  type GatewayConfig,
} from '../gateway/index.js';
import {
  DEFAULT_BREAKER,
  DEFAULT_RETRY,
  DEFAULT_ROUTING,
  parseRoutingConfig,
  RoutingConfigError,
  type BreakerSettings,
  type PartnerName,
  type RetrySettings,
  type RoutingConfig,
} from '../connectors/banks/index.js';
import { DEFAULT_DEDUPE_TTL_MS, MIN_DEDUPE_TTL_MS } from '../processors/dedupe/logic.js';
import { DEFAULT_PURGE_INTERVAL_MS } from '../processors/ttl.js';
import { DEFAULT_APPLIED_TTL_MS } from '../processors/ledger/logic.js';
import { ephemeralPiiKeyRing, parsePiiKeyRing, type PiiKeyRing, PiiSealError } from '../schemas/pii.js';
import {
  DEFAULT_MODEL,
  DEFAULT_RULES,
  DEFAULT_THRESHOLDS,
  FraudConfigError,
  guaranteeProblems,
  parseThresholds,
  type FraudModel,
  type FraudRules,
  type FraudThresholds,
} from '../processors/fraud/index.js';
import { DEFAULT_REVIEW_TIMEOUT_MS } from '../processors/ledger/processor.js';
import { loadModel, loadRules } from './fraud-files.js';
import {
  DEFAULT_VELOCITY_LIMITS,
  parseVelocityLimits,
  VelocityLimitsError,
  type VelocityLimits,
} from '../processors/velocity/limits.js';
import { DEFAULT_PARTITIONS, MAX_PARTITIONS } from '../topics/catalogue.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const integer = envInteger;

const HOST_PORT = /^[A-Za-z0-9.[\]:-]+:\d{1,5}$/;
const brokers = z
  .string()
  .transform((value) => value.split(',').map((broker) => broker.trim()))
  .pipe(z.array(z.string().regex(HOST_PORT, 'must be a comma-separated list of host:port')));

const PIPELINE_ENV = z.object({
  PAYFLOW_KAFKA_BROKERS: brokers
    .optional()
    .describe(
      'Comma-separated `host:port` of the Kafka cluster; setting it selects the Kafka mode of `npm start`',
    ),
  PAYFLOW_SCHEMA_REGISTRY_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .describe('Confluent-compatible schema registry API (required with PAYFLOW_KAFKA_BROKERS)'),
  PAYFLOW_APPLICATION_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 of a-z 0-9 . _ -')
    .default('payflow')
    .describe('Prefix of the consumer groups, transactional ids and changelog topics'),
  PAYFLOW_TOPIC_PARTITIONS: integer(1, MAX_PARTITIONS)
    .default(DEFAULT_PARTITIONS)
    .describe('Partitions of every catalogue topic and changelog when they are created'),
  PAYFLOW_POSTGRES_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
    .optional()
    .describe('PostgreSQL of the read models (required with PAYFLOW_KAFKA_BROKERS for `npm start`)'),
  PAYFLOW_POSTGRES_POOL_MAX: integer(1, 1_000)
    .default(10)
    .describe('Connections in the read models\u2019 pool'),
  PAYFLOW_POSTGRES_STATEMENT_TIMEOUT_MS: integer(100, 600_000)
    .default(10_000)
    .describe('Bound on one read-model statement, reads and writes'),
  PAYFLOW_OPS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface of `npm run processors`\u2019 /metrics, /healthz, /readyz'),
  PAYFLOW_OPS_PORT: integer(0, 65_535)
    .default(9464)
    .describe('Port of `npm run processors`\u2019 operations endpoints'),
});

/** Upper bound of PAYFLOW_WORKERS. */
export const MAX_WORKERS = 64;

/** The default of PAYFLOW_WORKERS: the cores this process may use, within 1..MAX_WORKERS. */
export function defaultWorkers(): number {
  return Math.min(Math.max(availableParallelism(), 1), MAX_WORKERS);
}

const WORKERS_ENV = z.object({
  PAYFLOW_WORKERS: integer(1, MAX_WORKERS)
    .default(defaultWorkers)
    .describe(
      'Kafka mode: pipeline worker processes (each in every consumer group) of `npm start` and `npm run processors`; `1`: one process',
    ),
});

const RUNTIME_ENV = z.object({
  PAYFLOW_COMMIT_INTERVAL_MS: integer(1, 60_000)
    .default(100)
    .describe(
      'A task commits what it processed (outputs, state, input offsets: one Kafka transaction) once this long has passed since its first uncommitted record, as Kafka Streams\u2019 commit.interval.ms',
    ),
  PAYFLOW_MAX_RECORDS_PER_TRANSACTION: integer(1, 100_000)
    .default(1_000)
    .describe('... or once it holds this many input records, whichever comes first'),
  PAYFLOW_TRANSACTION_TIMEOUT_MS: integer(1_000, 900_000)
    .default(30_000)
    .describe(
      'Kafka transaction timeout (at most the broker\u2019s transaction.max.timeout.ms): a stopped instance\u2019s transaction is aborted after it',
    ),
  PAYFLOW_SESSION_TIMEOUT_MS: integer(6_000, 300_000)
    .default(10_000)
    .describe('Consumer-group session timeout of the processors'),
  PAYFLOW_RESTORE_TIMEOUT_MS: integer(1_000, 3_600_000)
    .default(60_000)
    .describe('Bound on restoring one task\u2019s state stores from their changelogs'),
  PAYFLOW_STATE_DIR: z
    .string()
    .trim()
    .min(1)
    .default('.payflow/state')
    .describe(
      'Kafka mode: where the state stores (key-value and window) live on disk (LMDB, one directory per task: <dir>/<applicationId>/<sub-topology>/<partition>, with a checkpoint so a restart restores only the changelog tails); relative to the working directory',
    ),
  PAYFLOW_STATE_CACHE_ENTRIES: integer(0, 10_000_000)
    .default(10_000)
    .describe('Kafka mode: decoded values cached in memory per disk-backed state store and partition'),
  PAYFLOW_STATE_MAPPED_BUDGET_MIB: integer(128, 1_048_576)
    .default(256)
    .describe(
      'Kafka mode: file-backed RSS (MiB) of a processor process above which its tasks\u2019 LMDB environments are reopened after their commits, dropping their mapped pages (see processors/runtime/README.md)',
    ),
  PAYFLOW_GLOBAL_TABLE_TIMEOUT_MS: integer(1_000, 3_600_000)
    .default(60_000)
    .describe('Bound on a global table (the accounts table) catching up at start'),
  PAYFLOW_RECORD_MAX_RETRIES: integer(0, 20)
    .default(5)
    .describe(
      'In-place retries of a record failing on infrastructure (RetriableError) before its task is restarted; such a record is never dead-lettered',
    ),
  PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS: integer(1, 60_000)
    .default(100)
    .describe('First retry delay of a record (doubles per retry)'),
  PAYFLOW_RECORD_RETRY_MAX_DELAY_MS: integer(1, 600_000)
    .default(5_000)
    .describe('Largest retry delay of a record'),
});

const PROCESSORS_ENV = z.object({
  PAYFLOW_DEDUPE_TTL_MS: integer(MIN_DEDUPE_TTL_MS, 30 * DAY_MS)
    .default(DEFAULT_DEDUPE_TTL_MS)
    .describe('How long the dedupe processor remembers a request identity (at least 24 h)'),
  PAYFLOW_DEDUPE_MAX_ENTRIES: integer(1_000, 100_000_000)
    .default(1_000_000)
    .describe('Bound on the request identities remembered, per partition'),
  PAYFLOW_ACCOUNTS_MAX_ENTRIES: integer(1_000, 100_000_000)
    .default(1_000_000)
    .describe('Bound on the accounts, per partition'),
  PAYFLOW_LEDGER_MAX_BALANCES: integer(1_000, 100_000_000)
    .default(1_000_000)
    .describe('Bound on the ledger\u2019s account balances, per partition'),
  PAYFLOW_LEDGER_MAX_APPLIED: integer(1_000, 100_000_000)
    .default(2_000_000)
    .describe('Bound on the payment legs the ledger remembers as applied, per partition'),
  PAYFLOW_LEDGER_APPLIED_TTL_MS: integer(HOUR_MS, 90 * DAY_MS)
    .default(DEFAULT_APPLIED_TTL_MS)
    .describe('How long the ledger remembers an applied leg (its guard against a redelivered one)'),
  PAYFLOW_PURGE_INTERVAL_MS: integer(1_000, HOUR_MS)
    .default(DEFAULT_PURGE_INTERVAL_MS)
    .describe(
      'How often (stream time) expired dedupe and ledger entries are purged, at most 10,000 per store and task each time: the purge keeps up with that many new entries per interval',
    ),
  PAYFLOW_REVIEW_TIMEOUT_MS: integer(1_000, 30 * DAY_MS)
    .default(DEFAULT_REVIEW_TIMEOUT_MS)
    .describe(
      'How long (wall clock) a payment held for review waits for a decision before it is declined REVIEW_TIMEOUT',
    ),
  PAYFLOW_FRAUD_RULES_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of the fraud rules (processors/fraud/README.md); unset: processors/fraud/default-rules.json',
    ),
  PAYFLOW_FRAUD_MODEL_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of a trained fraud model (`npm run fraud:train`); unset: processors/fraud/model.json',
    ),
  PAYFLOW_FRAUD_HOLD_FROM: integer(1, 99)
    .default(DEFAULT_THRESHOLDS.holdFrom)
    .describe(
      'A fraud score at or above this (and not above PAYFLOW_FRAUD_BLOCK_ABOVE) holds the payment for review',
    ),
  PAYFLOW_FRAUD_BLOCK_ABOVE: integer(1, 99)
    .default(DEFAULT_THRESHOLDS.blockAbove)
    .describe('A fraud score above this blocks the payment (FRAUD_BLOCKED)'),
  PAYFLOW_VELOCITY_LIMITS_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of the velocity limits per KYC tier (processors/velocity/README.md); unset: the built-in defaults',
    ),
});

const EMBEDDED_ENV = z.object({
  PAYFLOW_EMBEDDED_MAX_RECORDS_PER_TOPIC: integer(1_000, 100_000_000)
    .default(1_000_000)
    .describe('Embedded mode: bound on each in-memory topic'),
  PAYFLOW_EMBEDDED_MAX_PAYMENTS: integer(1_000, 100_000_000)
    .default(1_000_000)
    .describe('Embedded mode: bound on the payments read model'),
  PAYFLOW_EMBEDDED_MAX_ACCOUNTS: integer(100, 10_000_000)
    .default(100_000)
    .describe('Embedded mode: bound on the accounts read model'),
});

const partnerUrl = (partner: string) =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .describe(`Base URL of ${partner} (the local stack writes it to stack.env)`);

const PARTNERS_ENV = z.object({
  PAYFLOW_PARTNER_BANK_A_URL: partnerUrl('Bank A'),
  PAYFLOW_PARTNER_BANK_B_URL: partnerUrl('Bank B'),
  PAYFLOW_PARTNER_WALLET_URL: partnerUrl('the wallet provider'),
  PAYFLOW_PARTNER_TIMEOUT_MS: integer(100, 60_000)
    .default(5_000)
    .describe('Bound on one call to a bank partner; also the deadline each send gives the partner'),
  PAYFLOW_PARTNER_MAX_ATTEMPTS: integer(1, 10)
    .default(DEFAULT_RETRY.maxAttempts)
    .describe('Sends of one reference to one partner (the first included) before failing over'),
  PAYFLOW_PARTNER_RETRY_INITIAL_DELAY_MS: integer(1, 60_000)
    .default(DEFAULT_RETRY.initialDelayMs)
    .describe('First delay before sending a reference again (exponential, decorrelated jitter)'),
  PAYFLOW_PARTNER_RETRY_MAX_DELAY_MS: integer(1, 600_000)
    .default(DEFAULT_RETRY.maxDelayMs)
    .describe('Largest delay between two sends of a reference, and between two status queries'),
  PAYFLOW_PARTNER_STATUS_MAX_QUERIES: integer(1, 100)
    .default(DEFAULT_RETRY.statusMaxQueries)
    .describe('Status queries to resolve one unknown outcome before the payout waits as unknown'),
  PAYFLOW_PARTNER_CLOCK_SKEW_MS: integer(0, 60_000)
    .default(DEFAULT_RETRY.clockSkewMs)
    .describe('Margin past a send\u2019s deadline before a status query may call it not executed'),
  PAYFLOW_BREAKER_FAILURES: integer(1, 1_000)
    .default(DEFAULT_BREAKER.failures)
    .describe('Failed calls to a partner within PAYFLOW_BREAKER_WINDOW_MS that open its circuit breaker'),
  PAYFLOW_BREAKER_WINDOW_MS: integer(1_000, 3_600_000)
    .default(DEFAULT_BREAKER.windowMs)
    .describe('The sliding window of the breaker\u2019s failure count'),
  PAYFLOW_BREAKER_HALF_OPEN_AFTER_MS: integer(100, 3_600_000)
    .default(DEFAULT_BREAKER.halfOpenAfterMs)
    .describe('How long an open breaker refuses calls before letting one trial call through'),
  PAYFLOW_PARTNER_ROUTING_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of the partner fee table and routes per kind and currency (connectors/README.md); unset: the built-in routing',
    ),
});

const PII_ENV = z.object({
  PAYFLOW_PII_KEYS_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of the PII key ring, `{"active": "k2", "keys": {"k1": "<base64 32 bytes>", "k2": "..."}}` (README: PII); required in the Kafka mode unless PAYFLOW_PII_KEYS is set',
    ),
  PAYFLOW_PII_KEYS: z
    .string()
    .optional()
    .describe(
      'The PII key ring as inline JSON, same form as PAYFLOW_PII_KEYS_FILE; unset in the embedded mode: an ephemeral key',
    ),
});

const READ_SIDE_ENV = z.object({
  PAYFLOW_PROJECTIONS: z
    .string()
    .default('postgres')
    .transform((text, ctx) => {
      const names = text
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      for (const name of names) {
        if (!(PROJECTION_NAMES as readonly string[]).includes(name))
          ctx.addIssue({ code: 'custom', message: `${name} is not one of ${PROJECTION_NAMES.join(', ')}` });
      }
      if (!names.includes('postgres'))
        ctx.addIssue({ code: 'custom', message: 'must include postgres (the API reads it)' });
      return [...new Set(names)] as ProjectionName[];
    })
    .describe(
      'Kafka mode: the projections the main job feeds from the log, comma-separated: postgres (always; the API reads it), elasticsearch (the transactions index), archive (Parquet on S3)',
    ),
  PAYFLOW_ELASTICSEARCH_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s):// URL' })
    .optional()
    .describe(
      'Elasticsearch of the transactions index (required when PAYFLOW_PROJECTIONS has elasticsearch)',
    ),
  PAYFLOW_ELASTICSEARCH_INDEX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,200}$/, 'must be a lower-case Elasticsearch index name')
    .default('payflow-transactions')
    .describe(
      'The transactions index, an alias the gateway and the projection use (a new deployment creates <name>-v1 behind it; npm run projections:rebuild -- elasticsearch moves it)',
    ),
  PAYFLOW_ELASTICSEARCH_TIMEOUT_MS: integer(100, 120_000)
    .default(10_000)
    .describe('Bound on one Elasticsearch request'),
  PAYFLOW_SEARCH_CACHE_TTL_MS: integer(0, 60_000)
    .default(1_000)
    .describe(
      'How long the gateway reuses an Elasticsearch history or search page asked again (0: no cache)',
    ),
  PAYFLOW_SEARCH_CACHE_MAX_ENTRIES: integer(1, 100_000)
    .default(500)
    .describe('Bound on the pages that cache holds (each up to 100 payments with their events)'),
  PAYFLOW_S3_ENDPOINT: z
    .url({ protocol: /^https?$/, error: 'must be an http(s):// URL' })
    .optional()
    .describe('S3-compatible store of the archive (path-style); unset: AWS S3 of PAYFLOW_S3_REGION'),
  PAYFLOW_S3_REGION: z.string().min(1).default('us-east-1').describe('Region of the archive’s bucket'),
  PAYFLOW_S3_ACCESS_KEY_ID: z
    .string()
    .min(1)
    .optional()
    .describe('Access key of the archive’s store; unset: the AWS default credential chain'),
  PAYFLOW_S3_SECRET_ACCESS_KEY: z
    .string()
    .min(1)
    .optional()
    .describe('Secret key of the archive’s store (with PAYFLOW_S3_ACCESS_KEY_ID); never logged'),
  PAYFLOW_S3_TIMEOUT_MS: integer(100, 300_000).default(30_000).describe('Bound on one S3 request'),
  PAYFLOW_ARCHIVE_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
    .optional()
    .describe(
      'Bucket of the Parquet archive (required when PAYFLOW_PROJECTIONS has archive); created when missing',
    ),
  PAYFLOW_ARCHIVE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'must be a key prefix without leading or trailing /')
    .default('payments_events')
    .describe('Key prefix of the archive (the Athena table location is s3://<bucket>/<prefix>/)'),
  PAYFLOW_ARCHIVE_FILE_OFFSETS: integer(100, 100_000)
    .default(10_000)
    .describe(
      'Archive rotation by size: a file holds one hour of a partition within one block of this many offsets (at most that many rows; the open file of each partition is held in memory until it closes)',
    ),
  PAYFLOW_ARCHIVE_FLUSH_INTERVAL_MS: integer(100, 3_600_000)
    .default(5_000)
    .describe(
      'Archive: how often a growing open file is uploaded again with its new rows (how far the archive may be behind the log)',
    ),
});

/** A run reads the whole log: a shorter period would do little but read it. */
const MIN_RECONCILE_INTERVAL_MS = 1_000;

const RECONCILE_ENV = z.object({
  PAYFLOW_RECONCILE_INTERVAL_MS: integer(0, 86_400_000)
    .default(0)
    .describe(
      'Kafka mode: how often the main job reconciles the views with the log (app/README.md: Reconciliation), at least 1000; 0: never (run `npm run reconcile` instead)',
    ),
  PAYFLOW_RECONCILE_LOOKBACK_DAYS: integer(1, 29)
    .default(7)
    .describe('Reconciliation: the UTC days compared, today included (the log keeps 30 days)'),
  PAYFLOW_RECONCILE_SETTLE_MS: integer(0, 86_400_000)
    .default(300_000)
    .describe('Reconciliation: payments younger than this are in flight and not compared'),
  PAYFLOW_RECONCILE_CATCH_UP_TIMEOUT_MS: integer(1_000, 3_600_000)
    .default(120_000)
    .describe(
      'Reconciliation: bound on reading a topic to its end, and on waiting for a projection to catch up with it (then the view is reported lagging, not compared)',
    ),
  PAYFLOW_RECONCILE_MAX_PAYMENTS: integer(1_000, 50_000_000)
    .default(10_000_000)
    .describe('Reconciliation: bound on the payments of the window held in memory; more fails the run'),
});

/** Every variable a PayFlow program reads. */
export const ENV_SCHEMA = z.object({
  ...PII_ENV.shape,
  ...GATEWAY_ENV.shape,
  ...PIPELINE_ENV.shape,
  ...WORKERS_ENV.shape,
  ...RUNTIME_ENV.shape,
  ...PROCESSORS_ENV.shape,
  ...EMBEDDED_ENV.shape,
  ...PARTNERS_ENV.shape,
  ...READ_SIDE_ENV.shape,
  ...RECONCILE_ENV.shape,
});

export type Env = z.infer<typeof ENV_SCHEMA>;

/** Read by scripts/stack and scripts/test-all (bash), documented here with the rest. */
export const STACK_VARIABLES: Readonly<
  Record<string, { readonly description: string; readonly default: string }>
> = {
  PAYFLOW_HOME: {
    description: 'Where the local stack installs, keeps data and logs',
    default: '`.payflow/`',
  },
  PAYFLOW_KAFKA_PORT: { description: 'Local stack: Kafka\u2019s listener', default: '9092' },
  PAYFLOW_KAFKA_CONTROLLER_PORT: {
    description: 'Local stack: Kafka\u2019s KRaft controller',
    default: '9093',
  },
  PAYFLOW_REGISTRY_PORT: { description: 'Local stack: the schema registry', default: '8081' },
  PAYFLOW_REGISTRY_MANAGEMENT_PORT: {
    description: 'Local stack: the registry\u2019s management port',
    default: '8091',
  },
  PAYFLOW_POSTGRES_PORT: { description: 'Local stack: PostgreSQL', default: '5432' },
  PAYFLOW_REDIS_PORT: { description: 'Local stack: Redis', default: '6379' },
  PAYFLOW_ELASTICSEARCH_PORT: { description: 'Local stack: Elasticsearch HTTP', default: '9200' },
  PAYFLOW_ELASTICSEARCH_TRANSPORT_PORT: {
    description: 'Local stack: Elasticsearch transport',
    default: '9300',
  },
  PAYFLOW_S3_PORT: { description: 'Local stack: the S3 store', default: '9000' },
  PAYFLOW_TRINO_PORT: {
    description: 'Local stack: Trino, the archive\u2019s second reader (8080 is the gateway\u2019s)',
    default: '8088',
  },
  PAYFLOW_BANK_A_PORT: { description: 'Local stack: the Bank A simulator', default: '8181' },
  PAYFLOW_BANK_B_PORT: { description: 'Local stack: the Bank B simulator', default: '8182' },
  PAYFLOW_WALLET_PORT: { description: 'Local stack: the wallet provider simulator', default: '8183' },
  PAYFLOW_STACK_DOWNLOAD_TIMEOUT_S: { description: 'Local stack: bound on one download', default: '600' },
  PAYFLOW_STACK_START_TIMEOUT_S: {
    description: 'Local stack: bound on one service becoming healthy',
    default: '180',
  },
  PAYFLOW_STACK_STOP_TIMEOUT_S: { description: 'Local stack: bound on one service stopping', default: '60' },
  PAYFLOW_JAVA_HOME: {
    description: 'Local stack: a Java 17+ to use instead of installing one',
    default: 'unset',
  },
  PAYFLOW_JAVA21_HOME: { description: 'Local stack: a Java 21+ for Elasticsearch', default: 'unset' },
  PAYFLOW_TRINO_JAVA_HOME: {
    description: 'Local stack: a Java 24+ for Trino (default: Temurin 25, else any under /usr/lib/jvm)',
    default: 'unset',
  },
  PAYFLOW_SERVICE_USER: {
    description: 'Local stack: the user services run as when started by root',
    default: 'unset',
  },
  PAYFLOW_APT_UPDATED: {
    description: 'Local stack: set to skip `apt-get update` before installing packages',
    default: 'unset',
  },
  PAYFLOW_STACK: {
    description: '`npm test`: `local` (start the local stack) or `external`',
    default: '`local`',
  },
  PAYFLOW_STACK_ENV_FILE: {
    description: '`npm test` with `PAYFLOW_STACK=external`: the client environment file',
    default: '`scripts/compose/stack.env`',
  },
  PAYFLOW_KEEP_STACK: { description: '`npm test`: `1` leaves the stack it started running', default: '0' },
  PAYFLOW_REQUIRE_STACK: {
    description: 'Tests: `1` fails (instead of skipping) a test whose server is missing',
    default: 'unset',
  },
  PAYFLOW_TRINO_URL: {
    description:
      'Tests: Trino\u2019s HTTP API with the archive catalog (`scripts/stack up` writes it to stack.env)',
    default: 'unset',
  },
};

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  readonly applicationId: string;
}

export interface PostgresSettings {
  readonly url: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
}

/** The projections the main job can feed from the log (Kafka mode). */
export const PROJECTION_NAMES = ['postgres', 'elasticsearch', 'archive'] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

/** The read side beyond PostgreSQL: each projection present is fed by its own consumer group. */
export interface ReadSideSettings {
  readonly elasticsearch?: {
    readonly url: string;
    readonly index: string;
    readonly timeoutMs: number;
    /** The gateway's cache of history and search pages (0: none). */
    readonly cacheTtlMs: number;
    readonly cacheMaxEntries: number;
  };
  readonly archive?: {
    readonly bucket: string;
    readonly prefix: string;
    /** Rotation by size: the block of offsets one file covers at most. */
    readonly fileOffsets: number;
    /** How often a growing open file is uploaded again. */
    readonly flushIntervalMs: number;
    readonly s3: {
      readonly endpoint?: string;
      readonly region: string;
      readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
      readonly timeoutMs: number;
    };
  };
}

/** Reconciliation of the views with the log (app/reconciliation.ts). */
export interface ReconciliationSettings {
  /** The main job's period; 0: the main job does not reconcile. */
  readonly intervalMs: number;
  readonly lookbackDays: number;
  readonly settleMs: number;
  readonly catchUpTimeoutMs: number;
  readonly maxPayments: number;
}

/** `npm run reconcile`: the log and the views to compare. */
export interface ReconcileConfig {
  readonly kafka: KafkaSettings;
  readonly postgres: PostgresSettings;
  readonly readSide: ReadSideSettings;
  readonly reconciliation: ReconciliationSettings;
}

/** How the Kafka driver runs the processors. */
export interface RuntimeSettings {
  readonly commitIntervalMs: number;
  readonly maxRecordsPerTransaction: number;
  readonly transactionTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly restoreTimeoutMs: number;
  readonly globalTableTimeoutMs: number;
  /** Kafka mode: the state stores' directory (absolute). */
  readonly stateDir: string;
  readonly storeCacheEntries: number;
  /** Bound on the process's file-backed RSS (the stores' mapped LMDB pages), bytes. */
  readonly storeMappedBudgetBytes: number;
  readonly retry: {
    readonly maxRetries: number;
    readonly initialDelayMs: number;
    readonly maxDelayMs: number;
  };
}

/** The processors' bounds and time-to-lives. */
export interface ProcessorSettings {
  readonly dedupe: { readonly ttlMs: number; readonly maxEntries: number; readonly purgeIntervalMs: number };
  readonly accounts: { readonly maxEntries: number };
  readonly velocity: { readonly limits: VelocityLimits };
  readonly fraud: {
    readonly rules: FraudRules;
    readonly model: FraudModel;
    readonly thresholds: FraudThresholds;
  };
  readonly ledger: {
    readonly reviewTimeoutMs: number;
    readonly maxBalances: number;
    readonly maxApplied: number;
    readonly appliedTtlMs: number;
    readonly purgeIntervalMs: number;
  };
}

export interface EmbeddedSettings {
  readonly maxRecordsPerTopic: number;
  readonly maxPayments: number;
  readonly maxAccounts: number;
}

/** What every program shares: the topics' partitions and the processors' settings. */
export interface PipelineSettings {
  readonly partitions: number;
  readonly processors: ProcessorSettings;
  readonly runtime: RuntimeSettings;
}

/** The key ring that seals IBANs and names, and whether it was generated for this process only. */
export interface PiiSettings {
  readonly keyRing: PiiKeyRing;
  readonly ephemeral: boolean;
}

export type MainJobConfig = {
  readonly gateway: GatewayConfig;
  readonly pipeline: PipelineSettings;
  readonly pii: PiiSettings;
} & (
  | {
      readonly mode: 'embedded';
      readonly embedded: EmbeddedSettings;
      /** PAYFLOW_WORKERS when it was set above 1, which the embedded mode does not apply. */
      readonly ignoredWorkers: number | undefined;
    }
  | {
      readonly mode: 'kafka';
      readonly kafka: KafkaSettings;
      readonly postgres: PostgresSettings;
      readonly readSide: ReadSideSettings;
      readonly reconciliation: ReconciliationSettings;
      /** Pipeline worker processes beside the gateway's; 1: the pipeline runs in the gateway's process. */
      readonly workers: number;
    }
);

export interface ProcessorsConfig {
  readonly kafka: KafkaSettings;
  readonly pipeline: PipelineSettings;
  readonly ops: { readonly host: string; readonly port: number };
  readonly logLevel: Env['PAYFLOW_LOG_LEVEL'];
  /** Pipeline worker processes under the one with the operations server; 1: the pipeline runs in it. */
  readonly workers: number;
}

export interface TopicsConfig {
  readonly brokers: readonly string[];
  readonly partitions: number;
}

function pipelineSettings(env: Env): PipelineSettings {
  return {
    partitions: env.PAYFLOW_TOPIC_PARTITIONS,
    processors: {
      dedupe: {
        ttlMs: env.PAYFLOW_DEDUPE_TTL_MS,
        maxEntries: env.PAYFLOW_DEDUPE_MAX_ENTRIES,
        purgeIntervalMs: env.PAYFLOW_PURGE_INTERVAL_MS,
      },
      accounts: { maxEntries: env.PAYFLOW_ACCOUNTS_MAX_ENTRIES },
      velocity: { limits: velocityLimitsOf(env.PAYFLOW_VELOCITY_LIMITS_FILE) },
      fraud: fraudSettingsOf(env),
      ledger: {
        reviewTimeoutMs: env.PAYFLOW_REVIEW_TIMEOUT_MS,
        maxBalances: env.PAYFLOW_LEDGER_MAX_BALANCES,
        maxApplied: env.PAYFLOW_LEDGER_MAX_APPLIED,
        appliedTtlMs: env.PAYFLOW_LEDGER_APPLIED_TTL_MS,
        purgeIntervalMs: env.PAYFLOW_PURGE_INTERVAL_MS,
      },
    },
    runtime: {
      commitIntervalMs: env.PAYFLOW_COMMIT_INTERVAL_MS,
      maxRecordsPerTransaction: env.PAYFLOW_MAX_RECORDS_PER_TRANSACTION,
      transactionTimeoutMs: env.PAYFLOW_TRANSACTION_TIMEOUT_MS,
      sessionTimeoutMs: env.PAYFLOW_SESSION_TIMEOUT_MS,
      restoreTimeoutMs: env.PAYFLOW_RESTORE_TIMEOUT_MS,
      globalTableTimeoutMs: env.PAYFLOW_GLOBAL_TABLE_TIMEOUT_MS,
      stateDir: resolve(env.PAYFLOW_STATE_DIR),
      storeCacheEntries: env.PAYFLOW_STATE_CACHE_ENTRIES,
      storeMappedBudgetBytes: env.PAYFLOW_STATE_MAPPED_BUDGET_MIB * 2 ** 20,
      retry: {
        maxRetries: env.PAYFLOW_RECORD_MAX_RETRIES,
        initialDelayMs: env.PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS,
        maxDelayMs: env.PAYFLOW_RECORD_RETRY_MAX_DELAY_MS,
      },
    },
  };
}

/** The limits file, read and validated; a file that can't be read or breaks the schema stops the program naming the field. */
function velocityLimitsOf(file: string | undefined): VelocityLimits {
  if (file === undefined) return DEFAULT_VELOCITY_LIMITS;
  return jsonFileOf('PAYFLOW_VELOCITY_LIMITS_FILE', file, parseVelocityLimits, (error) =>
    error instanceof VelocityLimitsError ? [error.message] : undefined,
  );
}

/**
 * The fraud rules, model and thresholds, read and checked at start-up: a file that can't be read
 * or breaks its schema, or a combination that would break the scoring guarantees (a deny-list
 * hit blocks, a review-amount payment is held, a quiet one passes), stops the program naming it.
 */
function fraudSettingsOf(env: Env): ProcessorSettings['fraud'] {
  const thresholds = { holdFrom: env.PAYFLOW_FRAUD_HOLD_FROM, blockAbove: env.PAYFLOW_FRAUD_BLOCK_ABOVE };
  try {
    const rules =
      env.PAYFLOW_FRAUD_RULES_FILE === undefined ? DEFAULT_RULES : loadRules(env.PAYFLOW_FRAUD_RULES_FILE);
    const model =
      env.PAYFLOW_FRAUD_MODEL_FILE === undefined ? DEFAULT_MODEL : loadModel(env.PAYFLOW_FRAUD_MODEL_FILE);
    const problems = guaranteeProblems(
      rules,
      model,
      parseThresholds(thresholds, 'PAYFLOW_FRAUD_HOLD_FROM/BLOCK_ABOVE'),
    );
    if (problems.length > 0)
      throw new ConfigError(problems.map((problem) => `fraud configuration: ${problem}`));
    return { rules, model, thresholds };
  } catch (error) {
    if (!(error instanceof FraudConfigError)) throw error;
    const variable =
      error.source === env.PAYFLOW_FRAUD_MODEL_FILE ? 'PAYFLOW_FRAUD_MODEL_FILE' : 'PAYFLOW_FRAUD_RULES_FILE';
    throw new ConfigError([`${error.source.includes('PAYFLOW_') ? '' : `${variable} `}${error.message}`]);
  }
}

/** The pipeline's settings when no variable is set (tests, benchmarks). */
export function defaultPipelineSettings(): PipelineSettings {
  return pipelineSettings(parseConfig({}));
}

/** Parses every variable once; throws ConfigError with a line per bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv): Env {
  const values = parseEnv(ENV_SCHEMA, env);
  const problems: string[] = [];
  if (values.PAYFLOW_RECORD_RETRY_MAX_DELAY_MS < values.PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS)
    problems.push('PAYFLOW_RECORD_RETRY_MAX_DELAY_MS must be at least PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS');
  const interval = values.PAYFLOW_RECONCILE_INTERVAL_MS;
  if (interval !== 0 && interval < MIN_RECONCILE_INTERVAL_MS)
    problems.push(
      `PAYFLOW_RECONCILE_INTERVAL_MS must be 0 (off) or at least ${MIN_RECONCILE_INTERVAL_MS} (each run reads the log)`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
}

/** Whether a variable was given (a blank value counts as unset, as parsing takes it). */
const isSet = (value: string | undefined): boolean => value !== undefined && value.trim() !== '';

function kafkaSettings(env: Env, required: string): KafkaSettings {
  const problems: string[] = [];
  if (env.PAYFLOW_KAFKA_BROKERS === undefined) problems.push(`PAYFLOW_KAFKA_BROKERS is required ${required}`);
  if (env.PAYFLOW_SCHEMA_REGISTRY_URL === undefined)
    problems.push(`PAYFLOW_SCHEMA_REGISTRY_URL is required ${required}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    brokers: env.PAYFLOW_KAFKA_BROKERS!,
    registryUrl: env.PAYFLOW_SCHEMA_REGISTRY_URL!,
    applicationId: env.PAYFLOW_APPLICATION_ID,
  };
}

/**
 * The PII key ring from PAYFLOW_PII_KEYS_FILE or PAYFLOW_PII_KEYS. Sealed values rest in Kafka
 * and PostgreSQL, so the Kafka mode needs a configured ring (a generated key would die with the
 * process and leave them unreadable); the embedded mode keeps nothing and may generate one.
 * Problems name the variable and never hold a key.
 */
export function piiSettingsOf(env: Env, kafkaMode: boolean): PiiSettings {
  if (env.PAYFLOW_PII_KEYS_FILE !== undefined && env.PAYFLOW_PII_KEYS !== undefined)
    throw new ConfigError(['PAYFLOW_PII_KEYS_FILE and PAYFLOW_PII_KEYS are exclusive: set one']);
  if (env.PAYFLOW_PII_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = readFileSync(env.PAYFLOW_PII_KEYS_FILE, 'utf8');
    } catch (error) {
      throw new ConfigError([
        `PAYFLOW_PII_KEYS_FILE ${env.PAYFLOW_PII_KEYS_FILE}: ${(error as Error).message}`,
      ]);
    }
    return { keyRing: keyRingOf('PAYFLOW_PII_KEYS_FILE', text), ephemeral: false };
  }
  if (env.PAYFLOW_PII_KEYS !== undefined)
    return { keyRing: keyRingOf('PAYFLOW_PII_KEYS', env.PAYFLOW_PII_KEYS), ephemeral: false };
  if (kafkaMode)
    throw new ConfigError([
      'PAYFLOW_PII_KEYS_FILE or PAYFLOW_PII_KEYS is required when PAYFLOW_KAFKA_BROKERS is set (sealed IBANs rest in Kafka and PostgreSQL)',
    ]);
  return { keyRing: ephemeralPiiKeyRing(), ephemeral: true };
}

function keyRingOf(variable: string, text: string): PiiKeyRing {
  try {
    return parsePiiKeyRing(text);
  } catch (error) {
    if (!(error instanceof PiiSealError)) throw error;
    throw new ConfigError([`${variable} ${error.message}`]);
  }
}

/** `npm start`: the gateway and the pipeline, embedded or (with PAYFLOW_KAFKA_BROKERS) on Kafka. */
export function mainJobConfig(env: NodeJS.ProcessEnv): MainJobConfig {
  const values = parseConfig(env);
  const gateway = gatewayConfigOf(values);
  const pipeline = pipelineSettings(values);
  if (values.PAYFLOW_KAFKA_BROKERS === undefined) {
    return {
      gateway,
      pipeline,
      pii: piiSettingsOf(values, false),
      mode: 'embedded',
      embedded: {
        maxRecordsPerTopic: values.PAYFLOW_EMBEDDED_MAX_RECORDS_PER_TOPIC,
        maxPayments: values.PAYFLOW_EMBEDDED_MAX_PAYMENTS,
        maxAccounts: values.PAYFLOW_EMBEDDED_MAX_ACCOUNTS,
      },
      ignoredWorkers:
        isSet(env.PAYFLOW_WORKERS) && values.PAYFLOW_WORKERS > 1 ? values.PAYFLOW_WORKERS : undefined,
    };
  }
  const kafka = kafkaSettings(values, 'in the Kafka mode (PAYFLOW_KAFKA_BROKERS is set)');
  if (values.PAYFLOW_POSTGRES_URL === undefined) {
    throw new ConfigError([
      'PAYFLOW_POSTGRES_URL is required when PAYFLOW_KAFKA_BROKERS is set (the read models are in PostgreSQL)',
    ]);
  }
  return {
    gateway,
    pipeline,
    pii: piiSettingsOf(values, true),
    mode: 'kafka',
    kafka,
    postgres: {
      url: values.PAYFLOW_POSTGRES_URL,
      poolMax: values.PAYFLOW_POSTGRES_POOL_MAX,
      statementTimeoutMs: values.PAYFLOW_POSTGRES_STATEMENT_TIMEOUT_MS,
    },
    readSide: readSideSettings(values),
    reconciliation: reconciliationSettings(values),
    workers: values.PAYFLOW_WORKERS,
  };
}

function reconciliationSettings(values: Env): ReconciliationSettings {
  return {
    intervalMs: values.PAYFLOW_RECONCILE_INTERVAL_MS,
    lookbackDays: values.PAYFLOW_RECONCILE_LOOKBACK_DAYS,
    settleMs: values.PAYFLOW_RECONCILE_SETTLE_MS,
    catchUpTimeoutMs: values.PAYFLOW_RECONCILE_CATCH_UP_TIMEOUT_MS,
    maxPayments: values.PAYFLOW_RECONCILE_MAX_PAYMENTS,
  };
}

/** `npm run reconcile`: Kafka, the registry, PostgreSQL and the projections PAYFLOW_PROJECTIONS names. */
export function reconcileConfig(env: NodeJS.ProcessEnv): ReconcileConfig {
  const values = parseConfig(env);
  const kafka = kafkaSettings(values, 'to reconcile');
  if (values.PAYFLOW_POSTGRES_URL === undefined)
    throw new ConfigError(['PAYFLOW_POSTGRES_URL is required to reconcile (the payments read model)']);
  return {
    kafka,
    postgres: {
      url: values.PAYFLOW_POSTGRES_URL,
      poolMax: 2,
      statementTimeoutMs: values.PAYFLOW_POSTGRES_STATEMENT_TIMEOUT_MS,
    },
    readSide: readSideSettings(values),
    reconciliation: reconciliationSettings(values),
  };
}

/** The Elasticsearch and archive projections PAYFLOW_PROJECTIONS asks for, with what each needs. */
export function readSideSettings(values: Env): ReadSideSettings {
  const wanted = new Set(values.PAYFLOW_PROJECTIONS);
  const problems: string[] = [];
  let elasticsearch: ReadSideSettings['elasticsearch'];
  if (wanted.has('elasticsearch')) {
    if (values.PAYFLOW_ELASTICSEARCH_URL === undefined)
      problems.push('PAYFLOW_ELASTICSEARCH_URL is required when PAYFLOW_PROJECTIONS has elasticsearch');
    else
      elasticsearch = {
        url: values.PAYFLOW_ELASTICSEARCH_URL,
        index: values.PAYFLOW_ELASTICSEARCH_INDEX,
        timeoutMs: values.PAYFLOW_ELASTICSEARCH_TIMEOUT_MS,
        cacheTtlMs: values.PAYFLOW_SEARCH_CACHE_TTL_MS,
        cacheMaxEntries: values.PAYFLOW_SEARCH_CACHE_MAX_ENTRIES,
      };
  }
  let archive: ReadSideSettings['archive'];
  if (wanted.has('archive')) {
    const { PAYFLOW_S3_ACCESS_KEY_ID: accessKeyId, PAYFLOW_S3_SECRET_ACCESS_KEY: secretAccessKey } = values;
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
      problems.push(
        'PAYFLOW_S3_ACCESS_KEY_ID and PAYFLOW_S3_SECRET_ACCESS_KEY go together: set both or neither',
      );
    if (values.PAYFLOW_ARCHIVE_BUCKET === undefined)
      problems.push('PAYFLOW_ARCHIVE_BUCKET is required when PAYFLOW_PROJECTIONS has archive');
    else
      archive = {
        bucket: values.PAYFLOW_ARCHIVE_BUCKET,
        prefix: values.PAYFLOW_ARCHIVE_PREFIX,
        fileOffsets: values.PAYFLOW_ARCHIVE_FILE_OFFSETS,
        flushIntervalMs: values.PAYFLOW_ARCHIVE_FLUSH_INTERVAL_MS,
        s3: {
          ...(values.PAYFLOW_S3_ENDPOINT === undefined ? {} : { endpoint: values.PAYFLOW_S3_ENDPOINT }),
          region: values.PAYFLOW_S3_REGION,
          ...(accessKeyId === undefined || secretAccessKey === undefined
            ? {}
            : { credentials: { accessKeyId, secretAccessKey } }),
          timeoutMs: values.PAYFLOW_S3_TIMEOUT_MS,
        },
      };
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...(elasticsearch === undefined ? {} : { elasticsearch }),
    ...(archive === undefined ? {} : { archive }),
  };
}

/** `npm run processors`: the pipeline on Kafka without the gateway. */
export function processorsConfig(env: NodeJS.ProcessEnv): ProcessorsConfig {
  const values = parseConfig(env);
  return {
    kafka: kafkaSettings(values, 'by npm run processors'),
    pipeline: pipelineSettings(values),
    ops: { host: values.PAYFLOW_OPS_HOST, port: values.PAYFLOW_OPS_PORT },
    logLevel: values.PAYFLOW_LOG_LEVEL,
    workers: values.PAYFLOW_WORKERS,
  };
}

/** `npm run topics:create`: the catalogue's topics on a cluster. */
export function topicsConfig(env: NodeJS.ProcessEnv): TopicsConfig {
  const values = parseConfig(env);
  if (values.PAYFLOW_KAFKA_BROKERS === undefined)
    throw new ConfigError(['PAYFLOW_KAFKA_BROKERS is required by npm run topics:create']);
  return { brokers: values.PAYFLOW_KAFKA_BROKERS, partitions: values.PAYFLOW_TOPIC_PARTITIONS };
}

/** The bank partners: their URLs, timeouts, retries, breakers and routing. */
export interface PartnersConfig {
  readonly urls: Readonly<Partial<Record<PartnerName, string>>>;
  readonly timeoutMs: number;
  readonly retry: RetrySettings;
  readonly breaker: BreakerSettings;
  readonly routing: RoutingConfig;
}

/** The partners' section, for the program that calls them (the payout saga). */
export function partnersConfig(env: NodeJS.ProcessEnv): PartnersConfig {
  const values = parseConfig(env);
  if (values.PAYFLOW_PARTNER_RETRY_MAX_DELAY_MS < values.PAYFLOW_PARTNER_RETRY_INITIAL_DELAY_MS)
    throw new ConfigError([
      'PAYFLOW_PARTNER_RETRY_MAX_DELAY_MS must be at least PAYFLOW_PARTNER_RETRY_INITIAL_DELAY_MS',
    ]);
  const urls: Partial<Record<PartnerName, string>> = {};
  if (values.PAYFLOW_PARTNER_BANK_A_URL !== undefined) urls['bank-a'] = values.PAYFLOW_PARTNER_BANK_A_URL;
  if (values.PAYFLOW_PARTNER_BANK_B_URL !== undefined) urls['bank-b'] = values.PAYFLOW_PARTNER_BANK_B_URL;
  if (values.PAYFLOW_PARTNER_WALLET_URL !== undefined) urls.wallet = values.PAYFLOW_PARTNER_WALLET_URL;
  return {
    urls,
    timeoutMs: values.PAYFLOW_PARTNER_TIMEOUT_MS,
    retry: {
      maxAttempts: values.PAYFLOW_PARTNER_MAX_ATTEMPTS,
      initialDelayMs: values.PAYFLOW_PARTNER_RETRY_INITIAL_DELAY_MS,
      maxDelayMs: values.PAYFLOW_PARTNER_RETRY_MAX_DELAY_MS,
      statusMaxQueries: values.PAYFLOW_PARTNER_STATUS_MAX_QUERIES,
      clockSkewMs: values.PAYFLOW_PARTNER_CLOCK_SKEW_MS,
    },
    breaker: {
      failures: values.PAYFLOW_BREAKER_FAILURES,
      windowMs: values.PAYFLOW_BREAKER_WINDOW_MS,
      halfOpenAfterMs: values.PAYFLOW_BREAKER_HALF_OPEN_AFTER_MS,
    },
    routing: routingOf(values.PAYFLOW_PARTNER_ROUTING_FILE),
  };
}

/** The routing file, read and validated; a problem names the file and the field. */
function routingOf(file: string | undefined): RoutingConfig {
  if (file === undefined) return DEFAULT_ROUTING;
  return jsonFileOf('PAYFLOW_PARTNER_ROUTING_FILE', file, parseRoutingConfig, (error) =>
    error instanceof RoutingConfigError ? error.problems : undefined,
  );
}

/**
 * For a program's entry point: the configuration, or the problems on stderr (one line each,
 * prefixed with the program's name) and exit 2. Call before opening anything.
 */
export function configOrExit<C>(program: string, load: () => C): C {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems)
      process.stderr.write(`${program}: invalid configuration: ${problem}\n`);
    process.exit(2);
  }
}

interface Documented {
  readonly name: string;
  readonly description: string;
  readonly default: string;
  /** Allowed values: a number range, a list, or empty. */
  readonly bounds: string;
}

/** The schema's bounds in words: `1–10000` for a number, `a, b, c` for an enum. */
function boundsOf(schema: z.ZodType): string {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  if (inner instanceof z.ZodNumber && inner.minValue !== null && inner.maxValue !== null)
    return `${inner.minValue}–${inner.maxValue}`;
  if (inner instanceof z.ZodEnum) return inner.options.join(', ');
  return '';
}

/** Defaults that depend on the machine, documented in words rather than as this machine's value. */
const MACHINE_DEFAULTS: Readonly<Record<string, string>> = {
  PAYFLOW_WORKERS: 'the core count (at most 64)',
};

/** Every variable with its doc and default, in schema order, then the stack's. */
export function documentedVariables(): readonly Documented[] {
  const rows: Documented[] = Object.entries(ENV_SCHEMA.shape).map(([name, schema]) => {
    const parsed = (schema as z.ZodType).safeParse(undefined);
    const fallback =
      MACHINE_DEFAULTS[name] ??
      (parsed.success && parsed.data !== undefined
        ? `\`${JSON.stringify(parsed.data).replace(/^"|"$/g, '')}\``
        : 'unset');
    return {
      name,
      description: (schema as z.ZodType).description ?? '',
      default: fallback,
      bounds: boundsOf(schema as z.ZodType),
    };
  });
  for (const [name, { description, default: fallback }] of Object.entries(STACK_VARIABLES))
    rows.push({ name, description, default: fallback, bounds: '' });
  return rows;
}

export const CONFIG_DOCS_BEGIN =
  '<!-- configuration table: generated by `npm run config:docs` from app/config.ts -->';
export const CONFIG_DOCS_END = '<!-- end of configuration table -->';

/** The README's configuration table. */
export function configTable(): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| Variable | Meaning | Default | Allowed |',
    '| --- | --- | --- | --- |',
    ...documentedVariables().map(
      (row) => `| \`${row.name}\` | ${escape(row.description)} | ${row.default} | ${row.bounds} |`,
    ),
  ].join('\n');
}
