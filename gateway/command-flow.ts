/**
 * The steps shared by every command route: claim the Idempotency-Key, publish within the
 * publish timeout, store the response for replay, and release the key when publishing fails so
 * a retry can go through. Also the bounded wrappers for read-model queries.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalidField } from './errors.js';
import type { Principal } from './fastify-types.js';
import type { PaymentCommand } from '../schemas/types.js';
import type { PiiKeyRing } from '../schemas/pii.js';
import type {
  AttemptIdentity,
  CommandHeaders,
  GatewayPorts,
  IdempotencyScope,
  StoredResponse,
} from './ports.js';
import { logWithResponse } from './plugins/request-log.js';
import { withTimeout } from './timeout.js';

export interface RouteContext {
  readonly ports: GatewayPorts;
  readonly publishTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Bound on each idempotency-store call (the Redis store has its own, tighter one). */
  readonly storeTimeoutMs: number;
  readonly now: () => number;
  readonly newId: () => string;
  /** Seals personal data (IBANs) before anything is published. */
  readonly piiKeyRing: PiiKeyRing;
}

/** Retry hint for 409 (in flight) and 503 answers. */
const RETRY_AFTER_S = '1';

export function principalOf(request: FastifyRequest): Principal {
  // Programmer error if a route that needs a principal was declared without roles.
  if (request.principal === null) throw new Error(`route ${request.routeOptions.url} has no roles`);
  return request.principal;
}

/** How many times the header `name` (lower case) was sent, before Node joined them. */
function headerCount(request: FastifyRequest, name: string): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) if (raw[index]?.toLowerCase() === name) count += 1;
  return count;
}

/**
 * The key as sent; the IETF draft sends it as a structured-field string ("..."), Stripe bare,
 * so one pair of surrounding quotes is dropped.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  // Node joins repeated headers into "a, b": two keys would silently become a third one.
  if (headerCount(request, 'idempotency-key') > 1)
    throw invalidField('Idempotency-Key', 'must be sent exactly once');
  const raw = request.headers['idempotency-key'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return undefined;
  const key = /^".*"$/.test(value) ? value.slice(1, -1) : value;
  if (key.length === 0) throw invalidField('Idempotency-Key', 'must not be empty');
  return key;
}

/** How long a client is asked to wait while the pipeline is down. */
const PIPELINE_RETRY_AFTER_S = '5';

/**
 * Publishes within the publish timeout, refusing at once (503 PIPELINE_UNAVAILABLE) while the
 * pipeline can't take the command, rather than accepting work nothing would process.
 */
export async function publishBounded(context: RouteContext, publish: () => Promise<void>): Promise<void> {
  const intake = context.ports.intake?.accepting();
  if (intake !== undefined && !intake.accepting) {
    throw new ApiError(
      'PIPELINE_UNAVAILABLE',
      `the payment pipeline is not taking new commands (${intake.detail}); retry with the same Idempotency-Key`,
      { headers: { 'Retry-After': PIPELINE_RETRY_AFTER_S } },
    );
  }
  try {
    await withTimeout(publish(), context.publishTimeoutMs, 'publish command');
  } catch (error) {
    throw new ApiError(
      'PUBLISH_UNAVAILABLE',
      'the command could not be recorded; retry with the same Idempotency-Key',
      {
        cause: error,
        headers: { 'Retry-After': RETRY_AFTER_S },
      },
    );
  }
}

export async function queryBounded<T>(context: RouteContext, query: () => Promise<T>): Promise<T> {
  try {
    return await withTimeout(query(), context.queryTimeoutMs, 'read-model query');
  } catch (error) {
    throw new ApiError('QUERY_UNAVAILABLE', 'the read model did not answer in time', {
      cause: error,
      headers: { 'Retry-After': RETRY_AFTER_S },
    });
  }
}

async function storeBounded<T>(context: RouteContext, call: () => Promise<T>): Promise<T> {
  try {
    return await withTimeout(call(), context.storeTimeoutMs, 'idempotency store');
  } catch (error) {
    throw new ApiError('IDEMPOTENCY_UNAVAILABLE', 'idempotency keys cannot be checked right now', {
      cause: error,
      headers: { 'Retry-After': RETRY_AFTER_S },
    });
  }
}

export interface IdempotentRun {
  readonly scope: IdempotencyScope;
  /** Operation + request hash: a key reused on another route or with another body mismatches. */
  readonly fingerprint: string;
  /**
   * Publishes the command with the attempt's identity (the first attempt's under this key, so a
   * retry republishes the same command) and returns the response to send and store for replays.
   */
  readonly execute: (attempt: AttemptIdentity) => Promise<StoredResponse>;
}

/** New ids and the time for a command (the identity a first attempt proposes). */
export function freshAttempt(context: RouteContext): AttemptIdentity {
  return { commandId: context.newId(), entityId: context.newId(), issuedAtMs: context.now() };
}

/** Runs `execute` at most once per (principal, key, fingerprint) and answers the client. */
export async function runIdempotent(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  run: IdempotentRun,
): Promise<unknown> {
  const store = context.ports.idempotency;
  const begun = await storeBounded(context, () => store.begin(run.scope, run.fingerprint));
  switch (begun.outcome) {
    case 'replay':
      void reply.code(begun.response.statusCode).header('Idempotent-Replayed', 'true');
      return begun.response.body;
    case 'in_flight':
      throw new ApiError(
        'IDEMPOTENCY_KEY_IN_FLIGHT',
        'the first request with this Idempotency-Key is still being processed',
        {
          headers: { 'Retry-After': RETRY_AFTER_S },
        },
      );
    case 'mismatch':
      throw new ApiError(
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was already used for a different request',
        {
          errors: [{ field: 'Idempotency-Key', message: 'already used with a different request' }],
        },
      );
    case 'acquired':
      return executeHoldingKey(context, request, reply, run, begun.lockToken);
  }
}

async function executeHoldingKey(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  run: IdempotentRun,
  lockToken: string,
): Promise<unknown> {
  const store = context.ports.idempotency;
  let response: StoredResponse;
  try {
    const proposed = freshAttempt(context);
    const attempt = await storeBounded(context, () =>
      store.firstAttempt(run.scope, run.fingerprint, proposed),
    );
    response = await run.execute(attempt);
  } catch (error) {
    await storeBounded(context, () => store.release(run.scope, lockToken)).catch((releaseError: unknown) => {
      // The lock then lapses after its TTL; until then retries get 409 rather than a duplicate.
      request.log.warn({ err: releaseError }, 'could not release the idempotency key');
    });
    throw error;
  }
  await storeBounded(context, () => store.complete(run.scope, lockToken, response)).catch(
    (completeError: unknown) => {
      // The command is on the log: answer success. A retry may publish again; dedupe drops it.
      request.log.warn({ err: completeError }, 'could not store the idempotent response');
    },
  );
  void reply.code(response.statusCode);
  return response.body;
}

/** Where a payment's status is read. */
export function statusUrlOf(paymentId: string): string {
  return `/v1/payments/${paymentId}`;
}

/**
 * Publishes a payment command (a payment or a deposit) within the publish timeout and answers
 * 202 with where to follow it; shared by every route that starts a payment.
 */
export async function acceptPayment(
  context: RouteContext,
  request: FastifyRequest,
  command: PaymentCommand,
  headers: CommandHeaders,
  logFields: Readonly<Record<string, string>> = {},
): Promise<StoredResponse> {
  await publishBounded(context, () => context.ports.publisher.publishPayment(command, headers));
  logWithResponse(request, { paymentId: command.paymentId, kind: command.kind, ...logFields });
  const accepted = {
    paymentId: command.paymentId,
    status: 'INITIATED',
    statusUrl: statusUrlOf(command.paymentId),
  };
  return { statusCode: 202, body: accepted };
}
