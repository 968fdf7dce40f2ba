/**
 * The idempotency reference of a partner call, derived from the payment and the attempt:
 *
 *   P<the payment's UUID as 32 lower-case hex digits><attempt as 2 digits>   (35 characters)
 *
 * e.g. payment 0192f3c4-5a6b-7c8d-9e0f-112233445566, attempt 1 → P0192f3c45a6b7c8d9e0f11223344556601.
 * 35 characters of [A-Za-z0-9] fit every partner's field (an ISO 20022 EndToEndId is at most 35)
 * and reads back to the payment. A payment id that is not a UUID is hashed instead: `H` + the
 * first 32 hex digits of its SHA-256 + the attempt.
 *
 * The attempt counts partners tried for this payment (1 for the first, +1 on each failover), not
 * HTTP retries: every retry at one partner — and every resumption after a crash or an unknown
 * outcome — sends the same reference again, which is what lets the partner deduplicate it. A new
 * attempt (a new reference) is only ever used at another partner, after the previous one is
 * known not to have executed its reference.
 */
import { createHash } from 'node:crypto';

export const MAX_ATTEMPT = 99;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function partnerReference(paymentId: string, attempt: number): string {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > MAX_ATTEMPT)
    throw new RangeError(`attempt must be 1..${MAX_ATTEMPT} (got ${attempt})`);
  const suffix = String(attempt).padStart(2, '0');
  if (UUID.test(paymentId)) return `P${paymentId.replaceAll('-', '').toLowerCase()}${suffix}`;
  return `H${createHash('sha256').update(paymentId).digest('hex').slice(0, 32)}${suffix}`;
}
