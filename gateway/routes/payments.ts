/**
 * Customers and merchants submit transfers from their own accounts, producers for the owners
 * they act for; each reads the status of the payments it may see.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PaymentCommand } from '../../schemas/types.js';
import { assertMayDebit, isOperator, mayReadPaymentOf, transferAuthority } from '../authority.js';
import { requestHash } from '../canonical.js';
import {
  acceptPayment,
  idempotencyKeyOf,
  principalOf,
  queryBounded,
  runIdempotent,
  type RouteContext,
} from '../command-flow.js';
import { ApiError, invalidField } from '../errors.js';
import type { Principal } from '../fastify-types.js';
import type { AttemptIdentity, PaymentView } from '../ports.js';
import {
  CREATE_PAYMENT_BODY,
  HEADERS_IDEMPOTENT,
  HEADERS_PLAIN,
  PAYMENT_ACCEPTED,
  PAYMENT_EVENTS,
  PAYMENT_ID_PARAMS,
  PAYMENT_VIEW,
  problemResponse,
} from '../schemas.js';
import { assertIpAddress } from '../validation.js';
import { maskIbansIn } from '../../schemas/iban.js';

interface CreatePaymentBody {
  readonly senderAccountId: string;
  readonly recipientAccountId: string;
  readonly amount: number;
  readonly currency: string;
  readonly reference?: string;
  readonly device?: { readonly id: string; readonly ip?: string };
}

function checkPaymentBody(body: CreatePaymentBody): void {
  if (body.senderAccountId === body.recipientAccountId) {
    throw invalidField('/recipientAccountId', 'must differ from senderAccountId');
  }
  if (body.device?.ip !== undefined) assertIpAddress('/device/ip', body.device.ip);
}

function toCommand(
  request: FastifyRequest,
  key: string,
  hash: string,
  attempt: AttemptIdentity,
): PaymentCommand {
  const body = request.body as CreatePaymentBody;
  return {
    commandId: attempt.commandId,
    paymentId: attempt.entityId,
    kind: 'TRANSFER',
    principal: principalOf(request).id,
    idempotencyKey: key,
    requestHash: hash,
    senderAccountId: body.senderAccountId,
    recipientAccountId: body.recipientAccountId,
    amountMinor: BigInt(body.amount),
    currency: body.currency,
    // Free text is stored and published: an IBAN written in it is masked like every other.
    reference: body.reference === undefined ? null : maskIbansIn(body.reference),
    device: body.device === undefined ? null : { id: body.device.id, ip: body.device.ip ?? null },
    submittedAtMs: attempt.issuedAtMs,
    authority: transferAuthority(principalOf(request)),
  };
}

async function createPayment(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const body = request.body as CreatePaymentBody;
  checkPaymentBody(body);
  const principal = principalOf(request);
  await assertMayDebit(context, transferAuthority(principal), body.senderAccountId);
  const key = idempotencyKeyOf(request) ?? '';
  const hash = requestHash(body);
  return runIdempotent(context, request, reply, {
    scope: { principal: principal.id, key },
    fingerprint: `POST /v1/payments ${hash}`,
    execute: async (attempt) => {
      const command = toCommand(request, key, hash, attempt);
      const headers = { correlationId: request.id, principal: principal.id, idempotencyKey: key };
      return acceptPayment(context, request, command, headers);
    },
  });
}

const isoTime = (ms: number): string => new Date(ms).toISOString();

/** The response shape; amounts stay bigint (serialized as exact JSON integers). */
export function toPaymentResponse(view: PaymentView) {
  return {
    paymentId: view.paymentId,
    kind: view.kind,
    status: view.status,
    amount: view.amountMinor,
    currency: view.currency,
    senderAccountId: view.senderAccountId,
    recipientAccountId: view.recipientAccountId,
    reference: view.reference,
    rejection: view.rejection,
    risk:
      view.risk === null
        ? null
        : { score: view.risk.score, decision: view.risk.decision, reasons: view.risk.reasons },
    events: view.events.map((event) => ({
      type: event.type,
      occurredAt: isoTime(event.occurredAtMs),
      recordedAt: isoTime(event.recordedAtMs),
      sequence: event.sequence,
    })),
    createdAt: isoTime(view.createdAtMs),
    updatedAt: isoTime(view.updatedAtMs),
  };
}

/**
 * Operators read every payment, a principal those it submitted; a customer or merchant those
 * from or to its accounts, a producer those of the owners it acts for. Any other id looks
 * unknown (404).
 */
async function mayRead(context: RouteContext, principal: Principal, view: PaymentView): Promise<boolean> {
  // A payment with no recorded principal is judged by its accounts alone.
  if (isOperator(principal) || view.principal === principal.id) return true;
  const owners = await Promise.all(
    [view.senderAccountId, view.recipientAccountId].map(async (accountId) => {
      const account = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
      return account?.ownerId;
    }),
  );
  return mayReadPaymentOf(principal, owners);
}

async function getPayment(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const { paymentId } = request.params as { paymentId: string };
  const view = await queryBounded(context, () => context.ports.payments.getPayment(paymentId));
  if (view === undefined || !(await mayRead(context, principalOf(request), view)))
    throw new ApiError('PAYMENT_NOT_FOUND', `no payment ${paymentId}`);
  return toPaymentResponse(view);
}

/** The event store's history of a payment the principal may read (else 404, as for the payment). */
async function getPaymentEvents(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const { paymentId } = request.params as { paymentId: string };
  const view = await queryBounded(context, () => context.ports.payments.getPayment(paymentId));
  if (view === undefined || !(await mayRead(context, principalOf(request), view)))
    throw new ApiError('PAYMENT_NOT_FOUND', `no payment ${paymentId}`);
  const events = await queryBounded(context, () => context.ports.payments.paymentEvents(paymentId));
  return {
    paymentId,
    events: events.map((event) => ({
      eventId: event.eventId,
      type: event.type,
      sequence: event.sequence,
      occurredAt: isoTime(event.occurredAtMs),
      recordedAt: isoTime(event.recordedAtMs),
      correlationId: event.correlationId,
    })),
  };
}

export function paymentRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  app.post(
    '/v1/payments',
    {
      config: { roles: ['customer', 'merchant', 'producer'], idempotent: true },
      schema: {
        summary: 'Submit a transfer between two accounts',
        tags: ['payments'],
        headers: HEADERS_IDEMPOTENT,
        body: CREATE_PAYMENT_BODY,
        response: {
          202: { description: 'The command is on the log; poll statusUrl', ...PAYMENT_ACCEPTED },
          403: problemResponse(
            'ACCOUNT_FORBIDDEN: a producer not acting for the owner of senderAccountId; FORBIDDEN: the token lacks the role',
          ),
          404: problemResponse(
            'ACCOUNT_NOT_FOUND: a customer or merchant naming a senderAccountId that is not its own (or does not exist)',
          ),
        },
      },
    },
    (request, reply) => createPayment(context, request, reply),
  );

  app.get(
    '/v1/payments/:paymentId',
    {
      config: { roles: ['customer', 'merchant', 'producer', 'admin', 'superadmin'] },
      schema: {
        summary: "A payment's current status and event history",
        tags: ['payments'],
        headers: HEADERS_PLAIN,
        params: PAYMENT_ID_PARAMS,
        response: {
          200: { description: 'The payment', ...PAYMENT_VIEW },
          404: problemResponse('No such payment'),
        },
      },
    },
    (request) => getPayment(context, request),
  );

  app.get(
    '/v1/payments/:paymentId/events',
    {
      config: { roles: ['customer', 'merchant', 'producer', 'admin', 'superadmin'] },
      schema: {
        summary: "A payment's events as the event store holds them, oldest first",
        tags: ['payments'],
        headers: HEADERS_PLAIN,
        params: PAYMENT_ID_PARAMS,
        response: {
          200: {
            description:
              'Every event of the payment once (by event id), by sequence; empty while the log has the payment but the event store not yet',
            ...PAYMENT_EVENTS,
          },
          404: problemResponse('No such payment'),
        },
      },
    },
    (request) => getPaymentEvents(context, request),
  );
  return Promise.resolve();
}
