/**
 * Runs the accounts projection from Kafka: one consumer group on the compacted `accounts` topic
 * and one on `ledger.postings`, both through `runKafkaProjection` (read_committed, offsets
 * committed only after the projection has applied the batch, a failing target retried with
 * capped backoff). The groups are `<groupId>.accounts` and `<groupId>.postings`.
 *
 * The two topics are consumed independently: a posting may be projected before the record of
 * the account it moves money to. The balance is kept; the account answers once its record is in.
 *
 * Dead-lettered instead of applied: a record that doesn't decode, a null value (a tombstone: the
 * accounts table never deletes, an account is CLOSED instead), and an unbalanced posting (it
 * would fail every retry and stop the partition).
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';

import type { Serde } from '../processors/runtime/api.js';
import { TOPIC } from '../processors/topic-names.js';
import type { Account, LedgerPosting } from '../schemas/types.js';
import { checkPosting } from './account-view.js';
import { runKafkaProjection, type RetryPolicy } from './kafka-runner.js';

/** What the runner applies to: PostgresAccountsProjection or MemoryAccountsProjection. */
export interface AccountsProjectionSink {
  applyAccounts(accounts: readonly Account[]): Promise<void> | void;
  applyPostings(postings: readonly LedgerPosting[]): Promise<void> | void;
}

export interface AccountsProjectionRunnerOptions {
  readonly kafka: Kafka;
  readonly projection: AccountsProjectionSink;
  /** Prefix of the two consumer groups. */
  readonly groupId: string;
  /** Default: the catalogue's `accounts` and `ledger.postings`. */
  readonly topics?: { readonly accounts: string; readonly postings: string };
  /** plainAvroSerde(AVRO.Account) or registryAvroSerde(registry, subject, AVRO.Account). */
  readonly accountSerde: Serde<Account>;
  readonly postingSerde: Serde<LedgerPosting>;
  readonly deadLetter: (
    topic: string,
    message: KafkaMessage,
    partition: number,
    reason: Error,
  ) => Promise<void>;
  readonly retry?: RetryPolicy;
  readonly onSinkError?: (topic: string, error: unknown, attempt: number, delayMs: number) => void;
  readonly onBatchApplied?: (topic: string, partition: number, count: number, offsetLag: number) => void;
  readonly fromBeginning?: boolean;
  /** See ProjectionRunnerOptions.isPermanent. */
  readonly isPermanent?: (error: unknown) => boolean;
}

export interface RunningAccountsProjection {
  readonly consumers: readonly Consumer[];
  /** Stops both consumers (a batch in flight finishes or is replayed later). */
  disconnect(): Promise<void>;
}

export class TombstoneError extends Error {
  constructor(topic: string) {
    super(`a record without a value on ${topic} (tombstones are not part of the contract)`);
    this.name = 'TombstoneError';
  }
}

function decoder<V>(topic: string, serde: Serde<V>, check: (value: V) => void = () => undefined) {
  return async (message: KafkaMessage): Promise<V> => {
    if (message.value === null) throw new TombstoneError(topic);
    const value = await serde.deserialize(message.value, topic);
    check(value);
    return value;
  };
}

/** Starts both consumers; resolves once both run. If the second fails to start, the first is stopped. */
export async function runAccountsProjection(
  options: AccountsProjectionRunnerOptions,
): Promise<RunningAccountsProjection> {
  const topics = options.topics ?? { accounts: TOPIC.accounts, postings: TOPIC.ledgerPostings };
  const start = <E>(
    group: string,
    topic: string,
    decode: (message: KafkaMessage) => Promise<E>,
    apply: (events: readonly E[]) => Promise<void> | void,
  ) =>
    runKafkaProjection<E>({
      kafka: options.kafka,
      groupId: `${options.groupId}.${group}`,
      topic,
      decode,
      sink: { apply },
      deadLetter: (message, partition, reason) => options.deadLetter(topic, message, partition, reason),
      ...(options.retry ? { retry: options.retry } : {}),
      onSinkError: (error, attempt, delayMs) => options.onSinkError?.(topic, error, attempt, delayMs),
      onBatchApplied: (partition, count, offsetLag) =>
        options.onBatchApplied?.(topic, partition, count, offsetLag),
      fromBeginning: options.fromBeginning ?? true,
      ...(options.isPermanent ? { isPermanent: options.isPermanent } : {}),
    });

  const accounts = await start(
    'accounts',
    topics.accounts,
    decoder(topics.accounts, options.accountSerde),
    (batch) => options.projection.applyAccounts(batch),
  );
  try {
    const postings = await start(
      'postings',
      topics.postings,
      decoder(topics.postings, options.postingSerde, checkPosting),
      (batch) => options.projection.applyPostings(batch),
    );
    const consumers = [accounts, postings];
    return {
      consumers,
      disconnect: async () => void (await Promise.all(consumers.map((consumer) => consumer.disconnect()))),
    };
  } catch (error) {
    await accounts.disconnect().catch(() => undefined);
    throw error;
  }
}
