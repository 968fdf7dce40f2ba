/**
 * The payment pipeline as one topology: which processor reads what, in one place. Both modes of
 * the main job run exactly this topology — the embedded default on the in-memory driver (bare
 * Avro), the Kafka mode on the Kafka driver (Avro in the registry's wire format).
 */
import type { Serde, Topology } from './runtime/api.js';
import { topicCatalogue, TOPIC, type TopicContract } from '../topics/catalogue.js';
import { accountsProcessor, type AccountsProcessorOptions } from './accounts/processor.js';
import { dedupeProcessor, type DedupeProcessorOptions } from './dedupe/processor.js';
import { ledgerProcessor, type LedgerProcessorOptions } from './ledger/processor.js';
import { validateProcessor } from './validate/processor.js';
import { velocityProcessor, type VelocityProcessorOptions } from './velocity/processor.js';
import { deviceProfileProcessor } from './fraud/device-profile.js';
import { fraudProcessor, type FraudProcessorOptions } from './fraud/processor.js';

export const PIPELINE_APPLICATION_ID = 'payflow';
/**
 * The sub-topology of a payment: dedupe, validation, velocity, fraud scoring and the ledger in one task per partition of
 * `payments.commands` (keyed by sender) and `ledger.credits` (keyed by recipient). The ledger's
 * balances store takes both legs, so the sender side (dedupe, validate, debit) and the recipient
 * side (credit) of an account run in the same task; a credit crosses one Kafka topic.
 */
export const PAYMENTS_SUB_TOPOLOGY = 'payments';
export const ACCOUNTS_SUB_TOPOLOGY = 'accounts';
/** The device and IP-address profiles fraud scoring reads, keyed by device or address. */
export const DEVICES_SUB_TOPOLOGY = 'devices';

export interface PipelineOptions {
  readonly applicationId?: string;
  /** The serde of an Avro topic of the catalogue. */
  readonly serdeOf: (topic: TopicContract & { readonly value: { readonly kind: 'avro' } }) => Serde<unknown>;
  /** Partitions of every topic (default 6). */
  readonly partitions?: number;
  /** Bounds and time-to-lives of the processors' stores (defaults: each processor's). */
  readonly processors?: {
    readonly dedupe?: DedupeProcessorOptions;
    readonly accounts?: AccountsProcessorOptions;
    readonly velocity?: VelocityProcessorOptions;
    readonly fraud?: FraudProcessorOptions;
    readonly ledger?: LedgerProcessorOptions;
  };
}

export function paymentPipeline(options: PipelineOptions): Topology {
  const topics = topicCatalogue(
    options.partitions === undefined ? {} : { partitions: options.partitions },
  ).flatMap((topic) =>
    topic.value.kind === 'avro'
      ? [
          {
            name: topic.name,
            partitions: topic.partitions,
            serde: options.serdeOf({ ...topic, value: topic.value }),
            ...(topic.audience === 'in-task' ? { inTask: true } : {}),
          },
        ]
      : [],
  );
  return {
    applicationId: options.applicationId ?? PIPELINE_APPLICATION_ID,
    topics,
    processors: [
      accountsProcessor(options.processors?.accounts),
      dedupeProcessor(options.processors?.dedupe),
      validateProcessor(),
      velocityProcessor(options.processors?.velocity),
      fraudProcessor({
        ...(options.processors?.velocity?.limits === undefined
          ? {}
          : { velocityLimits: options.processors.velocity.limits }),
        ...options.processors?.fraud,
      }),
      deviceProfileProcessor(),
      ledgerProcessor(options.processors?.ledger),
    ],
    deadLetterTopic: TOPIC.deadLetter,
    subTopologyNames: {
      dedupe: PAYMENTS_SUB_TOPOLOGY,
      accounts: ACCOUNTS_SUB_TOPOLOGY,
      'device-profile': DEVICES_SUB_TOPOLOGY,
    },
  };
}
