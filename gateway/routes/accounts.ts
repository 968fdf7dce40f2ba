/**
 * Administrators open, freeze/close and fund accounts, and read balances; customers and
 * merchants read their own accounts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountCommand, AccountStatus, KycTier, PaymentCommand } from '../../schemas/types.js';
import { fundingAccountOf } from '../../schemas/system-accounts.js';
import { DEPOSIT_AUTHORITY, mayReadAccount } from '../authority.js';
import { requestHash } from '../canonical.js';
import {
  acceptPayment,
  freshAttempt,
  idempotencyKeyOf,
  principalOf,
  publishBounded,
  queryBounded,
  runIdempotent,
  type RouteContext,
} from '../command-flow.js';
import { ApiError, invalidField } from '../errors.js';
import { uuidv7TimeOf } from '../ids.js';
import { topicCatalogue, TOPIC } from '../../topics/catalogue.js';
import { seal } from '../../schemas/pii.js';
import { maskIban } from '../iban.js';
import { logWithResponse } from '../plugins/request-log.js';
import type { AccountView, AttemptIdentity, StoredResponse } from '../ports.js';
import {
  ACCOUNT_ACCEPTED,
  ACCOUNT_COMMAND_PARAMS,
  ACCOUNT_COMMAND_VIEW,
  ACCOUNT_ID_PARAMS,
  ACCOUNT_VIEW,
  CHANGE_ACCOUNT_STATUS_BODY,
  DEPOSIT_BODY,
  HEADERS_IDEMPOTENT,
  HEADERS_OPTIONALLY_IDEMPOTENT,
  HEADERS_PLAIN,
  OPEN_ACCOUNT_BODY,
  PAYMENT_ACCEPTED,
  problemResponse,
} from '../schemas.js';
import { assertIban } from '../validation.js';

interface OpenAccountBody {
  readonly accountId?: string;
  readonly ownerId: string;
  readonly currency: string;
  readonly kycTier: KycTier;
  readonly iban?: string;
}

interface DepositBody {
  readonly amount: number;
  readonly currency: string;
}

const accountUrlOf = (accountId: string): string => `/v1/accounts/${accountId}`;
const commandUrlOf = (accountId: string, commandId: string): string =>
  `/v1/accounts/${accountId}/commands/${commandId}`;

/** What a 202 of an account command answers: where to follow the command, and the account. */
function accepted(command: AccountCommand) {
  return {
    accountId: command.accountId,
    commandId: command.commandId,
    statusUrl: commandUrlOf(command.accountId, command.commandId),
    accountUrl: accountUrlOf(command.accountId),
  };
}

/**
 * How long an undecided command reads PENDING: while `accounts.outcomes` keeps its decisions
 * (the topic's retention). A command id the gateway made (UUID v7) carries its issue time; an
 * id older than that, from the future, or not made here is unknown (404), so a mistyped id
 * does not read PENDING forever.
 */
const PENDING_HORIZON_MS =
  topicCatalogue().find((topic) => topic.name === TOPIC.accountsOutcomes)?.retentionMs ?? 7 * 86_400_000;
const CLOCK_SKEW_MS = 60_000;
const accountIdOf = (request: FastifyRequest): string => (request.params as { accountId: string }).accountId;

function headersOf(request: FastifyRequest, idempotencyKey: string | null) {
  return { correlationId: request.id, principal: principalOf(request).id, idempotencyKey };
}

/** `attempt`: the first attempt's identity under the request's key, so a retry opens the same account. */
async function publishOpen(
  context: RouteContext,
  request: FastifyRequest,
  key: string | null,
  attempt: AttemptIdentity,
): Promise<StoredResponse> {
  const body = request.body as OpenAccountBody;
  const command: AccountCommand = {
    type: 'OPEN',
    commandId: attempt.commandId,
    accountId: body.accountId ?? attempt.entityId,
    ownerId: body.ownerId,
    currency: body.currency,
    kycTier: body.kycTier,
    // Kafka logs are storage too: the command carries the IBAN masked and sealed, never in clear.
    iban: null,
    ibanMasked: body.iban === undefined ? null : maskIban(body.iban),
    ibanSealed:
      body.iban === undefined
        ? null
        : seal(body.iban, 'iban', context.piiKeyRing, body.accountId ?? attempt.entityId),
    issuedAtMs: attempt.issuedAtMs,
  };
  await publishBounded(context, () =>
    context.ports.publisher.publishAccount(command, headersOf(request, key)),
  );
  logWithResponse(request, { accountId: command.accountId, iban: command.ibanMasked });
  return { statusCode: 202, body: accepted(command) };
}

/** The Idempotency-Key is optional here: without it, a retry with no accountId opens a second account. */
async function openAccount(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const body = request.body as OpenAccountBody;
  if (body.iban !== undefined) assertIban('/iban', body.iban);
  if (body.accountId !== undefined) await assertOpenable(context, body.accountId, body);
  const key = idempotencyKeyOf(request);
  if (key === undefined) {
    const response = await publishOpen(context, request, null, freshAttempt(context));
    void reply.code(response.statusCode);
    return response.body;
  }
  return runIdempotent(context, request, reply, {
    scope: { principal: principalOf(request).id, key },
    fingerprint: `POST /v1/accounts ${requestHash(body)}`,
    execute: (attempt) => publishOpen(context, request, key, attempt),
  });
}

/**
 * The accounts table already has this id for another owner or currency: the pipeline would
 * refuse the OPEN, so it is refused here, at once (409). The same owner and currency pass, so a
 * retried open still answers 202.
 */
async function assertOpenable(
  context: RouteContext,
  accountId: string,
  body: OpenAccountBody,
): Promise<void> {
  const existing = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
  if (existing === undefined) return;
  const differs = [
    ...(existing.ownerId === body.ownerId ? [] : ['/ownerId']),
    ...(existing.currency === body.currency ? [] : ['/currency']),
  ];
  if (differs.length === 0) return;
  throw new ApiError(
    'ACCOUNT_EXISTS',
    `account ${accountId} is already open with another owner or currency`,
    {
      errors: differs.map((field) => ({ field, message: 'differs from the existing account' })),
    },
  );
}

/**
 * What the gateway can judge from the accounts table before publishing: the account exists
 * (404), and closing it needs a zero balance (409 naming the balance; the route is for admins,
 * who may read it). The table follows the log a moment behind; the pipeline decides the rest.
 */
async function assertStatusChange(
  context: RouteContext,
  accountId: string,
  status: AccountStatus,
): Promise<void> {
  const view = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
  if (view === undefined) throw new ApiError('ACCOUNT_NOT_FOUND', `no account ${accountId}`);
  if (status === 'CLOSED' && view.balanceMinor !== 0n) {
    const balance = `${view.balanceMinor} minor units of ${view.currency}`;
    throw new ApiError(
      'ACCOUNT_NOT_EMPTY',
      `account ${accountId} holds ${balance}; only an empty account can be closed`,
      {
        errors: [{ field: '/status', message: `the balance is ${balance}, not zero` }],
      },
    );
  }
}

async function changeStatus(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const accountId = accountIdOf(request);
  const { status } = request.body as { status: AccountStatus };
  await assertStatusChange(context, accountId, status);
  const command: AccountCommand = {
    type: 'CHANGE_STATUS',
    commandId: context.newId(),
    accountId,
    status,
    issuedAtMs: context.now(),
  };
  await publishBounded(context, () =>
    context.ports.publisher.publishAccount(command, headersOf(request, null)),
  );
  logWithResponse(request, { accountId, status });
  void reply.code(202);
  return { ...accepted(command), status };
}

function depositCommand(
  request: FastifyRequest,
  key: string,
  hash: string,
  attempt: AttemptIdentity,
): PaymentCommand {
  const body = request.body as DepositBody;
  return {
    commandId: attempt.commandId,
    paymentId: attempt.entityId,
    kind: 'DEPOSIT',
    principal: principalOf(request).id,
    idempotencyKey: key,
    requestHash: hash,
    senderAccountId: fundingAccountOf(body.currency),
    recipientAccountId: accountIdOf(request),
    amountMinor: BigInt(body.amount),
    currency: body.currency,
    reference: null,
    device: null,
    submittedAtMs: attempt.issuedAtMs,
    authority: DEPOSIT_AUTHORITY,
  };
}

async function deposit(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const accountId = accountIdOf(request);
  const body = request.body as DepositBody;
  if (accountId.includes(':')) throw invalidField('accountId', 'system accounts cannot receive deposits');
  const key = idempotencyKeyOf(request) ?? '';
  // The target account is part of what the key stands for: same key, other account = mismatch.
  const hash = requestHash({ ...body, accountId });
  return runIdempotent(context, request, reply, {
    scope: { principal: principalOf(request).id, key },
    fingerprint: `POST /v1/accounts/:accountId/deposits ${hash}`,
    execute: async (attempt) => {
      const command = depositCommand(request, key, hash, attempt);
      return acceptPayment(context, request, command, headersOf(request, key), { accountId });
    },
  });
}

const isoTime = (ms: number): string => new Date(ms).toISOString();

export function toAccountResponse(view: AccountView) {
  return {
    accountId: view.accountId,
    ownerId: view.ownerId,
    currency: view.currency,
    kycTier: view.kycTier,
    iban: view.ibanMasked ?? (view.iban === null ? null : maskIban(view.iban)),
    status: view.status,
    balanceMinor: view.balanceMinor.toString(),
    openedAt: isoTime(view.openedAtMs),
    updatedAt: isoTime(view.updatedAtMs),
  };
}

async function getAccount(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const accountId = accountIdOf(request);
  const view = await queryBounded(context, () => context.ports.accounts.getAccount(accountId));
  // Another owner's account looks unknown: its existence is not the principal's to know.
  if (view === undefined || !mayReadAccount(principalOf(request), view.ownerId))
    throw new ApiError('ACCOUNT_NOT_FOUND', `no account ${accountId}`);
  return toAccountResponse(view);
}

async function getAccountCommand(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const { accountId, commandId } = request.params as { accountId: string; commandId: string };
  const outcome = await queryBounded(context, () =>
    context.ports.accounts.getAccountCommand(accountId, commandId),
  );
  if (outcome !== undefined) {
    return {
      commandId,
      accountId,
      commandType: outcome.commandType,
      outcome: outcome.outcome,
      code: outcome.code,
      detail: outcome.detail,
      status: outcome.status,
      decidedAt: isoTime(outcome.decidedAtMs),
    };
  }
  const issuedAtMs = uuidv7TimeOf(commandId);
  const age = issuedAtMs === undefined ? undefined : context.now() - issuedAtMs;
  if (age === undefined || age > PENDING_HORIZON_MS || age < -CLOCK_SKEW_MS)
    throw new ApiError('COMMAND_NOT_FOUND', `no command ${commandId} of account ${accountId}`);
  return {
    commandId,
    accountId,
    outcome: 'PENDING',
    code: null,
    detail: null,
    status: null,
    decidedAt: null,
  };
}

const ADMIN = { roles: ['admin', 'superadmin'] } as const;

export function accountRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  app.post(
    '/v1/accounts',
    {
      config: { ...ADMIN, idempotent: true },
      schema: {
        summary: 'Open an account',
        tags: ['accounts'],
        headers: HEADERS_OPTIONALLY_IDEMPOTENT,
        body: OPEN_ACCOUNT_BODY,
        response: {
          202: { description: 'The open command is on the log', ...ACCOUNT_ACCEPTED },
          409: problemResponse(
            'ACCOUNT_EXISTS: the id is taken with another owner or currency; IDEMPOTENCY_KEY_IN_FLIGHT: the first request with this key is still running',
          ),
        },
      },
    },
    (request, reply) => openAccount(context, request, reply),
  );
  app.patch(
    '/v1/accounts/:accountId',
    {
      config: ADMIN,
      schema: {
        summary: 'Freeze, reactivate or close an account',
        tags: ['accounts'],
        headers: HEADERS_PLAIN,
        params: ACCOUNT_ID_PARAMS,
        body: CHANGE_ACCOUNT_STATUS_BODY,
        response: {
          202: { description: 'The status command is on the log', ...ACCOUNT_ACCEPTED },
          404: problemResponse('No such account (yet: the accounts table follows the log a moment behind)'),
          409: problemResponse('ACCOUNT_NOT_EMPTY: closing an account that holds money'),
        },
      },
    },
    (request, reply) => changeStatus(context, request, reply),
  );
  app.post(
    '/v1/accounts/:accountId/deposits',
    {
      config: { ...ADMIN, idempotent: true },
      schema: {
        summary: "Fund an account from its currency's funding account",
        tags: ['accounts'],
        headers: HEADERS_IDEMPOTENT,
        params: ACCOUNT_ID_PARAMS,
        body: DEPOSIT_BODY,
        response: {
          202: { description: 'The deposit command is on the log; poll statusUrl', ...PAYMENT_ACCEPTED },
        },
      },
    },
    (request, reply) => deposit(context, request, reply),
  );
  app.get(
    '/v1/accounts/:accountId',
    {
      config: { roles: ['customer', 'merchant', 'admin', 'superadmin'] },
      schema: {
        summary: 'An account with its balance',
        tags: ['accounts'],
        headers: HEADERS_PLAIN,
        params: ACCOUNT_ID_PARAMS,
        response: {
          200: { description: 'The account', ...ACCOUNT_VIEW },
          404: problemResponse('No such account, or (for a customer or merchant) not its own'),
        },
      },
    },
    (request) => getAccount(context, request),
  );
  app.get(
    '/v1/accounts/:accountId/commands/:commandId',
    {
      config: ADMIN,
      schema: {
        summary: "An account command's status: pending, applied, unchanged, or refused with its reason",
        tags: ['accounts'],
        headers: HEADERS_PLAIN,
        params: ACCOUNT_COMMAND_PARAMS,
        response: {
          200: {
            description: 'The decision on the command, or PENDING while it is on its way',
            ...ACCOUNT_COMMAND_VIEW,
          },
          404: problemResponse('COMMAND_NOT_FOUND: no such command of this account'),
        },
      },
    },
    (request) => getAccountCommand(context, request),
  );
  return Promise.resolve();
}
