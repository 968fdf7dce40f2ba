/**
 * The gateway's section of PayFlow's configuration: each variable declared once here with its
 * meaning, default and bounds. `app/config.ts` joins it with every other section into the one
 * schema the programs parse at start-up (and the README's table is checked against); a bad or
 * missing value stops the process with exit 2 and a line naming the variable.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

import { DEFAULT_RATE_LIMITS, parseRateLimits, RateLimitsError, type RateLimits } from './rate-limits.js';

const SECONDS_PER_DAY = 86_400;

/** A whole number from `min` to `max`, read from its text; the messages name the bound. */
export const envInteger = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const optionalText = z.string().trim().min(1).optional();

/** Variable name -> schema. `.describe()` carries the documentation shown in the README. */
export const GATEWAY_ENV = z.object({
  PAYFLOW_HTTP_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface to listen on (loopback by default; 0.0.0.0 to serve other hosts)'),
  PAYFLOW_HTTP_PORT: envInteger(0, 65_535).default(8080).describe('TCP port to listen on'),
  PAYFLOW_HTTP_BODY_LIMIT_BYTES: envInteger(1_024, 1_048_576)
    .default(16_384)
    .describe('Largest accepted request body'),
  PAYFLOW_HTTP_HEADERS_TIMEOUT_MS: envInteger(1_000, 120_000)
    .default(10_000)
    .describe(
      'Time allowed to receive the request line and headers, from the connection or the previous request; then 408 and the connection is closed (at most PAYFLOW_HTTP_REQUEST_TIMEOUT_MS)',
    ),
  PAYFLOW_HTTP_REQUEST_TIMEOUT_MS: envInteger(1_000, 120_000)
    .default(10_000)
    .describe(
      'Time allowed to receive a whole request, headers and body; then 408 and the connection is closed',
    ),
  PAYFLOW_HTTP_KEEP_ALIVE_TIMEOUT_MS: envInteger(1_000, 120_000)
    .default(5_000)
    .describe('How long an idle keep-alive connection is kept open between requests'),
  PAYFLOW_HTTP_MAX_CONNECTIONS_PER_IP: envInteger(1, 1_000_000)
    .default(256)
    .describe(
      'Connections one client address may hold open; more are answered 503 and closed (raise it behind a proxy, whose address all clients share)',
    ),
  PAYFLOW_HTTP_MAX_IN_FLIGHT: envInteger(1, 100_000)
    .default(1_000)
    .describe('Requests processed at once; more get 503'),
  PAYFLOW_PUBLISH_TIMEOUT_MS: envInteger(100, 60_000)
    .default(5_000)
    .describe('Bound on publishing one command'),
  PAYFLOW_QUERY_TIMEOUT_MS: envInteger(50, 30_000).default(2_000).describe('Bound on one read-model query'),
  PAYFLOW_DENYLIST_PROPAGATION_MS: envInteger(0, 60_000)
    .default(1_000)
    .describe(
      'Kafka mode: how long a deny-list change waits after the log acknowledged it before the API answers 204, so that the processors\u2019 deny-list tables hold it',
    ),
  PAYFLOW_RATE_LIMITS_FILE: z
    .string()
    .optional()
    .describe(
      'JSON file of the API rate limits per tier, a token bucket each (gateway/README.md); unset: the built-in defaults',
    ),
  PAYFLOW_RATE_LIMIT_MAX_TRACKED_KEYS: envInteger(100, 10_000_000)
    .default(100_000)
    .describe('Bound on the in-memory buckets (no Redis) and on the cached tiers of the rate limiter'),
  PAYFLOW_RATE_LIMIT_TIER_CACHE_TTL_MS: envInteger(0, 600_000)
    .default(30_000)
    .describe('How long the rate limiter keeps an owner\u2019s KYC tier before reading it again'),
  PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS: envInteger(10, 60_000)
    .default(1_000)
    .describe('Event-loop delay above which requests get 503'),
  PAYFLOW_PRESSURE_RETRY_AFTER_S: envInteger(1, 3_600)
    .default(5)
    .describe('Retry-After sent with 503 answers'),
  PAYFLOW_JWT_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (256 bits for HS256)')
    .optional()
    .describe('HS256 shared secret'),
  PAYFLOW_JWT_PUBLIC_KEY: optionalText.describe('RS256 public key (PEM)'),
  PAYFLOW_JWT_JWKS_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('RS256 JWKS endpoint'),
  PAYFLOW_JWT_JWKS_TIMEOUT_MS: envInteger(100, 30_000).default(2_000).describe('Bound on fetching the JWKS'),
  PAYFLOW_JWT_ISSUER: optionalText.describe('Required `iss` claim, if set'),
  PAYFLOW_JWT_AUDIENCE: optionalText.describe('Required `aud` claim, if set'),
  PAYFLOW_JWT_CLOCK_TOLERANCE_S: envInteger(0, 300)
    .default(5)
    .describe('Allowed clock skew for exp, nbf and iat (a token issued further ahead is refused)'),
  PAYFLOW_JWT_MAX_LIFETIME_S: envInteger(60, 30 * SECONDS_PER_DAY)
    .default(SECONDS_PER_DAY)
    .describe('Longest validity a token may have: `exp` at most this far after `iat` (or after now)'),
  PAYFLOW_IDEMPOTENCY_TTL_S: envInteger(SECONDS_PER_DAY, 30 * SECONDS_PER_DAY)
    .default(SECONDS_PER_DAY)
    .describe('How long a key and its response are kept (at least 24 h)'),
  PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS: envInteger(1_000, 600_000)
    .default(30_000)
    .describe('How long an abandoned in-flight key stays locked'),
  PAYFLOW_IDEMPOTENCY_MEMORY_MAX_KEYS: envInteger(1, 10_000_000)
    .default(100_000)
    .describe('Bound on the in-memory store (no Redis)'),
  PAYFLOW_REDIS_URL: z
    .url({ protocol: /^rediss?$/ })
    .optional()
    .describe('Redis for idempotency; in-memory store when unset'),
  PAYFLOW_REDIS_COMMAND_TIMEOUT_MS: envInteger(10, 10_000)
    .default(500)
    .describe('Bound on one Redis command'),
  PAYFLOW_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level'),
});

export type GatewayEnv = z.infer<typeof GATEWAY_ENV>;

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnectionsPerIp: number;
  readonly maxInFlight: number;
  readonly publishTimeoutMs: number;
  /** Kafka mode: the wait after a deny-list change is on the log, for the processors' tables. */
  readonly denyListPropagationMs: number;
  readonly queryTimeoutMs: number;
  readonly pressure: { readonly maxEventLoopDelayMs: number; readonly retryAfterS: number };
  readonly rateLimit: {
    readonly limits: RateLimits;
    readonly maxTrackedKeys: number;
    readonly tierCacheTtlMs: number;
  };
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
  readonly maxLifetimeS: number;
}

/**
 * Bad configuration: one line per problem, each starting with the variable's name. The programs
 * print the lines and exit 2 before opening anything.
 */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'ConfigError';
  }
}

/** One problem line: the variable, what is wrong, and the value unless it may be a secret. */
export function problemLine(name: string, message: string, value: unknown): string {
  const secret = /SECRET|KEY|URL|PASSWORD/.test(name);
  const got = value === undefined || secret ? '' : ` (got ${JSON.stringify(value)})`;
  return `${name} ${message}${got}`;
}

/** Parses `schema` over the environment; throws ConfigError naming every bad variable. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const values = nonEmpty(schema, env);
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'configuration');
        return problemLine(name, issue.message, values[name]);
      }),
    );
  }
  return parsed.data;
}

/** Parses the gateway's variables alone; throws ConfigError naming every bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return gatewayConfigOf(parseEnv(GATEWAY_ENV, env));
}

/** An empty or blank variable counts as unset, so `FOO= cmd` falls back to the default. */
function nonEmpty(schema: z.ZodObject, env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = env[name];
    // Blank counts as unset; any other value is taken as given (a secret is never trimmed).
    if (value !== undefined && value.trim() !== '') result[name] = value;
  }
  return result;
}

/** The gateway's settings from its parsed variables; throws ConfigError when no JWT key is set. */
export function gatewayConfigOf(values: GatewayEnv): GatewayConfig {
  if (
    values.PAYFLOW_JWT_SECRET === undefined &&
    values.PAYFLOW_JWT_PUBLIC_KEY === undefined &&
    values.PAYFLOW_JWT_JWKS_URL === undefined
  ) {
    throw new ConfigError([
      'PAYFLOW_JWT_SECRET is required (or PAYFLOW_JWT_PUBLIC_KEY / PAYFLOW_JWT_JWKS_URL for RS256)',
    ]);
  }
  return {
    host: values.PAYFLOW_HTTP_HOST,
    port: values.PAYFLOW_HTTP_PORT,
    bodyLimitBytes: values.PAYFLOW_HTTP_BODY_LIMIT_BYTES,
    // Node requires headersTimeout <= requestTimeout; the headers are part of the request.
    headersTimeoutMs: Math.min(
      values.PAYFLOW_HTTP_HEADERS_TIMEOUT_MS,
      values.PAYFLOW_HTTP_REQUEST_TIMEOUT_MS,
    ),
    requestTimeoutMs: values.PAYFLOW_HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: values.PAYFLOW_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    maxConnectionsPerIp: values.PAYFLOW_HTTP_MAX_CONNECTIONS_PER_IP,
    maxInFlight: values.PAYFLOW_HTTP_MAX_IN_FLIGHT,
    publishTimeoutMs: values.PAYFLOW_PUBLISH_TIMEOUT_MS,
    denyListPropagationMs: values.PAYFLOW_DENYLIST_PROPAGATION_MS,
    queryTimeoutMs: values.PAYFLOW_QUERY_TIMEOUT_MS,
    pressure: {
      maxEventLoopDelayMs: values.PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
      retryAfterS: values.PAYFLOW_PRESSURE_RETRY_AFTER_S,
    },
    rateLimit: {
      limits: rateLimitsOf(values.PAYFLOW_RATE_LIMITS_FILE),
      maxTrackedKeys: values.PAYFLOW_RATE_LIMIT_MAX_TRACKED_KEYS,
      tierCacheTtlMs: values.PAYFLOW_RATE_LIMIT_TIER_CACHE_TTL_MS,
    },
    jwt: {
      secret: values.PAYFLOW_JWT_SECRET,
      publicKeyPem: values.PAYFLOW_JWT_PUBLIC_KEY,
      jwksUrl: values.PAYFLOW_JWT_JWKS_URL,
      jwksTimeoutMs: values.PAYFLOW_JWT_JWKS_TIMEOUT_MS,
      issuer: values.PAYFLOW_JWT_ISSUER,
      audience: values.PAYFLOW_JWT_AUDIENCE,
      clockToleranceS: values.PAYFLOW_JWT_CLOCK_TOLERANCE_S,
      maxLifetimeS: values.PAYFLOW_JWT_MAX_LIFETIME_S,
    },
    idempotency: {
      ttlS: values.PAYFLOW_IDEMPOTENCY_TTL_S,
      lockTtlMs: values.PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS,
      memoryMaxKeys: values.PAYFLOW_IDEMPOTENCY_MEMORY_MAX_KEYS,
    },
    redis:
      values.PAYFLOW_REDIS_URL === undefined
        ? undefined
        : { url: values.PAYFLOW_REDIS_URL, commandTimeoutMs: values.PAYFLOW_REDIS_COMMAND_TIMEOUT_MS },
    logLevel: values.PAYFLOW_LOG_LEVEL,
  };
}

/** The rate-limits file, read and validated; a bad file stops the program naming the field. */
function rateLimitsOf(file: string | undefined): RateLimits {
  if (file === undefined) return DEFAULT_RATE_LIMITS;
  return jsonFileOf('PAYFLOW_RATE_LIMITS_FILE', file, parseRateLimits, (error) =>
    error instanceof RateLimitsError ? [error.message] : undefined,
  );
}

/**
 * A JSON file a variable names, parsed by `parse`; a file that can't be read, or a document
 * `parse` refuses (`problemsOf` turns its error into lines), is a ConfigError naming both.
 */
export function jsonFileOf<T>(
  variable: string,
  file: string,
  parse: (document: unknown) => T,
  problemsOf: (error: unknown) => readonly string[] | undefined,
): T {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([
      `${variable} ${file} can't be read as JSON: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  try {
    return parse(document);
  } catch (error) {
    const problems = problemsOf(error);
    if (problems === undefined) throw error;
    throw new ConfigError(problems.map((problem) => `${variable} ${file}: ${problem}`));
  }
}
