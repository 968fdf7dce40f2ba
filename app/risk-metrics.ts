/**
 * The risk steps' metrics, fed by the processors' decision hooks (the processors stay pure):
 *
 * - `payflow_fraud_score` (histogram, 0-100 in steps of 10): every scored payment;
 * - `payflow_risk_decisions_total{step, outcome, reason}`: velocity passes and rejections by
 *   window, fraud PASS / HOLD / BLOCK, and review ends (APPROVE, DECLINE, TIMEOUT, or a decision
 *   that found no hold);
 * - `payflow_review_queue_depth` and `payflow_review_oldest_hold_age_seconds`: the held payments
 *   as the read model has them, read when scraped.
 *
 * The alert on the average score (Fraud Score Anomaly) is in app/prometheus-rules.yml.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { PaymentQueries } from '../gateway/index.js';
import { holdTimeOf } from '../gateway/ports.js';
import type { PipelineOptions } from '../processors/pipeline.js';

type ProcessorOptions = NonNullable<PipelineOptions['processors']>;

function single<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

function decisionsOn(registry: Registry) {
  return {
    scores: single(
      registry,
      'payflow_fraud_score',
      () =>
        new Histogram({
          name: 'payflow_fraud_score',
          help: 'Fraud scores of scored payments (0-100)',
          buckets: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
          registers: [registry],
        }),
    ),
    decisions: single(
      registry,
      'payflow_risk_decisions_total',
      () =>
        new Counter({
          name: 'payflow_risk_decisions_total',
          help: 'Risk decisions by step (velocity, fraud, review), outcome and reason',
          labelNames: ['step', 'outcome', 'reason'],
          registers: [registry],
        }),
    ),
  };
}

/** The processors' options with the hooks that count their decisions on `registry`. */
export function withRiskMetrics(
  processors: ProcessorOptions | undefined,
  registry: Registry,
): ProcessorOptions {
  const { scores, decisions } = decisionsOn(registry);
  return {
    ...processors,
    velocity: {
      ...processors?.velocity,
      onDecision: (decision) =>
        decisions.inc({
          step: 'velocity',
          outcome: decision.outcome,
          reason: decision.outcome === 'rejected' ? `VELOCITY_LIMIT_EXCEEDED:${decision.window}` : '',
        }),
    },
    fraud: {
      ...processors?.fraud,
      onScore: (score) => {
        scores.observe(score.score);
        // Reasons come largest first.
        const top = score.reasons[0];
        decisions.inc({
          step: 'fraud',
          outcome: score.decision,
          reason: score.decision === 'PASS' ? '' : (top?.code ?? ''),
        });
      },
    },
    ledger: {
      ...processors?.ledger,
      onReview: (handling) =>
        decisions.inc({
          step: 'review',
          outcome: handling.outcome === 'released' ? handling.review.verdict : 'NO_HOLD',
          reason: '',
        }),
    },
  };
}

/** The review queue's depth and oldest hold, read from the read model when scraped. */
export function registerReviewQueueMetrics(
  registry: Registry,
  payments: PaymentQueries,
  now: () => number = Date.now,
): void {
  const page = 1_000;
  let last: { depth: number; oldestMs: number | undefined } = { depth: 0, oldestMs: undefined };
  const refresh = async () => {
    const held = await payments.listHeld(page, undefined);
    const oldest = held[0];
    last = {
      depth: held.length,
      oldestMs: oldest === undefined ? undefined : holdTimeOf(oldest),
    };
  };
  single(
    registry,
    'payflow_review_queue_depth',
    () =>
      new Gauge({
        name: 'payflow_review_queue_depth',
        help: `Payments held for review (counted up to ${page})`,
        registers: [registry],
        async collect() {
          await refresh().catch(() => undefined);
          this.set(last.depth);
        },
      }),
  );
  single(
    registry,
    'payflow_review_oldest_hold_age_seconds',
    () =>
      new Gauge({
        name: 'payflow_review_oldest_hold_age_seconds',
        help: 'How long the oldest held payment has waited for a review (0 when none waits)',
        registers: [registry],
        collect() {
          this.set(last.oldestMs === undefined ? 0 : Math.max(0, (now() - last.oldestMs) / 1000));
        },
      }),
  );
}
