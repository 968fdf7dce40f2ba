/**
 * The gateway's configuration, read from the environment and validated at start-up. Each
 * variable is declared once here with its meaning, default and bounds; the README table lists
 * the same. A bad or missing value stops the process with a message naming the variable.
 */
import { z } from 'zod';

const SECONDS_PER_DAY = 86_400;

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalText = z.string().trim().min(1).optional();

/** Variable name -> schema. `.describe()` carries the documentation shown in the README. */
const ENV_SCHEMA = z.object({
  PAYFLOW_HTTP_HOST: z.string().min(1).default('127.0.0.1').describe('Interface to listen on (loopback by default; 0.0.0.0 to serve other hosts)'),
  PAYFLOW_HTTP_PORT: integer(0, 65_535).default(8080).describe('TCP port to listen on'),
  PAYFLOW_HTTP_BODY_LIMIT_BYTES: integer(1_024, 1_048_576).default(16_384).describe('Largest accepted request body'),
  PAYFLOW_HTTP_REQUEST_TIMEOUT_MS: integer(1_000, 120_000).default(10_000).describe('Time allowed to receive a whole request'),
  PAYFLOW_HTTP_MAX_IN_FLIGHT: integer(1, 100_000).default(1_000).describe('Requests processed at once; more get 503'),
  PAYFLOW_PUBLISH_TIMEOUT_MS: integer(100, 60_000).default(5_000).describe('Bound on publishing one command'),
  PAYFLOW_QUERY_TIMEOUT_MS: integer(50, 30_000).default(2_000).describe('Bound on one read-model query'),
  PAYFLOW_RATE_LIMIT_PER_MINUTE: integer(1, 1_000_000).default(6_000).describe('API requests a principal may make per minute, over every instance sharing PAYFLOW_REDIS_URL (else per instance); more get 429'),
  PAYFLOW_RATE_LIMIT_MAX_TRACKED_KEYS: integer(100, 10_000_000).default(100_000).describe('Bound on the principals tracked by the rate limiter'),
  PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS: integer(10, 60_000).default(1_000).describe('Event-loop delay above which requests get 503'),
  PAYFLOW_PRESSURE_RETRY_AFTER_S: integer(1, 3_600).default(5).describe('Retry-After sent with 503 answers'),
  PAYFLOW_JWT_SECRET: z.string().min(32, 'must be at least 32 characters (256 bits for HS256)').optional().describe('HS256 shared secret'),
  PAYFLOW_JWT_PUBLIC_KEY: optionalText.describe('RS256 public key (PEM)'),
  PAYFLOW_JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional().describe('RS256 JWKS endpoint'),
  PAYFLOW_JWT_JWKS_TIMEOUT_MS: integer(100, 30_000).default(2_000).describe('Bound on fetching the JWKS'),
  PAYFLOW_JWT_ISSUER: optionalText.describe('Required `iss` claim, if set'),
  PAYFLOW_JWT_AUDIENCE: optionalText.describe('Required `aud` claim, if set'),
  PAYFLOW_JWT_CLOCK_TOLERANCE_S: integer(0, 300).default(5).describe('Allowed clock skew for exp/nbf'),
  PAYFLOW_IDEMPOTENCY_TTL_S: integer(SECONDS_PER_DAY, 30 * SECONDS_PER_DAY).default(SECONDS_PER_DAY).describe('How long a key and its response are kept (at least 24 h)'),
  PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS: integer(1_000, 600_000).default(30_000).describe('How long an abandoned in-flight key stays locked'),
  PAYFLOW_IDEMPOTENCY_MEMORY_MAX_KEYS: integer(1, 10_000_000).default(100_000).describe('Bound on the in-memory store (no Redis)'),
  PAYFLOW_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional().describe('Redis for idempotency; in-memory store when unset'),
  PAYFLOW_REDIS_COMMAND_TIMEOUT_MS: integer(10, 10_000).default(500).describe('Bound on one Redis command'),
  PAYFLOW_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level'),
});

export type GatewayEnv = z.infer<typeof ENV_SCHEMA>;

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxInFlight: number;
  readonly publishTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly pressure: { readonly maxEventLoopDelayMs: number; readonly retryAfterS: number };
  readonly rateLimit: { readonly perMinute: number; readonly maxTrackedKeys: number };
  readonly jwt: JwtConfig;
  readonly idempotency: { readonly ttlS: number; readonly lockTtlMs: number; readonly memoryMaxKeys: number };
  readonly redis: { readonly url: string; readonly commandTimeoutMs: number } | undefined;
  readonly logLevel: GatewayEnv['PAYFLOW_LOG_LEVEL'];
}

export interface JwtConfig {
  readonly secret: string | undefined;
  readonly publicKeyPem: string | undefined;
  readonly jwksUrl: string | undefined;
  readonly jwksTimeoutMs: number;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly clockToleranceS: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid gateway configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = ENV_SCHEMA.safeParse(nonEmpty(env));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const values = parsed.data;
  if (values.PAYFLOW_JWT_SECRET === undefined && values.PAYFLOW_JWT_PUBLIC_KEY === undefined && values.PAYFLOW_JWT_JWKS_URL === undefined) {
    throw new ConfigError(['PAYFLOW_JWT_SECRET: required (or PAYFLOW_JWT_PUBLIC_KEY / PAYFLOW_JWT_JWKS_URL for RS256)']);
  }
  return toConfig(values);
}

/** For the entry point: prints the problems and stops the process with exit code 1. */
export function loadGatewayConfigOrExit(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  try {
    return loadGatewayConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

/** The documented variables, for generating the README table. */
export function describeGatewayEnv(): { name: string; description: string }[] {
  return Object.entries(ENV_SCHEMA.shape).map(([name, schema]) => ({ name, description: schema.description ?? '' }));
}

/** An empty variable counts as unset, so `FOO= cmd` falls back to the default. */
function nonEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of Object.keys(ENV_SCHEMA.shape)) {
    const value = env[name];
    if (value !== undefined && value !== '') result[name] = value;
  }
  return result;
}

function toConfig(values: GatewayEnv): GatewayConfig {
  return {
    host: values.PAYFLOW_HTTP_HOST,
    port: values.PAYFLOW_HTTP_PORT,
    bodyLimitBytes: values.PAYFLOW_HTTP_BODY_LIMIT_BYTES,
    requestTimeoutMs: values.PAYFLOW_HTTP_REQUEST_TIMEOUT_MS,
    maxInFlight: values.PAYFLOW_HTTP_MAX_IN_FLIGHT,
    publishTimeoutMs: values.PAYFLOW_PUBLISH_TIMEOUT_MS,
    queryTimeoutMs: values.PAYFLOW_QUERY_TIMEOUT_MS,
    pressure: { maxEventLoopDelayMs: values.PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS, retryAfterS: values.PAYFLOW_PRESSURE_RETRY_AFTER_S },
    rateLimit: { perMinute: values.PAYFLOW_RATE_LIMIT_PER_MINUTE, maxTrackedKeys: values.PAYFLOW_RATE_LIMIT_MAX_TRACKED_KEYS },
    jwt: {
      secret: values.PAYFLOW_JWT_SECRET,
      publicKeyPem: values.PAYFLOW_JWT_PUBLIC_KEY,
      jwksUrl: values.PAYFLOW_JWT_JWKS_URL,
      jwksTimeoutMs: values.PAYFLOW_JWT_JWKS_TIMEOUT_MS,
      issuer: values.PAYFLOW_JWT_ISSUER,
      audience: values.PAYFLOW_JWT_AUDIENCE,
      clockToleranceS: values.PAYFLOW_JWT_CLOCK_TOLERANCE_S,
    },
    idempotency: {
      ttlS: values.PAYFLOW_IDEMPOTENCY_TTL_S,
      lockTtlMs: values.PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS,
      memoryMaxKeys: values.PAYFLOW_IDEMPOTENCY_MEMORY_MAX_KEYS,
    },
    redis: values.PAYFLOW_REDIS_URL === undefined ? undefined : { url: values.PAYFLOW_REDIS_URL, commandTimeoutMs: values.PAYFLOW_REDIS_COMMAND_TIMEOUT_MS },
    logLevel: values.PAYFLOW_LOG_LEVEL,
  };
}
