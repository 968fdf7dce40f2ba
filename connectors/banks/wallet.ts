/**
 * The wallet provider's adapter: amounts as a JSON number of major units (written and read as
 * exact literals), `X-Idempotency-Token`, business outcomes as HTTP 200 with `ok: false` and a
 * snake_case error type. The API is described in connectors/simulators/wallet.ts and
 * connectors/README.md.
 */
import type { AdapterOptions, BankAdapter, ExecuteOutcome, RefusalReason, StatusOutcome } from './adapter.js';
import { httpAdapter, type PartnerProtocol } from './http.js';
import { decimalToMinor, exponentOf, minorToDecimal, rawJsonNumber } from '../money.js';
import { byStatus, exponentOrRefusal, isRecord, refused, text, unknownOutcome } from './outcomes.js';

const REASONS: Readonly<Record<string, RefusalReason>> = {
  malformed: 'INVALID_REQUEST',
  recipient_invalid: 'INVALID_BENEFICIARY',
  currency_unsupported: 'UNSUPPORTED_CURRENCY',
  amount_invalid: 'INVALID_AMOUNT',
  limit_reached: 'PARTNER_LIMIT',
  client_ref_mismatch: 'REFERENCE_CONFLICT',
};

const errorTypeOf = (body: unknown) =>
  (isRecord(body) && isRecord(body.error) ? text(body.error.type) : undefined) ?? 'unknown';

/** The `data` of an `ok: true` answer about this reference. */
function dataOf(body: unknown, reference: string) {
  if (!isRecord(body) || body.ok !== true || !isRecord(body.data) || body.data.client_ref !== reference)
    return undefined;
  return body.data;
}

function executedOf(data: Record<string, unknown>) {
  return {
    kind: 'executed',
    partnerTransactionId: String(data.id),
    executedAt: String(data.completed_at),
  } as const;
}

const PROTOCOL: PartnerProtocol = {
  partner: 'wallet',
  executeCall(request, deadlineMs) {
    const exponent = exponentOrRefusal(request.currency);
    if (typeof exponent !== 'number') return exponent;
    return {
      method: 'POST',
      path: '/wallet/v1/disbursements',
      headers: { 'X-Idempotency-Token': request.reference },
      body: JSON.stringify({
        client_ref: request.reference,
        value: rawJsonNumber(minorToDecimal(request.amountMinor, exponent)),
        currency_code: request.currency,
        recipient: { iban: request.beneficiary.iban, holder: request.beneficiary.name },
        expires_at: rawJsonNumber(String(deadlineMs)),
      }),
    };
  },
  executeAnswer(request, answer): ExecuteOutcome {
    const type = errorTypeOf(answer.body);
    if (answer.status === 200) {
      const data = dataOf(answer.body, request.reference);
      if (data !== undefined) {
        const value = text(data.value);
        const exponent = exponentOf(request.currency)!;
        if (
          data.status !== 'completed' ||
          value === undefined ||
          decimalToMinor(value, exponent) !== request.amountMinor ||
          data.currency_code !== request.currency
        )
          return unknownOutcome('the wallet answered ok with a disbursement that does not match the request');
        return executedOf(data);
      }
      if (type === 'request_expired') return { kind: 'retriable', partnerCode: type, detail: 'expired' };
      const reason = REASONS[type];
      if (reason !== undefined) return refused(reason, type, 'declined');
      return unknownOutcome(`the wallet answered 200 with error ${type}`);
    }
    if (answer.status === 400 && type === 'malformed') return refused('INVALID_REQUEST', type, 'malformed');
    return byStatus(answer.status, type, 'wallet error');
  },
  statusCall: (reference) => ({
    method: 'POST',
    path: '/wallet/v1/disbursements/lookup',
    body: JSON.stringify({ client_ref: reference }),
  }),
  statusAnswer(reference, answer): StatusOutcome {
    if (answer.status !== 200)
      return { kind: 'unavailable', detail: `HTTP ${answer.status} ${errorTypeOf(answer.body)}` };
    if (errorTypeOf(answer.body) === 'not_found') return { kind: 'not-found' };
    const data = dataOf(answer.body, reference);
    if (data?.status === 'completed') return executedOf(data);
    if (data?.status === 'declined') {
      const code = text(data.decline_reason) ?? 'unknown';
      return refused(REASONS[code] ?? 'INVALID_REQUEST', code, 'declined');
    }
    return { kind: 'unavailable', detail: 'the wallet answered a lookup it does not document' };
  },
};

export function walletAdapter(options: AdapterOptions): BankAdapter {
  return httpAdapter(PROTOCOL, options);
}
