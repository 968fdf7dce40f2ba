/**
 * The circuit breaker of one partner, with the seed's semantics, on cockatiel's circuit breaker
 * policy: it opens after `failures` failed calls within `windowMs` (a count in a sliding time
 * window — cockatiel's CountBreaker counts a share of the last N calls and its SamplingBreaker a
 * share over a duration, neither "5 failures in 30 s"); after `halfOpenAfterMs` the next call is
 * the one trial (concurrent callers wait for it); a successful trial closes the circuit and
 * forgets the failures, a failed one opens it again for another `halfOpenAfterMs`. Successes
 * while closed do not erase failures: 5 failures in 30 s open it whatever succeeded in between.
 */
import {
  circuitBreaker,
  CircuitState,
  handleWhen,
  type CircuitBreakerPolicy,
  type IBreaker,
} from 'cockatiel';

export interface BreakerSettings {
  /** PAYFLOW_BREAKER_FAILURES */
  readonly failures: number;
  /** PAYFLOW_BREAKER_WINDOW_MS */
  readonly windowMs: number;
  /** PAYFLOW_BREAKER_HALF_OPEN_AFTER_MS */
  readonly halfOpenAfterMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failures: 5, windowMs: 30_000, halfOpenAfterMs: 60_000 };

/** Opens once `failures` failures fall within `windowMs`; keeps at most `failures` timestamps. */
export class FailuresInWindowBreaker implements IBreaker {
  private failureTimesMs: number[] = [];

  constructor(
    private readonly failures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): unknown {
    return [...this.failureTimesMs];
  }

  set state(value: unknown) {
    this.failureTimesMs = Array.isArray(value) ? value.filter((t): t is number => typeof t === 'number') : [];
  }

  success(state: CircuitState): void {
    if (state === CircuitState.HalfOpen) this.failureTimesMs = [];
  }

  failure(state: CircuitState): boolean {
    if (state === CircuitState.HalfOpen) {
      this.failureTimesMs = [];
      return true;
    }
    const now = this.now();
    this.failureTimesMs.push(now);
    this.failureTimesMs = this.failureTimesMs.filter((t) => now - t < this.windowMs).slice(-this.failures);
    if (this.failureTimesMs.length < this.failures) return false;
    this.failureTimesMs = [];
    return true;
  }
}

/** A failure the breaker counts: the partner failed technically or did not answer. */
export class PartnerFailure extends Error {
  constructor(
    readonly partner: string,
    readonly kind: 'retriable' | 'unknown-outcome',
    detail: string,
  ) {
    super(`${partner}: ${kind}: ${detail}`);
    this.name = 'PartnerFailure';
  }
}

export type BreakerView = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** A partner's breaker policy and what a router needs to know of it. */
export class PartnerBreaker {
  readonly policy: CircuitBreakerPolicy;
  private openedAtMs = 0;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.policy = circuitBreaker(
      handleWhen((error) => error instanceof PartnerFailure),
      {
        halfOpenAfter: settings.halfOpenAfterMs,
        breaker: new FailuresInWindowBreaker(settings.failures, settings.windowMs, now),
      },
    );
    this.policy.onBreak(() => {
      this.openedAtMs = this.now();
    });
  }

  /**
   * CLOSED; OPEN while calls are refused; HALF_OPEN once the delay has passed (the next call is
   * the trial) and while the trial runs.
   */
  view(): BreakerView {
    switch (this.policy.state) {
      case CircuitState.Closed:
        return 'CLOSED';
      case CircuitState.HalfOpen:
        return 'HALF_OPEN';
      default:
        return this.now() - this.openedAtMs >= this.settings.halfOpenAfterMs ? 'HALF_OPEN' : 'OPEN';
    }
  }

  /** When an open breaker lets its trial through (now or in the past when not open). */
  halfOpenAtMs(): number {
    return this.view() === 'OPEN' ? this.openedAtMs + this.settings.halfOpenAfterMs : this.now();
  }

  /** Whether a call now would be let through (or wait for a running trial) rather than refused. */
  admits(): boolean {
    return this.view() !== 'OPEN';
  }
}
