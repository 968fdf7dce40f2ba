/**
 * Back-pressure. Two bounds, both answered with 503 + Retry-After so well-behaved clients back
 * off instead of piling on: a cap on requests processed at once (a stated queue bound that also
 * caps the commands waiting on the publisher), and @fastify/under-pressure on event-loop delay.
 * A request takes an in-flight slot only once it is authenticated (the `preParsing` hook runs
 * after every `onRequest` hook, authentication included, and before the body is read), so
 * clients without a valid token can't fill the slots. Operational routes (health, metrics, API
 * document) are exempt from the in-flight cap so the orchestrator can still see an overloaded
 * instance; `/readyz` reports it through `Load.saturation()`.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import underPressure from '@fastify/under-pressure';
import { ApiError } from '../errors.js';
import { sendProblem } from './problems.js';

/** The in-flight count, shared by the limits plugin (which moves it) and readiness (which reads it). */
export class Load {
  #inFlight = 0;
  #pressure: (() => boolean) | undefined;

  constructor(readonly maxInFlight: number) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  tryAcquire(): boolean {
    if (this.#inFlight >= this.maxInFlight) return false;
    this.#inFlight += 1;
    return true;
  }

  release(): void {
    this.#inFlight -= 1;
  }

  /** Set by the limits plugin: whether under-pressure sees the event loop lagging. */
  watchPressure(isUnderPressure: () => boolean): void {
    this.#pressure = isUnderPressure;
  }

  /** Why the gateway can't take more work now, or undefined when it can. */
  saturation(): string | undefined {
    if (this.#inFlight >= this.maxInFlight) return `${this.#inFlight} requests in progress, the cap`;
    if (this.#pressure?.() === true) return 'the event loop is lagging past its limit';
    return undefined;
  }
}

export interface LimitsOptions {
  readonly load: Load;
  readonly maxEventLoopDelayMs: number;
  readonly retryAfterS: number;
}

function overloaded(detail: string, retryAfterS: number): ApiError {
  return new ApiError('OVERLOADED', detail, { headers: { 'Retry-After': String(retryAfterS) } });
}

async function limitsPlugin(app: FastifyInstance, options: LimitsOptions): Promise<void> {
  const { load } = options;
  const counted = new WeakSet<object>();
  const done = (request: object): void => {
    if (counted.delete(request)) load.release();
  };
  app.addHook('preParsing', async (request, reply, payload) => {
    if (request.routeOptions.config.operational === true) return payload;
    if (!load.tryAcquire()) {
      throw overloaded(`more than ${load.maxInFlight} requests in progress`, options.retryAfterS);
    }
    counted.add(request);
    // onResponse covers answered requests; 'close' covers clients that went away first.
    reply.raw.once('close', () => done(request));
    return payload;
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
  load.watchPressure(() => app.isUnderPressure());
}

export const limits = fp(limitsPlugin, { name: 'payflow-limits' });
