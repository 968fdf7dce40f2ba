/**
 * Domain types of the records on PayFlow's topics. The Avro files beside this one are the
 * public contract; these types mirror them for TypeScript code. Amounts are integer minor units
 * (bigint, Avro `long`) with an ISO 4217 currency code.
 */

export type CurrencyCode = string;
export type KycTier = 'TIER_0' | 'TIER_1' | 'TIER_2' | 'TIER_3';
export type AccountStatus = 'ACTIVE' | 'FROZEN' | 'CLOSED';

/**
 * TRANSFER moves money between two customer wallets.
 * DEPOSIT funds a wallet from the system funding account of its currency, so the ledger still
 * balances (the funding account is the only kind allowed to go below zero).
 */
export type PaymentKind = 'TRANSFER' | 'DEPOSIT';

export interface Device {
  readonly id: string;
  readonly ip: string | null;
}

/** The record on `payments.commands`, keyed by paymentId. */
export interface PaymentCommand {
  readonly commandId: string;
  readonly paymentId: string;
  readonly kind: PaymentKind;
  /** The authenticated principal (JWT `sub`) that submitted the command. */
  readonly principal: string;
  readonly idempotencyKey: string;
  /** SHA-256 (hex) of the canonical request body; same key + different hash = conflict. */
  readonly requestHash: string;
  readonly senderAccountId: string;
  readonly recipientAccountId: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly reference: string | null;
  readonly device: Device | null;
  readonly submittedAtMs: number;
  /**
   * Whose accounts the principal may debit, stamped by the gateway from the token; null on
   * commands written before the field existed (validation rejects them NOT_AUTHORIZED).
   */
  readonly authority: Authority | null;
}

/**
 * OWNER: a customer or merchant acting on its own accounts (`owners` = its sub); SERVICE: a
 * producer acting for the owners of its token's `owners` claim (`*` = any owner); ADMIN: an
 * operator (deposits from a funding account; transfers only for the owners listed).
 */
export type AuthorityKind = 'OWNER' | 'SERVICE' | 'ADMIN';

export interface Authority {
  readonly kind: AuthorityKind;
  readonly owners: readonly string[];
}

/** The record on `accounts.commands`, keyed by accountId. */
export type AccountCommand =
  | {
      readonly type: 'OPEN';
      readonly commandId: string;
      readonly accountId: string;
      readonly ownerId: string;
      readonly currency: CurrencyCode;
      readonly kycTier: KycTier;
      /** Legacy plain text (commands written before sealing); the gateway writes null. */
      readonly iban: string | null;
      /** The IBAN masked (`SA****7519`), or null when it has none. */
      readonly ibanMasked?: string | null;
      /** The IBAN sealed (schemas/pii.ts), or null when it has none. */
      readonly ibanSealed?: string | null;
      readonly issuedAtMs: number;
    }
  | {
      readonly type: 'CHANGE_STATUS';
      readonly commandId: string;
      readonly accountId: string;
      readonly status: AccountStatus;
      readonly issuedAtMs: number;
    };

/** Why an account command changed nothing (UNCHANGED) or was refused (REFUSED): a closed list. */
export const ACCOUNT_OUTCOME_CODES = [
  'ALREADY_OPEN',
  'STATUS_UNCHANGED',
  'ACCOUNT_NOT_FOUND',
  'ACCOUNT_CLOSED',
  'ACCOUNT_EXISTS',
] as const;
export type AccountOutcomeCode = (typeof ACCOUNT_OUTCOME_CODES)[number];

/** The record on `accounts.outcomes`, keyed by accountId: the decision on one account command. */
export interface AccountCommandOutcome {
  readonly commandId: string;
  readonly accountId: string;
  readonly commandType: AccountCommand['type'];
  readonly outcome: 'APPLIED' | 'UNCHANGED' | 'REFUSED';
  /** Null when APPLIED. */
  readonly code: AccountOutcomeCode | null;
  readonly detail: string | null;
  /** The account's status after the command; null when there is no account. */
  readonly status: AccountStatus | null;
  readonly decidedAtMs: number;
}

/** The record on the compacted `accounts` topic (the accounts table), keyed by accountId. */
export interface Account {
  readonly accountId: string;
  readonly ownerId: string;
  readonly currency: CurrencyCode;
  readonly kycTier: KycTier;
  /** Legacy plain text (records written before sealing); now always null. */
  readonly iban: string | null;
  /** The IBAN masked (`SA****7519`), or null when it has none. */
  readonly ibanMasked?: string | null;
  /** The IBAN sealed (schemas/pii.ts), or null when it has none. */
  readonly ibanSealed?: string | null;
  readonly status: AccountStatus;
  readonly openedAtMs: number;
  readonly updatedAtMs: number;
}

/** The lifecycle states of a payment, as projected from `payments.events`. */
export type PaymentStatus =
  'INITIATED' | 'VALIDATED' | 'DEBITED' | 'COMPLETED' | 'REJECTED' | 'HELD' | 'FAILED';

// ---------------------------------------------------------------------------------------------
// Payment events (`payments.events`, keyed by paymentId, correlation id in a header)
// ---------------------------------------------------------------------------------------------

/** Machine-readable reasons a payment is rejected: a closed list, documented in schemas/README.md. */
export const REJECTION_CODES = [
  'AMOUNT_NOT_POSITIVE',
  'AMOUNT_NOT_INTEGRAL',
  'UNSUPPORTED_CURRENCY',
  'SAME_ACCOUNT',
  'SENDER_NOT_FOUND',
  'RECIPIENT_NOT_FOUND',
  'SENDER_NOT_ACTIVE',
  'RECIPIENT_NOT_ACTIVE',
  'CURRENCY_MISMATCH',
  'INVALID_IBAN',
  'INSUFFICIENT_FUNDS',
  'IDEMPOTENCY_KEY_REUSED',
  'DUPLICATE_REQUEST',
  'RECORD_DEAD_LETTERED',
  'VELOCITY_LIMIT_EXCEEDED',
  'FRAUD_BLOCKED',
  'REVIEW_DECLINED',
  'REVIEW_TIMEOUT',
  'AMOUNT_LIMIT_EXCEEDED',
  'NOT_AUTHORIZED',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export type PaymentEventType =
  | 'PaymentInitiated'
  | 'PaymentValidated'
  | 'PaymentDebited'
  | 'PaymentCompleted'
  | 'PaymentRejected'
  | 'PaymentScored'
  | 'PaymentHeld'
  | 'PaymentFailed';

/** One contribution to a fraud score. */
export interface RiskReason {
  readonly code: string;
  readonly points: number;
  readonly detail: string | null;
}

export type RiskDecision = 'PASS' | 'HOLD' | 'BLOCK';

/** A payment's fraud score (0..100), its decision and every contribution to it. */
export interface RiskAssessment {
  readonly score: number;
  readonly decision: RiskDecision;
  readonly reasons: readonly RiskReason[];
}

/** How a held payment's review ended, on the event that ends it. */
export interface ReviewOutcome {
  readonly verdict: 'APPROVE' | 'DECLINE' | 'TIMEOUT';
  readonly reviewer: string | null;
  readonly note: string | null;
  readonly decisionId: string | null;
}

/** The facts of the command, carried on PaymentInitiated. */
export interface PaymentFacts {
  readonly kind: PaymentKind;
  readonly principal: string;
  readonly idempotencyKey: string;
  readonly senderAccountId: string;
  readonly recipientAccountId: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly reference: string | null;
}

export interface PaymentEvent {
  /** `<paymentId>:<sequence>`: deterministic, so a replay produces the same id. */
  readonly eventId: string;
  readonly paymentId: string;
  readonly type: PaymentEventType;
  /** Position within the payment's history, 0 for PaymentInitiated, +1 per event. */
  readonly sequence: number;
  /** The time of the payment's command: the same on every event of the payment. */
  readonly occurredAtMs: number;
  /**
   * When the pipeline decided this step (the emitting processor's clock); null only in events
   * written before the field existed.
   */
  readonly recordedAtMs: number | null;
  readonly correlationId: string | null;
  /** Set on PaymentInitiated only. */
  readonly initiated: PaymentFacts | null;
  /** Set on PaymentRejected (a rule refused it) and PaymentFailed (the pipeline could not process it). */
  readonly rejection: { readonly code: RejectionCode; readonly detail: string | null } | null;
  /** Set on PaymentScored and PaymentHeld. */
  readonly risk: RiskAssessment | null;
  /** Set on the event that ends a review. */
  readonly review: ReviewOutcome | null;
}

// ---------------------------------------------------------------------------------------------
// Internal hand-offs between processors
// ---------------------------------------------------------------------------------------------

/**
 * A payment moving along the chain (`payments.accepted` after dedupe, keyed by paymentId;
 * `payments.validated` after validation, keyed by senderAccountId). `nextSequence` is the
 * sequence the next event of this payment takes.
 */
export interface PaymentInFlight {
  readonly command: PaymentCommand;
  readonly nextSequence: number;
  /** Set by the velocity step (null before it, and for deposits). */
  readonly velocity: VelocityCounts | null;
  /** Set by fraud scoring (null before it, and for deposits). */
  readonly risk: RiskAssessment | null;
}

/** A sender's counts in the velocity windows, this payment included. */
export interface VelocityCounts {
  readonly count1m: number;
  readonly count1h: number;
  readonly count24h: number;
  readonly amount24hMinor: bigint;
  readonly kycTier: KycTier;
}

/** A reviewer's verdict on a held payment (`reviews.decisions`, keyed by senderAccountId). */
export interface ReviewDecision {
  readonly decisionId: string;
  readonly paymentId: string;
  readonly senderAccountId: string;
  readonly decision: 'APPROVE' | 'DECLINE';
  readonly reviewer: string;
  readonly note: string | null;
  readonly decidedAtMs: number;
}

export type DenyListKind = 'DEVICE' | 'IP' | 'ACCOUNT';

/** A sender seen on a device or IP address (`risk.sightings`, keyed by `DEVICE:<id>` / `IP:<address>`). */
export interface DeviceSighting {
  readonly subject: string;
  readonly senderAccountId: string;
  readonly seenAtMs: number;
}

/** The senders seen on a device or IP address in 24 h (`risk.profiles`, compacted, same key). */
export interface DeviceProfile {
  readonly subject: string;
  readonly senders: readonly { readonly accountId: string; readonly lastSeenMs: number }[];
}

/** An entry of the deny list (`risk.denylist`, compacted, keyed by `<kind>:<value>`). */
export interface DenyListEntry {
  readonly kind: DenyListKind;
  readonly value: string;
  readonly addedBy: string;
  readonly addedAtMs: number;
}

/**
 * The credit leg of a transfer (`ledger.credits`, keyed by recipientAccountId): the debit leg has
 * been posted in the sender's partition; this record carries the money to the recipient's.
 */
export interface CreditInstruction {
  readonly paymentId: string;
  readonly recipientAccountId: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly nextSequence: number;
  readonly correlationId: string | null;
}

// ---------------------------------------------------------------------------------------------
// Ledger (`ledger.postings`, keyed by paymentId)
// ---------------------------------------------------------------------------------------------

/**
 * One balanced journal entry: its lines sum to zero. A transfer is two entries: the debit leg
 * (sender -> the in-transit account of the sender's ledger partition) and the credit leg
 * (the in-transit account of the recipient's partition -> recipient). In-transit accounts are
 * named `transit:<CURRENCY>:<partition>`; funding accounts `funding:<CURRENCY>`.
 */
/** The ledger's balance of an account after a posting (ledger.balances, keyed by accountId). */
export interface AccountBalance {
  readonly accountId: string;
  readonly currency: CurrencyCode;
  readonly balanceMinor: bigint;
  readonly postingId: string;
  readonly updatedAtMs: number;
}

export interface LedgerPosting {
  /** `<paymentId>:debit` or `<paymentId>:credit`: a posting is applied at most once. */
  readonly postingId: string;
  readonly paymentId: string;
  readonly leg: 'DEBIT' | 'CREDIT' | 'HOLD' | 'VOID';
  readonly currency: CurrencyCode;
  readonly lines: readonly { readonly accountId: string; readonly amountMinor: bigint }[];
  /** The time of the payment's command, the same on both legs. */
  readonly postedAtMs: number;
  /** When the ledger posted the entry (its clock); null only in entries written before the field existed. */
  readonly recordedAtMs: number | null;
}
