/**
 * `npm run processors`: the payment pipeline on Kafka without the gateway, for running the
 * processors apart from the ingress and scaling them out (each instance takes a share of the
 * partitions). Operations endpoints on PAYFLOW_OPS_HOST:PAYFLOW_OPS_PORT (default
 * 127.0.0.1:9464): /metrics, /healthz, /readyz. SIGTERM or SIGINT: the batches in flight commit,
 * then the process leaves its consumer groups and exits 0.
 */
import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { z } from 'zod';

import { kafkaPipelineConfig, startKafkaPipeline, type KafkaPipeline } from './kafka.js';
import { startOpsServer } from '../processors/runtime/ops-server.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';

const log = pino({ name: 'payflow-processors' });

function opsAddress(env: NodeJS.ProcessEnv): { host: string; port: number } {
  const port = z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .safeParse(env.PAYFLOW_OPS_PORT ?? '9464');
  if (!port.success)
    throw new Error(
      `PAYFLOW_OPS_PORT must be a port number 0-65535 (got ${JSON.stringify(env.PAYFLOW_OPS_PORT)})`,
    );
  return { host: env.PAYFLOW_OPS_HOST ?? '127.0.0.1', port: port.data };
}

async function main(): Promise<void> {
  let config;
  let address;
  try {
    config = kafkaPipelineConfig(process.env);
    address = opsAddress(process.env);
  } catch (error) {
    process.stderr.write(`payflow processors: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });
  const state: { pipeline?: KafkaPipeline; stopping: boolean } = { stopping: false };
  const ops = await startOpsServer({
    registry: metricsRegistry,
    ready: () => !state.stopping && (state.pipeline?.driver.ready ?? false),
    notReadyDetail: () =>
      state.stopping ? 'stopping' : (state.pipeline?.driver.notReadyDetail ?? 'starting'),
    ...address,
  });
  const health = new ComponentHealth({ registry: metricsRegistry, log });
  const running = await startKafkaPipeline(config, { metricsRegistry, logger: log, health });
  state.pipeline = running;
  log.info(
    { applicationId: config.applicationId, ops: `${address.host}:${address.port}` },
    'payment pipeline running on Kafka',
  );
  const shutdown = (signal: string) => {
    state.stopping = true;
    log.info({ signal }, 'stopping: finishing the batches in flight');
    void running
      .stop()
      .then(() => ops.close())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

await main();
