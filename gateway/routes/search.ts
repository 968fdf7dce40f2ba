/**
 * Search over all payments, for operators:
 * `GET /v1/payments?q=&status=&accountId=&currency=&minAmount=&maxAmount=&from=&to=&limit=&cursor=`.
 * Every filter is optional and they combine; `q` matches the words of the reference (all of
 * them, case-insensitive, see `searchWords`). Newest first, ties by payment id, so the order is
 * stable and a page never repeats or skips a payment of the previous one. Served from the
 * Elasticsearch transactions index when it is among the projections, else from the payments
 * read model (PostgreSQL in the Kafka mode, memory in the embedded one).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { queryBounded, type RouteContext } from '../command-flow.js';
import { invalidField } from '../errors.js';
import { MAX_SEARCH_WORDS, searchWords, type PaymentSearchQuery } from '../ports.js';
import { ACCOUNT_ID_PARAM, AMOUNT_MINOR_MAX, CURRENCY, HEADERS_PLAIN, problemResponse } from '../schemas.js';
import type { CurrencyCode } from '../../schemas/types.js';
import {
  filtersOf,
  PAGE_QUERY_PROPERTIES,
  pageOfPayments,
  pageRequest,
  pageResponse,
  type PageQuery,
} from './pages.js';

const MAX_TEXT_LENGTH = 200;

interface SearchQuery extends PageQuery {
  readonly q?: string;
  readonly accountId?: string;
  readonly currency?: CurrencyCode;
  readonly minAmount?: string;
  readonly maxAmount?: string;
}

const amountOf = (text: string | undefined) => (text === undefined ? undefined : BigInt(text));

async function searchPayments(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const params = request.query as SearchQuery;
  const page = pageRequest(params);
  if (params.q !== undefined) {
    const words = searchWords(params.q);
    if (words.length === 0) throw invalidField('/q', 'must contain a letter or a digit');
    if (words.length > MAX_SEARCH_WORDS)
      throw invalidField('/q', `must have at most ${MAX_SEARCH_WORDS} words`);
  }
  const minAmountMinor = amountOf(params.minAmount);
  const maxAmountMinor = amountOf(params.maxAmount);
  if (minAmountMinor !== undefined && maxAmountMinor !== undefined && maxAmountMinor < minAmountMinor)
    throw invalidField('/maxAmount', 'must be at least minAmount');
  const query: PaymentSearchQuery = {
    ...filtersOf(page),
    ...(params.q === undefined ? {} : { text: params.q }),
    ...(params.accountId === undefined ? {} : { accountId: params.accountId }),
    ...(params.currency === undefined ? {} : { currency: params.currency }),
    ...(minAmountMinor === undefined ? {} : { minAmountMinor }),
    ...(maxAmountMinor === undefined ? {} : { maxAmountMinor }),
  };
  const views = await queryBounded(context, () => context.ports.payments.searchPayments(query));
  return pageResponse(views, page);
}

const AMOUNT_PARAM = {
  type: 'string',
  pattern: `^(0|[1-9][0-9]{0,${String(AMOUNT_MINOR_MAX).length - 1}})$`,
  description:
    'Integer amount in minor units (of each payment\u2019s own currency; add currency to compare like with like)',
} as const;

export function searchRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  app.get(
    '/v1/payments',
    {
      config: { roles: ['admin', 'superadmin'] },
      schema: {
        summary: 'Search all payments (operators), newest first',
        tags: ['payments'],
        headers: HEADERS_PLAIN,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...PAGE_QUERY_PROPERTIES,
            q: {
              type: 'string',
              minLength: 1,
              maxLength: MAX_TEXT_LENGTH,
              description: `Words that must all appear in the reference, case-insensitive (at most ${MAX_SEARCH_WORDS}); words are runs of letters and digits`,
            },
            accountId: { ...ACCOUNT_ID_PARAM, description: 'Sent or received by this account' },
            currency: CURRENCY,
            minAmount: { ...AMOUNT_PARAM, description: `At least this amount. ${AMOUNT_PARAM.description}` },
            maxAmount: { ...AMOUNT_PARAM, description: `At most this amount. ${AMOUNT_PARAM.description}` },
          },
        },
        response: {
          200: pageOfPayments(
            'A page of the matching payments, newest first (ties by payment id); nextCursor is null on the last page',
          ),
          400: problemResponse('A bad filter, limit, time or cursor, named in the problem'),
        },
      },
    },
    (request) => searchPayments(context, request),
  );
  return Promise.resolve();
}
