/** The bench's handle on one worker process (./worker.ts) under a given Node binary. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { REPO_ROOT } from '../config.js';
import { BenchError, withTimeout } from '../limits.js';
import { isFromWorker, type FromWorker, type LoopStats, type ToWorker, type WorkerJob } from './types.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export class WorkerProcess {
  readonly #child: ChildProcess;
  readonly #exit: Promise<number | null>;
  #exited = false;
  #failure: string | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.#exited = true;
        resolve(code);
      }),
    );
    child.on('message', (message) => {
      if (isFromWorker(message) && message.type === 'failed') this.#failure = message.message;
    });
  }

  /** Forks the worker and waits until its client is connected ('started'). */
  static async start(job: WorkerJob, node: string, timeoutMs = 90_000): Promise<WorkerProcess> {
    const child = fork(WORKER, [], {
      cwd: REPO_ROOT,
      execPath: node,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_CLIENT_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new WorkerProcess(child);
    try {
      await worker.next('started', timeoutMs, `starting the ${job.client} ${job.kind} process`);
    } catch (error) {
      await worker.kill();
      throw error;
    }
    return worker;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The loop's failure, if it reported one. */
  get failure(): string | undefined {
    return this.#failure;
  }

  async stats(): Promise<LoopStats> {
    this.#send({ type: 'stats' });
    return (await this.next('stats', 10_000, 'reading the loop counters')).stats;
  }

  /** Lets the loop commit what it holds and leave its group; kills it if that hangs. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    this.#send({ type: 'stop' });
    try {
      await withTimeout(this.#exit, 30_000, 'stopping the loop process');
    } finally {
      await this.kill();
    }
  }

  /** SIGKILL: no clean-up of any kind in the process. */
  async kill(): Promise<void> {
    if (this.#exited || this.#child.pid === undefined) return;
    process.kill(this.#child.pid, 'SIGKILL');
    await withTimeout(this.#exit, 5_000, 'killing the worker process').catch(() => undefined);
  }

  #send(message: ToWorker): void {
    if (this.#child.connected) this.#child.send(message);
  }

  next<T extends FromWorker['type']>(
    type: T,
    timeoutMs: number,
    what: string,
  ): Promise<Extract<FromWorker, { type: T }>> {
    let onMessage: (message: unknown) => void = () => undefined;
    const reply = new Promise<Extract<FromWorker, { type: T }>>((resolve, reject) => {
      onMessage = (message) => {
        if (!isFromWorker(message)) return;
        if (message.type === type) resolve(message as Extract<FromWorker, { type: T }>);
        else if (message.type === 'failed') reject(new BenchError(`${what} failed: ${message.message}`));
      };
      this.#child.on('message', onMessage);
      void this.#exit.then((code) =>
        reject(
          new BenchError(
            `${what} failed: the process exited (code ${String(code)})${this.#failure ? `: ${this.#failure}` : ''}`,
          ),
        ),
      );
    });
    return withTimeout(reply, timeoutMs, what).finally(() => this.#child.off('message', onMessage));
  }
}
