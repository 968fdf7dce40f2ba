/**
 * Bank A: a classic bank REST API. Amounts are integers of minor units (a JSON number, at most
 * 2^53 - 1), the idempotency key is the `Idempotency-Key` header (equal to the body's
 * `reference`), an optional `Request-Deadline` header (RFC 3339) after which it never executes
 * the request, errors are `{"error": {"code", "message"}}` with the HTTP status carrying the class.
 *
 *   POST /v2/payments  {"reference","amount_minor","currency","creditor":{"iban","name"}}
 *        201 {"payment_id","reference","status":"EXECUTED","amount_minor","currency","executed_at"}
 *        (200, the same body, for a repeated reference)
 *   GET  /v2/payments?reference=R   200 the payment (status EXECUTED or REJECTED) | 404 PAYMENT_NOT_FOUND
 */
import { JsonNumber, parseJsonExact, rawJsonNumber } from '../money.js';
import { header, isRecord, type Dialect, type Executed, type Refusal, type Refused } from './dialect.js';

const CODES: Readonly<Record<Refusal, readonly [number, string]>> = {
  'bad-request': [400, 'INVALID_REQUEST'],
  'invalid-beneficiary': [422, 'INVALID_CREDITOR_ACCOUNT'],
  'unsupported-currency': [422, 'CURRENCY_NOT_SUPPORTED'],
  'invalid-amount': [422, 'INVALID_AMOUNT'],
  'partner-limit': [422, 'LIMIT_EXCEEDED'],
  'reference-conflict': [409, 'IDEMPOTENCY_KEY_REUSED'],
  expired: [422, 'REQUEST_EXPIRED'],
};

const SAFE_INTEGER = /^[0-9]{1,16}$/;

const payment = (record: Executed) => ({
  payment_id: record.partnerId,
  reference: record.reference,
  status: 'EXECUTED',
  amount_minor: rawJsonNumber(record.amountMinor.toString()),
  currency: record.currency,
  executed_at: record.executedAt,
});

export const BANK_A: Dialect = {
  partner: 'bank-a',
  idPrefix: 'A',
  currencies: new Set(['EUR', 'GBP', 'USD', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'JPY']),
  route(method, path) {
    if (path !== '/v2/payments') return undefined;
    if (method === 'POST') return 'execute';
    return method === 'GET' ? 'status' : undefined;
  },
  decodeExecute(call) {
    let body: unknown;
    try {
      body = parseJsonExact(call.body);
    } catch {
      return { malformed: 'the body is not JSON' };
    }
    if (!isRecord(body) || !isRecord(body.creditor))
      return { malformed: 'reference, amount_minor, currency, creditor are required' };
    const { reference, amount_minor: amount, currency, creditor } = body;
    if (typeof reference !== 'string' || !/^[A-Za-z0-9-]{1,35}$/.test(reference))
      return { malformed: 'reference must be 1-35 of A-Z a-z 0-9 -' };
    if (header(call, 'Idempotency-Key') !== reference)
      return { malformed: 'the Idempotency-Key header must equal reference' };
    if (
      !(amount instanceof JsonNumber) ||
      !SAFE_INTEGER.test(amount.source) ||
      BigInt(amount.source) > 9_007_199_254_740_991n
    )
      return { malformed: 'amount_minor must be a whole number of minor units up to 2^53 - 1' };
    if (
      typeof currency !== 'string' ||
      typeof creditor.iban !== 'string' ||
      typeof creditor.name !== 'string' ||
      creditor.name === ''
    )
      return { malformed: 'currency, creditor.iban and creditor.name must be strings' };
    const deadline = header(call, 'Request-Deadline');
    const deadlineMs = deadline === undefined ? undefined : Date.parse(deadline);
    if (deadlineMs !== undefined && Number.isNaN(deadlineMs))
      return { malformed: 'Request-Deadline must be an RFC 3339 time' };
    return {
      reference,
      deadlineMs,
      amountMinor: BigInt(amount.source),
      currency,
      beneficiary: { iban: creditor.iban, name: creditor.name },
    };
  },
  decodeStatus(call) {
    const reference = call.query.get('reference');
    return reference === null || reference === '' ? { malformed: 'reference is required' } : { reference };
  },
  executed: (record, repeat) => ({ status: repeat ? 200 : 201, body: payment(record) }),
  refused: (refused: Refused) => {
    const [status, code] = CODES[refused.refusal];
    return { status, body: { error: { code, message: refused.message } } };
  },
  statusExecuted: (record) => ({ status: 200, body: payment(record) }),
  statusRefused: (refused) => ({
    status: 200,
    body: { reference: refused.reference, status: 'REJECTED', rejection_code: CODES[refused.refusal][1] },
  }),
  notFound: (reference) => ({
    status: 404,
    body: { error: { code: 'PAYMENT_NOT_FOUND', message: `no payment with reference ${reference}` } },
  }),
  technicalFailure: () => ({
    status: 503,
    body: {
      error: { code: 'SERVICE_UNAVAILABLE', message: 'core banking is unavailable, nothing was executed' },
    },
    headers: { 'retry-after': '1' },
  }),
};
