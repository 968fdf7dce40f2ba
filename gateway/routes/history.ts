/**
 * An account's history: `GET /v1/accounts/{accountId}/payments?limit=&cursor=&status=&from=&to=`,
 * its payments sent and received, newest first (ties by payment id), cursor pagination. Read
 * from the payments read model (PostgreSQL in the Kafka mode, memory in the embedded one).
 * A customer or merchant reads its own accounts only; another owner's account looks unknown (404).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { mayReadAccount } from '../authority.js';
import { principalOf, queryBounded, type RouteContext } from '../command-flow.js';
import { decodePageCursor, encodePageCursor } from '../cursor.js';
import { ApiError, invalidField } from '../errors.js';
import type { AccountPaymentsQuery, PaymentView } from '../ports.js';
import { ACCOUNT_ID_PARAMS, HEADERS_PLAIN, PAYMENT_VIEW, problemResponse } from '../schemas.js';
import { toPaymentResponse } from './payments.js';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
const STATUSES = ['INITIATED', 'VALIDATED', 'DEBITED', 'COMPLETED', 'REJECTED', 'HELD', 'FAILED'] as const;

interface HistoryQuery {
  readonly limit?: string;
  readonly cursor?: string;
  readonly status?: PaymentView['status'];
  readonly from?: string;
  readonly to?: string;
}

function timeOf(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw invalidField(field, 'must be an RFC 3339 date-time');
  return ms;
}

async function accountHistory(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const { accountId } = request.params as { accountId: string };
  const query = request.query as HistoryQuery;
  const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (limit > MAX_LIMIT) throw invalidField('/limit', `must be at most ${MAX_LIMIT}`);
  const fromMs = timeOf('/from', query.from);
  const toMs = timeOf('/to', query.to);
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs)
    throw invalidField('/to', 'must be after from');
  const account = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
  if (account === undefined || !mayReadAccount(principalOf(request), account.ownerId))
    throw new ApiError('ACCOUNT_NOT_FOUND', `no account ${accountId}`);
  const after = query.cursor === undefined ? undefined : decodePageCursor(query.cursor);
  const page: AccountPaymentsQuery = {
    accountId,
    limit: limit + 1,
    ...(after === undefined ? {} : { after: { createdAtMs: after.atMs, paymentId: after.paymentId } }),
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(fromMs === undefined ? {} : { fromMs }),
    ...(toMs === undefined ? {} : { toMs }),
  };
  const views = await queryBounded(context, () => context.ports.payments.accountPayments(page));
  const items = views.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(toPaymentResponse),
    nextCursor:
      views.length > limit && last !== undefined
        ? encodePageCursor({ atMs: last.createdAtMs, paymentId: last.paymentId })
        : null,
  };
}

export function historyRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  app.get(
    '/v1/accounts/:accountId/payments',
    {
      config: { roles: ['customer', 'merchant', 'admin', 'superadmin'] },
      schema: {
        summary: "An account's payments, sent and received, newest first",
        tags: ['accounts'],
        headers: HEADERS_PLAIN,
        params: ACCOUNT_ID_PARAMS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,2}$',
              description: `Items per page, 1-${MAX_LIMIT} (default ${DEFAULT_LIMIT})`,
            },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 512,
              description: 'The nextCursor of the previous page',
            },
            status: { type: 'string', enum: [...STATUSES] },
            from: { type: 'string', format: 'date-time', description: 'Created at or after (RFC 3339)' },
            to: { type: 'string', format: 'date-time', description: 'Created before (RFC 3339)' },
          },
        },
        response: {
          200: {
            description:
              'A page of the account\u2019s payments, newest first (ties by payment id); nextCursor is null on the last page',
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: {
              items: { type: 'array', items: PAYMENT_VIEW },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          400: problemResponse('A bad limit, status, time or cursor'),
          404: problemResponse('No such account, or (for a customer or merchant) not its own'),
        },
      },
    },
    (request) => accountHistory(context, request),
  );
  return Promise.resolve();
}
