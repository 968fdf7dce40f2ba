/**
 * Back-pressure. Two bounds, both answered with 503 + Retry-After so well-behaved clients back
 * off instead of piling on: a cap on requests processed at once (a stated queue bound that also
 * caps the commands waiting on the publisher), and @fastify/under-pressure on event-loop delay.
 * Operational routes (health, metrics, API document) are exempt from the in-flight cap so the
 * orchestrator can still see an overloaded instance.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import underPressure from '@fastify/under-pressure';
import { ApiError } from '../errors.js';
import { sendProblem } from './problems.js';

export interface LimitsOptions {
  readonly maxInFlight: number;
  readonly maxEventLoopDelayMs: number;
  readonly retryAfterS: number;
}

function overloaded(detail: string, retryAfterS: number): ApiError {
  return new ApiError('OVERLOADED', detail, { headers: { 'Retry-After': String(retryAfterS) } });
}

async function limitsPlugin(app: FastifyInstance, options: LimitsOptions): Promise<void> {
  let inFlight = 0;
  const counted = new WeakSet<object>();
  const done = (request: object): void => {
    if (counted.delete(request)) inFlight -= 1;
  };
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.operational === true) return;
    if (inFlight >= options.maxInFlight) {
      throw overloaded(`more than ${options.maxInFlight} requests in progress`, options.retryAfterS);
    }
    inFlight += 1;
    counted.add(request);
    // onResponse covers answered requests; 'close' covers clients that went away first.
    reply.raw.once('close', () => done(request));
  });
  app.addHook('onResponse', (request, _reply, next) => {
    done(request);
    next();
  });

  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    retryAfter: options.retryAfterS,
    pressureHandler: (request, reply, type) => {
      const problem = overloaded(`the server is under pressure (${type})`, options.retryAfterS);
      void sendProblem(request, reply, problem);
    },
  });
}

export const limits = fp(limitsPlugin, { name: 'payflow-limits' });
