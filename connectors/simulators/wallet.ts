/**
 * The wallet provider: a fintech-style API that answers business outcomes with HTTP 200 and an
 * `ok` flag. Amounts are JSON numbers of major units (`123.45`, trailing zeros optional), the
 * idempotency key is the `X-Idempotency-Token` header (equal to `client_ref`), an optional
 * `expires_at` (epoch milliseconds; later it declines `request_expired`), error types are
 * snake_case words.
 *
 *   POST /wallet/v1/disbursements  {"client_ref","value","currency_code","recipient":{"iban","holder"}}
 *        200 {"ok":true,"data":{"id","client_ref","status":"completed","value","currency_code","completed_at"}}
 *        200 {"ok":false,"error":{"type":"recipient_invalid"|"currency_unsupported"|"amount_invalid"|"limit_reached"|"client_ref_mismatch"}}
 *        400 {"ok":false,"error":{"type":"malformed"}}, 429 {"ok":false,"error":{"type":"rate_limited","retry_after_ms"}}
 *   POST /wallet/v1/disbursements/lookup  {"client_ref"}
 *        200 {"ok":true,"data":{... "status":"completed"|"declined"}} | 200 {"ok":false,"error":{"type":"not_found"}}
 */
import {
  decimalToMinor,
  exponentOf,
  JsonNumber,
  minorToDecimal,
  parseJsonExact,
  rawJsonNumber,
} from '../money.js';
import { header, isRecord, type Dialect, type Executed, type Refusal } from './dialect.js';

const TYPES: Readonly<Record<Refusal, string>> = {
  'bad-request': 'malformed',
  'invalid-beneficiary': 'recipient_invalid',
  'unsupported-currency': 'currency_unsupported',
  'invalid-amount': 'amount_invalid',
  'partner-limit': 'limit_reached',
  'reference-conflict': 'client_ref_mismatch',
  expired: 'request_expired',
};

const disbursement = (record: Executed) => ({
  id: record.partnerId,
  client_ref: record.reference,
  status: 'completed',
  value: rawJsonNumber(minorToDecimal(record.amountMinor, exponentOf(record.currency) ?? 2)),
  currency_code: record.currency,
  completed_at: record.executedAt,
});

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const body = parseJsonExact(text);
    return isRecord(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

export const WALLET: Dialect = {
  partner: 'wallet',
  idPrefix: 'wd_',
  currencies: new Set(['EUR', 'USD', 'GBP']),
  route(method, path) {
    if (method !== 'POST') return undefined;
    if (path === '/wallet/v1/disbursements') return 'execute';
    return path === '/wallet/v1/disbursements/lookup' ? 'status' : undefined;
  },
  decodeExecute(call) {
    const body = parse(call.body);
    if (body === undefined || !isRecord(body.recipient))
      return { malformed: 'client_ref, value, currency_code, recipient required' };
    const { client_ref: reference, value, currency_code: currency, recipient } = body;
    if (typeof reference !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(reference))
      return { malformed: 'client_ref must be 1-64 characters' };
    if (header(call, 'X-Idempotency-Token') !== reference)
      return { malformed: 'X-Idempotency-Token must equal client_ref' };
    if (typeof currency !== 'string' || !(value instanceof JsonNumber))
      return { malformed: 'value must be a number' };
    const exponent = exponentOf(currency);
    const minor = exponent === undefined ? undefined : decimalToMinor(value.source, exponent);
    if (minor === undefined) return { malformed: 'value has more decimals than the currency' };
    if (typeof recipient.iban !== 'string' || typeof recipient.holder !== 'string' || recipient.holder === '')
      return { malformed: 'recipient.iban and recipient.holder required' };
    const expires = body.expires_at;
    if (expires !== undefined && !(expires instanceof JsonNumber && /^[0-9]{1,15}$/.test(expires.source)))
      return { malformed: 'expires_at must be epoch milliseconds' };
    return {
      reference,
      deadlineMs: expires === undefined ? undefined : Number(expires.source),
      amountMinor: minor,
      currency,
      beneficiary: { iban: recipient.iban, name: recipient.holder },
    };
  },
  decodeStatus(call) {
    const body = parse(call.body);
    return typeof body?.client_ref === 'string' && body.client_ref !== ''
      ? { reference: body.client_ref }
      : { malformed: 'client_ref required' };
  },
  executed: (record) => ({ status: 200, body: { ok: true, data: disbursement(record) } }),
  refused: (refused) => ({
    status: refused.refusal === 'bad-request' ? 400 : 200,
    body: { ok: false, error: { type: TYPES[refused.refusal], detail: refused.message } },
  }),
  statusExecuted: (record) => ({ status: 200, body: { ok: true, data: disbursement(record) } }),
  statusRefused: (refused) => ({
    status: 200,
    body: {
      ok: true,
      data: { client_ref: refused.reference, status: 'declined', decline_reason: TYPES[refused.refusal] },
    },
  }),
  notFound: () => ({ status: 200, body: { ok: false, error: { type: 'not_found' } } }),
  technicalFailure: () => ({
    status: 429,
    body: { ok: false, error: { type: 'rate_limited', retry_after_ms: 200 } },
  }),
};
