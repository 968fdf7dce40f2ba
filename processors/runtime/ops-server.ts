/**
 * The operations endpoints of a processor process: `/metrics` (Prometheus text from the runtime's
 * registry), `/healthz` (the process answers) and `/readyz` (every global table caught up and the
 * processors running; 503 with a problem+json body until then). Binds to loopback by default.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  readonly registry: Registry;
  readonly ready: () => boolean;
  /** What is not up (named components and why), for the 503 body. */
  readonly notReadyDetail?: () => string | undefined;
  readonly host?: string;
  readonly port: number;
}

export function buildOpsServer(
  options: Pick<OpsServerOptions, 'registry' | 'ready' | 'notReadyDetail'>,
): FastifyInstance {
  const app = Fastify({ logger: false, connectionTimeout: 10_000, requestTimeout: 10_000 });
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (options.ready()) return { status: 'ready' };
    return reply
      .code(503)
      .header('content-type', 'application/problem+json')
      .header('retry-after', '5')
      .send({
        type: 'https://payflow.dev/problems/not-ready',
        title: 'Not ready',
        status: 503,
        detail: options.notReadyDetail?.() ?? 'processors are restoring state or catching up global tables',
      });
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.type(options.registry.contentType);
    return options.registry.metrics();
  });
  return app;
}

export async function startOpsServer(options: OpsServerOptions): Promise<FastifyInstance> {
  const app = buildOpsServer(options);
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port });
  return app;
}
