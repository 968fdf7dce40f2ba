/**
 * What differs between the simulated partners: routes, field names, amount formats, error codes
 * and the idempotency header. The shared machinery (ledger, faults, control API) is in server.ts;
 * each partner file (bank-a.ts, bank-b.ts, wallet.ts) is one Dialect.
 */
export type PartnerName = 'bank-a' | 'bank-b' | 'wallet';

export const PARTNER_NAMES: readonly PartnerName[] = ['bank-a', 'bank-b', 'wallet'];

export interface Beneficiary {
  readonly iban: string;
  readonly name: string;
}

/** An execution request, decoded from the partner's format. */
export interface Instruction {
  readonly reference: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly beneficiary: Beneficiary;
  /**
   * The caller's deadline (epoch ms), when it sent one: the partner never executes the request
   * after it, so a caller that timed out knows when a late request can no longer land.
   */
  readonly deadlineMs?: number;
}

/** A reference the partner executed. */
export interface Executed extends Instruction {
  readonly partnerId: string;
  readonly executedAt: string;
}

/** Why a partner refuses an execution; each dialect has its own code for each. */
export type Refusal =
  | 'bad-request'
  | 'invalid-beneficiary'
  | 'unsupported-currency'
  | 'invalid-amount'
  | 'partner-limit'
  | 'reference-conflict'
  /** The request reached the ledger after its deadline: not executed, not remembered. */
  | 'expired';

export interface Refused {
  readonly reference: string;
  readonly refusal: Refusal;
  readonly message: string;
}

export interface Answer {
  readonly status: number;
  /** A JSON value (written with JSON.stringify, so JsonNumber-free: use rawJsonNumber) or raw text. */
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface IncomingCall {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export type Decoded<T> = T | { readonly malformed: string };

export interface Dialect {
  readonly partner: PartnerName;
  /** Prefix of the partner's own transaction ids. */
  readonly idPrefix: string;
  readonly currencies: ReadonlySet<string>;
  /** Which of the partner's operations a method and path are, if any. */
  route(method: string, path: string): 'execute' | 'status' | undefined;
  decodeExecute(call: IncomingCall): Decoded<Instruction>;
  decodeStatus(call: IncomingCall): Decoded<{ readonly reference: string }>;
  /** `repeat`: the reference was executed by an earlier request, this one returns that result. */
  executed(record: Executed, repeat: boolean): Answer;
  refused(refused: Refused): Answer;
  /** The status of a reference the partner refused. */
  statusRefused(refused: Refused): Answer;
  statusExecuted(record: Executed): Answer;
  notFound(reference: string): Answer;
  /** A technical failure: nothing executed, and the partner says so. */
  technicalFailure(): Answer;
}

/** A header's single value (the first when repeated). */
export function header(call: IncomingCall, name: string): string | undefined {
  const value = call.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
