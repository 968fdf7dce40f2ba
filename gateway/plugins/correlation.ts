/**
 * Correlation ids tie an HTTP request to the command it publishes and every log line about it.
 * The id is the request id (Fastify's genReqId, see app.ts): the client's X-Correlation-Id when
 * well-formed, otherwise a fresh UUID. A malformed header is refused rather than silently
 * replaced, so the client learns its ids are not being carried.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { invalidField } from '../errors.js';
import { CORRELATION_ID_PATTERN } from '../schemas.js';

const CORRELATION_HEADER = 'x-correlation-id';
const CORRELATION_REGEX = new RegExp(CORRELATION_ID_PATTERN);

function headerValue(raw: IncomingMessage): string | undefined {
  const value = raw.headers[CORRELATION_HEADER];
  return Array.isArray(value) ? value[0] : value;
}

/** Fastify `genReqId`: reuse the client's id when valid. */
export function correlationIdOf(raw: IncomingMessage): string {
  const value = headerValue(raw);
  return value !== undefined && CORRELATION_REGEX.test(value) ? value : randomUUID();
}

function correlationPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('X-Correlation-Id', request.id);
    const value = headerValue(request.raw);
    if (value !== undefined && !CORRELATION_REGEX.test(value)) {
      throw invalidField('X-Correlation-Id', `must match ${CORRELATION_ID_PATTERN}`);
    }
  });
  return Promise.resolve();
}

export const correlation = fp(correlationPlugin, { name: 'payflow-correlation' });
