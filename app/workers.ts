/**
 * Pipeline worker processes (PAYFLOW_WORKERS in the Kafka mode): the primary process forks them,
 * each runs the pipeline (and, under the main job, the read models) as a full member of every
 * consumer group, so the partitions spread over the cores. The primary supervises them:
 *
 * - A worker that exits while the pool is not stopping is forked again after a capped backoff
 *   (1 s doubling to 30 s; back to 1 s once a worker ran 60 s), counted in
 *   `payflow_worker_restarts_total{worker}`. Its partitions move to the other workers meanwhile
 *   (the groups rebalance); each partition task's transactional producer fences the dead one's.
 * - `stop()` asks every worker to stop (they finish their batches in flight, commit and leave
 *   their groups) and kills those still running at the stop bound.
 * - A worker never outlives the primary: it stops when its IPC channel closes, which happens
 *   however the primary ends, SIGKILL included (app/worker.ts).
 * - Each worker reports its readiness over IPC every STATUS_INTERVAL_MS; a report older than
 *   STATUS_STALE_MS counts as not ready. `/metrics` of the primary asks every worker for its
 *   registry and serves them with its own, each worker's samples labelled `worker`.
 *
 * The start of the pool forks the first worker alone and the others once it has started, so
 * only one process creates the topics and registers the contracts on a fresh cluster.
 */
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  Counter,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';

/** A worker's registry as `getMetricsAsJSON` gives it, as data (the IPC channel drops functions). */
export type WorkerMetrics = Omit<MetricObjectWithValues<MetricValue<string>>, 'collect'>[];

/** What a worker tells the primary. */
export type WorkerMessage =
  | { readonly type: 'started' }
  | {
      readonly type: 'status';
      readonly ready: boolean;
      /** What is not up, when not ready. */
      readonly notReadyDetail?: string;
      /** Set while the log or a processor can't take new commands. */
      readonly intakeDetail?: string;
    }
  | { readonly type: 'metrics'; readonly requestId: number; readonly metrics: WorkerMetrics };

/** What the primary tells a worker. */
export type PrimaryMessage =
  { readonly type: 'metrics-request'; readonly requestId: number } | { readonly type: 'stop' };

/** The part of a forked ChildProcess the pool uses. */
export interface WorkerChild {
  readonly pid?: number | undefined;
  send(message: PrimaryMessage): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', listener: (message: unknown) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  /** A fork that failed, or a message that could not be sent (its channel closed). */
  on(event: 'error', listener: (error: Error) => void): this;
}

export interface WorkerPoolOptions {
  readonly count: number;
  /** Forks worker `workerId` (1-based). */
  readonly spawn: (workerId: number) => WorkerChild;
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly metricsRegistry: Registry;
  /** Bound on the first start of each worker; one that has not started by then fails the start. */
  readonly startTimeoutMs: number;
  /** Bound on stopping every worker; those still running then are killed. */
  readonly stopTimeoutMs: number;
  readonly restart?: RestartPolicy;
  readonly statusStaleMs?: number;
  readonly metricsTimeoutMs?: number;
}

export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A worker that ran this long before it exited is restarted after the initial delay again. */
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
};
const STATUS_STALE_MS = 5_000;
const METRICS_TIMEOUT_MS = 3_000;
/** Bound on the scrapes waiting for one worker's metrics (each also times out). */
const MAX_PENDING_METRICS = 16;
/** After the stop bound, SIGKILL; then this long for the exit to be seen. */
const KILL_WAIT_MS = 5_000;

/** The delay before restart number `failures` (1-based) of a worker. */
export function restartDelayMs(policy: RestartPolicy, failures: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

interface Status {
  readonly at: number;
  readonly ready: boolean;
  readonly notReadyDetail: string | undefined;
  readonly intakeDetail: string | undefined;
}

interface Slot {
  readonly id: number;
  child: WorkerChild | undefined;
  /** forked and not yet started / running / waiting to be forked again / stopped. */
  state: 'starting' | 'running' | 'restarting' | 'stopped';
  forkedAt: number;
  failures: number;
  status: Status | undefined;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  readonly pendingMetrics: Map<number, (metrics: WorkerMetrics | undefined) => void>;
}

function isWorkerMessage(message: unknown): message is WorkerMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string'
  );
}

function restartCounter(registry: Registry): Counter {
  const name = 'payflow_worker_restarts_total';
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({
      name,
      help: 'Pipeline worker processes forked again after one exited',
      labelNames: ['worker'],
      registers: [registry],
    })
  );
}

export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #policy: RestartPolicy;
  readonly #slots: Slot[];
  readonly #restarts: Counter;
  #stopping: Promise<void> | undefined;
  #requestIds = 0;
  #restartCount = 0;
  /** Set once every worker has started: before, an exit fails the start instead of a restart. */
  #started = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#policy = options.restart ?? DEFAULT_RESTART_POLICY;
    this.#restarts = restartCounter(options.metricsRegistry);
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      id: index + 1,
      child: undefined,
      state: 'stopped',
      forkedAt: 0,
      failures: 0,
      status: undefined,
      timer: undefined,
      exited: Promise.resolve(),
      pendingMetrics: new Map(),
    }));
  }

  /**
   * Forks the workers and resolves once every one has started; a worker that exits or does not
   * start within the bound fails the start (the others are stopped first).
   */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!Number.isInteger(options.count) || options.count < 1) throw new Error('a pool needs a worker');
    const pool = new WorkerPool(options);
    try {
      const [first, ...rest] = pool.#slots;
      await pool.#firstStart(first!);
      await Promise.all(rest.map((slot) => pool.#firstStart(slot)));
      pool.#started = true;
    } catch (error) {
      await pool.stop();
      throw error;
    }
    return pool;
  }

  /** The pids of the workers running now. */
  get pids(): readonly number[] {
    return this.#slots.flatMap((slot) => (slot.child?.pid === undefined ? [] : [slot.child.pid]));
  }

  /** Workers forked again so far, all together. */
  get restarts(): number {
    return this.#restartCount;
  }

  /** Ready when every worker is running and its last report, fresh, says ready. */
  readiness(now = Date.now()): { ready: true } | { ready: false; detail: string } {
    const problems = this.#slots.flatMap((slot) => {
      const problem = this.#notReady(slot, now);
      return problem === undefined ? [] : [`worker ${slot.id}: ${problem}`];
    });
    return problems.length === 0 ? { ready: true } : { ready: false, detail: problems.join('; ') };
  }

  /**
   * New commands are refused while no worker runs, or a running worker reports that the log or
   * a processor can't take them. A worker being restarted is not waited for: the others take
   * its partitions.
   */
  intake(now = Date.now()): { accepting: true } | { accepting: false; detail: string } {
    const running = this.#slots.filter(
      (slot) =>
        slot.state === 'running' && slot.status !== undefined && now - slot.status.at <= this.#staleMs,
    );
    if (running.length === 0) return { accepting: false, detail: 'no pipeline worker is running' };
    const refusing = running.filter((slot) => slot.status!.intakeDetail !== undefined);
    if (refusing.length === 0) return { accepting: true };
    return {
      accepting: false,
      detail: refusing.map((slot) => `worker ${slot.id}: ${slot.status!.intakeDetail!}`).join('; '),
    };
  }

  /** Every running worker's metrics, each sample labelled with its worker; a silent worker is left out. */
  async workerMetrics(): Promise<WorkerMetrics[]> {
    const answers = await Promise.all(this.#slots.map((slot) => this.#metricsOf(slot)));
    return answers.flatMap((metrics, index) =>
      metrics === undefined ? [] : [labelled(metrics, String(this.#slots[index]!.id))],
    );
  }

  /** Asks every worker to stop; kills those still running at the stop bound. The same promise for every caller. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  get #staleMs(): number {
    return this.#options.statusStaleMs ?? STATUS_STALE_MS;
  }

  #notReady(slot: Slot, now: number): string | undefined {
    if (slot.state === 'restarting') return 'restarting';
    if (slot.state === 'stopped') return 'stopped';
    if (slot.state === 'starting') return 'starting';
    if (slot.status === undefined) return 'no status yet';
    const ageMs = now - slot.status.at;
    if (ageMs > this.#staleMs) return `no status for ${ageMs} ms`;
    return slot.status.ready ? undefined : (slot.status.notReadyDetail ?? 'not ready');
  }

  async #firstStart(slot: Slot): Promise<void> {
    const started = this.#fork(slot);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`worker ${slot.id} did not start within ${this.#options.startTimeoutMs} ms`)),
        this.#options.startTimeoutMs,
      );
    });
    try {
      await Promise.race([started, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forks the slot's worker; resolves once it reports started, rejects when it exits first. */
  #fork(slot: Slot): Promise<void> {
    const child = this.#options.spawn(slot.id);
    slot.child = child;
    slot.state = 'starting';
    slot.status = undefined;
    slot.forkedAt = Date.now();
    let resolveExit!: () => void;
    slot.exited = new Promise((resolve) => (resolveExit = resolve));
    return new Promise<void>((resolve, reject) => {
      child.on('message', (message) => {
        if (!isWorkerMessage(message) || slot.child !== child) return;
        if (message.type === 'started') {
          slot.state = 'running';
          this.#options.log.info({ worker: slot.id, workerPid: child.pid }, 'pipeline worker started');
          resolve();
        } else if (message.type === 'status') {
          slot.status = {
            at: Date.now(),
            ready: message.ready,
            notReadyDetail: message.notReadyDetail,
            intakeDetail: message.intakeDetail,
          };
        } else if (message.type === 'metrics') {
          slot.pendingMetrics.get(message.requestId)?.(message.metrics);
        }
      });
      child.on('error', (error) => {
        if (slot.child === child)
          this.#options.log.warn({ worker: slot.id, error: error.message }, 'pipeline worker channel error');
      });
      child.on('exit', (code, signal) => {
        resolveExit();
        if (slot.child !== child) return;
        const wasStarting = slot.state === 'starting';
        slot.child = undefined;
        slot.status = undefined;
        for (const answer of slot.pendingMetrics.values()) answer(undefined);
        slot.pendingMetrics.clear();
        reject(new Error(`worker ${slot.id} exited with ${code ?? signal} before it started`));
        if (this.#stopping !== undefined || !this.#started) {
          slot.state = 'stopped';
          return;
        }
        this.#scheduleRestart(slot, { code, signal, wasStarting });
      });
    });
  }

  #scheduleRestart(
    slot: Slot,
    exit: { code: number | null; signal: NodeJS.Signals | null; wasStarting: boolean },
  ): void {
    if (Date.now() - slot.forkedAt >= this.#policy.stableAfterMs) slot.failures = 0;
    slot.failures += 1;
    slot.state = 'restarting';
    const delayMs = restartDelayMs(this.#policy, slot.failures);
    this.#options.log.warn(
      { worker: slot.id, code: exit.code, signal: exit.signal, duringStart: exit.wasStarting, delayMs },
      'pipeline worker exited; forking it again',
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.#stopping !== undefined) return;
      this.#restarts.inc({ worker: String(slot.id) });
      this.#restartCount += 1;
      // A restart that fails is one more exit, handled (and retried) like the first.
      this.#fork(slot).catch(() => undefined);
    }, delayMs);
  }

  #metricsOf(slot: Slot): Promise<WorkerMetrics | undefined> {
    const child = slot.child;
    if (child === undefined || slot.state !== 'running' || slot.pendingMetrics.size >= MAX_PENDING_METRICS)
      return Promise.resolve(undefined);
    const requestId = (this.#requestIds += 1);
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(undefined), this.#options.metricsTimeoutMs ?? METRICS_TIMEOUT_MS);
      const answer = (metrics: WorkerMetrics | undefined) => {
        clearTimeout(timer);
        slot.pendingMetrics.delete(requestId);
        resolve(metrics);
      };
      slot.pendingMetrics.set(requestId, answer);
      if (!sendSafely(child, { type: 'metrics-request', requestId })) answer(undefined);
    });
  }

  async #stopAll(): Promise<void> {
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
      if (slot.child === undefined) slot.state = 'stopped';
      else sendSafely(slot.child, { type: 'stop' });
    }
    const all = Promise.all(this.#slots.map((slot) => slot.exited));
    if (await settlesWithin(all, this.#options.stopTimeoutMs)) return;
    const stuck = this.#slots.filter((slot) => slot.child !== undefined);
    this.#options.log.error(
      { workers: stuck.map((slot) => slot.id), stopTimeoutMs: this.#options.stopTimeoutMs },
      'pipeline workers did not stop within the bound; killing them',
    );
    for (const slot of stuck) slot.child?.kill('SIGKILL');
    await settlesWithin(all, KILL_WAIT_MS);
  }
}

/** `send` that reports a closed channel as false instead of throwing. */
function sendSafely(child: WorkerChild, message: PrimaryMessage): boolean {
  try {
    return child.send(message);
  } catch {
    return false;
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A worker's metrics with `worker` on every sample, passed through the aggregation unchanged. */
function labelled(metrics: WorkerMetrics, worker: string): WorkerMetrics {
  return metrics.map((metric) => ({
    ...metric,
    aggregator: 'first',
    values: metric.values.map((value) => ({ ...value, labels: { ...value.labels, worker } })),
  }));
}

/**
 * The primary's registry: its own metrics and, once `include` names a source, every worker's,
 * in one exposition (a metric family the primary and the workers share is one family, the
 * workers' samples told apart by their `worker` label).
 */
export class ProcessTreeRegistry extends Registry {
  #workers: (() => Promise<WorkerMetrics[]>) | undefined;

  include(workers: () => Promise<WorkerMetrics[]>): void {
    this.#workers = workers;
  }

  override async metrics(): Promise<string> {
    const workers = this.#workers;
    if (workers === undefined) return super.metrics();
    const own = (await this.getMetricsAsJSON()).map((metric) => ({
      ...metric,
      aggregator: 'first' as const,
    }));
    return AggregatorRegistry.aggregate([own, ...(await workers())]).metrics();
  }
}
