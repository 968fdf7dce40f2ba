/**
 * The contract between PayFlow and a bank partner. An adapter translates one partner's API into
 * these normalized outcomes and never throws for anything the partner or the network does: every
 * answer, silence and refusal is a value, classified by what the caller may do next.
 *
 * - `executed`        the partner executed the reference (now or on an earlier request);
 * - `not-retriable`   the partner refused it and never will execute it (a business refusal);
 * - `retriable`       nothing was executed and the partner says so: the same reference may be sent again;
 * - `unknown-outcome` the partner may or may not have executed it (a timeout, a reset connection,
 *                     an ambiguous 5xx, an answer that does not match the request): only a status
 *                     query by the same reference can tell, and nothing may be sent elsewhere first.
 */
export type { Beneficiary, PartnerName } from '../simulators/index.js';
import type { Beneficiary, PartnerName } from '../simulators/index.js';

/** What PayFlow asks a partner to do: move `amountMinor` (minor units of `currency`) to the beneficiary. */
export interface PartnerRequest {
  /** The idempotency reference (see reference.ts): the partner executes it at most once. */
  readonly reference: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly beneficiary: Beneficiary;
}

/** Normalized reasons of a refusal. */
export type RefusalReason =
  | 'INVALID_BENEFICIARY'
  | 'UNSUPPORTED_CURRENCY'
  | 'INVALID_AMOUNT'
  | 'PARTNER_LIMIT'
  | 'REFERENCE_CONFLICT'
  | 'INVALID_REQUEST';

/**
 * Whether another partner may be tried after this refusal: not when the request itself is wrong
 * for everyone (the beneficiary's account) or a reference is reused with other data (a bug to
 * stop at, never to route around).
 */
export const FAILOVER_ON_REFUSAL: Readonly<Record<RefusalReason, boolean>> = {
  INVALID_BENEFICIARY: false,
  REFERENCE_CONFLICT: false,
  UNSUPPORTED_CURRENCY: true,
  INVALID_AMOUNT: true,
  PARTNER_LIMIT: true,
  INVALID_REQUEST: true,
};

export interface ExecutedOutcome {
  readonly kind: 'executed';
  readonly partnerTransactionId: string;
  readonly executedAt: string;
}

export interface RefusedOutcome {
  readonly kind: 'not-retriable';
  readonly reason: RefusalReason;
  /** The partner's own code (`AC01`, `LIMIT_EXCEEDED`, `recipient_invalid`; `LOCAL` when the adapter refused before sending). */
  readonly partnerCode: string;
  readonly detail: string;
}

export interface RetriableOutcome {
  readonly kind: 'retriable';
  readonly partnerCode: string;
  readonly detail: string;
}

export interface UnknownOutcome {
  readonly kind: 'unknown-outcome';
  readonly detail: string;
}

/**
 * Every send carries a deadline (now + the adapter's timeout) in the partner's own field; the
 * partner never executes a request it reads after that. So once `deadline + clock skew` has
 * passed, a send whose answer never came can no longer land, and a status query's `not-found`
 * is final. Before that, a request still in a socket buffer could be executed after a status query
 * said not-found — the reason a timed-out send is never failed over straight away.
 */

export type ExecuteOutcome = ExecutedOutcome | RefusedOutcome | RetriableOutcome | UnknownOutcome;

/** A status query's answer: what the partner did with a reference, or that it can't say now. */
export type StatusOutcome =
  | ExecutedOutcome
  | RefusedOutcome
  | { readonly kind: 'not-found' }
  | { readonly kind: 'unavailable'; readonly detail: string };

export interface CallOptions {
  /** The caller's cancellation, on top of the adapter's own timeout. */
  readonly signal?: AbortSignal;
}

export interface BankAdapter {
  readonly partner: PartnerName;
  /** Bound on one call; also the deadline each send gives the partner. */
  readonly timeoutMs: number;
  /** Sends the request; idempotent per reference at the partner. Bounded by the adapter's timeout. */
  execute(request: PartnerRequest, options?: CallOptions): Promise<ExecuteOutcome>;
  /** What the partner did with a reference. Bounded by the adapter's timeout. */
  status(reference: string, options?: CallOptions): Promise<StatusOutcome>;
}

export interface AdapterOptions {
  /** The partner's base URL (`PAYFLOW_PARTNER_BANK_A_URL`, ...). */
  readonly baseUrl: string;
  /** Bound on one HTTP call, connection to last byte. */
  readonly timeoutMs: number;
}
