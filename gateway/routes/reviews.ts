/**
 * The manual review queue and the fraud deny list.
 *
 * - `GET /v1/reviews?status=OPEN&limit=&cursor=` (reviewer, admin): payments HELD for review,
 *   oldest hold first, with their score and reasons; cursor pagination.
 * - `POST /v1/reviews/{paymentId}/decision` (reviewer, admin) `{"decision": "APPROVE" | "DECLINE",
 *   "note"?}` → 202 once the decision is on `reviews.decisions`; the ledger posts the hold on or
 *   voids it. A payment never held → 404; a decision on a payment already decided (or a second
 *   decision while the first is on its way) → 409.
 * - `PUT` / `DELETE /v1/risk/denylist/{kind}/{value}` (admin), kind `device`, `ip` or `account` →
 *   204 once the change is on `risk.denylist`.
 */
import { randomUUID } from 'node:crypto';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import type { DenyListKind, ReviewDecision } from '../../schemas/types.js';
import { principalOf, publishBounded, queryBounded, type RouteContext } from '../command-flow.js';
import { ApiError, invalidField } from '../errors.js';
import { decodePageCursor, encodePageCursor } from '../cursor.js';
import { heldAtOf, holdTimeOf, type HeldCursor, type PaymentView } from '../ports.js';
import { CURRENCY, HEADERS_PLAIN, PAYMENT_ID_PARAMS, problemResponse, RISK_REASONS } from '../schemas.js';
import { assertIpAddress } from '../validation.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
/** The idempotency scope a decision takes: one decision per payment, whoever makes it. */
const DECISION_SCOPE = 'review-decision';

const isoTime = (ms: number): string => new Date(ms).toISOString();

export function encodeCursor(cursor: HeldCursor): string {
  return encodePageCursor({ atMs: cursor.heldAtMs, paymentId: cursor.paymentId });
}

function decodeCursor(text: string): HeldCursor {
  const { atMs, paymentId } = decodePageCursor(text);
  return { heldAtMs: atMs, paymentId };
}

function reviewItem(view: PaymentView) {
  const heldAtMs = holdTimeOf(view);
  return {
    paymentId: view.paymentId,
    score: view.risk?.score ?? 0,
    reasons: view.risk?.reasons ?? [],
    heldAt: isoTime(heldAtMs),
    amount: view.amountMinor,
    currency: view.currency,
    senderAccountId: view.senderAccountId,
    recipientAccountId: view.recipientAccountId,
  };
}

async function listReviews(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const query = request.query as { status?: string; limit?: string; cursor?: string };
  const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (limit > MAX_LIMIT) throw invalidField('/limit', `must be at most ${MAX_LIMIT}`);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const views = await queryBounded(context, () => context.ports.payments.listHeld(limit + 1, after));
  const page = views.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(reviewItem),
    nextCursor:
      views.length > limit && last !== undefined
        ? encodeCursor({ heldAtMs: holdTimeOf(last), paymentId: last.paymentId })
        : null,
  };
}

async function decide(context: RouteContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { paymentId } = request.params as { paymentId: string };
  const body = request.body as { decision: 'APPROVE' | 'DECLINE'; note?: string };
  const principal = principalOf(request);
  const view = await queryBounded(context, () => context.ports.payments.getPayment(paymentId));
  if (view === undefined || heldAtOf(view) === undefined)
    throw new ApiError('REVIEW_NOT_FOUND', `payment ${paymentId} is not held for review`);
  if (view.status !== 'HELD')
    throw new ApiError('REVIEW_DECIDED', `payment ${paymentId} was already decided: it is ${view.status}`);
  const scope = { principal: DECISION_SCOPE, key: paymentId };
  const begun = await queryBounded(context, () => context.ports.idempotency.begin(scope, DECISION_SCOPE));
  if (begun.outcome !== 'acquired')
    throw new ApiError('REVIEW_DECIDED', `a decision on payment ${paymentId} was already taken`);
  const decision: ReviewDecision = {
    decisionId: randomUUID(),
    paymentId,
    senderAccountId: view.senderAccountId,
    decision: body.decision,
    reviewer: principal.id,
    note: body.note ?? null,
    decidedAtMs: Date.now(),
  };
  try {
    await publishBounded(context, () =>
      context.ports.publisher.publishReviewDecision(decision, {
        correlationId: request.id,
        principal: principal.id,
        idempotencyKey: null,
      }),
    );
  } catch (error) {
    // Not on the log: the payment stays HELD and another decision may be taken.
    await context.ports.idempotency.release(scope, begun.lockToken).catch(() => undefined);
    throw error;
  }
  const accepted = { paymentId, decisionId: decision.decisionId, decision: decision.decision };
  await context.ports.idempotency
    .complete(scope, begun.lockToken, { statusCode: 202, body: accepted })
    .catch(() => undefined);
  request.log.info(
    { paymentId, decision: decision.decision, decisionId: decision.decisionId },
    'review decided',
  );
  return reply.code(202).send(accepted);
}

const DENY_KINDS: Readonly<Record<string, DenyListKind>> = { device: 'DEVICE', ip: 'IP', account: 'ACCOUNT' };

async function changeDenyList(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  listed: boolean,
): Promise<unknown> {
  const params = request.params as { kind: string; value: string };
  const kind = DENY_KINDS[params.kind]!;
  if (kind === 'IP') assertIpAddress('/value', params.value);
  const principal = principalOf(request);
  const atMs = Date.now();
  const key = `${kind}:${params.value}`;
  const entry = listed ? { kind, value: params.value, addedBy: principal.id, addedAtMs: atMs } : null;
  await publishBounded(context, () =>
    context.ports.publisher.publishDenyList(
      key,
      entry,
      { correlationId: request.id, principal: principal.id, idempotencyKey: null },
      atMs,
    ),
  );
  request.log.info({ denyList: key, listed }, listed ? 'deny-listed' : 'removed from the deny list');
  return reply.code(204).send();
}

const REVIEW_ITEM = {
  type: 'object',
  required: ['paymentId', 'score', 'reasons', 'heldAt', 'amount', 'currency', 'senderAccountId'],
  properties: {
    paymentId: { type: 'string' },
    score: { type: 'integer', minimum: 0, maximum: 100 },
    reasons: RISK_REASONS,
    heldAt: { type: 'string', format: 'date-time' },
    amount: { type: 'integer', description: 'Minor units of the currency' },
    currency: CURRENCY,
    senderAccountId: { type: 'string' },
    recipientAccountId: { type: 'string' },
  },
} as const;

const DENY_PARAMS = {
  type: 'object',
  required: ['kind', 'value'],
  properties: {
    kind: { type: 'string', enum: Object.keys(DENY_KINDS) },
    value: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7E]+$' },
  },
} as const;

export function reviewRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  app.get(
    '/v1/reviews',
    {
      config: { roles: ['reviewer', 'admin', 'superadmin'] },
      schema: {
        summary: 'Payments held for manual review, oldest first',
        tags: ['reviews'],
        headers: HEADERS_PLAIN,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['OPEN'], default: 'OPEN' },
            limit: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,2}$',
              description: `Items per page, 1-${MAX_LIMIT} (default ${DEFAULT_LIMIT})`,
            },
            cursor: { type: 'string', minLength: 1, maxLength: 512 },
          },
        },
        response: {
          200: {
            description: 'A page of held payments; nextCursor is null on the last page',
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: {
              items: { type: 'array', items: REVIEW_ITEM },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          400: problemResponse('A bad limit, status or cursor'),
        },
      },
    },
    (request) => listReviews(context, request),
  );

  app.post(
    '/v1/reviews/:paymentId/decision',
    {
      config: { roles: ['reviewer', 'admin', 'superadmin'] },
      schema: {
        summary: 'Approve or decline a held payment',
        tags: ['reviews'],
        headers: HEADERS_PLAIN,
        params: PAYMENT_ID_PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['decision'],
          properties: {
            decision: { type: 'string', enum: ['APPROVE', 'DECLINE'] },
            note: { type: 'string', maxLength: 1_000 },
          },
        },
        response: {
          202: {
            description:
              'The decision is on the log; the payment moves on to COMPLETED or REJECTED REVIEW_DECLINED',
            type: 'object',
            required: ['paymentId', 'decisionId', 'decision'],
            properties: {
              paymentId: { type: 'string' },
              decisionId: { type: 'string' },
              decision: { type: 'string', enum: ['APPROVE', 'DECLINE'] },
            },
          },
          400: problemResponse('The body names no valid decision'),
          404: problemResponse('The payment is unknown or was never held for review'),
          409: problemResponse('The payment was already decided'),
        },
      },
    },
    (request, reply) => decide(context, request, reply),
  );

  for (const method of ['PUT', 'DELETE'] as const) {
    const listed = method === 'PUT';
    app.route({
      method,
      url: '/v1/risk/denylist/:kind/:value',
      config: { roles: ['admin', 'superadmin'] },
      schema: {
        summary: listed
          ? 'Deny a device, IP address or account'
          : 'Remove a device, IP address or account from the deny list',
        tags: ['risk'],
        headers: HEADERS_PLAIN,
        params: DENY_PARAMS,
        response: {
          204: {
            description: 'The change is on the log; payments submitted from now on are scored with it',
            type: 'null',
          },
          400: problemResponse('An unknown kind or a malformed value'),
        },
      },
      handler: (request, reply) => changeDenyList(context, request, reply, listed),
    });
  }
  return Promise.resolve();
}
