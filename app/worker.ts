/**
 * A pipeline worker process (PAYFLOW_WORKERS > 1 in the Kafka mode), forked and supervised by
 * the main job or by `npm run processors` (app/workers.ts). Its first message from the primary
 * assigns its work: the pipeline, and under the main job also the PostgreSQL read models. It
 * reports its readiness every STATUS_INTERVAL_MS and answers metrics requests over the IPC
 * channel; logs are pino JSON on the primary's stdout with a `worker` field.
 *
 * It stops (batches in flight finish and commit, the groups are left, then exit 0) on the
 * primary's `stop`, on SIGTERM (SIGINT it leaves to the primary, which gets it too from a
 * terminal), and when its IPC channel closes: the primary is gone,
 * however it ended, and a worker never outlives it. Each stop is bounded; past the bound the
 * worker exits 1. It is not a program to start by hand.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

import { ComponentHealth } from '../processors/runtime/supervision.js';
import { parseRules, rulesDocument, type FraudRules } from '../processors/fraud/index.js';
import type { KafkaSettings, PipelineSettings, ProcessorsConfig } from './config.js';
import {
  notUpDetail,
  readModelsPool,
  startPipelineAndReadModels,
  type KafkaJobSettings,
} from './kafka-job.js';
import { pipelineStopBoundMs, startKafkaPipeline } from './kafka.js';
import { Lifecycle } from './lifecycle.js';
import type { PrimaryMessage, WorkerMessage } from './workers.js';

/** What a worker runs, sent as its first message. */
export type WorkerAssignment =
  | { readonly role: 'main-job'; readonly settings: KafkaJobSettings; readonly logLevel: string }
  | {
      readonly role: 'processors';
      readonly kafka: KafkaSettings;
      readonly pipeline: PipelineSettings;
      readonly logLevel: ProcessorsConfig['logLevel'];
    };

interface RunMessage {
  readonly type: 'run';
  readonly workerId: number;
  readonly assignment: WorkerAssignment;
}

const ENTRY = fileURLToPath(import.meta.url);
const STATUS_INTERVAL_MS = 1_000;
/** Bound on the primary's first message. */
const ASSIGNMENT_TIMEOUT_MS = 30_000;
/** Over the pipeline's stop bound, for the read models and the pool that close after it. */
const STOP_MARGIN_MS = 15_000;

/**
 * The node options a worker needs of the primary's: the module loaders (tsx) and the
 * experimental and warning switches; not, say, `--test` or `--inspect` with its port.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
  const kept: string[] = [];
  for (let index = 0; index < execArgv.length; index += 1) {
    const arg = execArgv[index]!;
    const name = arg.split('=', 1)[0]!;
    if (withValue.has(name)) {
      if (arg.includes('=')) kept.push(arg);
      else if (index + 1 < execArgv.length) kept.push(arg, execArgv[(index += 1)]!);
    } else if (/^--(experimental-|no-warnings|no-deprecation|enable-source-maps)/.test(arg)) {
      kept.push(arg);
    }
  }
  return kept;
}

/** Forks worker `workerId` on this process's node and loaders, and sends it its work. */
export function forkWorker(workerId: number, assignment: WorkerAssignment): ChildProcess {
  const child = fork(ENTRY, [], {
    execArgv: workerExecArgv(process.execArgv),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Structured clone: the assignment's settings hold bigint amounts (velocity limits).
    serialization: 'advanced',
  });
  const run: RunMessage = { type: 'run', workerId, assignment: withPipeline(assignment, clonablePipeline) };
  child.send(run);
  return child;
}

/**
 * The fraud rules hold compiled conditions (functions), which a message between processes can't
 * carry: they cross as their document and are compiled again on arrival.
 */
export function clonablePipeline(pipeline: PipelineSettings): PipelineSettings {
  const { fraud } = pipeline.processors;
  return {
    ...pipeline,
    processors: {
      ...pipeline.processors,
      fraud: { ...fraud, rules: rulesDocument(fraud.rules) as FraudRules },
    },
  };
}

export function compiledPipeline(pipeline: PipelineSettings): PipelineSettings {
  const { fraud } = pipeline.processors;
  return {
    ...pipeline,
    processors: {
      ...pipeline.processors,
      fraud: { ...fraud, rules: parseRules(fraud.rules, 'fraud rules') },
    },
  };
}

function withPipeline(
  assignment: WorkerAssignment,
  change: (pipeline: PipelineSettings) => PipelineSettings,
): WorkerAssignment {
  return assignment.role === 'main-job'
    ? { ...assignment, settings: { ...assignment.settings, pipeline: change(assignment.settings.pipeline) } }
    : { ...assignment, pipeline: change(assignment.pipeline) };
}

function send(message: WorkerMessage): void {
  try {
    process.send?.(message, undefined, {}, () => undefined);
  } catch {
    // The channel closed: the 'disconnect' handler stops the worker.
  }
}

function assignment(): Promise<RunMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no assignment from the primary within ${ASSIGNMENT_TIMEOUT_MS} ms`)),
      ASSIGNMENT_TIMEOUT_MS,
    );
    const onMessage = (message: unknown) => {
      if ((message as { type?: unknown } | null)?.type !== 'run') return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(message as RunMessage);
    };
    process.on('message', onMessage);
  });
}

interface Running {
  /** Readiness and intake, for the status report. */
  status(): Omit<Extract<WorkerMessage, { type: 'status' }>, 'type'>;
}

async function startAssigned(
  work: WorkerAssignment,
  deps: { registry: Registry; logger: Logger; health: ComponentHealth; lifecycle: Lifecycle },
): Promise<Running> {
  const { registry: metricsRegistry, logger, health, lifecycle } = deps;
  if (work.role === 'processors') {
    const pipeline = lifecycle.own(
      'pipeline',
      await startKafkaPipeline(work.kafka, work.pipeline, { metricsRegistry, logger, health }),
      (p) => p.stop(),
      { closeTimeoutMs: pipelineStopBoundMs(work.pipeline) },
    );
    return {
      status: () => {
        const detail = pipeline.driver.notReadyDetail;
        const ready = pipeline.driver.ready;
        return ready ? { ready } : { ready, notReadyDetail: detail ?? 'starting' };
      },
    };
  }
  const log = (message: string, detail: Record<string, unknown>) => logger.warn(detail, message);
  const pool = lifecycle.own('PostgreSQL pool', readModelsPool(work.settings.postgres, log), (p) => p.end());
  const { pipeline } = await startPipelineAndReadModels(work.settings, {
    metricsRegistry,
    logger,
    health,
    pool,
    lifecycle,
    log,
  });
  return {
    status: () => {
      const notUp = notUpDetail(pipeline, health);
      const intake = pipeline.driver.notReadyDetail;
      return {
        ready: notUp === undefined,
        ...(notUp === undefined ? {} : { notReadyDetail: `not up: ${notUp}` }),
        ...(intake === undefined ? {} : { intakeDetail: intake }),
      };
    },
  };
}

function stopBoundMs(work: WorkerAssignment): number {
  return (
    pipelineStopBoundMs(work.role === 'processors' ? work.pipeline : work.settings.pipeline) + STOP_MARGIN_MS
  );
}

/** Bound on registering the contracts while the registry answers errors (app/kafka.ts). */
const REGISTER_BOUND_MS = 120_000;
const START_MARGIN_MS = 60_000;
/** After the pool's stop bound, the kill and the exits it waits for. */
const KILL_MARGIN_MS = 15_000;

/**
 * The supervisor's bounds for workers of this pipeline: a first start (topics, contracts, the
 * restore of the state stores, the global tables), and a stop, just over the worker's own bound
 * (the pipeline's stop bound and the read models after it) so a worker gets to exit by itself.
 */
export function workerBounds(settings: PipelineSettings): {
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** For the primary's Lifecycle: the stop, then the kill of what is left. */
  readonly closeTimeoutMs: number;
} {
  const stopTimeoutMs = pipelineStopBoundMs(settings) + STOP_MARGIN_MS + 5_000;
  return {
    startTimeoutMs:
      REGISTER_BOUND_MS +
      settings.runtime.restoreTimeoutMs +
      settings.runtime.globalTableTimeoutMs +
      START_MARGIN_MS,
    stopTimeoutMs,
    closeTimeoutMs: stopTimeoutMs + KILL_MARGIN_MS,
  };
}

async function runWorker(): Promise<void> {
  if (process.send === undefined) {
    process.stderr.write('app/worker.ts is forked by the main job or npm run processors, not run by hand\n');
    process.exit(2);
  }
  // Until the assignment arrives, a closed channel (the primary gone) ends the process at once.
  const early = () => process.exit(0);
  process.once('disconnect', early);
  const { workerId, assignment: sent } = await assignment();
  const work = withPipeline(sent, compiledPipeline);
  const logger = pino({ name: `payflow-worker`, level: work.logLevel }).child({ worker: workerId });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'payflow_' });
  const health = new ComponentHealth({ registry, log: logger });
  const lifecycle = new Lifecycle({ log: logger });
  const timers: { status?: NodeJS.Timeout } = {};
  let stopping = false;
  const stop = (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timers.status);
    logger.info({ why }, 'pipeline worker stopping: finishing the batches in flight');
    setTimeout(() => {
      logger.error({ boundMs: stopBoundMs(work) }, 'pipeline worker did not stop within its bound');
      process.exit(1);
    }, stopBoundMs(work)).unref();
    void lifecycle.close().then(
      () => process.exit(code),
      (error: unknown) => {
        logger.error({ error }, 'pipeline worker stopping failed');
        process.exit(1);
      },
    );
  };
  process.off('disconnect', early);
  process.once('disconnect', () => stop('the primary is gone'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Ctrl-C reaches the whole process group: the primary stops the workers in order (after the
  // gateway's requests in flight), so a worker does not stop on its own for it.
  process.on('SIGINT', () => logger.info('SIGINT: the primary stops this worker'));
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'stop') stop('asked by the primary');
    else if (message.type === 'metrics-request')
      void registry
        .getMetricsAsJSON()
        .then((metrics) => send({ type: 'metrics', requestId: message.requestId, metrics }));
  });
  let running: Running;
  try {
    running = await startAssigned(work, { registry, logger, health, lifecycle });
  } catch (error) {
    logger.error({ error }, 'pipeline worker failed to start');
    stop('start-up failed', 1);
    return;
  }
  if (stopping) return;
  send({ type: 'started' });
  const report = () => send({ type: 'status', ...running.status() });
  report();
  timers.status = setInterval(report, STATUS_INTERVAL_MS);
  logger.info(
    {
      applicationId:
        work.role === 'processors' ? work.kafka.applicationId : work.settings.kafka.applicationId,
      role: work.role,
    },
    'pipeline worker running',
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await runWorker();
