/**
 * Bank B's adapter: amounts as a decimal string with exactly the currency's minor digits,
 * `X-Request-Id`, ISO 20022 reason codes. The API is described in connectors/simulators/bank-b.ts
 * and connectors/README.md.
 */
import type { AdapterOptions, BankAdapter, ExecuteOutcome, RefusalReason, StatusOutcome } from './adapter.js';
import { httpAdapter, type HttpAnswer, type PartnerProtocol } from './http.js';
import { decimalToMinor, exponentOf, minorToDecimal } from '../money.js';
import { errorAnswer, exponentOrRefusal, isRecord, refused, text, unknownOutcome } from './outcomes.js';

const REASONS: Readonly<Record<string, RefusalReason>> = {
  FF01: 'INVALID_REQUEST',
  AC01: 'INVALID_BENEFICIARY',
  AM02: 'INVALID_AMOUNT',
  AM03: 'UNSUPPORTED_CURRENCY',
  AG01: 'PARTNER_LIMIT',
  AM05: 'REFERENCE_CONFLICT',
};

/** Codes that say "not executed, send again": past the deadline, clearing unreachable. */
const RETRIABLE = new Set(['AB05', 'TECH']);

const errorOf = (body: unknown) => ({
  code: (isRecord(body) ? text(body.errorCode) : undefined) ?? 'UNKNOWN',
  message: (isRecord(body) ? text(body.description) : undefined) ?? '',
});

/** A transfer body of Bank B matching the reference, with its amount in minor units when it has one. */
function transferOf(answer: HttpAnswer, reference: string) {
  const body = answer.body;
  if (!isRecord(body) || body.endToEndId !== reference) return undefined;
  const amount = isRecord(body.instructedAmount) ? body.instructedAmount : {};
  const currency = text(amount.ccy);
  const exponent = currency === undefined ? undefined : exponentOf(currency);
  const value = text(amount.value);
  const amountMinor =
    exponent === undefined || value === undefined ? undefined : decimalToMinor(value, exponent, true);
  return { body, currency, amountMinor };
}

const PROTOCOL: PartnerProtocol = {
  partner: 'bank-b',
  executeCall(request, deadlineMs) {
    const exponent = exponentOrRefusal(request.currency);
    if (typeof exponent !== 'number') return exponent;
    return {
      method: 'POST',
      path: '/api/transfers',
      headers: { 'X-Request-Id': request.reference },
      body: JSON.stringify({
        endToEndId: request.reference,
        instructedAmount: { value: minorToDecimal(request.amountMinor, exponent), ccy: request.currency },
        beneficiary: { accountIban: request.beneficiary.iban, accountName: request.beneficiary.name },
        expiryDateTime: new Date(deadlineMs).toISOString(),
      }),
    };
  },
  executeAnswer(request, answer): ExecuteOutcome {
    if (answer.status === 200 || answer.status === 202) {
      const transfer = transferOf(answer, request.reference);
      if (
        transfer?.body.state !== 'ACSC' ||
        transfer.amountMinor !== request.amountMinor ||
        transfer.currency !== request.currency
      )
        return unknownOutcome('Bank B answered 2xx with a transfer that does not match the request');
      return {
        kind: 'executed',
        partnerTransactionId: String(transfer.body.transferId),
        executedAt: String(transfer.body.acceptedAt),
      };
    }
    return errorAnswer(answer.status, errorOf(answer.body), REASONS, RETRIABLE);
  },
  statusCall: (reference) => ({
    method: 'GET',
    path: `/api/transfers/by-e2e/${encodeURIComponent(reference)}`,
  }),
  statusAnswer(reference, answer): StatusOutcome {
    if (answer.status === 404 && errorOf(answer.body).code === 'NOTF') return { kind: 'not-found' };
    const transfer = answer.status === 200 ? transferOf(answer, reference) : undefined;
    if (transfer?.body.state === 'ACSC')
      return {
        kind: 'executed',
        partnerTransactionId: String(transfer.body.transferId),
        executedAt: String(transfer.body.acceptedAt),
      };
    if (transfer?.body.state === 'RJCT') {
      const code = text(transfer.body.reasonCode) ?? 'UNKNOWN';
      return refused(REASONS[code] ?? 'INVALID_REQUEST', code, 'rejected');
    }
    return { kind: 'unavailable', detail: `HTTP ${answer.status} ${errorOf(answer.body).code}` };
  },
};

export function bankBAdapter(options: AdapterOptions): BankAdapter {
  return httpAdapter(PROTOCOL, options);
}
