/**
 * The main job (app/main.ts) as a child process of the benchmark, as it is deployed: its own event
 * loop, apart from the load generator's. Started with `node --import tsx app/main.ts` (plus
 * bench/job-guard.ts, which stops it should the benchmark die), ready once `GET /readyz` answers
 * 200, stopped with SIGTERM and, when that takes too long, SIGKILL.
 *
 * In the Kafka mode the job runs its pipeline in PAYFLOW_WORKERS worker processes (the
 * benchmark's own PAYFLOW_WORKERS is passed on; else the job's default, the cores), and so are
 * PAYFLOW_COMMIT_INTERVAL_MS and PAYFLOW_MAX_RECORDS_PER_TRANSACTION, to measure the runtime's
 * commit policy. The
 * benchmark records every process of the job's tree (pid and start time) whenever it looks at
 * it, counts their CPU time together, and after the stop kills any recorded one still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import { REPO_ROOT, type StackServices } from './config.js';
import { BenchError, Deadline, sleep, withTimeout } from './limits.js';
import { descendants, processIdentity, stillRunning, treeCpuMs, type ProcessIdentity } from './machine.js';

const GUARD = fileURLToPath(new URL('./job-guard.ts', import.meta.url));
const STOP_GRACE_MS = 30_000;
const KILL_WAIT_MS = 5_000;
const READY_TIMEOUT_MS = 120_000;
const OUTPUT_TAIL_LINES = 40;
/** The benchmark's own variables the job is given as they are. */
const PASSED_ON = [
  'PAYFLOW_WORKERS',
  'PAYFLOW_COMMIT_INTERVAL_MS',
  'PAYFLOW_MAX_RECORDS_PER_TRANSACTION',
  // The read side beyond PostgreSQL, to measure its lag too (PAYFLOW_PROJECTIONS=postgres,elasticsearch,archive).
  'PAYFLOW_PROJECTIONS',
  'PAYFLOW_ELASTICSEARCH_URL',
  'PAYFLOW_S3_ENDPOINT',
  'PAYFLOW_S3_REGION',
  'PAYFLOW_S3_ACCESS_KEY_ID',
  'PAYFLOW_S3_SECRET_ACCESS_KEY',
  'PAYFLOW_ARCHIVE_BUCKET',
] as const;

/** Where the main job's queues and clocks must not be the limit of a benchmark. */
const GATEWAY_LIMITS = {
  PAYFLOW_LOG_LEVEL: 'warn',
  PAYFLOW_RATE_LIMITS_FILE: fileURLToPath(new URL('../gateway/load-test-rate-limits.json', import.meta.url)),
  PAYFLOW_HTTP_MAX_IN_FLIGHT: '10000',
  PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '60000',
  // A few senders carry the whole load: the tier limits would refuse it.
  PAYFLOW_VELOCITY_LIMITS_FILE: fileURLToPath(
    new URL('../processors/velocity/load-test-limits.json', import.meta.url),
  ),
} as const;

export type JobMode = 'kafka' | 'embedded';

export interface JobOptions {
  readonly mode: JobMode;
  readonly brokers: readonly string[];
  /** Required in the Kafka mode. */
  readonly services: StackServices | undefined;
  /** The process stops on its own after this long, whatever happens to the benchmark. */
  readonly lifetimeMs: number;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new BenchError('no free loopback port');
  return address.port;
}

/**
 * The job's environment: the benchmark's own without any PAYFLOW_ variable (a
 * PAYFLOW_APPLICATION_ID there would start a second pipeline on the same topics), then the
 * stack's servers in the Kafka mode, a fresh JWT secret, the port and the limits.
 */
function jobEnv(options: JobOptions, port: number, jwtSecret: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('PAYFLOW_') && !name.startsWith('BENCH_')) env[name] = value;
  for (const name of PASSED_ON) if (process.env[name] !== undefined) env[name] = process.env[name];
  if (options.mode === 'kafka') {
    if (options.services === undefined) throw new BenchError('the Kafka mode needs the stack servers');
    env.PAYFLOW_KAFKA_BROKERS = options.brokers.join(',');
    env.PAYFLOW_SCHEMA_REGISTRY_URL = options.services.registryUrl;
    env.PAYFLOW_POSTGRES_URL = options.services.postgresUrl;
    env.PAYFLOW_REDIS_URL = options.services.redisUrl;
    // The stack's key ring (its stack.env names the file), so what the bench seals stays readable.
    if (process.env.PAYFLOW_PII_KEYS_FILE) env.PAYFLOW_PII_KEYS_FILE = process.env.PAYFLOW_PII_KEYS_FILE;
    else if (process.env.PAYFLOW_PII_KEYS) env.PAYFLOW_PII_KEYS = process.env.PAYFLOW_PII_KEYS;
    else
      env.PAYFLOW_PII_KEYS = JSON.stringify({
        active: 'bench',
        keys: { bench: randomBytes(32).toString('base64') },
      });
  }
  return {
    ...env,
    ...GATEWAY_LIMITS,
    PAYFLOW_JWT_SECRET: jwtSecret,
    PAYFLOW_HTTP_HOST: '127.0.0.1',
    PAYFLOW_HTTP_PORT: String(port),
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    BENCH_JOB_LIFETIME_MS: String(Math.round(options.lifetimeMs)),
  };
}

export class MainJobProcess {
  readonly #child: ChildProcess;
  readonly #exit: Promise<number | null>;
  readonly #output: string[] = [];
  /** Every process of the job's tree seen so far, the job first, by pid. */
  readonly #tree = new Map<number, ProcessIdentity>();
  #exited = false;

  private constructor(
    child: ChildProcess,
    readonly baseUrl: string,
    readonly jwtSecret: string,
  ) {
    this.#child = child;
    const identity = child.pid === undefined ? undefined : processIdentity(child.pid);
    if (identity !== undefined) this.#tree.set(identity.pid, identity);
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.#exited = true;
        resolve(code ?? (signal === null ? null : 128));
      }),
    );
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.#output.push(...chunk.split('\n').filter((line) => line.trim() !== ''));
        this.#output.splice(0, Math.max(0, this.#output.length - OUTPUT_TAIL_LINES));
      });
    }
  }

  /** Starts the job and resolves once `GET /readyz` answers 200. */
  static async start(options: JobOptions, deadline: Deadline): Promise<MainJobProcess> {
    const port = await freeLoopbackPort();
    const jwtSecret = randomBytes(32).toString('base64url');
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, 'app/main.ts'], {
      cwd: REPO_ROOT,
      env: jobEnv(options, port, jwtSecret),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const job = new MainJobProcess(child, `http://127.0.0.1:${port}`, jwtSecret);
    try {
      await job.#ready(deadline);
    } catch (error) {
      await job.stop();
      throw error;
    }
    return job;
  }

  get pid(): number | undefined {
    return this.#exited ? undefined : this.#child.pid;
  }

  /** Records the processes now below the job. */
  #record(): void {
    if (this.pid === undefined) return;
    for (const identity of descendants(this.pid)) this.#tree.set(identity.pid, identity);
  }

  /** CPU milliseconds the job's whole tree has used so far (NaN when unknown). */
  cpuMs(): number {
    if (this.pid === undefined) return Number.NaN;
    this.#record();
    const running = [...this.#tree.values()].filter(stillRunning).map((identity) => identity.pid);
    return treeCpuMs(running) ?? Number.NaN;
  }

  /** The last lines the job wrote, for a failure message. */
  outputTail(): string {
    return this.#output.join('\n');
  }

  async #ready(deadline: Deadline): Promise<void> {
    const until = Date.now() + Math.min(READY_TIMEOUT_MS, deadline.remainingMs);
    let last = 'no answer yet';
    while (Date.now() < until) {
      if (this.#exited)
        throw new BenchError(
          `the main job exited (code ${String(await this.#exit)}) before it was ready:\n${this.outputTail()}`,
        );
      try {
        const response = await fetch(`${this.baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        if (response.status === 200) {
          this.#record();
          return;
        }
        last = `GET /readyz answered ${response.status}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      await sleep(250);
    }
    throw new BenchError(
      `the main job was not ready within ${READY_TIMEOUT_MS / 1_000} s (${last}):\n${this.outputTail()}`,
    );
  }

  /**
   * SIGTERM (in-flight requests and batches finish, the job stops its workers), SIGKILL when that
   * takes over 30 s; then SIGKILL for every recorded process of the tree still running.
   */
  async stop(): Promise<void> {
    this.#record();
    try {
      await this.#stopJob();
    } finally {
      this.#killLeftovers();
    }
  }

  async #stopJob(): Promise<void> {
    if (this.#exited || this.#child.pid === undefined) return;
    this.#child.kill('SIGTERM');
    const stopped = await withTimeout(this.#exit, STOP_GRACE_MS, 'stopping the main job').then(
      () => true,
      () => false,
    );
    if (stopped) return;
    this.#child.kill('SIGKILL');
    await withTimeout(this.#exit, KILL_WAIT_MS, 'killing the main job');
  }

  #killLeftovers(): void {
    for (const identity of this.#tree.values()) {
      if (!stillRunning(identity)) continue;
      try {
        process.kill(identity.pid, 'SIGKILL');
      } catch {
        // it ended meanwhile
      }
    }
  }
}
