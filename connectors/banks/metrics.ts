/**
 * Prometheus metrics of the bank partners, on the registry the program passes in (one set per
 * registry, so several gateways in one process share them):
 *
 *   payflow_partner_calls_total{partner,operation}            execute and status calls sent
 *   payflow_partner_outcomes_total{partner,operation,outcome} executed | not-retriable | retriable | unknown-outcome | not-found | unavailable
 *   payflow_partner_call_duration_seconds{partner,operation}  latency of one call, answered or timed out
 *   payflow_partner_breaker_state{partner}                    0 closed, 1 open, 2 half-open
 *   payflow_partner_retries_total{partner}                    a reference sent again to the same partner
 *   payflow_partner_failovers_total{partner,cause}            a payment moved on from this partner: breaker-open | refused | retries-exhausted
 *   payflow_partner_payments_total{outcome}                   payments through the partners ending completed | failed | unknown
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type MetricOptions<L extends string> = {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
};

/** The registry's metric of that name, or a new one registered on it. */
function shared<M>(
  registry: Registry,
  options: { readonly name: string },
  create: (registers: Registry[]) => M,
): M {
  return (registry.getSingleMetric(options.name) as M | undefined) ?? create([registry]);
}

const counter = <L extends string>(registry: Registry, options: MetricOptions<L>) =>
  shared(
    registry,
    options,
    (registers) => new Counter<L>({ ...options, labelNames: [...options.labelNames], registers }),
  );

export type Operation = 'execute' | 'status';

export class PartnerMetrics {
  readonly calls: Counter<'partner' | 'operation'>;
  readonly outcomes: Counter<'partner' | 'operation' | 'outcome'>;
  readonly duration: Histogram<'partner' | 'operation'>;
  readonly breakerState: Gauge<'partner'>;
  readonly retries: Counter<'partner'>;
  readonly failovers: Counter<'partner' | 'cause'>;
  readonly payments: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.calls = counter(registry, {
      name: 'payflow_partner_calls_total',
      help: 'Calls sent to a bank partner',
      labelNames: ['partner', 'operation'],
    });
    this.outcomes = counter(registry, {
      name: 'payflow_partner_outcomes_total',
      help: 'Normalized outcomes of the calls to a bank partner',
      labelNames: ['partner', 'operation', 'outcome'],
    });
    const duration = {
      name: 'payflow_partner_call_duration_seconds',
      help: 'Time of one call to a bank partner, answered or timed out',
      labelNames: ['partner', 'operation'] as const,
    };
    this.duration = shared(
      registry,
      duration,
      (registers) =>
        new Histogram({
          ...duration,
          labelNames: [...duration.labelNames],
          buckets: LATENCY_BUCKETS_S,
          registers,
        }),
    );
    const breaker = {
      name: 'payflow_partner_breaker_state',
      help: 'Circuit breaker of a bank partner: 0 closed, 1 open, 2 half-open',
      labelNames: ['partner'] as const,
    };
    this.breakerState = shared(
      registry,
      breaker,
      (registers) => new Gauge({ ...breaker, labelNames: [...breaker.labelNames], registers }),
    );
    this.retries = counter(registry, {
      name: 'payflow_partner_retries_total',
      help: 'A reference sent again to the same partner',
      labelNames: ['partner'],
    });
    this.failovers = counter(registry, {
      name: 'payflow_partner_failovers_total',
      help: 'A payment moved on from this partner to the next one',
      labelNames: ['partner', 'cause'],
    });
    this.payments = counter(registry, {
      name: 'payflow_partner_payments_total',
      help: 'Payments sent through the bank partners, by how they ended',
      labelNames: ['outcome'],
    });
  }
}
