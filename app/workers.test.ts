import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';

import { Counter, Gauge, Registry } from 'prom-client';

import { workerExecArgv } from './worker.js';
import {
  ProcessTreeRegistry,
  restartDelayMs,
  WorkerPool,
  type PrimaryMessage,
  type WorkerChild,
  type WorkerMessage,
  type WorkerPoolOptions,
} from './workers.js';

/** A worker process as the pool sees it: messages in and out, an exit when told or killed. */
class FakeWorker extends EventEmitter implements WorkerChild {
  static #pids = 1_000;
  readonly pid = (FakeWorker.#pids += 1);
  readonly received: PrimaryMessage[] = [];
  readonly signals: NodeJS.Signals[] = [];
  exited = false;

  constructor(
    readonly workerId: number,
    private readonly behaviour: { readonly obeysStop: boolean },
  ) {
    super();
  }

  send(message: PrimaryMessage): boolean {
    if (this.exited) throw new Error('channel closed');
    this.received.push(message);
    if (message.type === 'stop' && this.behaviour.obeysStop) setImmediate(() => this.exit(0, null));
    if (message.type === 'metrics-request') {
      const registry = new Registry();
      new Gauge({
        name: 'payflow_component_up',
        help: 'up',
        labelNames: ['component'],
        registers: [registry],
      }).set({ component: 'kafka' }, 1);
      void registry
        .getMetricsAsJSON()
        .then((metrics) => this.tell({ type: 'metrics', requestId: message.requestId, metrics }));
    }
    return true;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    setImmediate(() => this.exit(null, signal));
    return true;
  }

  tell(message: WorkerMessage): void {
    this.emit('message', message);
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal);
  }
}

interface Fixture {
  readonly forked: FakeWorker[];
  readonly registry: Registry;
  readonly options: WorkerPoolOptions;
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Workers that report started (and ready) as soon as they are forked, unless `autoStart` is false. */
function fixture(
  overrides: Partial<WorkerPoolOptions> & { autoStart?: boolean; obeysStop?: boolean } = {},
): Fixture {
  const forked: FakeWorker[] = [];
  const registry = new Registry();
  const options: WorkerPoolOptions = {
    count: 2,
    log: quiet,
    metricsRegistry: registry,
    startTimeoutMs: 2_000,
    stopTimeoutMs: 2_000,
    restart: { initialDelayMs: 10, maxDelayMs: 40, stableAfterMs: 60_000 },
    spawn: (workerId) => {
      const child = new FakeWorker(workerId, { obeysStop: overrides.obeysStop ?? true });
      forked.push(child);
      if (overrides.autoStart ?? true)
        setImmediate(() => {
          child.tell({ type: 'started' });
          child.tell({ type: 'status', ready: true });
        });
      return child;
    },
    ...overrides,
  };
  return { forked, registry, options };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function restartsMetric(registry: Registry): Promise<Record<string, number>> {
  const counter = registry.getSingleMetric('payflow_worker_restarts_total') as Counter;
  const { values } = await counter.get();
  return Object.fromEntries(values.map((value) => [String(value.labels.worker), value.value]));
}

describe('the pipeline worker pool', () => {
  test('the first worker starts alone, the others once it has started, and start resolves when all have', async () => {
    const { forked, options } = fixture({ count: 3, autoStart: false });
    const starting = WorkerPool.start(options);
    await until('the first fork', () => forked.length === 1);
    await sleep(20);
    assert.equal(forked.length, 1, 'no other worker before the first has started');
    forked[0]!.tell({ type: 'started' });
    await until('the other forks', () => forked.length === 3);
    forked[1]!.tell({ type: 'started' });
    forked[2]!.tell({ type: 'started' });
    const pool = await starting;
    assert.deepEqual(
      forked.map((child) => child.workerId),
      [1, 2, 3],
    );
    assert.deepEqual(
      pool.pids,
      forked.map((child) => child.pid),
    );
    await pool.stop();
  });

  test('a worker that exits before it started fails the start, and the workers already forked are stopped', async () => {
    const { forked, options } = fixture({ autoStart: false });
    const starting = WorkerPool.start(options);
    await until('the first fork', () => forked.length === 1);
    forked[0]!.exit(1, null);
    await assert.rejects(starting, /worker 1 exited with 1 before it started/);
    await sleep(30);
    assert.equal(forked.length, 1, 'no worker is forked again once the start failed');
  });

  test('a worker that does not start within the bound fails the start and is killed', async () => {
    const { forked, options } = fixture({ autoStart: false, startTimeoutMs: 30, stopTimeoutMs: 30 });
    await assert.rejects(WorkerPool.start(options), /worker 1 did not start within 30 ms/);
    assert.equal(forked[0]!.received.at(-1)?.type, 'stop');
  });

  test('a worker that dies is forked again after the backoff, each restart counted in payflow_worker_restarts_total', async () => {
    const { forked, options, registry } = fixture();
    const pool = await WorkerPool.start(options);
    forked[1]!.exit(null, 'SIGKILL');
    await until('the restart', () => forked.length === 3);
    assert.equal(forked[2]!.workerId, 2, 'the same worker id is forked again');
    await until('it started', () => pool.readiness().ready);
    forked[2]!.exit(1, null);
    await until('the second restart', () => forked.length === 4);
    assert.equal(pool.restarts, 2);
    assert.deepEqual(await restartsMetric(registry), { '2': 2 });
    await pool.stop();
  });

  test('the restart delay doubles from the initial delay and is capped', () => {
    const policy = { initialDelayMs: 1_000, maxDelayMs: 30_000, stableAfterMs: 60_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 50].map((failures) => restartDelayMs(policy, failures)),
      [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  test('a worker that keeps dying is forked again at the capped delay, never faster', async () => {
    const { forked, options } = fixture({
      restart: { initialDelayMs: 20, maxDelayMs: 40, stableAfterMs: 60_000 },
    });
    const pool = await WorkerPool.start(options);
    const forkTimes: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      const victim = forked.at(-1)!;
      await until('it started', () => pool.readiness().ready);
      victim.exit(1, null);
      const count = forked.length;
      await until('the restart', () => forked.length === count + 1);
      forkTimes.push(Date.now());
    }
    const gaps = forkTimes.slice(1).map((at, index) => at - forkTimes[index]!);
    assert.ok(
      gaps.every((gap) => gap >= 35),
      `restarts at least the capped delay apart: ${gaps.join(', ')} ms`,
    );
    await pool.stop();
  });

  test('readiness is ready only while every worker runs and its last fresh report says ready, and names the worker that is not', async () => {
    const { forked, options } = fixture({ statusStaleMs: 1_000 });
    const pool = await WorkerPool.start(options);
    assert.deepEqual(pool.readiness(), { ready: true });
    forked[0]!.tell({ type: 'status', ready: false, notReadyDetail: 'not up: subtopology:payments' });
    assert.deepEqual(pool.readiness(), { ready: false, detail: 'worker 1: not up: subtopology:payments' });
    forked[0]!.tell({ type: 'status', ready: true });
    const later = Date.now() + 5_000;
    assert.match(
      (pool.readiness(later) as { detail: string }).detail,
      /^worker 1: no status for \d+ ms; worker 2: no status for \d+ ms$/,
    );
    forked[1]!.exit(null, 'SIGKILL');
    assert.deepEqual(pool.readiness(), { ready: false, detail: 'worker 2: restarting' });
    await pool.stop();
  });

  test('intake is refused while no worker runs or a running worker says the log cannot take commands, not while one is being restarted', async () => {
    const { forked, options } = fixture({
      restart: { initialDelayMs: 500, maxDelayMs: 500, stableAfterMs: 60_000 },
    });
    const pool = await WorkerPool.start(options);
    assert.deepEqual(pool.intake(), { accepting: true });
    forked[0]!.exit(null, 'SIGKILL');
    assert.deepEqual(pool.intake(), { accepting: true }, 'the other worker takes the partitions');
    forked[1]!.tell({ type: 'status', ready: false, intakeDetail: 'kafka: broker unreachable' });
    assert.deepEqual(pool.intake(), { accepting: false, detail: 'worker 2: kafka: broker unreachable' });
    forked[1]!.exit(null, 'SIGKILL');
    assert.deepEqual(pool.intake(), { accepting: false, detail: 'no pipeline worker is running' });
    await pool.stop();
  });

  test('stop asks every worker to stop and resolves once they exited; none is forked again', async () => {
    const { forked, options } = fixture();
    const pool = await WorkerPool.start(options);
    await Promise.all([pool.stop(), pool.stop()]);
    assert.ok(forked.every((child) => child.exited && child.received.some((m) => m.type === 'stop')));
    assert.ok(
      forked.every((child) => child.signals.length === 0),
      'no worker needed a kill',
    );
    await sleep(30);
    assert.equal(forked.length, 2);
  });

  test('a worker that does not stop within the stop bound is killed with SIGKILL', async () => {
    const { forked, options } = fixture({ obeysStop: false, stopTimeoutMs: 50 });
    const pool = await WorkerPool.start(options);
    const began = Date.now();
    await pool.stop();
    assert.ok(Date.now() - began < 1_000, 'the stop is bounded');
    assert.deepEqual(
      forked.map((child) => child.signals),
      [['SIGKILL'], ['SIGKILL']],
    );
  });

  test('a worker waiting for its restart when the pool stops is not forked again', async () => {
    const { forked, options } = fixture({
      restart: { initialDelayMs: 50, maxDelayMs: 50, stableAfterMs: 60_000 },
    });
    const pool = await WorkerPool.start(options);
    forked[0]!.exit(null, 'SIGKILL');
    await pool.stop();
    await sleep(100);
    assert.equal(forked.length, 2);
  });

  test('the primary serves its own metrics and every worker’s in one exposition, each worker’s samples labelled worker', async () => {
    const registry = new ProcessTreeRegistry();
    new Counter({
      name: 'payflow_worker_restarts_total',
      help: 'restarts',
      labelNames: ['worker'],
      registers: [registry],
    });
    new Counter({ name: 'payflow_gateway_http_requests_total', help: 'requests', registers: [registry] }).inc(
      3,
    );
    const { options } = fixture({ metricsRegistry: registry });
    const pool = await WorkerPool.start(options);
    registry.include(() => pool.workerMetrics());
    const text = await registry.metrics();
    assert.match(text, /^payflow_gateway_http_requests_total 3$/m);
    assert.match(text, /^payflow_component_up\{component="kafka",worker="1"\} 1$/m);
    assert.match(text, /^payflow_component_up\{component="kafka",worker="2"\} 1$/m);
    assert.equal(text.match(/^# TYPE payflow_component_up gauge$/gm)?.length, 1, 'one family');
    await pool.stop();
  });

  test('a worker keeps the loader options of the primary, not its test runner or inspector options', () => {
    assert.deepEqual(
      workerExecArgv([
        '--require',
        '/x/tsx/preflight.cjs',
        '--import',
        'file:///x/tsx/loader.mjs',
        '--import=tsx',
        '--test',
        '--test-reporter=spec',
        '--inspect=9229',
        '--no-warnings',
        '--experimental-vm-modules',
      ]),
      [
        '--require',
        '/x/tsx/preflight.cjs',
        '--import',
        'file:///x/tsx/loader.mjs',
        '--import=tsx',
        '--no-warnings',
        '--experimental-vm-modules',
      ],
    );
  });
});
