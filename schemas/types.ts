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
      readonly iban: string | null;
      readonly issuedAtMs: number;
    }
  | {
      readonly type: 'CHANGE_STATUS';
      readonly commandId: string;
      readonly accountId: string;
      readonly status: AccountStatus;
      readonly issuedAtMs: number;
    };

/** The record on the compacted `accounts` topic (the accounts table), keyed by accountId. */
export interface Account {
  readonly accountId: string;
  readonly ownerId: string;
  readonly currency: CurrencyCode;
  readonly kycTier: KycTier;
  readonly iban: string | null;
  readonly status: AccountStatus;
  readonly openedAtMs: number;
  readonly updatedAtMs: number;
}

/** The lifecycle states of a payment, as projected from `payments.events`. */
export type PaymentStatus =
  | 'INITIATED'
  | 'VALIDATED'
  | 'DEBITED'
  | 'COMPLETED'
  | 'REJECTED'
  | 'HELD'
  | 'FAILED';
