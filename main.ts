/**
 * The main job: PayFlow's ingress gateway and the pipeline behind it, in one process.
 *
 * With no servers configured it runs on the embedded default: the whole payment pipeline (accounts,
 * dedupe, validate, ledger) on the in-memory driver, with in-memory read models behind the
 * gateway's queries, and the idempotency fast path in memory. `PAYFLOW_REDIS_URL` moves
 * idempotency to Redis. (`npm run processors` runs the same pipeline on Kafka.)
 * Configuration comes from the environment and is validated before anything starts; a bad value
 * stops the process with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';

import { SignJWT } from 'jose';
import { collectDefaultMetrics, Registry } from 'prom-client';

import {
  buildGateway,
  createIdempotencyStore,
  listenGateway,
  loadGatewayConfigOrExit,
} from './gateway/index.js';
import { EmbeddedPipeline } from './processors/embedded-pipeline.js';

const DEV_TOKEN_TTL_S = 12 * 60 * 60;

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

async function main(): Promise<void> {
  const devTokens = await developmentAuth(process.env);
  const config = loadGatewayConfigOrExit(process.env);
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });

  const pipeline = new EmbeddedPipeline({ metricsRegistry });
  pipeline.start();
  const idempotency = await createIdempotencyStore(config);
  const app = await buildGateway({
    config,
    metricsRegistry,
    ports: {
      publisher: pipeline,
      payments: pipeline.payments,
      accounts: pipeline.accounts,
      idempotency,
    },
  });
  app.addHook('onClose', async () => {
    pipeline.stop();
    await idempotency.close();
  });
  const address = await listenGateway(app, config);
  app.log.info(
    { address, mode: 'embedded', idempotency: config.redis === undefined ? 'memory' : 'redis' },
    'PayFlow is listening; the OpenAPI document is at /openapi.json',
  );
  if (devTokens !== undefined) {
    process.stdout.write(
      `\nDevelopment tokens (valid ${DEV_TOKEN_TTL_S / 3600} h, this process only):\n` +
        `  producer: ${devTokens.producer}\n  admin:    ${devTokens.admin}\n\n`,
    );
  }
}

await main();
