/**
 * HTTP metrics on the prom-client Registry the main job passes in: request count and latency by
 * route pattern (never the raw URL, which would explode label cardinality), method and status.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LABELS = ['method', 'route', 'status_code'] as const;

/** One metric object per registry, so several apps in one process (tests) can share it. */
function metricsOn(registry: Registry) {
  const requests =
    (registry.getSingleMetric('payflow_gateway_http_requests_total') as
      Counter<(typeof LABELS)[number]> | undefined) ??
    new Counter({
      name: 'payflow_gateway_http_requests_total',
      help: 'HTTP requests answered',
      labelNames: LABELS,
      registers: [registry],
    });
  const latency =
    (registry.getSingleMetric('payflow_gateway_http_request_duration_seconds') as
      Histogram<(typeof LABELS)[number]> | undefined) ??
    new Histogram({
      name: 'payflow_gateway_http_request_duration_seconds',
      help: 'Time from request received to response sent',
      labelNames: LABELS,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
  return { requests, latency };
}

function metricsPlugin(app: FastifyInstance, options: { registry: Registry }): Promise<void> {
  const { requests, latency } = metricsOn(options.registry);
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.config.operational === true) return;
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      config: { operational: true },
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: {
          200: {
            description: 'The Prometheus text exposition format (version 0.0.4)',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      void reply.type(options.registry.contentType);
      return options.registry.metrics();
    },
  );
  return Promise.resolve();
}

export const metrics = fp(metricsPlugin, { name: 'payflow-metrics' });
