/**
 * Seeded synthetic payments for training and testing the fraud model: legitimate traffic and
 * the known fraud patterns, each a labelled feature vector. The same seed gives the same rows.
 *
 * Patterns (shares of the rows in `generateDataset`):
 *   - legitimate (88%): amounts around the sender's own mean, mostly known devices, low
 *     velocity; with the honest outliers that make fraud hard to tell apart (a new phone, a big
 *     purchase, a shared office IP, a busy day);
 *   - account takeover (3%): a device new for the sender and an amount far above its history;
 *   - mule device (3%): one device (and IP) used by many sender accounts in 24 h;
 *   - burst (3%): many small payments, near the per-minute and per-hour count limits;
 *   - far above history (3%): an established sender paying 10–200 times its mean amount.
 * A small share of the fraud rows is on a deny list.
 */
import type { CurrencyCode, KycTier } from '../../schemas/types.js';
import { amountRatio, REVIEW_AMOUNT_BY_TIER, type FraudFeatures } from './features.js';
import { Random } from './random.js';

export const PATTERNS = [
  'legitimate',
  'account-takeover',
  'mule-device',
  'burst',
  'far-above-history',
] as const;
export type Pattern = (typeof PATTERNS)[number];

export interface LabelledPayment {
  readonly features: FraudFeatures;
  readonly fraud: boolean;
  readonly pattern: Pattern;
}

/**
 * Velocity limits the synthetic senders live under, only to turn counts into fractions: the
 * issue's default table. The velocity step owns the real ones; scoring reads only the fractions.
 */
const SYNTHETIC_LIMITS: Readonly<
  Record<KycTier, { perMinute: number; perHour: number; perDay: number; amountPerDayMinor: bigint }>
> = {
  TIER_0: { perMinute: 3, perHour: 10, perDay: 20, amountPerDayMinor: 50_000n },
  TIER_1: { perMinute: 10, perHour: 50, perDay: 200, amountPerDayMinor: 500_000n },
  TIER_2: { perMinute: 30, perHour: 300, perDay: 2_000, amountPerDayMinor: 5_000_000n },
  TIER_3: { perMinute: 600, perHour: 10_000, perDay: 100_000, amountPerDayMinor: 100_000_000_000n },
};

const TIERS: readonly KycTier[] = ['TIER_0', 'TIER_1', 'TIER_1', 'TIER_1', 'TIER_2', 'TIER_2', 'TIER_3'];
const CURRENCIES: readonly CurrencyCode[] = ['EUR', 'EUR', 'USD', 'GBP'];

/** The raw facts of one synthetic payment; `assemble` derives the ratios and fractions. */
interface Draft {
  tier: KycTier;
  currency: CurrencyCode;
  amount: number;
  historyCount: number;
  historyMean: number;
  hasDevice: boolean;
  hasIp: boolean;
  deviceNew: boolean;
  sendersOnDevice: number;
  sendersOnIp: number;
  /** Fractions of the tier's count limits, and earlier amount in 24 h as a fraction of its limit. */
  count1m: number;
  count1h: number;
  count24h: number;
  earlierAmount24h: number;
  denyDevice: boolean;
  denyIp: boolean;
  denyAccount: boolean;
}

/** A sender: tier, currency and history, shared by every pattern. */
function sender(random: Random): Draft {
  const tier = random.pick(TIERS);
  const review = Number(REVIEW_AMOUNT_BY_TIER[tier]);
  const historyCount = random.chance(0.1)
    ? 0
    : Math.min(5_000, Math.round(random.logNormal(Math.log(30), 1)));
  const historyMean = Math.min(review * 0.5, review * random.logNormal(Math.log(0.03), 0.8));
  const hasDevice = random.chance(0.85);
  return {
    tier,
    currency: random.pick(CURRENCIES),
    amount:
      historyCount > 0
        ? historyMean * random.logNormal(0, 0.5)
        : review * random.logNormal(Math.log(0.04), 1),
    historyCount,
    historyMean,
    hasDevice,
    hasIp: hasDevice && random.chance(0.95),
    deviceNew: hasDevice && random.chance(0.04),
    sendersOnDevice: hasDevice ? 1 + (random.chance(0.1) ? random.integer(1, 2) : 0) : 0,
    sendersOnIp: random.chance(0.05) ? random.integer(5, 60) : random.integer(1, 3),
    count1m: random.between(0, 0.4),
    count1h: random.between(0, 0.4),
    count24h: random.between(0, 0.5),
    earlierAmount24h: random.between(0, 0.3),
    denyDevice: false,
    denyIp: false,
    denyAccount: false,
  };
}

/** The honest outliers of legitimate traffic. */
function legitimate(random: Random, d: Draft): void {
  if (random.chance(0.02)) d.amount = d.historyMean * random.between(3, 30);
  if (d.hasDevice && random.chance(0.01)) {
    d.deviceNew = true;
    d.amount = d.historyMean * random.between(3, 15);
  }
  if (random.chance(0.03)) {
    d.count1m = random.between(0.5, 1);
    d.count1h = random.between(0.5, 1);
  }
  if (random.chance(0.02)) d.earlierAmount24h = random.between(0.5, 0.9);
}

const FRAUD: Readonly<Record<Exclude<Pattern, 'legitimate'>, (random: Random, d: Draft) => void>> = {
  'account-takeover': (random, d) => {
    d.hasDevice = true;
    d.hasIp = true;
    d.deviceNew = random.chance(0.9);
    d.sendersOnDevice = 1;
    d.historyCount = Math.max(3, d.historyCount);
    d.amount = d.historyMean * random.between(4, 60);
  },
  'mule-device': (random, d) => {
    d.hasDevice = true;
    d.hasIp = true;
    d.deviceNew = random.chance(0.6);
    d.sendersOnDevice = random.integer(4, 40);
    d.sendersOnIp = random.integer(3, 80);
    d.historyCount = random.integer(0, 5);
    d.amount = Number(REVIEW_AMOUNT_BY_TIER[d.tier]) * random.between(0.05, 0.9);
  },
  burst: (random, d) => {
    d.amount = d.historyMean * random.between(0.05, 0.5);
    d.deviceNew = d.hasDevice && random.chance(0.3);
    d.count1m = random.between(0.6, 1);
    d.count1h = random.between(0.4, 1);
    d.count24h = random.between(0.2, 0.8);
  },
  'far-above-history': (random, d) => {
    d.historyCount = Math.max(5, d.historyCount);
    d.amount = d.historyMean * random.between(10, 200);
    d.deviceNew = d.hasDevice && random.chance(0.2);
  },
};

const SHARES: readonly (readonly [Pattern, number])[] = [
  ['account-takeover', 0.03],
  ['mule-device', 0.03],
  ['burst', 0.03],
  ['far-above-history', 0.03],
];

function patternOf(random: Random): Pattern {
  let u = random.next();
  for (const [pattern, share] of SHARES) {
    if (u < share) return pattern;
    u -= share;
  }
  return 'legitimate';
}

/** One labelled payment. */
export function syntheticPayment(random: Random): LabelledPayment {
  const pattern = patternOf(random);
  const d = sender(random);
  if (pattern === 'legitimate') legitimate(random, d);
  else {
    FRAUD[pattern](random, d);
    if (random.chance(0.05)) denyList(random, d);
  }
  return { features: assemble(d), fraud: pattern !== 'legitimate', pattern };
}

function denyList(random: Random, d: Draft): void {
  const which = random.integer(0, 2);
  d.denyAccount = which === 0 || !d.hasDevice;
  d.denyDevice = which === 1 && d.hasDevice;
  d.denyIp = which === 2 && d.hasIp;
}

export function generateDataset(seed: number, rows: number): LabelledPayment[] {
  const random = new Random(seed);
  return Array.from({ length: rows }, () => syntheticPayment(random));
}

/**
 * Any feature vector, labelled or not, over wide ranges (extreme amounts, every boolean, counts
 * up to and over the limits): the input of the property tests of the guarantees.
 */
export function arbitraryFeatures(random: Random): FraudFeatures {
  const d = sender(random);
  const review = Number(REVIEW_AMOUNT_BY_TIER[d.tier]);
  d.amount = review * Math.exp(random.between(Math.log(1e-4), Math.log(1e3)));
  d.historyCount = random.chance(0.2) ? 0 : random.integer(1, 10_000);
  d.historyMean = review * Math.exp(random.between(Math.log(1e-5), Math.log(10)));
  d.hasDevice = random.chance(0.5);
  d.hasIp = d.hasDevice && random.chance(0.8);
  d.deviceNew = d.hasDevice && random.chance(0.5);
  d.sendersOnDevice = d.hasDevice ? random.integer(1, 500) : 0;
  d.sendersOnIp = d.hasIp ? random.integer(1, 5_000) : 0;
  d.count1m = random.between(0, 1.5);
  d.count1h = random.between(0, 1.5);
  d.count24h = random.between(0, 1.5);
  d.earlierAmount24h = random.between(0, 1.5);
  d.denyDevice = d.hasDevice && random.chance(0.1);
  d.denyIp = d.hasIp && random.chance(0.1);
  d.denyAccount = random.chance(0.1);
  return assemble(d);
}

function assemble(d: Draft): FraudFeatures {
  const reviewAmountMinor = REVIEW_AMOUNT_BY_TIER[d.tier];
  const limits = SYNTHETIC_LIMITS[d.tier];
  const amountMinor = BigInt(Math.max(1, Math.round(d.amount)));
  const historyMeanAmountMinor = d.historyCount > 0 ? BigInt(Math.max(1, Math.round(d.historyMean))) : 0n;
  const count = (fraction: number, limit: number) => Math.max(1, Math.round(fraction * limit));
  const count1m = count(d.count1m, limits.perMinute);
  const count1h = Math.max(count1m, count(d.count1h, limits.perHour));
  const count24h = Math.max(count1h, count(d.count24h, limits.perDay));
  const earlier = BigInt(Math.round(d.earlierAmount24h * Number(limits.amountPerDayMinor)));
  const amount24hMinor = earlier + amountMinor;
  return {
    amountMinor,
    currency: d.currency,
    senderTier: d.tier,
    reviewAmountMinor,
    amountToReviewRatio: amountRatio(amountMinor, reviewAmountMinor),
    hasDevice: d.hasDevice,
    hasIp: d.hasIp,
    deviceNewForSender: d.hasDevice && d.deviceNew,
    distinctSendersOnDevice24h: d.hasDevice ? Math.max(1, d.sendersOnDevice) : 0,
    distinctSendersOnIp24h: d.hasIp ? Math.max(1, d.sendersOnIp) : 0,
    count1m,
    count1h,
    count24h,
    amount24hMinor,
    count1mFraction: count1m / limits.perMinute,
    count1hFraction: count1h / limits.perHour,
    count24hFraction: count24h / limits.perDay,
    amount24hFraction: amountRatio(amount24hMinor, limits.amountPerDayMinor),
    historyCount: d.historyCount,
    historyMeanAmountMinor,
    amountToHistoryMeanRatio: d.historyCount > 0 ? amountRatio(amountMinor, historyMeanAmountMinor) : 1,
    denyListedDevice: d.hasDevice && d.denyDevice,
    denyListedIp: d.hasIp && d.denyIp,
    denyListedAccount: d.denyAccount,
  };
}
