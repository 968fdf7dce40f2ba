/**
 * What the paged payment lists share (an account's history, the search): the limit, the
 * cursor, the status and time filters, and the page's response shape. Every list is newest
 * first, ties by payment id, and pages follow with the opaque `nextCursor`.
 */
import { decodePageCursor, encodePageCursor } from '../cursor.js';
import { invalidField } from '../errors.js';
import type { AccountPaymentsCursor, PaymentView } from '../ports.js';
import { PAYMENT_VIEW } from '../schemas.js';
import { toPaymentResponse } from './payments.js';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
const STATUSES = ['INITIATED', 'VALIDATED', 'DEBITED', 'COMPLETED', 'REJECTED', 'HELD', 'FAILED'] as const;

/** The query parameters every list takes, as they arrive (validated by PAGE_QUERY_PROPERTIES). */
export interface PageQuery {
  readonly limit?: string;
  readonly cursor?: string;
  readonly status?: PaymentView['status'];
  readonly from?: string;
  readonly to?: string;
}

/** The filters and position of a page request, parsed; `limit` is one more than the page shows. */
export interface PageRequest {
  readonly limit: number;
  readonly shown: number;
  readonly after?: AccountPaymentsCursor;
  readonly status?: PaymentView['status'];
  readonly fromMs?: number;
  readonly toMs?: number;
}

function timeOf(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw invalidField(field, 'must be an RFC 3339 date-time');
  return ms;
}

/** Parses the common parameters; a bad one is a 400 naming it. */
export function pageRequest(query: PageQuery): PageRequest {
  const shown = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (shown > MAX_LIMIT) throw invalidField('/limit', `must be at most ${MAX_LIMIT}`);
  const fromMs = timeOf('/from', query.from);
  const toMs = timeOf('/to', query.to);
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs)
    throw invalidField('/to', 'must be after from');
  const after = query.cursor === undefined ? undefined : decodePageCursor(query.cursor);
  return {
    limit: shown + 1,
    shown,
    ...(after === undefined ? {} : { after: { createdAtMs: after.atMs, paymentId: after.paymentId } }),
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(fromMs === undefined ? {} : { fromMs }),
    ...(toMs === undefined ? {} : { toMs }),
  };
}

/** The query's filters without the page size (`shown`), for the ports. */
export function filtersOf(request: PageRequest): Omit<PageRequest, 'shown'> {
  return {
    limit: request.limit,
    ...(request.after === undefined ? {} : { after: request.after }),
    ...(request.status === undefined ? {} : { status: request.status }),
    ...(request.fromMs === undefined ? {} : { fromMs: request.fromMs }),
    ...(request.toMs === undefined ? {} : { toMs: request.toMs }),
  };
}

/** The response: at most `shown` items and the cursor of the next page (null on the last). */
export function pageResponse(views: readonly PaymentView[], request: PageRequest) {
  const items = views.slice(0, request.shown);
  const last = items.at(-1);
  return {
    items: items.map(toPaymentResponse),
    nextCursor:
      views.length > request.shown && last !== undefined
        ? encodePageCursor({ atMs: last.createdAtMs, paymentId: last.paymentId })
        : null,
  };
}

/** JSON Schema of the common query parameters. */
export const PAGE_QUERY_PROPERTIES = {
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
} as const;

/** The 200 response of a list. */
export function pageOfPayments(description: string) {
  return {
    description,
    type: 'object',
    required: ['items', 'nextCursor'],
    properties: {
      items: { type: 'array', items: PAYMENT_VIEW },
      nextCursor: { type: ['string', 'null'] },
    },
  } as const;
}
