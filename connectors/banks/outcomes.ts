/** Small constructors shared by the partner protocols. */
import type { ExecuteOutcome, RefusalReason, RefusedOutcome } from './adapter.js';
import { exponentOf, JsonNumber } from '../money.js';

export const refused = (reason: RefusalReason, partnerCode: string, detail: string): RefusedOutcome => ({
  kind: 'not-retriable',
  reason,
  partnerCode,
  detail,
});

export const unknownOutcome = (detail: string): ExecuteOutcome => ({ kind: 'unknown-outcome', detail });

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A field of a parsed body as text: strings as they are, JSON numbers as their source. */
export function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return value instanceof JsonNumber ? value.source : undefined;
}

/** The largest amount a partner taking JSON integers (read as doubles by most parsers) can carry exactly. */
export const MAX_SAFE_MINOR = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The classification of an HTTP status a partner answered with an unrecognized body: 4xx is a
 * refusal (nothing executed; 408 and 429 are "try again"), 502/503 are "not executed, try
 * again", and any other 5xx may have executed.
 */
export function byStatus(status: number, partnerCode: string, detail: string): ExecuteOutcome {
  if (status === 408 || status === 429 || status === 502 || status === 503)
    return { kind: 'retriable', partnerCode, detail };
  if (status >= 400 && status < 500) return refused('INVALID_REQUEST', partnerCode, detail);
  return unknownOutcome(`HTTP ${status} ${partnerCode}: ${detail}`);
}

/**
 * A partner's error answer: a code it documents as "not executed, send again" is retriable, a
 * refusal code on a 4xx is not-retriable with its reason, anything else goes by the status.
 */
export function errorAnswer(
  status: number,
  error: { readonly code: string; readonly message: string },
  reasons: Readonly<Record<string, RefusalReason>>,
  retriableCodes: ReadonlySet<string>,
): ExecuteOutcome {
  if (retriableCodes.has(error.code))
    return { kind: 'retriable', partnerCode: error.code, detail: error.message };
  const reason = reasons[error.code];
  if (reason !== undefined && status >= 400 && status < 500)
    return refused(reason, error.code, error.message);
  return byStatus(status, error.code, error.message);
}

/** The currency's exponent, or the local refusal of a code without one (nothing is sent). */
export function exponentOrRefusal(currency: string): number | RefusedOutcome {
  return (
    exponentOf(currency) ?? refused('UNSUPPORTED_CURRENCY', 'LOCAL', `${currency} has no ISO 4217 exponent`)
  );
}
