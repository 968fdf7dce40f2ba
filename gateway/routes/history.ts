/**
 * An account's history: `GET /v1/accounts/{accountId}/payments?limit=&cursor=&status=&from=&to=`,
 * its payments sent and received, newest first (ties by payment id), cursor pagination. Read
 * from the payments read model (PostgreSQL in the Kafka mode, memory in the embedded one).
 * A customer or merchant reads its own accounts only; another owner's account looks unknown (404).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { mayReadAccount } from '../authority.js';
import { principalOf, queryBounded, type RouteContext } from '../command-flow.js';
import { ApiError } from '../errors.js';
import type { AccountPaymentsQuery } from '../ports.js';
import { ACCOUNT_ID_PARAMS, HEADERS_PLAIN, problemResponse } from '../schemas.js';
import {
  filtersOf,
  PAGE_QUERY_PROPERTIES,
  pageOfPayments,
  pageRequest,
  pageResponse,
  type PageQuery,
} from './pages.js';

async function accountHistory(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const { accountId } = request.params as { accountId: string };
  const page = pageRequest(request.query as PageQuery);
  const account = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
  if (account === undefined || !mayReadAccount(principalOf(request), account.ownerId))
    throw new ApiError('ACCOUNT_NOT_FOUND', `no account ${accountId}`);
  const query: AccountPaymentsQuery = { accountId, ...filtersOf(page) };
  const views = await queryBounded(context, () => context.ports.payments.accountPayments(query));
  return pageResponse(views, page);
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
          properties: PAGE_QUERY_PROPERTIES,
        },
        response: {
          200: pageOfPayments(
            'A page of the account\u2019s payments, newest first (ties by payment id); nextCursor is null on the last page',
          ),
          400: problemResponse('A bad limit, status, time or cursor'),
          404: problemResponse('No such account, or (for a customer or merchant) not its own'),
        },
      },
    },
    (request) => accountHistory(context, request),
  );
  return Promise.resolve();
}
