/**
 * Builds the ingress API as a Fastify instance without listening (tests use `app.inject()`).
 * Each concern is its own plugin; the cross-cutting ones (errors, correlation, limits, OpenAPI,
 * auth, metrics) use fastify-plugin so their hooks cover every route, and each route group is
 * an encapsulated plugin that receives its dependencies explicitly.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.js';
import { handleClientError } from './client-errors.js';
import type { RouteContext } from './command-flow.js';
import { capConnectionsPerAddress } from './connections.js';
import { ephemeralPiiKeyRing, type PiiKeyRing } from '../schemas/pii.js';
import { maskIban } from './iban.js';
import { uuidv7 } from './ids.js';
import { auth } from './plugins/auth.js';
import { correlation, correlationIdOf } from './plugins/correlation.js';
import { jsonBody } from './plugins/json-body.js';
import { Load, limits } from './plugins/limits.js';
import { metrics } from './plugins/metrics.js';
import { openapi } from './plugins/openapi.js';
import { frameworkError, problems } from './plugins/problems.js';
import { rateLimits } from './plugins/rate-limit.js';
import { requestLog } from './plugins/request-log.js';
import { MemoryBucketStore, RedisBucketStore } from './token-bucket.js';
import type { GatewayPorts } from './ports.js';
import { accountRoutes } from './routes/accounts.js';
import { healthRoutes } from './routes/health.js';
import { historyRoutes } from './routes/history.js';
import { searchRoutes } from './routes/search.js';
import { paymentRoutes } from './routes/payments.js';
import { reviewRoutes } from './routes/reviews.js';
import { PROBLEM_SCHEMA } from './schemas.js';

export const API_VERSION = '1.0.0';

/** How often Node looks for connections past the header or request timeout. */
const CONNECTIONS_CHECK_INTERVAL_MS = 500;

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly ports: GatewayPorts;
  /** When given, HTTP metrics are recorded on it and served at /metrics. */
  readonly metricsRegistry?: Registry;
  /** false silences logs; a stream receives the JSON log lines (tests inspect them). */
  readonly logging?: false | { readonly stream?: { write(line: string): void } };
  readonly now?: () => number;
  /** Payment and command ids; UUID v7 by default. */
  readonly newId?: () => string;
  /** Seals IBANs before they are published; an ephemeral one-key ring when absent (tests). */
  readonly piiKeyRing?: PiiKeyRing;
  /** Rate-limit counters shared by every gateway instance (the main job's, with PAYFLOW_REDIS_URL). */
  readonly rateLimitRedis?: {
    readonly redis: Redis;
    readonly nameSpace?: string;
    /** Bound on one bucket step (PAYFLOW_QUERY_TIMEOUT_MS by default); past it the request passes. */
    readonly timeoutMs?: number;
  };
}

/** Paths whose values never reach a log line in clear. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'iban',
  '*.iban',
  'body.iban',
  'req.body.iban',
  'ibanSealed',
  '*.ibanSealed',
];

function censor(value: unknown, path: string[]): unknown {
  return path.at(-1) === 'iban' && typeof value === 'string' ? maskIban(value) : '[REDACTED]';
}

function loggerOptions(options: GatewayOptions) {
  if (options.logging === false) return false;
  return {
    level: options.config.logLevel,
    redact: { paths: REDACTED_PATHS, censor },
    ...(options.logging?.stream === undefined ? {} : { stream: options.logging.stream }),
  };
}

function createServer(options: GatewayOptions): FastifyInstance {
  return Fastify({
    logger: loggerOptions(options),
    bodyLimit: options.config.bodyLimitBytes,
    requestTimeout: options.config.requestTimeoutMs,
    keepAliveTimeout: options.config.keepAliveTimeoutMs,
    http: {
      headersTimeout: options.config.headersTimeoutMs,
      requestTimeout: options.config.requestTimeoutMs,
      // Node checks the two timeouts only this often (30 s by default, which made a 10 s
      // timeout up to 40 s); a check walks the open connections, cheap at this rate.
      connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
    },
    // The longest path parameter the API documents (a deny-list value, 256 characters; the
    // router's default of 100 refused documented values with 414).
    routerOptions: { maxParamLength: 256 },
    genReqId: correlationIdOf,
    requestIdHeader: false,
    // One line per request instead of Fastify's two (plugins/request-log.ts).
    logController: new LogController({ requestIdLogLabel: 'correlationId', disableRequestLogging: true }),
    return503OnClosing: true,
    // Parser and timeout errors, bad percent-encoding and overlong parameters: problem+json too.
    clientErrorHandler(this: FastifyInstance, error, socket) {
      handleClientError(this.log, error, socket);
    },
    frameworkErrors: frameworkError,
    // Strict validation: "10" is not an integer and unknown properties are errors, not dropped.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, useDefaults: false },
    },
  });
}

export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const { config, ports } = options;
  const app = createServer(options);
  capConnectionsPerAddress(app.server, {
    maxPerAddress: config.maxConnectionsPerIp,
    retryAfterS: config.pressure.retryAfterS,
  });
  const load = new Load(config.maxInFlight);
  const now = options.now ?? Date.now;
  const context: RouteContext = {
    ports,
    publishTimeoutMs: config.publishTimeoutMs,
    queryTimeoutMs: config.queryTimeoutMs,
    storeTimeoutMs: config.queryTimeoutMs,
    now,
    // The gateway's clock, so an id's time is the command's issue time (account command status URLs read it).
    newId: options.newId ?? (() => uuidv7(now())),
    piiKeyRing: options.piiKeyRing ?? ephemeralPiiKeyRing(),
  };
  // JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  await app.register(jsonBody);
  app.addSchema(PROBLEM_SCHEMA);
  await app.register(requestLog);
  // Correlation first: every answer, 404 and 405 included, carries X-Correlation-Id.
  await app.register(correlation);
  await app.register(problems);
  await app.register(limits, {
    load,
    maxEventLoopDelayMs: config.pressure.maxEventLoopDelayMs,
    retryAfterS: config.pressure.retryAfterS,
  });
  await app.register(openapi, { version: API_VERSION });
  await app.register(auth, { jwt: config.jwt });
  await app.register(rateLimits, {
    ...config.rateLimit,
    buckets:
      options.rateLimitRedis === undefined
        ? new MemoryBucketStore(config.rateLimit.maxTrackedKeys, options.now ?? Date.now)
        : new RedisBucketStore(
            options.rateLimitRedis.redis,
            options.rateLimitRedis.nameSpace ?? 'payflow:rate-limit:v2:',
          ),
    accounts: ports.accounts,
    lookupTimeoutMs: config.queryTimeoutMs,
    storeTimeoutMs: options.rateLimitRedis?.timeoutMs ?? config.queryTimeoutMs,
    ...(options.metricsRegistry === undefined ? {} : { registry: options.metricsRegistry }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (options.metricsRegistry !== undefined)
    await app.register(metrics, { registry: options.metricsRegistry });
  await app.register((child) =>
    healthRoutes(child, {
      readiness: ports.readiness,
      checkTimeoutMs: config.queryTimeoutMs,
      saturation: () => load.saturation(),
      retryAfterS: config.pressure.retryAfterS,
    }),
  );
  await app.register((child) => paymentRoutes(child, context));
  await app.register((child) => historyRoutes(child, context));
  await app.register((child) => searchRoutes(child, context));
  await app.register((child) => accountRoutes(child, context));
  await app.register((child) => reviewRoutes(child, context));
  return app;
}
