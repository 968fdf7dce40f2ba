/**
 * Bank A's adapter: amounts as an integer of minor units (refused here above 2^53 - 1, which
 * Bank A's JSON parser can't hold exactly), `Idempotency-Key`, `{"error":{"code"}}` errors.
 * The API is described in connectors/simulators/bank-a.ts and connectors/README.md.
 */
import type { AdapterOptions, BankAdapter, ExecuteOutcome, RefusalReason, StatusOutcome } from './adapter.js';
import { httpAdapter, type HttpAnswer, type PartnerProtocol } from './http.js';
import { rawJsonNumber } from '../money.js';
import { errorAnswer, isRecord, MAX_SAFE_MINOR, refused, text, unknownOutcome } from './outcomes.js';

const REASONS: Readonly<Record<string, RefusalReason>> = {
  INVALID_REQUEST: 'INVALID_REQUEST',
  INVALID_CREDITOR_ACCOUNT: 'INVALID_BENEFICIARY',
  CURRENCY_NOT_SUPPORTED: 'UNSUPPORTED_CURRENCY',
  INVALID_AMOUNT: 'INVALID_AMOUNT',
  LIMIT_EXCEEDED: 'PARTNER_LIMIT',
  IDEMPOTENCY_KEY_REUSED: 'REFERENCE_CONFLICT',
};

/** Codes that say "not executed, send again". */
const RETRIABLE = new Set(['REQUEST_EXPIRED', 'SERVICE_UNAVAILABLE']);

const errorOf = (body: unknown) => {
  const error = isRecord(body) && isRecord(body.error) ? body.error : {};
  return { code: text(error.code) ?? 'UNKNOWN', message: text(error.message) ?? '' };
};

/** A payment body of Bank A, if it is one and matches the reference (and the amount, when given). */
function paymentOf(answer: HttpAnswer, reference: string, amountMinor?: bigint) {
  const body = answer.body;
  if (!isRecord(body) || body.reference !== reference) return undefined;
  if (
    amountMinor !== undefined &&
    body.status === 'EXECUTED' &&
    text(body.amount_minor) !== amountMinor.toString()
  )
    return undefined;
  return body;
}

const PROTOCOL: PartnerProtocol = {
  partner: 'bank-a',
  executeCall(request, deadlineMs) {
    if (request.amountMinor > MAX_SAFE_MINOR)
      return refused('INVALID_AMOUNT', 'LOCAL', 'Bank A carries amounts up to 2^53 - 1 minor units');
    return {
      method: 'POST',
      path: '/v2/payments',
      headers: {
        'Idempotency-Key': request.reference,
        'Request-Deadline': new Date(deadlineMs).toISOString(),
      },
      body: JSON.stringify({
        reference: request.reference,
        amount_minor: rawJsonNumber(request.amountMinor.toString()),
        currency: request.currency,
        creditor: { iban: request.beneficiary.iban, name: request.beneficiary.name },
      }),
    };
  },
  executeAnswer(request, answer): ExecuteOutcome {
    if (answer.status === 200 || answer.status === 201) {
      const payment = paymentOf(answer, request.reference, request.amountMinor);
      if (payment?.status !== 'EXECUTED' || payment.currency !== request.currency)
        return unknownOutcome('Bank A answered 2xx with a payment that does not match the request');
      return {
        kind: 'executed',
        partnerTransactionId: String(payment.payment_id),
        executedAt: String(payment.executed_at),
      };
    }
    return errorAnswer(answer.status, errorOf(answer.body), REASONS, RETRIABLE);
  },
  statusCall: (reference) => ({
    method: 'GET',
    path: `/v2/payments?reference=${encodeURIComponent(reference)}`,
  }),
  statusAnswer(reference, answer): StatusOutcome {
    if (answer.status === 404 && errorOf(answer.body).code === 'PAYMENT_NOT_FOUND')
      return { kind: 'not-found' };
    const payment = answer.status === 200 ? paymentOf(answer, reference) : undefined;
    if (payment?.status === 'EXECUTED')
      return {
        kind: 'executed',
        partnerTransactionId: String(payment.payment_id),
        executedAt: String(payment.executed_at),
      };
    if (payment?.status === 'REJECTED') {
      const code = text(payment.rejection_code) ?? 'UNKNOWN';
      return refused(REASONS[code] ?? 'INVALID_REQUEST', code, 'rejected');
    }
    return { kind: 'unavailable', detail: `HTTP ${answer.status} ${errorOf(answer.body).code}` };
  },
};

export function bankAAdapter(options: AdapterOptions): BankAdapter {
  return httpAdapter(PROTOCOL, options);
}
