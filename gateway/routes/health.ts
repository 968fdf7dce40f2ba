/** Liveness (the process answers) and readiness (its dependencies answer, per the port). */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { ReadinessCheck } from '../ports.js';
import { HEALTH } from '../schemas.js';
import { withTimeout } from '../timeout.js';

export interface HealthOptions {
  readonly readiness: ReadinessCheck | undefined;
  readonly checkTimeoutMs: number;
  /** Why the gateway takes no more work now (in-flight cap reached, event loop lagging). */
  readonly saturation: () => string | undefined;
  readonly retryAfterS: number;
}

async function isReady(options: HealthOptions): Promise<{ ready: boolean; detail?: string }> {
  if (options.readiness === undefined) return { ready: true };
  try {
    return await withTimeout(options.readiness.check(), options.checkTimeoutMs, 'readiness check');
  } catch (error) {
    return { ready: false, detail: error instanceof Error ? error.message : 'readiness check failed' };
  }
}

export function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const schema = { tags: ['operations'], response: { 200: HEALTH } };
  app.get('/healthz', { config: { operational: true }, schema: { ...schema, summary: 'Liveness' } }, () => ({
    status: 'ok',
  }));
  app.get(
    '/readyz',
    { config: { operational: true }, schema: { ...schema, summary: 'Readiness' } },
    async () => {
      // A saturated instance is taken out of rotation until it drains, before asking dependencies.
      const saturated = options.saturation();
      if (saturated !== undefined) {
        throw new ApiError('NOT_READY', `the gateway is saturated: ${saturated}`, {
          headers: { 'Retry-After': String(options.retryAfterS) },
        });
      }
      const { ready, detail } = await isReady(options);
      if (!ready) {
        throw new ApiError('NOT_READY', detail ?? 'a dependency is not ready', {
          headers: { 'Retry-After': '5' },
        });
      }
      return { status: 'ready' };
    },
  );
  return Promise.resolve();
}
