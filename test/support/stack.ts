/**
 * Where the real stack listens, for integration tests. `scripts/test-all` exports these from
 * `.payflow/stack.env` after `scripts/stack up`; a developer can also point them at the
 * docker compose stack. When PAYFLOW_REQUIRE_STACK=1 (always so in `npm test`), a missing value
 * fails the test instead of skipping it, so a suite can never pass by not running.
 */
import { fileURLToPath } from 'node:url';

import { S3Client } from '@aws-sdk/client-s3';

export interface StackEnv {
  readonly kafkaBrokers: string[];
  readonly schemaRegistryUrl: string;
  readonly postgresUrl: string;
  readonly redisUrl: string;
  readonly elasticsearchUrl: string;
  readonly s3: {
    readonly endpoint: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
  };
}

const NAMES = [
  'PAYFLOW_KAFKA_BROKERS',
  'PAYFLOW_SCHEMA_REGISTRY_URL',
  'PAYFLOW_POSTGRES_URL',
  'PAYFLOW_REDIS_URL',
  'PAYFLOW_ELASTICSEARCH_URL',
  'PAYFLOW_S3_ENDPOINT',
  'PAYFLOW_S3_REGION',
  'PAYFLOW_S3_ACCESS_KEY_ID',
  'PAYFLOW_S3_SECRET_ACCESS_KEY',
] as const;

/** Returns the stack's addresses, or a skip reason when they are absent and not required. */
export function stackEnv(): StackEnv | { skip: string } {
  const missing = NAMES.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    const message = `the real stack is not configured (missing ${missing.join(', ')}); run scripts/stack up`;
    if (process.env.PAYFLOW_REQUIRE_STACK === '1') throw new Error(message);
    return { skip: message };
  }
  const env = (name: (typeof NAMES)[number]): string => process.env[name] as string;
  return {
    kafkaBrokers: env('PAYFLOW_KAFKA_BROKERS').split(','),
    schemaRegistryUrl: env('PAYFLOW_SCHEMA_REGISTRY_URL'),
    postgresUrl: env('PAYFLOW_POSTGRES_URL'),
    redisUrl: env('PAYFLOW_REDIS_URL'),
    elasticsearchUrl: env('PAYFLOW_ELASTICSEARCH_URL'),
    s3: {
      endpoint: env('PAYFLOW_S3_ENDPOINT'),
      region: env('PAYFLOW_S3_REGION'),
      accessKeyId: env('PAYFLOW_S3_ACCESS_KEY_ID'),
      secretAccessKey: env('PAYFLOW_S3_SECRET_ACCESS_KEY'),
    },
  };
}

/**
 * Trino's URL (PAYFLOW_TRINO_URL, `scripts/stack up` starts it), or a skip reason when it is
 * absent and not required; with PAYFLOW_REQUIRE_STACK=1 its absence fails the test.
 */
export function trinoUrl(): string | { skip: string } {
  const url = process.env.PAYFLOW_TRINO_URL;
  if (url) return url;
  const message = 'Trino is not configured (missing PAYFLOW_TRINO_URL); run scripts/stack up trino';
  if (process.env.PAYFLOW_REQUIRE_STACK === '1') throw new Error(message);
  return { skip: message };
}

/** A name no other test run uses, so tests never see each other's topics, indices or keys. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Limits far above the tiers', for tests that carry their load on a few senders. */
export const LOAD_TEST_VELOCITY_LIMITS = fileURLToPath(
  new URL('../../processors/velocity/load-test-limits.json', import.meta.url),
);
/** API rate limits no load test reaches: the throughput measured is the pipeline's. */
export const LOAD_TEST_RATE_LIMITS = fileURLToPath(
  new URL('../../gateway/load-test-rate-limits.json', import.meta.url),
);

/** A client of the stack's S3 store (path-style, bounded requests). */
export function stackS3Client(stack: StackEnv): S3Client {
  return new S3Client({
    endpoint: stack.s3.endpoint,
    region: stack.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey },
    requestHandler: { requestTimeout: 10_000 },
  });
}
