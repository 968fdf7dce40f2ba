/**
 * The banking gateway: partners behind their channels (breaker, retries, measurements), ranked
 * per payment by the configured strategy, with failover. A saga step uses it in one of two ways:
 *
 * - step by step, recording each intent itself: `candidates()` → `partnerReference(paymentId,
 *   attempt)` → record (partner, reference) → `execute(partner, request)` → record the outcome;
 *   after a crash or an `unknown-outcome`, `status(partner, reference)` — never a new reference
 *   elsewhere until that says `not-found`;
 * - or in one call, `pay()`, which does exactly that and calls `onIntent` (awaited) before each
 *   send so the intent is on the log before money can move, and `resume` continues from a
 *   recorded intent.
 *
 * Failover moves to the next partner when a breaker is open, a partner refused in a way another
 * partner may not (FAILOVER_ON_REFUSAL), or its retries ran out with nothing executed. An unknown
 * outcome is never failed over: `pay()` returns it and the payment waits for the partner.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Registry } from 'prom-client';

import {
  FAILOVER_ON_REFUSAL,
  type BankAdapter,
  type Beneficiary,
  type PartnerName,
  type RefusalReason,
  type StatusOutcome,
} from './adapter.js';
import { DEFAULT_BREAKER, type BreakerSettings, type BreakerView } from './breaker.js';
import { DEFAULT_RETRY, PartnerChannel, type PartnerResult, type RetrySettings } from './channel.js';
import { PartnerMetrics } from './metrics.js';
import { partnerReference, MAX_ATTEMPT } from './reference.js';
import { feeOf, rankPartners, type PaymentKindAtPartner, type RoutingConfig } from './routing.js';

export interface PartnerRouterOptions {
  readonly adapters: readonly BankAdapter[];
  readonly routing: RoutingConfig;
  readonly breaker?: BreakerSettings;
  readonly retry?: RetrySettings;
  /** Calls per partner in the success-rate and latency windows. */
  readonly statsWindow?: number;
  readonly registry?: Registry;
}

/** A payment crossing the bank boundary, in PayFlow's terms. */
export interface PartnerPayment {
  readonly paymentId: string;
  readonly kind: PaymentKindAtPartner;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly beneficiary: Beneficiary;
}

/** What a saga records before a send: the partner and the reference it will carry. */
export interface Intent {
  readonly partner: PartnerName;
  readonly reference: string;
  readonly attempt: number;
}

export type FailureReason = RefusalReason | 'NO_ROUTE' | 'NO_PARTNER_AVAILABLE';

export type PayOutcome =
  | {
      readonly kind: 'completed';
      readonly intent: Intent;
      readonly partnerTransactionId: string;
      readonly executedAt: string;
      readonly tried: readonly Intent[];
    }
  | {
      readonly kind: 'failed';
      readonly reason: FailureReason;
      readonly detail: string;
      readonly tried: readonly Intent[];
    }
  | {
      readonly kind: 'unknown-outcome';
      readonly intent: Intent;
      readonly detail: string;
      readonly tried: readonly Intent[];
    };

export interface PayOptions {
  /** Awaited before each send: record the intent durably here. */
  readonly onIntent?: (intent: Intent) => Promise<void> | void;
  /** Continue from this recorded intent (after a crash or an unknown outcome) instead of starting over. */
  readonly resume?: Intent;
  /** Partners tried before the resumed intent (they are known not to have executed). */
  readonly excluded?: readonly PartnerName[];
  /**
   * How long a payout may wait in total for a breaker to let its trial through when every
   * partner of the route is open, before it fails NO_PARTNER_AVAILABLE (default 0: fail at once).
   */
  readonly waitForPartnerMs?: number;
  readonly signal?: AbortSignal;
}

export interface PartnerSnapshot {
  readonly partner: PartnerName;
  readonly breaker: BreakerView;
  readonly successRate: number | null;
  readonly latencyMsP50: number | null;
  /** The fee in bps for the given currency (its own entry, else `*`), null when the table has none. */
  readonly feeBps: number | null;
}

export class PartnerRouter {
  readonly metrics: PartnerMetrics;
  private readonly channels = new Map<PartnerName, PartnerChannel>();

  constructor(private readonly options: PartnerRouterOptions) {
    this.metrics = new PartnerMetrics(options.registry ?? new Registry());
    for (const adapter of options.adapters)
      this.channels.set(
        adapter.partner,
        new PartnerChannel(
          adapter,
          {
            breaker: options.breaker ?? DEFAULT_BREAKER,
            retry: options.retry ?? DEFAULT_RETRY,
            statsWindow: options.statsWindow,
          },
          this.metrics,
        ),
      );
  }

  channel(partner: PartnerName): PartnerChannel {
    const channel = this.channels.get(partner);
    if (channel === undefined) throw new Error(`no adapter for partner ${partner}`);
    return channel;
  }

  /** The partners that may take this payment now, best first: the strategy's order, open breakers left out. */
  candidates(
    payment: Pick<PartnerPayment, 'kind' | 'currency' | 'amountMinor'>,
    excluded: readonly PartnerName[] = [],
  ): PartnerName[] {
    return this.ranked(payment).filter(
      (partner) => !excluded.includes(partner) && this.channels.get(partner)?.breaker.admits() === true,
    );
  }

  /** The strategy's order of the route's partners that have an adapter, whatever their breakers. */
  ranked(payment: Pick<PartnerPayment, 'kind' | 'currency' | 'amountMinor'>): PartnerName[] {
    return rankPartners(this.options.routing, payment, {
      latencyMsP50: (partner) => this.channels.get(partner)?.stats.latencyMsP50 ?? null,
      successRate: (partner) => this.channels.get(partner)?.stats.successRate ?? null,
    }).filter((partner) => this.channels.has(partner));
  }

  /** One reference at one partner, until definite (see PartnerChannel.execute). */
  execute(
    partner: PartnerName,
    request: Parameters<PartnerChannel['execute']>[0],
    signal?: AbortSignal,
  ): Promise<PartnerResult> {
    return this.channel(partner).execute(request, signal);
  }

  /** What a partner did with a reference (bounded status queries, around the breaker). */
  status(partner: PartnerName, reference: string, signal?: AbortSignal): Promise<StatusOutcome> {
    return this.channel(partner).resolve(reference, signal);
  }

  /** Routes, sends and fails over until the payment is completed, failed, or its outcome unknown. */
  async pay(payment: PartnerPayment, options: PayOptions = {}): Promise<PayOutcome> {
    const outcome = await this.payUnobserved(payment, options);
    this.metrics.payments.inc({ outcome: outcome.kind === 'unknown-outcome' ? 'unknown' : outcome.kind });
    return outcome;
  }

  private async payUnobserved(payment: PartnerPayment, options: PayOptions): Promise<PayOutcome> {
    const tried: Intent[] = [];
    const excluded = [...(options.excluded ?? [])];
    let attempt = options.resume?.attempt ?? excluded.length + 1;
    let resumed = options.resume;
    let lastFailure = 'no partner was tried';
    const waitUntilMs = Date.now() + (options.waitForPartnerMs ?? 0);
    while (attempt <= MAX_ATTEMPT) {
      const intent =
        resumed ?? (await this.nextIntent(payment, attempt, excluded, waitUntilMs, options.signal));
      if (intent === undefined) break;
      tried.push(intent);
      const result =
        resumed !== undefined
          ? await this.resumeAt(resumed, payment, options.signal)
          : await this.send(intent, payment, options);
      resumed = undefined;
      switch (result.kind) {
        case 'executed':
          return {
            kind: 'completed',
            intent,
            partnerTransactionId: result.partnerTransactionId,
            executedAt: result.executedAt,
            tried,
          };
        case 'unknown-outcome':
          return { kind: 'unknown-outcome', intent, detail: result.detail, tried };
        case 'not-retriable':
          if (!FAILOVER_ON_REFUSAL[result.reason])
            return {
              kind: 'failed',
              reason: result.reason,
              detail: `${intent.partner} ${result.partnerCode}: ${result.detail}`,
              tried,
            };
          this.metrics.failovers.inc({ partner: intent.partner, cause: 'refused' });
          lastFailure = `${intent.partner} refused: ${result.reason} (${result.partnerCode})`;
          break;
        case 'not-executed':
          this.metrics.failovers.inc({ partner: intent.partner, cause: result.cause });
          lastFailure = result.detail;
          break;
      }
      excluded.push(intent.partner);
      attempt += 1;
    }
    if (tried.length === 0 && this.ranked(payment).length === 0)
      return {
        kind: 'failed',
        reason: 'NO_ROUTE',
        detail: `no route for ${payment.kind} in ${payment.currency}`,
        tried,
      };
    return { kind: 'failed', reason: 'NO_PARTNER_AVAILABLE', detail: lastFailure, tried };
  }

  /** The best partner now, else (within the wait budget) the first whose breaker lets a trial through. */
  private async nextIntent(
    payment: PartnerPayment,
    attempt: number,
    excluded: readonly PartnerName[],
    waitUntilMs: number,
    signal?: AbortSignal,
  ): Promise<Intent | undefined> {
    for (;;) {
      const partner = this.candidates(payment, excluded)[0];
      if (partner !== undefined)
        return { partner, reference: partnerReference(payment.paymentId, attempt), attempt };
      const waiting = this.ranked(payment).filter((p) => !excluded.includes(p));
      if (waiting.length === 0) return undefined;
      const soonestMs = Math.min(...waiting.map((p) => this.channel(p).breaker.halfOpenAtMs()));
      if (soonestMs > waitUntilMs) return undefined;
      await sleep(Math.max(1, soonestMs - Date.now()), undefined, { signal });
    }
  }

  private async send(intent: Intent, payment: PartnerPayment, options: PayOptions): Promise<PartnerResult> {
    await options.onIntent?.(intent);
    return this.execute(intent.partner, { ...payment, reference: intent.reference }, options.signal);
  }

  /**
   * A recorded intent: ask first; send the same reference again only when the partner has no
   * trace of it. A send made before the resumption (by a process that crashed) may still be in
   * flight, so the question waits until any such send is past its deadline.
   */
  private async resumeAt(
    intent: Intent,
    payment: PartnerPayment,
    signal?: AbortSignal,
  ): Promise<PartnerResult> {
    const channel = this.channel(intent.partner);
    await sleep(channel.adapter.timeoutMs + (this.options.retry ?? DEFAULT_RETRY).clockSkewMs, undefined, {
      signal,
    });
    const status = await this.status(intent.partner, intent.reference, signal);
    if (status.kind === 'executed' || status.kind === 'not-retriable') return { ...status, sends: 0 };
    if (status.kind === 'unavailable')
      return { kind: 'unknown-outcome', detail: `${intent.partner}: status unavailable: ${status.detail}` };
    return this.execute(intent.partner, { ...payment, reference: intent.reference }, signal);
  }

  /** For GET /v1/partners: every partner with an adapter, its breaker, measurements and fee. */
  partnersSnapshot(currency = '*'): PartnerSnapshot[] {
    return [...this.channels.values()].map((channel) => ({
      partner: channel.partner,
      breaker: channel.breaker.view(),
      successRate: channel.stats.successRate,
      latencyMsP50: channel.stats.latencyMsP50,
      feeBps: feeOf(this.options.routing, channel.partner, currency)?.bps ?? null,
    }));
  }
}
