/**
 * One partner behind its circuit breaker, retries and measurements. `execute` sends one
 * reference and does not return until the outcome is definite or provably unknowable:
 *
 * - a retriable failure is retried (the same reference, capped exponential backoff with
 *   decorrelated jitter, at most `maxAttempts` sends), each failure counting on the breaker;
 * - an unknown outcome (timeout, reset) also counts on the breaker, and is then resolved by status
 *   queries of the same reference before anything else: executed → `executed`; refused →
 *   `refused`; not found → the same reference is sent again (a retry); no answer within
 *   `statusMaxQueries` → `unknown`, which the caller must never route elsewhere;
 * - an open breaker refuses the send (`not-executed`, `breaker-open`): nothing left PayFlow.
 *
 * Status queries go around the breaker: knowing what happened to money already sent matters
 * more than sparing a struggling partner one small request.
 */
import {
  BrokenCircuitError,
  ExponentialBackoff,
  handleWhen,
  IsolatedCircuitError,
  retry,
  type RetryPolicy,
} from 'cockatiel';
import { setTimeout as sleep } from 'node:timers/promises';

import type {
  BankAdapter,
  ExecuteOutcome,
  ExecutedOutcome,
  PartnerName,
  PartnerRequest,
  RefusedOutcome,
  StatusOutcome,
} from './adapter.js';
import { PartnerBreaker, PartnerFailure, type BreakerSettings } from './breaker.js';
import type { Operation, PartnerMetrics } from './metrics.js';
import { PartnerStats } from './stats.js';

export interface RetrySettings {
  /** Sends of one reference to one partner, the first included (PAYFLOW_PARTNER_MAX_ATTEMPTS). */
  readonly maxAttempts: number;
  /** PAYFLOW_PARTNER_RETRY_INITIAL_DELAY_MS */
  readonly initialDelayMs: number;
  /** PAYFLOW_PARTNER_RETRY_MAX_DELAY_MS */
  readonly maxDelayMs: number;
  /** Status queries to resolve one unknown outcome (PAYFLOW_PARTNER_STATUS_MAX_QUERIES). */
  readonly statusMaxQueries: number;
  /**
   * Margin past a send's deadline before a status query may call it not executed: clock skew
   * between PayFlow and the partner (PAYFLOW_PARTNER_CLOCK_SKEW_MS).
   */
  readonly clockSkewMs: number;
}

export const DEFAULT_RETRY: RetrySettings = {
  maxAttempts: 3,
  initialDelayMs: 100,
  maxDelayMs: 2_000,
  statusMaxQueries: 8,
  clockSkewMs: 1_000,
};

export type PartnerResult =
  | (ExecutedOutcome & { readonly sends: number })
  | (RefusedOutcome & { readonly sends: number })
  | {
      readonly kind: 'not-executed';
      readonly cause: 'breaker-open' | 'retries-exhausted';
      readonly detail: string;
    }
  | { readonly kind: 'unknown-outcome'; readonly detail: string };

/** "Send it again": a retriable failure, or an unknown outcome the partner confirmed it did not execute. */
class SendAgain extends Error {
  override readonly name = 'SendAgain';
}

const BREAKER_STATE = { CLOSED: 0, OPEN: 1, HALF_OPEN: 2 } as const;

export class PartnerChannel {
  readonly breaker: PartnerBreaker;
  readonly stats: PartnerStats;
  private readonly retryPolicy: RetryPolicy;

  constructor(
    readonly adapter: BankAdapter,
    private readonly settings: {
      readonly breaker: BreakerSettings;
      readonly retry: RetrySettings;
      readonly statsWindow?: number;
    },
    private readonly metrics: PartnerMetrics,
  ) {
    this.breaker = new PartnerBreaker(settings.breaker);
    this.stats = new PartnerStats(settings.statsWindow);
    this.retryPolicy = retry(
      handleWhen((error) => error instanceof SendAgain),
      {
        maxAttempts: settings.retry.maxAttempts - 1,
        backoff: new ExponentialBackoff({
          initialDelay: settings.retry.initialDelayMs,
          maxDelay: settings.retry.maxDelayMs,
        }),
      },
    );
    this.retryPolicy.onRetry(() => this.metrics.retries.inc({ partner: this.partner }));
    const gauge = () =>
      metrics.breakerState.set({ partner: this.partner }, BREAKER_STATE[this.breaker.view()]);
    this.breaker.policy.onStateChange(gauge);
    gauge();
  }

  get partner(): PartnerName {
    return this.adapter.partner;
  }

  /** Sends one reference until its outcome is definite (see the file comment). */
  async execute(request: PartnerRequest, signal?: AbortSignal): Promise<PartnerResult> {
    let sends = 0;
    try {
      return await this.retryPolicy.execute(async () => {
        sends += 1;
        return this.sendOnce(request, sends, signal);
      }, signal);
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)
        return { kind: 'not-executed', cause: 'breaker-open', detail: `${this.partner}: circuit open` };
      if (error instanceof SendAgain)
        return {
          kind: 'not-executed',
          cause: 'retries-exhausted',
          detail: `${this.partner}: ${error.message}`,
        };
      throw error;
    }
  }

  /**
   * What the partner did with a reference, asking up to `statusMaxQueries` times while it can't
   * say (capped backoff between queries): executed, refused, not found, or still unknown.
   */
  async resolve(reference: string, signal?: AbortSignal): Promise<StatusOutcome> {
    let last: StatusOutcome = { kind: 'unavailable', detail: 'not asked' };
    for (let query = 1; query <= this.settings.retry.statusMaxQueries; query += 1) {
      last = await this.observed('status', () => this.adapter.status(reference, { signal }));
      if (last.kind !== 'unavailable') return last;
      if (query < this.settings.retry.statusMaxQueries)
        await sleep(this.statusDelayMs(query), undefined, { signal });
    }
    return last;
  }

  private async sendOnce(
    request: PartnerRequest,
    sends: number,
    signal?: AbortSignal,
  ): Promise<PartnerResult> {
    let outcome: ExecuteOutcome;
    // The breaker sees retriable and unknown outcomes as failures (thrown); refusals are answers.
    const sentAtMs = Date.now();
    try {
      outcome = await this.breaker.policy.execute(async () => {
        const answered = await this.observed('execute', () => this.adapter.execute(request, { signal }));
        if (answered.kind === 'retriable' || answered.kind === 'unknown-outcome')
          throw new PartnerFailure(this.partner, answered.kind, answered.detail);
        return answered;
      });
    } catch (error) {
      if (!(error instanceof PartnerFailure)) throw error;
      if (error.kind === 'retriable') throw new SendAgain(error.message);
      // The send may still be in flight: ask only once its deadline has passed.
      const settledAtMs =
        Math.max(Date.now(), sentAtMs + this.adapter.timeoutMs) + this.settings.retry.clockSkewMs;
      await sleep(settledAtMs - Date.now(), undefined, { signal });
      return this.afterUnknown(request.reference, sends, error.message, signal);
    }
    if (outcome.kind === 'executed' || outcome.kind === 'not-retriable') return { ...outcome, sends };
    throw new Error(`unreachable: ${JSON.stringify(outcome)}`);
  }

  private async afterUnknown(
    reference: string,
    sends: number,
    detail: string,
    signal?: AbortSignal,
  ): Promise<PartnerResult> {
    const status = await this.resolve(reference, signal);
    if (status.kind === 'executed' || status.kind === 'not-retriable') return { ...status, sends };
    if (status.kind === 'not-found')
      throw new SendAgain(`${detail}; the partner confirmed it did not execute`);
    return {
      kind: 'unknown-outcome',
      detail: `${detail}; status unknown after ${this.settings.retry.statusMaxQueries} queries`,
    };
  }

  private statusDelayMs(query: number): number {
    const { initialDelayMs, maxDelayMs } = this.settings.retry;
    const capped = Math.min(maxDelayMs, initialDelayMs * 2 ** (query - 1));
    return capped / 2 + Math.random() * (capped / 2);
  }

  /** Runs one call with its metrics and measurements. */
  private async observed<T extends { kind: string }>(
    operation: Operation,
    call: () => Promise<T>,
  ): Promise<T> {
    const labels = { partner: this.partner, operation };
    this.metrics.calls.inc(labels);
    const started = performance.now();
    const result = await call();
    const elapsedMs = performance.now() - started;
    this.metrics.duration.observe(labels, elapsedMs / 1000);
    this.metrics.outcomes.inc({ ...labels, outcome: result.kind });
    if (operation === 'execute') {
      this.stats.recordLatency(elapsedMs);
      if (result.kind !== 'not-retriable') this.stats.recordOutcome(result.kind === 'executed');
    }
    return result;
  }
}
