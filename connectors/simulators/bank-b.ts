/**
 * Bank B: an ISO 20022-flavoured API. Amounts are decimal strings of major units with exactly
 * the currency's minor digits (`"123.45"`, `"1000"` for JPY, `"1.250"` for KWD), the idempotency
 * key is the `X-Request-Id` header (equal to `endToEndId`), an optional `expiryDateTime` (ISO
 * 8601; after it the transfer is rejected AB05, as SEPA Instant rejects a late one), errors are ISO reason codes
 * `{"errorCode","description"}`.
 *
 *   POST /api/transfers  {"endToEndId","instructedAmount":{"value","ccy"},"beneficiary":{"accountIban","accountName"}}
 *        202 {"transferId","endToEndId","state":"ACSC","instructedAmount","acceptedAt"} (200 for a repeat)
 *        422 {"errorCode":"AC01"|"AM02"|"AM03"|"AG01"}, 409 AM05 (reference reused), 400 FF01, 502 TECH
 *   GET  /api/transfers/by-e2e/{endToEndId}   200 the transfer (state ACSC or RJCT) | 404 NOTF
 */
import { decimalToMinor, exponentOf, minorToDecimal } from '../money.js';
import { header, isRecord, type Dialect, type Executed, type Refusal } from './dialect.js';

const CODES: Readonly<Record<Refusal, readonly [number, string]>> = {
  'bad-request': [400, 'FF01'],
  'invalid-beneficiary': [422, 'AC01'],
  'invalid-amount': [422, 'AM02'],
  'unsupported-currency': [422, 'AM03'],
  'partner-limit': [422, 'AG01'],
  'reference-conflict': [409, 'AM05'],
  expired: [422, 'AB05'],
};

const STATUS_PREFIX = '/api/transfers/by-e2e/';

const transfer = (record: Executed) => ({
  transferId: record.partnerId,
  endToEndId: record.reference,
  state: 'ACSC',
  instructedAmount: {
    value: minorToDecimal(record.amountMinor, exponentOf(record.currency) ?? 2),
    ccy: record.currency,
  },
  acceptedAt: record.executedAt,
});

export const BANK_B: Dialect = {
  partner: 'bank-b',
  idPrefix: 'BT',
  currencies: new Set(['EUR', 'USD', 'CHF', 'KWD', 'BHD', 'SAR', 'AED', 'JPY']),
  route(method, path) {
    if (method === 'POST' && path === '/api/transfers') return 'execute';
    if (method === 'GET' && path.startsWith(STATUS_PREFIX)) return 'status';
    return undefined;
  },
  decodeExecute(call) {
    let body: unknown;
    try {
      body = JSON.parse(call.body);
    } catch {
      return { malformed: 'unparseable message' };
    }
    if (!isRecord(body) || !isRecord(body.instructedAmount) || !isRecord(body.beneficiary))
      return { malformed: 'endToEndId, instructedAmount, beneficiary are mandatory' };
    const { endToEndId, instructedAmount: amount, beneficiary } = body;
    if (typeof endToEndId !== 'string' || !/^[A-Za-z0-9-]{1,35}$/.test(endToEndId))
      return { malformed: 'endToEndId must be 1-35 characters' };
    if (header(call, 'X-Request-Id') !== endToEndId)
      return { malformed: 'X-Request-Id must equal endToEndId' };
    if (typeof amount.ccy !== 'string' || typeof amount.value !== 'string')
      return { malformed: 'instructedAmount.value and .ccy must be strings' };
    const exponent = exponentOf(amount.ccy);
    const minor = exponent === undefined ? undefined : decimalToMinor(amount.value, exponent, true);
    if (minor === undefined)
      return { malformed: 'instructedAmount.value must have the currency\u2019s decimals' };
    if (
      typeof beneficiary.accountIban !== 'string' ||
      typeof beneficiary.accountName !== 'string' ||
      beneficiary.accountName === ''
    )
      return { malformed: 'beneficiary.accountIban and .accountName are mandatory' };
    const expiry = body.expiryDateTime;
    const deadlineMs = typeof expiry === 'string' ? Date.parse(expiry) : undefined;
    if (expiry !== undefined && (deadlineMs === undefined || Number.isNaN(deadlineMs)))
      return { malformed: 'expiryDateTime must be an ISO 8601 time' };
    return {
      reference: endToEndId,
      deadlineMs,
      amountMinor: minor,
      currency: amount.ccy,
      beneficiary: { iban: beneficiary.accountIban, name: beneficiary.accountName },
    };
  },
  decodeStatus(call) {
    const reference = decodeURIComponent(call.path.slice(STATUS_PREFIX.length));
    return reference === '' ? { malformed: 'endToEndId is mandatory' } : { reference };
  },
  executed: (record, repeat) => ({ status: repeat ? 200 : 202, body: transfer(record) }),
  refused: (refused) => {
    const [status, errorCode] = CODES[refused.refusal];
    return { status, body: { errorCode, description: refused.message } };
  },
  statusExecuted: (record) => ({ status: 200, body: transfer(record) }),
  statusRefused: (refused) => ({
    status: 200,
    body: { endToEndId: refused.reference, state: 'RJCT', reasonCode: CODES[refused.refusal][1] },
  }),
  notFound: (reference) => ({
    status: 404,
    body: { errorCode: 'NOTF', description: `no transfer with endToEndId ${reference}` },
  }),
  technicalFailure: () => ({
    status: 502,
    body: { errorCode: 'TECH', description: 'clearing system unreachable; transfer not accepted' },
  }),
};
