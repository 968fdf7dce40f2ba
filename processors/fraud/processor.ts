/**
 * The fraud processor, in the sender's task between the velocity step and the ledger. It builds a
 * payment's features from what it keeps per sender (history, known devices and addresses), the
 * device profiles table (distinct senders per device and IP address in 24 h, across partitions),
 * the deny-list table and the velocity step's counts, scores them (`scorePayment`: rules, model,
 * caps), and acts on the decision:
 *
 * - BLOCK: the payment ends PaymentRejected FRAUD_BLOCKED, carrying its risk; no money moves;
 * - HOLD or PASS: PaymentScored with the risk, and the payment goes on to the ledger, which holds
 *   the funds of a HOLD for review and debits a PASS.
 *
 * A deposit (from a funding account) is not scored: PaymentScored with score 0 and no reasons.
 * A new device or address of a sender is published on risk.sightings so its profile counts it.
 */
import type {
  DenyListEntry,
  DeviceProfile,
  DeviceSighting,
  KycTier,
  PaymentInFlight,
  RiskAssessment,
} from '../../schemas/types.js';
import { isFundingAccount } from '../../schemas/system-accounts.js';
import { correlationIdOf, paymentEvent, rejectedEvent, type EventStamp } from '../payment-events.js';
import type { Processor } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { DEFAULT_VELOCITY_LIMITS, type VelocityLimits } from '../velocity/limits.js';
import { DEFAULT_MODEL } from './default-model.js';
import { DEFAULT_RULES } from './default-rules.js';
import { fraudFeatures, type FraudSignals } from './features.js';
import type { FraudModel } from './model.js';
import type { FraudRules } from './rules.js';
import { DEFAULT_THRESHOLDS, scorePayment, type FraudScore, type FraudThresholds } from './score.js';

export const SENDERS_STORE = 'fraud-senders';
const DAY_MS = 86_400_000;
/** Devices and addresses remembered per sender (the least recently seen is forgotten first). */
const KNOWN_PER_SENDER = 20;
/** A sender still on a device is published again after this long, so its profile keeps it. */
const SIGHTING_REFRESH_MS = 3_600_000;

/** What scoring keeps of a sender. */
export interface SenderProfile {
  readonly count: number;
  readonly sumMinor: bigint;
  /** Device id -> when the sender last paid from it. */
  readonly devices: Readonly<Record<string, number>>;
  /** IP address -> when the sender last paid from it. */
  readonly ips: Readonly<Record<string, number>>;
}

export interface FraudProcessorOptions {
  readonly rules?: FraudRules;
  readonly model?: FraudModel;
  readonly thresholds?: FraudThresholds;
  /** The velocity step's limits, for the features that relate counts to them. */
  readonly velocityLimits?: VelocityLimits;
  readonly maxSenders?: number;
  /** Told every score (not deposits), for the score histogram and decision counts. */
  readonly onScore?: (score: FraudScore) => void;
}

export const deviceSubject = (deviceId: string): string => `DEVICE:${deviceId}`;
export const ipSubject = (ip: string): string => `IP:${ip}`;
export const denyListKey = (kind: DenyListEntry['kind'], value: string): string => `${kind}:${value}`;

/** Senders seen on a subject within 24 h of `atMs`, counting `sender` once whether or not it is listed. */
export function distinctSenders(profile: DeviceProfile | undefined, sender: string, atMs: number): number {
  let count = 1;
  for (const seen of profile?.senders ?? [])
    if (seen.accountId !== sender && atMs - seen.lastSeenMs < DAY_MS) count += 1;
  return count;
}

function remember(
  known: Readonly<Record<string, number>>,
  value: string,
  atMs: number,
): Record<string, number> {
  const next: Record<string, number> = { ...known, [value]: Math.max(known[value] ?? 0, atMs) };
  const entries = Object.entries(next);
  if (entries.length <= KNOWN_PER_SENDER) return next;
  entries.sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(entries.slice(0, KNOWN_PER_SENDER));
}

const NOT_SCORED: RiskAssessment = { score: 0, decision: 'PASS', reasons: [] };

export function fraudProcessor(options: FraudProcessorOptions = {}): Processor<PaymentInFlight> {
  const rules = options.rules ?? DEFAULT_RULES;
  const model = options.model ?? DEFAULT_MODEL;
  const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
  const limits = options.velocityLimits ?? DEFAULT_VELOCITY_LIMITS;
  return {
    name: 'fraud',
    inputs: [TOPIC.paymentsChecked],
    outputs: [TOPIC.paymentsEvents, TOPIC.paymentsScored, TOPIC.riskSightings],
    stores: [{ kind: 'kv', name: SENDERS_STORE, maxEntries: options.maxSenders ?? 1_000_000 }],
    globalTables: [TOPIC.riskDenylist, TOPIC.riskProfiles],
    process(record, context) {
      const inFlight = record.value;
      const { command } = inFlight;
      const at = record.timestampMs;
      const stamp: EventStamp = {
        paymentId: command.paymentId,
        sequence: inFlight.nextSequence,
        occurredAtMs: at,
        recordedAtMs: context.wallClockMs,
        correlationId: correlationIdOf(record.headers),
      };
      const goOn = (risk: RiskAssessment) => {
        context.forward({
          topic: TOPIC.paymentsEvents,
          key: command.paymentId,
          value: { ...paymentEvent('PaymentScored', stamp), risk },
        });
        context.forward({
          topic: TOPIC.paymentsScored,
          key: record.key,
          value: { ...inFlight, risk, nextSequence: inFlight.nextSequence + 1 },
        });
      };
      if (
        command.kind === 'DEPOSIT' ||
        isFundingAccount(command.senderAccountId) ||
        inFlight.velocity === null
      ) {
        goOn(NOT_SCORED);
        return;
      }
      const sender = command.senderAccountId;
      const senders = context.keyValueStore<SenderProfile>(SENDERS_STORE);
      const known = senders.get(sender) ?? { count: 0, sumMinor: 0n, devices: {}, ips: {} };
      const denied = context.globalTable<DenyListEntry>(TOPIC.riskDenylist);
      const profiles = context.globalTable<DeviceProfile>(TOPIC.riskProfiles);
      const device = command.device;
      const ip = device?.ip ?? null;
      const velocity = inFlight.velocity;
      const tier: KycTier = velocity.kycTier;
      const signals: FraudSignals = {
        command,
        senderTier: tier,
        device: {
          newForSender: device !== null && known.devices[device.id] === undefined,
          distinctSenders24h:
            device === null ? 0 : distinctSenders(profiles.get(deviceSubject(device.id)), sender, at),
          distinctSendersOnIp24h: ip === null ? 0 : distinctSenders(profiles.get(ipSubject(ip)), sender, at),
        },
        velocity: { ...velocity, limits: limits[tier] },
        history: {
          count: known.count,
          meanAmountMinor: known.count > 0 ? known.sumMinor / BigInt(known.count) : 0n,
        },
        denyListed: {
          device: device !== null && denied.get(denyListKey('DEVICE', device.id)) !== undefined,
          ip: ip !== null && denied.get(denyListKey('IP', ip)) !== undefined,
          account: denied.get(denyListKey('ACCOUNT', sender)) !== undefined,
        },
      };
      const score = scorePayment(fraudFeatures(signals), rules, model, thresholds);
      options.onScore?.(score);
      // The score is the contract's RiskAssessment, its reasons largest first.
      const risk: RiskAssessment = score;
      if (score.decision === 'BLOCK') {
        const detail = `fraud score ${score.score} is above ${thresholds.blockAbove}: ${risk.reasons
          .filter((reason) => reason.points > 0)
          .map((reason) => reason.code)
          .join(', ')}`;
        context.forward({
          topic: TOPIC.paymentsEvents,
          key: command.paymentId,
          value: { ...rejectedEvent(stamp, 'FRAUD_BLOCKED', detail), risk },
        });
        return;
      }
      const sight = (subject: string, lastSentMs: number | undefined) => {
        if (lastSentMs !== undefined && at - lastSentMs < SIGHTING_REFRESH_MS) return;
        const sighting: DeviceSighting = { subject, senderAccountId: sender, seenAtMs: at };
        context.forward({ topic: TOPIC.riskSightings, key: subject, value: sighting });
      };
      if (device !== null) sight(deviceSubject(device.id), known.devices[device.id]);
      if (ip !== null) sight(ipSubject(ip), known.ips[ip]);
      const refreshed = (seen: Readonly<Record<string, number>>, value: string) =>
        seen[value] !== undefined && at - seen[value] < SIGHTING_REFRESH_MS
          ? seen
          : remember(seen, value, at);
      senders.put(sender, {
        count: known.count + 1,
        sumMinor: known.sumMinor + command.amountMinor,
        devices: device === null ? known.devices : refreshed(known.devices, device.id),
        ips: ip === null ? known.ips : refreshed(known.ips, ip),
      });
      goOn(risk);
    },
  };
}
