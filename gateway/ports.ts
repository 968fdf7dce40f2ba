/**
 * What the gateway needs from the rest of PayFlow. The gateway never talks to Kafka or a
 * database itself: the main job wires these ports to the embedded (in-memory) log or to Kafka,
 * and to the projections. Every call is bounded by a timeout on the gateway side, so an
 * implementation that hangs costs one request, never the process.
 */
import type {
  Account,
  AccountCommand,
  AccountCommandOutcome,
  CurrencyCode,
  DenyListEntry,
  KycTier,
  PaymentCommand,
  PaymentKind,
  PaymentStatus,
  ReviewDecision,
  RiskAssessment,
} from '../schemas/types.js';

/** Metadata sent with every command (Kafka record headers in the Kafka mode). */
export interface CommandHeaders {
  /** Ties the HTTP request, the command and the events it causes together in logs. */
  readonly correlationId: string;
  readonly principal: string;
  /** The client's Idempotency-Key, or null for commands that don't take one. */
  readonly idempotencyKey: string | null;
}

export interface CommandPublisher {
  /** Resolves only once the command is durably on `payments.commands` (acks=all). */
  publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void>;
  /** Resolves only once the command is durably on `accounts.commands`. */
  publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void>;
  /** Resolves only once the decision is durably on `reviews.decisions` (keyed by the payment's sender). */
  publishReviewDecision(decision: ReviewDecision, headers: CommandHeaders): Promise<void>;
  /**
   * Resolves only once the change is durably on `risk.denylist`: the entry under `key`
   * (`<kind>:<value>`), or a tombstone removing it when `entry` is null.
   */
  publishDenyList(
    key: string,
    entry: DenyListEntry | null,
    headers: CommandHeaders,
    atMs: number,
  ): Promise<void>;
}

export interface PaymentEventView {
  /** Event type name, e.g. `PaymentInitiated`, `PaymentCompleted`. */
  readonly type: string;
  /** The time of the payment's command, the same on every event. */
  readonly occurredAtMs: number;
  /** When the pipeline decided this step. */
  readonly recordedAtMs: number;
  /** Position of the event within the payment's own history, starting at 0 or 1. */
  readonly sequence: number;
}

export interface PaymentView {
  readonly paymentId: string;
  readonly kind: PaymentKind;
  /** The JWT `sub` that submitted it (PaymentCommand.principal); null when not recorded. */
  readonly principal: string | null;
  readonly status: PaymentStatus;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly senderAccountId: string;
  readonly recipientAccountId: string;
  readonly reference: string | null;
  /** Set when status is REJECTED or FAILED: a code from the processors' closed list. */
  readonly rejection: { readonly code: string; readonly detail: string | null } | null;
  /** The fraud score and each contribution to it, once the payment was scored. */
  readonly risk: RiskAssessment | null;
  /** Ordered by sequence, oldest first. */
  readonly events: readonly PaymentEventView[];
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** Where a page of held payments starts: after this one, in (heldAtMs, paymentId) order. */
export interface HeldCursor {
  readonly heldAtMs: number;
  readonly paymentId: string;
}

/** Where a page of an account's payments starts: after this one, in (createdAtMs, paymentId) descending order. */
export interface AccountPaymentsCursor {
  readonly createdAtMs: number;
  readonly paymentId: string;
}

/** An account's payments, sent and received, newest first (ties by payment id, descending). */
export interface AccountPaymentsQuery {
  readonly accountId: string;
  readonly limit: number;
  readonly after?: AccountPaymentsCursor;
  readonly status?: PaymentView['status'];
  /** Created at or after (epoch ms). */
  readonly fromMs?: number;
  /** Created before (epoch ms). */
  readonly toMs?: number;
}

/** Whether `view` belongs on the pages of `query` (every filter but the account and the limit). */
export function matchesAccountPayments(view: PaymentView, query: AccountPaymentsQuery): boolean {
  if (query.status !== undefined && view.status !== query.status) return false;
  if (query.fromMs !== undefined && view.createdAtMs < query.fromMs) return false;
  if (query.toMs !== undefined && view.createdAtMs >= query.toMs) return false;
  const { after } = query;
  if (after === undefined) return true;
  return (
    view.createdAtMs < after.createdAtMs ||
    (view.createdAtMs === after.createdAtMs && view.paymentId < after.paymentId)
  );
}

/** The page of `query` among `views` (any payments): the account's, filtered, newest first. */
export function accountPaymentsPage(
  views: Iterable<PaymentView>,
  query: AccountPaymentsQuery,
): PaymentView[] {
  const matching: PaymentView[] = [];
  for (const view of views) {
    const ofAccount = view.senderAccountId === query.accountId || view.recipientAccountId === query.accountId;
    if (ofAccount && matchesAccountPayments(view, query)) matching.push(view);
  }
  return matching.sort(newestFirst).slice(0, query.limit);
}

/** Newest first, ties by payment id descending: the order of every account history page. */
export function newestFirst(a: PaymentView, b: PaymentView): number {
  if (a.createdAtMs !== b.createdAtMs) return b.createdAtMs - a.createdAtMs;
  return a.paymentId < b.paymentId ? 1 : a.paymentId > b.paymentId ? -1 : 0;
}

/**
 * A search over all payments (`GET /v1/payments`), newest first (ties by payment id,
 * descending), every filter optional and all of them combined.
 */
export interface PaymentSearchQuery {
  readonly limit: number;
  readonly after?: AccountPaymentsCursor;
  /** Words that must all appear in the reference (case-insensitive, see `searchWords`). */
  readonly text?: string;
  readonly status?: PaymentView['status'];
  /** Sent or received by this account. */
  readonly accountId?: string;
  readonly currency?: CurrencyCode;
  /** Amount at least / at most, in minor units (of each payment's own currency). */
  readonly minAmountMinor?: bigint;
  readonly maxAmountMinor?: bigint;
  /** Created at or after (epoch ms). */
  readonly fromMs?: number;
  /** Created before (epoch ms). */
  readonly toMs?: number;
}

/** Bound on the words of a search text: more make the request a 400, never a slow query. */
export const MAX_SEARCH_WORDS = 8;

/**
 * The words of a text as every backend compares them: lower case, split at anything that is not
 * a letter or a digit (Unicode), empty pieces dropped, each word once. `INV-2026/0042 Rent`
 * has the words `inv`, `2026`, `0042` and `rent`.
 */
export function searchWords(text: string | null): string[] {
  if (text === null) return [];
  return [...new Set(text.toLowerCase().split(/[^\p{L}\p{N}]+/u))].filter((word) => word !== '');
}

/** Whether `view` is in the results of `query` (every filter but the limit). */
export function matchesSearch(view: PaymentView, query: PaymentSearchQuery): boolean {
  if (
    query.accountId !== undefined &&
    view.senderAccountId !== query.accountId &&
    view.recipientAccountId !== query.accountId
  )
    return false;
  if (query.currency !== undefined && view.currency !== query.currency) return false;
  if (query.minAmountMinor !== undefined && view.amountMinor < query.minAmountMinor) return false;
  if (query.maxAmountMinor !== undefined && view.amountMinor > query.maxAmountMinor) return false;
  if (query.text !== undefined) {
    const words = new Set(searchWords(view.reference));
    if (!searchWords(query.text).every((word) => words.has(word))) return false;
  }
  return matchesAccountPayments(view, { accountId: '', limit: query.limit, ...timeAndStatusOf(query) });
}

function timeAndStatusOf(query: PaymentSearchQuery): Omit<AccountPaymentsQuery, 'accountId' | 'limit'> {
  return {
    ...(query.after === undefined ? {} : { after: query.after }),
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.fromMs === undefined ? {} : { fromMs: query.fromMs }),
    ...(query.toMs === undefined ? {} : { toMs: query.toMs }),
  };
}

/** The page of `query` among `views`: the matching ones, newest first, `query.limit` at most. */
export function searchPage(views: Iterable<PaymentView>, query: PaymentSearchQuery): PaymentView[] {
  const matching: PaymentView[] = [];
  for (const view of views) if (matchesSearch(view, query)) matching.push(view);
  return matching.sort(newestFirst).slice(0, query.limit);
}

/** One row of the event store (`payflow.payment_events`): an event of a payment, as it was logged. */
export interface StoredPaymentEvent extends PaymentEventView {
  /** The event's id on `payments.events`; the store holds each id once. */
  readonly eventId: string;
  /** The correlation id of the request that caused it; null when not recorded. */
  readonly correlationId: string | null;
}

/** The queries a search index answers (Elasticsearch in the Kafka mode). */
export interface PaymentSearch {
  /** A page of an account's payments (`query.limit` at most), newest first. */
  accountPayments(query: AccountPaymentsQuery): Promise<readonly PaymentView[]>;
  /** A page of the payments matching `query` (`query.limit` at most), newest first. */
  searchPayments(query: PaymentSearchQuery): Promise<readonly PaymentView[]>;
}

export interface PaymentQueries extends PaymentSearch {
  getPayment(paymentId: string): Promise<PaymentView | undefined>;
  /** Payments HELD for review, oldest hold first, at most `limit`, after `after`. */
  listHeld(limit: number, after: HeldCursor | undefined): Promise<readonly PaymentView[]>;
  /** The event store's history of a payment, by sequence; empty when it has none. */
  paymentEvents(paymentId: string): Promise<readonly StoredPaymentEvent[]>;
}

/** `queries` with its history and search answered by `search` (a search index beside the store). */
export function withSearch(queries: PaymentQueries, search: PaymentSearch): PaymentQueries {
  return {
    getPayment: (paymentId) => queries.getPayment(paymentId),
    listHeld: (limit, after) => queries.listHeld(limit, after),
    paymentEvents: (paymentId) => queries.paymentEvents(paymentId),
    accountPayments: (query) => search.accountPayments(query),
    searchPayments: (query) => search.searchPayments(query),
  };
}

/** When a held payment was held (the PaymentHeld event's recordedAtMs), or undefined. */
export function heldAtOf(view: PaymentView): number | undefined {
  return view.events.findLast((event) => event.type === 'PaymentHeld')?.recordedAtMs;
}

/** When a held payment's hold started: its PaymentHeld time, else its last update. */
export function holdTimeOf(view: PaymentView): number {
  return heldAtOf(view) ?? view.updatedAtMs;
}

/** The page of `views` that are HELD, oldest hold first (ties by payment id), after `after`. */
export function heldPage(
  views: Iterable<PaymentView>,
  limit: number,
  after: HeldCursor | undefined,
): PaymentView[] {
  const held: { readonly view: PaymentView; readonly at: number }[] = [];
  for (const view of views) {
    if (view.status !== 'HELD') continue;
    const at = holdTimeOf(view);
    if (
      after !== undefined &&
      (at < after.heldAtMs || (at === after.heldAtMs && view.paymentId <= after.paymentId))
    )
      continue;
    held.push({ view, at });
  }
  held.sort((a, b) => a.at - b.at || (a.view.paymentId < b.view.paymentId ? -1 : 1));
  return held.slice(0, limit).map((entry) => entry.view);
}

/** An account as the `accounts` table has it, with its ledger balance. */
export interface AccountView extends Account {
  /** Ledger balance in minor units; the funding accounts go below zero. */
  readonly balanceMinor: bigint;
}

export interface AccountQueries {
  getAccount(accountId: string): Promise<AccountView | undefined>;
  /** The pipeline's decision on one command of the account, once the read model has it. */
  getAccountCommand(accountId: string, commandId: string): Promise<AccountCommandOutcome | undefined>;
  /**
   * The highest KYC tier among the owner's accounts that are not CLOSED; undefined when the owner
   * has none. One indexed read (the gateway's rate limiter caches the answer).
   */
  highestTierOfOwner(ownerId: string): Promise<KycTier | undefined>;
}

/** The highest tier among `ownerId`'s accounts that are not CLOSED (tiers sort as text). */
export function highestTier(
  accounts: Iterable<{ readonly ownerId: string; readonly kycTier: KycTier; readonly status: string }>,
  ownerId: string,
): KycTier | undefined {
  let highest: KycTier | undefined;
  for (const account of accounts) {
    if (account.ownerId !== ownerId || account.status === 'CLOSED') continue;
    if (highest === undefined || account.kycTier > highest) highest = account.kycTier;
  }
  return highest;
}

/** Readiness of what the gateway depends on (log producer connected, stores reachable). */
export interface ReadinessCheck {
  check(): Promise<{ readonly ready: boolean; readonly detail?: string }>;
}

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

/** Keys are scoped per principal: two producers may use the same key independently. */
export interface IdempotencyScope {
  readonly principal: string;
  readonly key: string;
}

/** The response stored for replay: the original status code and JSON body. */
export interface StoredResponse {
  readonly statusCode: number;
  readonly body: unknown;
}

/**
 * Outcomes are results, not exceptions (only an unreachable store throws):
 * - `acquired`: no record; the caller holds the in-flight lock and must `complete` or `release`;
 * - `replay`: a completed request with the same fingerprint; answer with its stored response;
 * - `in_flight`: the same request is still being processed by someone else;
 * - `mismatch`: the key was used (in flight or completed) for a different request.
 */
export type IdempotencyBegin =
  | { readonly outcome: 'acquired'; readonly lockToken: string }
  | { readonly outcome: 'replay'; readonly response: StoredResponse }
  | { readonly outcome: 'in_flight' }
  | { readonly outcome: 'mismatch' };

/**
 * The identity of the command an attempt under a key publishes. Kept as long as the key, so a
 * retry after its holder died, or after a publish that timed out but may have landed, publishes
 * the very same command — which the dedupe processor recognises as the same payment — instead of
 * a new one.
 */
export interface AttemptIdentity {
  readonly commandId: string;
  /** The payment id, or the id of the account an OPEN creates when the body names none. */
  readonly entityId: string;
  readonly issuedAtMs: number;
}

export interface IdempotencyStore {
  /**
   * Atomically claims the key for this request. The in-flight lock expires by itself after the
   * store's lock TTL, so a gateway that dies mid-request does not block the key for 24 h.
   */
  begin(scope: IdempotencyScope, fingerprint: string): Promise<IdempotencyBegin>;
  /** Stores the response for the key's retention TTL; a no-op if the lock is no longer ours. */
  complete(scope: IdempotencyScope, lockToken: string, response: StoredResponse): Promise<void>;
  /** Drops our in-flight lock so a retry can go through; a no-op if it is no longer ours. */
  release(scope: IdempotencyScope, lockToken: string): Promise<void>;
  /**
   * The attempt identity of this request under the key: the one stored by an earlier attempt
   * with the same fingerprint, else `proposed`, which is stored for the key's retention TTL.
   */
  firstAttempt(
    scope: IdempotencyScope,
    fingerprint: string,
    proposed: AttemptIdentity,
  ): Promise<AttemptIdentity>;
  close(): Promise<void>;
}

export interface GatewayPorts {
  readonly publisher: CommandPublisher;
  readonly payments: PaymentQueries;
  readonly accounts: AccountQueries;
  readonly idempotency: IdempotencyStore;
  /** Optional: without it, `/readyz` reports ready once the server is listening. */
  readonly readiness?: ReadinessCheck;
  /** Optional: without it, commands are always taken (the embedded pipeline can't be down). */
  readonly intake?: IntakeCheck;
}

/**
 * Whether the pipeline can take new commands now (the log and the processors are up). Checked
 * on every command before it is published, so it must answer from memory, at once.
 */
export interface IntakeCheck {
  accepting(): { readonly accepting: true } | { readonly accepting: false; readonly detail: string };
}
