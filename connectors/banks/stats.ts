/**
 * What the router measures per partner over its last `size` execution calls (a count-based
 * sliding window, default 100): the share that executed (`successRate`; refusals are the
 * partner's business answer, not its health, and are left out) and the median latency of the
 * calls that got an answer (`latencyMsP50`). Both are `null` before the first sample.
 */
export const DEFAULT_WINDOW_SIZE = 100;

export class PartnerStats {
  private readonly outcomes: boolean[] = [];
  private readonly latenciesMs: number[] = [];

  constructor(private readonly size: number = DEFAULT_WINDOW_SIZE) {}

  /** A call that got an answer (or timed out), and how long it took. */
  recordLatency(latencyMs: number): void {
    push(this.latenciesMs, latencyMs, this.size);
  }

  /** A call that executed (true) or failed technically / had an unknown outcome (false). */
  recordOutcome(executed: boolean): void {
    push(this.outcomes, executed, this.size);
  }

  get successRate(): number | null {
    if (this.outcomes.length === 0) return null;
    return this.outcomes.filter(Boolean).length / this.outcomes.length;
  }

  get latencyMsP50(): number | null {
    if (this.latenciesMs.length === 0) return null;
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  }
}

function push<T>(window: T[], value: T, size: number): void {
  window.push(value);
  if (window.length > size) window.shift();
}
