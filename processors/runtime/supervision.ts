/**
 * Supervision of a process's long-running parts (processor runners, global tables, read models,
 * the broker connection), after Kafka Streams replacing a dead stream thread and Kafka Connect
 * marking a task FAILED:
 *
 * - `ComponentHealth` is the one place a process keeps what is up: each component is `starting`,
 *   `up` or `down` (with the reason). `/readyz` answers from it and names what is not up; the gauge
 *   `payflow_component_up{component}` says 1 or 0; a component going down and coming back is
 *   logged (`component down` with the reason, `component recovered` with how long it was down).
 * - `Supervisor` keeps one component running: when it crashes — any client error, including the
 *   ones kafkajs calls non-retriable and never restarts itself — the supervisor stops what is
 *   left of it and starts it again after a capped exponential backoff, for as long as it takes.
 *   Restarts are counted in `payflow_component_restarts_total{component}`.
 * - A component that stopped part of its work on a program error (a processor's partition, see
 *   task.ts TaskFailedError) reports `failed`: not up, logged as an error, and not restarted —
 *   restarting would only hit the same record again. It stays failed until its next run (a
 *   restart after a crash, or the process restarted with a fix).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type ComponentState = 'starting' | 'up' | 'down' | 'failed';

export interface ComponentStatus {
  readonly component: string;
  readonly state: ComponentState;
  readonly reason: string | null;
}

/** The pino calls health transitions are logged with (a failure is an error; without `error`, a warning). */
export interface HealthLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  error?(fields: Record<string, unknown>, message: string): void;
}

/** A reason is a sentence, not a stack trace. */
const MAX_REASON_CHARS = 500;

export function reasonOf(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, MAX_REASON_CHARS);
}

interface Entry {
  state: ComponentState;
  reason: string | null;
  /** When the component last went down, while it is not up again. */
  downSinceMs: number | null;
}

export class ComponentHealth {
  readonly #components = new Map<string, Entry>();
  readonly #log: HealthLog | undefined;
  readonly #now: () => number;
  readonly #up: Gauge<'component'> | undefined;

  constructor(
    options: { readonly registry?: Registry; readonly log?: HealthLog; readonly now?: () => number } = {},
  ) {
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    const registry = options.registry;
    if (registry !== undefined) {
      this.#up =
        (registry.getSingleMetric('payflow_component_up') as Gauge<'component'> | undefined) ??
        new Gauge({
          name: 'payflow_component_up',
          help: 'Whether a component of the process is running (1) or starting / down (0)',
          labelNames: ['component'],
          registers: [registry],
        });
    }
  }

  report(component: string, state: ComponentState, reason: string | null = null): void {
    const entry = this.#components.get(component) ?? { state: 'starting', reason: null, downSinceMs: null };
    const was = this.#components.has(component) ? entry.state : undefined;
    entry.state = state;
    entry.reason = state === 'up' ? null : reason;
    if (state === 'failed' && was !== 'failed') {
      entry.downSinceMs ??= this.#now();
      if (this.#log?.error !== undefined) this.#log.error({ component, reason }, 'component failed');
      else this.#log?.warn({ component, reason }, 'component failed');
    }
    if (state === 'down' && was !== 'down') {
      entry.downSinceMs ??= this.#now();
      this.#log?.warn({ component, reason }, 'component down');
    }
    if (state === 'up' && entry.downSinceMs !== null) {
      this.#log?.warn({ component, downMs: this.#now() - entry.downSinceMs }, 'component recovered');
      entry.downSinceMs = null;
    }
    this.#components.set(component, entry);
    this.#up?.set({ component }, state === 'up' ? 1 : 0);
  }

  /** Forgets a component that was stopped on purpose. */
  remove(component: string): void {
    this.#components.delete(component);
    this.#up?.remove({ component });
  }

  status(component: string): ComponentStatus | undefined {
    const entry = this.#components.get(component);
    return entry === undefined ? undefined : { component, state: entry.state, reason: entry.reason };
  }

  /** Components not up, optionally only those whose name starts with one of `prefixes`. */
  notUp(prefixes?: readonly string[]): ComponentStatus[] {
    return [...this.#components]
      .filter(([name, entry]) => entry.state !== 'up' && (prefixes?.some((p) => name.startsWith(p)) ?? true))
      .map(([component, entry]) => ({ component, state: entry.state, reason: entry.reason }));
  }

  /** One line naming what is not up, for /readyz and 503 answers; undefined when all is up. */
  describeNotUp(prefixes?: readonly string[]): string | undefined {
    const notUp = this.notUp(prefixes);
    if (notUp.length === 0) return undefined;
    return notUp
      .map(({ component, state, reason }) => `${component} ${state}${reason === null ? '' : ` (${reason})`}`)
      .join('; ');
  }
}

/**
 * Capped exponential backoff, the one retry setting of the runtime and the read models: the first
 * retry waits `initialDelayMs`, each next one twice as long, up to `maxDelayMs`. A supervisor's
 * restarts and a read model waiting out its target retry for as long as it takes.
 */
export interface BackoffPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** A backoff that gives up: a processor task retries a record `maxRetries` times (0: never), then dead-letters it. */
export interface BoundedBackoffPolicy extends BackoffPolicy {
  readonly maxRetries: number;
}

export const DEFAULT_RESTART_BACKOFF: BackoffPolicy = { initialDelayMs: 250, maxDelayMs: 5_000 };

export function backoffDelayMs(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

/** What a component tells its supervisor; calls from a run that was already replaced are ignored. */
export interface SupervisorHooks {
  /** The component is serving (e.g. its consumer joined the group). */
  up(): void;
  /** The component failed and is to be restarted. */
  crashed(error: unknown): void;
  /**
   * Part of the component stopped on a program error: it is reported `failed` (not up) for the
   * rest of this run, and not restarted for it.
   */
  failed(error: unknown): void;
}

export interface SupervisedRun {
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  readonly component: string;
  readonly health: ComponentHealth;
  readonly start: (hooks: SupervisorHooks) => Promise<SupervisedRun>;
  readonly backoff?: BackoffPolicy;
  /** Bound on stopping a crashed run before the next one starts. */
  readonly stopTimeoutMs?: number;
  readonly registry?: Registry;
}

/** Above the runners' own bound on a stuck batch (the 30 s transaction timeout), with a margin. */
export const DEFAULT_STOP_TIMEOUT_MS = 45_000;

function restartsCounter(registry: Registry | undefined): Counter<'component'> | undefined {
  if (registry === undefined) return undefined;
  return (
    (registry.getSingleMetric('payflow_component_restarts_total') as Counter<'component'> | undefined) ??
    new Counter({
      name: 'payflow_component_restarts_total',
      help: 'Restarts of a component after it crashed',
      labelNames: ['component'],
      registers: [registry],
    })
  );
}

async function bounded(work: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #restarts: Counter<'component'> | undefined;
  #run: SupervisedRun | undefined;
  #generation = 0;
  #stopping = false;
  #restarting: Promise<void> | undefined;
  /** A start or restart is under way. */
  #busy = false;
  /** The current run's crash, not yet handled. */
  #crash: { readonly error: unknown } | undefined;
  #wake: (() => void) | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#restarts = restartsCounter(options.registry);
  }

  /** The first start; throws (and stays stopped) if it fails, as a process start-up should. */
  async start(): Promise<void> {
    this.#busy = true;
    let run: SupervisedRun;
    try {
      run = await this.#startOnce();
    } finally {
      this.#busy = false;
    }
    if (this.#stopping) {
      await run.stop().catch(() => undefined);
      return;
    }
    this.#run = run;
    this.#restartIfCrashed();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#generation += 1;
    this.#wake?.();
    await this.#restarting;
    const run = this.#run;
    this.#run = undefined;
    if (run !== undefined) await bounded(run.stop(), this.#options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    this.#options.health.remove(this.#options.component);
  }

  #startOnce(): Promise<SupervisedRun> {
    const { component, health } = this.#options;
    const generation = ++this.#generation;
    const current = () => generation === this.#generation && !this.#stopping;
    let failed = false;
    health.report(component, 'starting');
    return this.#options.start({
      up: () => {
        if (current() && !failed) health.report(component, 'up');
      },
      failed: (error) => {
        if (!current()) return;
        failed = true;
        health.report(component, 'failed', reasonOf(error));
      },
      crashed: (error) => {
        if (!current()) return;
        this.#crash ??= { error };
        // A crash while a start is under way is handled once that start has returned.
        if (!this.#busy) this.#restartIfCrashed();
      },
    });
  }

  #restartIfCrashed(): void {
    const crash = this.#crash;
    if (crash === undefined || this.#stopping) return;
    this.#crash = undefined;
    this.#busy = true;
    this.#restarting = this.#restart(crash.error).finally(() => {
      this.#busy = false;
      this.#restarting = undefined;
      this.#restartIfCrashed();
    });
  }

  async #restart(error: unknown): Promise<void> {
    const { component, health } = this.#options;
    health.report(component, 'down', reasonOf(error));
    this.#restarts?.inc({ component });
    const crashed = this.#run;
    this.#run = undefined;
    if (crashed !== undefined)
      await bounded(crashed.stop(), this.#options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    for (let attempt = 1; !this.#stopping; attempt += 1) {
      await this.#sleep(backoffDelayMs(this.#options.backoff ?? DEFAULT_RESTART_BACKOFF, attempt));
      if (this.#stopping) return;
      // A crash the replaced run reported after this restart began is moot.
      this.#crash = undefined;
      try {
        this.#run = await this.#startOnce();
        if (this.#stopping) {
          const run = this.#run;
          this.#run = undefined;
          await run.stop().catch(() => undefined);
        }
        return;
      } catch (startError) {
        health.report(component, 'down', reasonOf(startError));
        this.#crash = undefined;
      }
    }
  }

  #sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, delayMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
