/**
 * `npm run processors`: the payment pipeline on Kafka without the gateway, for running the
 * processors apart from the ingress and scaling them out (each instance takes a share of the
 * partitions). Operations endpoints on PAYFLOW_OPS_HOST:PAYFLOW_OPS_PORT (default
 * 127.0.0.1:9464): /metrics, /healthz, /readyz. SIGTERM or SIGINT: the batches in flight commit,
 * then the process leaves its consumer groups and exits 0. The configuration is parsed before
 * anything opens; a bad value exits 2 naming the variable.
 */
import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

import { startOpsServer } from '../processors/runtime/ops-server.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';
import { configOrExit, processorsConfig } from './config.js';
import { pipelineStopBoundMs, startKafkaPipeline, type KafkaPipeline } from './kafka.js';
import { Lifecycle } from './lifecycle.js';

async function main(): Promise<void> {
  const config = configOrExit('payflow processors', () => processorsConfig(process.env));
  const log = pino({ name: 'payflow-processors', level: config.logLevel });
  const lifecycle = new Lifecycle({ log });
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });
  const state: { pipeline?: KafkaPipeline; stopping: boolean } = { stopping: false };
  lifecycle.own(
    'operations server',
    await startOpsServer({
      registry: metricsRegistry,
      ready: () => !state.stopping && (state.pipeline?.driver.ready ?? false),
      notReadyDetail: () =>
        state.stopping ? 'stopping' : (state.pipeline?.driver.notReadyDetail ?? 'starting'),
      ...config.ops,
    }),
    (ops) => ops.close(),
  );
  const health = new ComponentHealth({ registry: metricsRegistry, log });
  try {
    state.pipeline = lifecycle.own(
      'pipeline',
      await startKafkaPipeline(config.kafka, config.pipeline, { metricsRegistry, logger: log, health }),
      (pipeline) => pipeline.stop(),
      { closeTimeoutMs: pipelineStopBoundMs(config.pipeline) },
    );
  } catch (error) {
    await lifecycle.close().catch(() => undefined);
    throw error;
  }
  log.info(
    { applicationId: config.kafka.applicationId, ops: `${config.ops.host}:${config.ops.port}` },
    'payment pipeline running on Kafka',
  );
  const shutdown = (signal: string) => {
    state.stopping = true;
    log.info({ signal }, 'stopping: finishing the batches in flight');
    void lifecycle.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

await main();
