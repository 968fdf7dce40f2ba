/**
 * One log line per request, written when the answer has been sent: method, route pattern, status,
 * duration and the correlation id (the request logger's binding), plus what the route adds with
 * `logWithResponse` (e.g. the payment id it published). Fastify's own two lines per request
 * (`incoming request`, `request completed`) are off (`disableRequestLogging` of the log controller, app.ts). The
 * route pattern stands for the URL: a raw path or query string can carry ids and secrets. Health,
 * metrics and the API document log at `debug`, so probes do not fill the `info` log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** Fields the route adds to the request's log line; null until it adds one. */
    responseLogFields: Record<string, unknown> | null;
  }
}

/** Adds fields to the one line logged for this request (never a secret or a full IBAN). */
export function logWithResponse(request: FastifyRequest, fields: Readonly<Record<string, unknown>>): void {
  request.responseLogFields =
    request.responseLogFields === null ? { ...fields } : Object.assign(request.responseLogFields, fields);
}

function logResponse(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const level = request.routeOptions.config.operational === true ? 'debug' : 'info';
  request.log[level](
    {
      method: request.method,
      route: request.routeOptions.url ?? null,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
      ...request.responseLogFields,
    },
    'request',
  );
  done();
}

function requestLogPlugin(app: FastifyInstance): Promise<void> {
  app.decorateRequest('responseLogFields', null);
  app.addHook('onResponse', logResponse);
  return Promise.resolve();
}

export const requestLog = fp(requestLogPlugin, { name: 'payflow-request-log' });
