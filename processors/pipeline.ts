/**
 * The payment pipeline as one topology: which processor reads what, in one place. Both modes of
 * the main job run exactly this topology — the embedded default on the in-memory driver (bare
 * Avro), the Kafka mode on the Kafka driver (Avro in the registry's wire format).
 */
import type { Serde, Topology } from './runtime/api.js';
import { topicCatalogue, TOPIC, type TopicContract } from '../topics/catalogue.js';
import { accountsProcessor } from './accounts/processor.js';
import { dedupeProcessor } from './dedupe/processor.js';
import { ledgerProcessor } from './ledger/processor.js';
import { validateProcessor } from './validate/processor.js';

export const PIPELINE_APPLICATION_ID = 'payflow';

export interface PipelineOptions {
  readonly applicationId?: string;
  /** The serde of an Avro topic of the catalogue. */
  readonly serdeOf: (topic: TopicContract & { readonly value: { readonly kind: 'avro' } }) => Serde<unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

export function paymentPipeline(options: PipelineOptions): Topology {
  const topics = topicCatalogue(options.env).flatMap((topic) =>
    topic.value.kind === 'avro'
      ? [
          {
            name: topic.name,
            partitions: topic.partitions,
            serde: options.serdeOf({ ...topic, value: topic.value }),
          },
        ]
      : [],
  );
  return {
    applicationId: options.applicationId ?? PIPELINE_APPLICATION_ID,
    topics,
    processors: [accountsProcessor(), dedupeProcessor(), validateProcessor(), ledgerProcessor()],
    deadLetterTopic: TOPIC.deadLetter,
  };
}
