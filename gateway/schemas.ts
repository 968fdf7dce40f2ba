/**
 * JSON Schemas of the HTTP API. The same objects validate requests, serialize responses (which
 * also keeps unlisted fields from leaking) and generate /openapi.json.
 */
import { SUPPORTED_CURRENCIES } from '../schemas/currencies.js';
import { ERROR_CODES } from './errors.js';
import { IBAN_PATTERN } from './iban.js';

/**
 * Largest accepted amount in minor units: 15 digits, below 2^53, so every JSON parser reads it
 * exactly (JSON numbers above 2^53 silently lose precision in JavaScript clients).
 */
export const AMOUNT_MINOR_MAX = 999_999_999_999_999;

export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
export const CORRELATION_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

/** Customer account ids; `:` is reserved for system accounts such as `funding:EUR`. */
const CUSTOMER_ACCOUNT_ID = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'Customer account id: 1–64 of A–Z a–z 0–9 _ . -',
} as const;

/** Any account id, including system accounts (`funding:EUR`), for reads and admin changes. */
export const ACCOUNT_ID_PARAM = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' } as const;

/** The one currency rule (schemas/currencies.ts): validation and /openapi.json both use this enum. */
export const CURRENCY = {
  type: 'string',
  enum: SUPPORTED_CURRENCIES,
  description: 'ISO 4217 alphabetic code of a currency PayFlow moves money in',
} as const;

const AMOUNT = {
  type: 'integer',
  minimum: 1,
  maximum: AMOUNT_MINOR_MAX,
  description: `Integer amount in minor units (cents), 1 to ${AMOUNT_MINOR_MAX}`,
} as const;

const KYC_TIER = { type: 'string', enum: ['TIER_0', 'TIER_1', 'TIER_2', 'TIER_3'] } as const;
const ACCOUNT_STATUS = { type: 'string', enum: ['ACTIVE', 'FROZEN', 'CLOSED'] } as const;
const UUID = { type: 'string', format: 'uuid' } as const;

const CORRELATION_HEADER = {
  type: 'string',
  pattern: CORRELATION_ID_PATTERN,
  description: 'Optional; generated when absent and echoed in the response',
} as const;

export const HEADERS_PLAIN = {
  type: 'object',
  properties: { 'x-correlation-id': CORRELATION_HEADER },
} as const;

export const HEADERS_IDEMPOTENT = {
  type: 'object',
  required: ['idempotency-key'],
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: IDEMPOTENCY_KEY_LENGTH_MAX,
      description: 'Client-generated key (e.g. a UUID); scoped per principal, kept at least 24 h',
    },
    'x-correlation-id': CORRELATION_HEADER,
  },
} as const;

/** Same as HEADERS_IDEMPOTENT but the key is optional (opening an account). */
export const HEADERS_OPTIONALLY_IDEMPOTENT = {
  ...HEADERS_IDEMPOTENT,
  required: [],
} as const;

export const PROBLEM_SCHEMA = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: {
          field: { type: 'string', description: 'JSON pointer into the body (/amount) or a header name' },
          message: { type: 'string' },
        },
      },
    },
  },
} as const;

export const PROBLEM_REF = { $ref: 'Problem#' } as const;

/** A response documented (and serialized) as application/problem+json. */
export function problemResponse(description: string) {
  return { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } };
}

export const CREATE_PAYMENT_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['senderAccountId', 'recipientAccountId', 'amount', 'currency'],
  properties: {
    senderAccountId: CUSTOMER_ACCOUNT_ID,
    recipientAccountId: CUSTOMER_ACCOUNT_ID,
    amount: AMOUNT,
    currency: CURRENCY,
    reference: {
      type: 'string',
      maxLength: 140,
      description:
        'Free text for the parties; every IBAN written in it is stored and shown masked (`SA****7519`)',
    },
    device: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      properties: {
        id: { type: 'string', minLength: 1, maxLength: 128 },
        ip: { type: 'string', minLength: 2, maxLength: 45, description: 'IPv4 or IPv6 address' },
      },
    },
  },
} as const;

export const PAYMENT_ACCEPTED = {
  type: 'object',
  required: ['paymentId', 'status', 'statusUrl'],
  properties: {
    paymentId: UUID,
    status: { type: 'string', enum: ['INITIATED'] },
    statusUrl: { type: 'string' },
  },
} as const;

export const PAYMENT_ID_PARAMS = {
  type: 'object',
  required: ['paymentId'],
  properties: { paymentId: UUID },
} as const;

/** Each rule or model feature that contributed to a fraud score, with its points. */
export const RISK_REASONS = {
  type: 'array',
  items: {
    type: 'object',
    required: ['code', 'points'],
    properties: {
      code: { type: 'string' },
      points: { type: 'integer' },
      detail: { type: ['string', 'null'] },
    },
  },
} as const;

/** The event store's rows of a payment (`GET /v1/payments/{paymentId}/events`). */
export const PAYMENT_EVENTS = {
  type: 'object',
  required: ['paymentId', 'events'],
  properties: {
    paymentId: UUID,
    events: {
      type: 'array',
      items: {
        type: 'object',
        required: ['eventId', 'type', 'sequence', 'occurredAt', 'recordedAt', 'correlationId'],
        properties: {
          eventId: { type: 'string', description: 'The event\u2019s id on payments.events' },
          type: { type: 'string', description: 'PaymentInitiated, PaymentValidated, \u2026' },
          sequence: { type: 'integer', minimum: 0 },
          occurredAt: { type: 'string', format: 'date-time', description: 'The command\u2019s time' },
          recordedAt: { type: 'string', format: 'date-time', description: 'When the step was decided' },
          correlationId: {
            type: ['string', 'null'],
            description: 'The correlation id of the request that caused it',
          },
        },
      },
    },
  },
} as const;

export const PAYMENT_VIEW = {
  type: 'object',
  required: [
    'paymentId',
    'kind',
    'status',
    'amount',
    'currency',
    'senderAccountId',
    'recipientAccountId',
    'events',
  ],
  properties: {
    paymentId: UUID,
    kind: { type: 'string', enum: ['TRANSFER', 'DEPOSIT'] },
    status: {
      type: 'string',
      enum: ['INITIATED', 'VALIDATED', 'DEBITED', 'COMPLETED', 'REJECTED', 'HELD', 'FAILED'],
    },
    amount: AMOUNT,
    currency: CURRENCY,
    senderAccountId: { type: 'string' },
    recipientAccountId: { type: 'string' },
    reference: { type: ['string', 'null'] },
    rejection: {
      type: ['object', 'null'],
      required: ['code'],
      properties: { code: { type: 'string' }, detail: { type: ['string', 'null'] } },
    },
    risk: {
      type: ['object', 'null'],
      description:
        'The fraud score (0-100) once the payment was scored, the decision it gave and every rule or model feature that contributed, with its points (processors/fraud/README.md)',
      required: ['score', 'decision', 'reasons'],
      properties: {
        score: { type: 'integer', minimum: 0, maximum: 100 },
        decision: { type: 'string', enum: ['PASS', 'HOLD', 'BLOCK'] },
        reasons: RISK_REASONS,
      },
    },
    events: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'occurredAt', 'recordedAt', 'sequence'],
        properties: {
          type: { type: 'string' },
          occurredAt: {
            type: 'string',
            format: 'date-time',
            description: "The time of the payment's command, the same on every event",
          },
          recordedAt: {
            type: 'string',
            format: 'date-time',
            description: 'When the pipeline decided this step',
          },
          sequence: { type: 'integer' },
        },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const OPEN_ACCOUNT_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['ownerId', 'currency', 'kycTier'],
  properties: {
    accountId: CUSTOMER_ACCOUNT_ID,
    ownerId: { type: 'string', minLength: 1, maxLength: 64 },
    currency: CURRENCY,
    kycTier: KYC_TIER,
    iban: {
      type: 'string',
      pattern: IBAN_PATTERN,
      description:
        'Electronic format (upper case, no spaces); ISO 13616 country, length, format and check digits verified, the rule payment validation applies',
    },
  },
} as const;

export const ACCOUNT_ID_PARAMS = {
  type: 'object',
  required: ['accountId'],
  properties: { accountId: ACCOUNT_ID_PARAM },
} as const;

export const CHANGE_ACCOUNT_STATUS_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: { status: ACCOUNT_STATUS },
} as const;

export const ACCOUNT_ACCEPTED = {
  type: 'object',
  required: ['accountId', 'commandId', 'statusUrl', 'accountUrl'],
  properties: {
    accountId: { type: 'string' },
    commandId: { type: 'string', description: "The command's id on accounts.commands" },
    status: ACCOUNT_STATUS,
    statusUrl: {
      type: 'string',
      description:
        "The command's status: PENDING until the pipeline decides, then APPLIED, UNCHANGED or REFUSED with its reason",
    },
    accountUrl: { type: 'string', description: 'The account' },
  },
} as const;

export const ACCOUNT_COMMAND_PARAMS = {
  type: 'object',
  required: ['accountId', 'commandId'],
  properties: { accountId: ACCOUNT_ID_PARAM, commandId: UUID },
} as const;

export const ACCOUNT_COMMAND_VIEW = {
  type: 'object',
  required: ['commandId', 'accountId', 'outcome'],
  properties: {
    commandId: UUID,
    accountId: { type: 'string' },
    commandType: { type: 'string', enum: ['OPEN', 'CHANGE_STATUS'] },
    outcome: {
      type: 'string',
      enum: ['PENDING', 'APPLIED', 'UNCHANGED', 'REFUSED'],
      description:
        'PENDING: on the log, not decided yet. APPLIED: the account changed. UNCHANGED: it already was so (code ALREADY_OPEN or STATUS_UNCHANGED). REFUSED: the command broke a rule (code ACCOUNT_NOT_FOUND, ACCOUNT_CLOSED or ACCOUNT_EXISTS, with a detail)',
    },
    code: { type: ['string', 'null'] },
    detail: { type: ['string', 'null'] },
    status: { ...ACCOUNT_STATUS, type: ['string', 'null'], enum: [...ACCOUNT_STATUS.enum, null] },
    decidedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

export const DEPOSIT_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['amount', 'currency'],
  properties: { amount: AMOUNT, currency: CURRENCY },
} as const;

export const ACCOUNT_VIEW = {
  type: 'object',
  required: ['accountId', 'ownerId', 'currency', 'kycTier', 'status', 'balanceMinor'],
  properties: {
    accountId: { type: 'string' },
    ownerId: { type: 'string' },
    currency: CURRENCY,
    kycTier: KYC_TIER,
    iban: {
      type: ['string', 'null'],
      description:
        'The IBAN masked: country code and last four characters (`SA****7519`); the full IBAN is never served',
    },
    status: ACCOUNT_STATUS,
    balanceMinor: {
      type: 'string',
      pattern: '^-?[0-9]+$',
      description: 'Balance in minor units as a decimal string: a sum of amounts has no bound below 2^53',
    },
    openedAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const HEALTH = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' }, detail: { type: 'string' } },
} as const;
