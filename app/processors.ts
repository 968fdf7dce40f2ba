/**
 * `npm run processors`: the payment pipeline on Kafka without the gateway, for running the
 * processors apart from the ingress and scaling them out (each instance takes a share of the
 * partitions). Operations endpoints on PAYFLOW_OPS_HOST:PAYFLOW_OPS_PORT (default
 * 127.0.0.1:9464): /metrics, /healthz, /readyz. SIGTERM or SIGINT: the batches in flight commit,
 * then the process leaves its consumer groups and exits 0. The configuration is parsed before
 * anything opens; a bad value exits 2 naming the variable.
 *
 * With PAYFLOW_WORKERS > 1 (the default on a machine of several cores) this process keeps the
 * operations server and runs the pipeline in that many supervised worker processes
 * (app/workers.ts): `/readyz` is 200 once every worker is ready, `/metrics` carries every
 * worker's metrics labelled `worker`, and a stop stops them all.
 */
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

import { startOpsServer } from '../processors/runtime/ops-server.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';
import { configOrExit, processorsConfig, type ProcessorsConfig } from './config.js';
import { pipelineStopBoundMs, startKafkaPipeline, type KafkaPipeline } from './kafka.js';
import { Lifecycle } from './lifecycle.js';
import { forkWorker, workerBounds } from './worker.js';
import { ProcessTreeRegistry, WorkerPool } from './workers.js';

/** /metrics, /healthz and /readyz; ready while `notReady` says nothing. */
async function ownOpsServer(
  config: ProcessorsConfig,
  lifecycle: Lifecycle,
  registry: Registry,
  notReady: () => string | undefined,
): Promise<void> {
  lifecycle.own(
    'operations server',
    await startOpsServer({
      registry,
      ready: () => notReady() === undefined,
      notReadyDetail: notReady,
      ...config.ops,
    }),
    (ops) => ops.close(),
  );
}

/** PAYFLOW_WORKERS > 1: the operations server here, the pipeline in the workers. */
async function runWorkers(config: ProcessorsConfig, log: Logger, lifecycle: Lifecycle): Promise<void> {
  const metricsRegistry = new ProcessTreeRegistry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });
  const state: { workers?: WorkerPool; stopping: boolean } = { stopping: false };
  await ownOpsServer(config, lifecycle, metricsRegistry, () => {
    if (state.stopping) return 'stopping';
    const readiness = state.workers?.readiness();
    return readiness === undefined ? 'starting' : readiness.ready ? undefined : readiness.detail;
  });
  const bounds = workerBounds(config.pipeline);
  state.workers = lifecycle.own(
    'pipeline workers',
    await WorkerPool.start({
      count: config.workers,
      spawn: (workerId) =>
        forkWorker(workerId, {
          role: 'processors',
          kafka: config.kafka,
          pipeline: config.pipeline,
          logLevel: config.logLevel,
        }),
      log,
      metricsRegistry,
      startTimeoutMs: bounds.startTimeoutMs,
      stopTimeoutMs: bounds.stopTimeoutMs,
    }),
    (workers) => workers.stop(),
    { closeTimeoutMs: bounds.closeTimeoutMs },
  );
  const workers = state.workers;
  metricsRegistry.include(() => workers.workerMetrics());
  onStopSignal(log, lifecycle, () => (state.stopping = true));
}

/** SIGTERM or SIGINT: everything closes, newest first; exit 0, or 1 when something did not close. */
function onStopSignal(log: Logger, lifecycle: Lifecycle, stopping: () => void): void {
  const shutdown = (signal: string) => {
    stopping();
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

async function main(): Promise<void> {
  const config = configOrExit('payflow processors', () => processorsConfig(process.env));
  const log = pino({ name: 'payflow-processors', level: config.logLevel });
  const lifecycle = new Lifecycle({ log });
  if (config.workers > 1) {
    try {
      await runWorkers(config, log, lifecycle);
    } catch (error) {
      await lifecycle.close().catch(() => undefined);
      throw error;
    }
    log.info(
      {
        applicationId: config.kafka.applicationId,
        workers: config.workers,
        ops: `${config.ops.host}:${config.ops.port}`,
      },
      'payment pipeline running on Kafka in worker processes',
    );
    return;
  }
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'payflow_' });
  const state: { pipeline?: KafkaPipeline; stopping: boolean } = { stopping: false };
  await ownOpsServer(config, lifecycle, metricsRegistry, () => {
    if (state.stopping) return 'stopping';
    if (state.pipeline?.driver.ready === true) return undefined;
    return state.pipeline?.driver.notReadyDetail ?? 'starting';
  });
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
  onStopSignal(log, lifecycle, () => (state.stopping = true));
}

await main();
