/**
 * What fraud scoring knows about one payment: the payment itself, its sender's KYC tier and
 * history, the device signals, the velocity step's counts and the deny-list hits. A flat record
 * of plain values, so the rules' conditions and the model read it without lookups; the fraud
 * processor builds it (`fraudFeatures`) from the stores it owns.
 */
import type { CurrencyCode, KycTier, PaymentCommand } from '../../schemas/types.js';

/** The amount at or above which a sender's payment goes to manual review, by KYC tier (minor units). */
export const REVIEW_AMOUNT_BY_TIER: Readonly<Record<KycTier, bigint>> = {
  TIER_0: 20_000n,
  TIER_1: 200_000n,
  TIER_2: 2_000_000n,
  TIER_3: 50_000_000n,
};

export interface FraudFeatures {
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly senderTier: KycTier;
  /** REVIEW_AMOUNT_BY_TIER of the sender's tier. */
  readonly reviewAmountMinor: bigint;
  /** amountMinor / reviewAmountMinor (≥ 1 at the review level; compare amounts as bigint for exactness). */
  readonly amountToReviewRatio: number;

  /** The producer reported a device. Without one, every device and IP signal below is false or 0. */
  readonly hasDevice: boolean;
  /** The device reported an IP address. */
  readonly hasIp: boolean;
  /** The sender never paid from this device before. */
  readonly deviceNewForSender: boolean;
  /** Distinct sender accounts that paid from this device in the last 24 h, this sender included. */
  readonly distinctSendersOnDevice24h: number;
  /** Distinct sender accounts that paid from this IP address in the last 24 h, this sender included. */
  readonly distinctSendersOnIp24h: number;

  /** The sender's payments in the velocity windows, this one included (as the velocity step counted it). */
  readonly count1m: number;
  readonly count1h: number;
  readonly count24h: number;
  /** The sender's amount in the 24 h window, this payment included. */
  readonly amount24hMinor: bigint;
  /** Each count and the amount as a fraction of its limit for the sender's tier (≤ 1 within limits). */
  readonly count1mFraction: number;
  readonly count1hFraction: number;
  readonly count24hFraction: number;
  readonly amount24hFraction: number;

  /** The sender's earlier payments that scoring saw (0 for a new sender). */
  readonly historyCount: number;
  /** Mean amount of those payments (0n without history). */
  readonly historyMeanAmountMinor: bigint;
  /** amountMinor / historyMeanAmountMinor; 1 without history (no evidence either way). */
  readonly amountToHistoryMeanRatio: number;

  readonly denyListedDevice: boolean;
  readonly denyListedIp: boolean;
  readonly denyListedAccount: boolean;
}

export type FeatureName = keyof FraudFeatures;

/** How a rule may compare each feature: amounts as bigint, counts and ratios as numbers. */
export type FeatureKind = 'amount' | 'number' | 'boolean' | 'text';

export const FEATURE_KINDS = {
  amountMinor: 'amount',
  currency: 'text',
  senderTier: 'text',
  reviewAmountMinor: 'amount',
  amountToReviewRatio: 'number',
  hasDevice: 'boolean',
  hasIp: 'boolean',
  deviceNewForSender: 'boolean',
  distinctSendersOnDevice24h: 'number',
  distinctSendersOnIp24h: 'number',
  count1m: 'number',
  count1h: 'number',
  count24h: 'number',
  amount24hMinor: 'amount',
  count1mFraction: 'number',
  count1hFraction: 'number',
  count24hFraction: 'number',
  amount24hFraction: 'number',
  historyCount: 'number',
  historyMeanAmountMinor: 'amount',
  amountToHistoryMeanRatio: 'number',
  denyListedDevice: 'boolean',
  denyListedIp: 'boolean',
  denyListedAccount: 'boolean',
} as const satisfies Record<FeatureName, FeatureKind>;

export const FEATURE_NAMES = Object.keys(FEATURE_KINDS) as readonly FeatureName[];

/** The velocity step's view of the sender, with the limits of the sender's tier it applied. */
export interface VelocitySnapshot {
  readonly count1m: number;
  readonly count1h: number;
  readonly count24h: number;
  readonly amount24hMinor: bigint;
  readonly limits: {
    readonly perMinute: number;
    readonly perHour: number;
    readonly perDay: number;
    readonly amountPerDayMinor: bigint;
  };
}

export interface FraudSignals {
  readonly command: PaymentCommand;
  readonly senderTier: KycTier;
  /** Device signals; ignored when the command has no device. */
  readonly device: {
    readonly newForSender: boolean;
    readonly distinctSenders24h: number;
    readonly distinctSendersOnIp24h: number;
  };
  readonly velocity: VelocitySnapshot;
  readonly history: { readonly count: number; readonly meanAmountMinor: bigint };
  readonly denyListed: {
    readonly device: boolean;
    readonly ip: boolean;
    readonly account: boolean;
  };
}

/** a / b as a number, exact enough for ratios of amounts up to 2^63. */
export function amountRatio(a: bigint, b: bigint): number {
  if (b <= 0n) return 0;
  return Number(a) / Number(b);
}

/** The features of one payment from the processor's signals. */
export function fraudFeatures(signals: FraudSignals): FraudFeatures {
  const { command, velocity, history, denyListed } = signals;
  const reviewAmountMinor = REVIEW_AMOUNT_BY_TIER[signals.senderTier];
  const device = command.device;
  const hasDevice = device !== null;
  const hasIp = hasDevice && device.ip !== null;
  const limits = velocity.limits;
  return {
    amountMinor: command.amountMinor,
    currency: command.currency,
    senderTier: signals.senderTier,
    reviewAmountMinor,
    amountToReviewRatio: amountRatio(command.amountMinor, reviewAmountMinor),
    hasDevice,
    hasIp,
    deviceNewForSender: hasDevice && signals.device.newForSender,
    distinctSendersOnDevice24h: hasDevice ? signals.device.distinctSenders24h : 0,
    distinctSendersOnIp24h: hasIp ? signals.device.distinctSendersOnIp24h : 0,
    count1m: velocity.count1m,
    count1h: velocity.count1h,
    count24h: velocity.count24h,
    amount24hMinor: velocity.amount24hMinor,
    count1mFraction: velocity.count1m / limits.perMinute,
    count1hFraction: velocity.count1h / limits.perHour,
    count24hFraction: velocity.count24h / limits.perDay,
    amount24hFraction: amountRatio(velocity.amount24hMinor, limits.amountPerDayMinor),
    historyCount: history.count,
    historyMeanAmountMinor: history.count > 0 ? history.meanAmountMinor : 0n,
    amountToHistoryMeanRatio:
      history.count > 0 && history.meanAmountMinor > 0n
        ? amountRatio(command.amountMinor, history.meanAmountMinor)
        : 1,
    denyListedDevice: hasDevice && denyListed.device,
    denyListedIp: hasIp && denyListed.ip,
    denyListedAccount: denyListed.account,
  };
}

/** Within every velocity limit (the velocity step rejects a payment over one before scoring). */
export const withinVelocityLimits = (f: FraudFeatures): boolean =>
  f.count1mFraction <= 1 && f.count1hFraction <= 1 && f.count24hFraction <= 1 && f.amount24hFraction <= 1;

export const isDenyListed = (f: FraudFeatures): boolean =>
  f.denyListedDevice || f.denyListedIp || f.denyListedAccount;
