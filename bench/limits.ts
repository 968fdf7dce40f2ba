/**
 * Bounds on every wait of the benchmark: a failure names what it was waiting for instead of
 * hanging.
 */

/** A failure the benchmark explains in one line (bad setting, unreachable broker, stalled run). */
export class BenchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BenchError';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wall clock in milliseconds with sub-millisecond resolution. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Resolves or rejects like `work`, or rejects with a BenchError naming `what` after `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchError(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The whole run's time budget. */
export class Deadline {
  readonly #atMs: number;

  constructor(
    readonly seconds: number,
    startMs = Date.now(),
  ) {
    this.#atMs = startMs + seconds * 1_000;
  }

  get remainingMs(): number {
    return Math.max(0, this.#atMs - Date.now());
  }

  /** Throws once the budget is spent. */
  check(activity: string): void {
    if (this.remainingMs === 0)
      throw new BenchError(
        `the benchmark's time budget (${this.seconds} s, BENCH_TIMEOUT_SECONDS) ran out while ${activity}`,
      );
  }
}
