/**
 * The benchmark's handle on a chain deployment: `BENCH_CHAIN_WORKERS` processes
 * (bench/chain-worker.ts, default one per core), each a member of every consumer group of the
 * chain, as worker processes run the processors; start, summed counters, stop.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

import {
  isFromChain,
  type ChainStats,
  type ChainWorkerConfig,
  type FromChain,
  type ToChain,
} from './chain.js';
import { BenchError, withTimeout } from './limits.js';

const WORKER = fileURLToPath(new URL('./chain-worker.ts', import.meta.url));

/** Processes of a chain (BENCH_CHAIN_WORKERS, 1 – 16; default: the machine's cores). */
export function chainWorkers(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.BENCH_CHAIN_WORKERS?.trim();
  if (text === undefined || text === '') return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new BenchError(`BENCH_CHAIN_WORKERS=${text} is not valid: a whole number from 1 to 16`);
  return n;
}

/** Every process of one chain: started together, counted together, stopped together. */
export class ChainProcesses {
  private constructor(readonly processes: readonly ChainProcess[]) {}

  static async start(config: ChainWorkerConfig, timeoutMs: number, workers: number): Promise<ChainProcesses> {
    const started = await Promise.allSettled(
      Array.from({ length: workers }, () => ChainProcess.start(config, timeoutMs)),
    );
    const processes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(processes.map((p) => p.kill()));
      throw failed.reason;
    }
    return new ChainProcesses(processes);
  }

  async stats(): Promise<ChainStats> {
    const all = await Promise.all(this.processes.map((p) => p.stats()));
    const sum = (pick: (s: ChainStats) => number) => all.reduce((total, s) => total + pick(s), 0);
    return {
      cpuMs: sum((s) => s.cpuMs),
      loopActiveMs: sum((s) => s.loopActiveMs),
      loopIdleMs: sum((s) => s.loopIdleMs),
      transactions: sum((s) => s.transactions),
      records: sum((s) => s.records),
      commitMs: sum((s) => s.commitMs),
      drops: sum((s) => s.drops),
      lastDropReason: all.map((s) => s.lastDropReason).find((r) => r !== undefined),
      concurrentRetries: sum((s) => s.concurrentRetries),
      concurrentBackoffMs: sum((s) => s.concurrentBackoffMs),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }

  async kill(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
  }
}

export class ChainProcess {
  readonly #child: ChildProcess;
  readonly #exit: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      }),
    );
  }

  /** Forks the chain process and resolves once its driver has started. */
  static async start(config: ChainWorkerConfig, timeoutMs: number): Promise<ChainProcess> {
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_CHAIN: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const chain = new ChainProcess(child);
    try {
      await chain.#next('started', timeoutMs, `starting the ${config.hops}-processor chain`);
    } catch (error) {
      await chain.kill();
      throw error;
    }
    return chain;
  }

  async stats(): Promise<ChainStats> {
    this.#send({ type: 'stats' });
    const reply = await this.#next('stats', 10_000, 'reading the chain process counters');
    return reply.stats;
  }

  /** Lets the driver finish its batch in flight and leave its groups; kills it if that hangs. */
  async stop(): Promise<void> {
    if (this.#exitCode !== undefined) return;
    this.#send({ type: 'stop' });
    try {
      await withTimeout(this.#exit, 30_000, 'stopping the chain process');
    } finally {
      await this.kill();
    }
  }

  async kill(): Promise<void> {
    if (this.#exitCode !== undefined || this.#child.pid === undefined) return;
    process.kill(this.#child.pid, 'SIGKILL');
    await withTimeout(this.#exit, 5_000, 'killing the chain process').catch(() => undefined);
  }

  #send(message: ToChain): void {
    if (this.#child.connected) this.#child.send(message);
  }

  #next<T extends FromChain['type']>(
    type: T,
    timeoutMs: number,
    what: string,
  ): Promise<Extract<FromChain, { type: T }>> {
    let onMessage: (message: unknown) => void = () => undefined;
    const reply = new Promise<Extract<FromChain, { type: T }>>((resolve, reject) => {
      onMessage = (message) => {
        if (!isFromChain(message)) return;
        if (message.type === type) resolve(message as Extract<FromChain, { type: T }>);
        else if (message.type === 'failed') reject(new BenchError(`${what} failed: ${message.message}`));
      };
      this.#child.on('message', onMessage);
      void this.#exit.then((code) =>
        reject(new BenchError(`${what} failed: the chain process exited (code ${String(code)})`)),
      );
    });
    return withTimeout(reply, timeoutMs, what).finally(() => this.#child.off('message', onMessage));
  }
}
