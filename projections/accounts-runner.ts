/**
 * Runs the accounts projection from Kafka: one consumer group each on the compacted `accounts`
 * topic, on `accounts.outcomes` (the decision on every account command), on `ledger.postings`
 * (the journal) and on the compacted `ledger.balances` (the ledger's balance per account), all
 * through `runKafkaProjection` (read_committed, offsets committed only after the projection has
 * applied the batch, a failing target retried with capped backoff). The groups are
 * `<groupId>.accounts`, `<groupId>.outcomes`, `<groupId>.postings` and `<groupId>.balances`.
 *
 * The two topics are consumed independently: a posting may be projected before the record of
 * the account it moves money to. The balance is kept; the account answers once its record is in.
 *
 * Dead-lettered instead of applied: a record that doesn't decode, a null value (a tombstone: the
 * accounts table never deletes, an account is CLOSED instead), and an unbalanced posting (it
 * would fail every retry and stop the partition).
 */
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { Registry } from 'prom-client';

import type { Serde } from '../processors/runtime/api.js';
import { TOPIC } from '../topics/names.js';
import type { Account, AccountBalance, AccountCommandOutcome, LedgerPosting } from '../schemas/types.js';
import type { PositionedBalance } from './postgres/accounts.js';
import { checkPosting } from './account-view.js';
import type { BackoffPolicy, ComponentHealth } from '../processors/runtime/supervision.js';
import { runKafkaProjection, type RunningProjection } from './kafka-runner.js';

/** What the runner applies to (PostgresAccountsProjection). */
export interface AccountsProjectionSink {
  applyAccounts(accounts: readonly Account[]): Promise<void> | void;
  applyOutcomes(outcomes: readonly AccountCommandOutcome[]): Promise<void> | void;
  applyPostings(postings: readonly LedgerPosting[]): Promise<void> | void;
  applyLedgerBalances(balances: readonly PositionedBalance[]): Promise<void> | void;
}

export interface AccountsProjectionRunnerOptions {
  readonly kafka: Kafka;
  readonly projection: AccountsProjectionSink;
  /** Prefix of the two consumer groups. */
  readonly groupId: string;
  /** Default: the catalogue's `accounts`, `accounts.outcomes`, `ledger.postings` and `ledger.balances`. */
  readonly topics?: {
    readonly accounts: string;
    readonly outcomes: string;
    readonly postings: string;
    readonly balances: string;
  };
  /** plainAvroSerde(AVRO.Account) or registryAvroSerde(registry, subject, AVRO.Account). */
  readonly accountSerde: Serde<Account>;
  readonly outcomeSerde: Serde<AccountCommandOutcome>;
  readonly postingSerde: Serde<LedgerPosting>;
  readonly balanceSerde: Serde<AccountBalance>;
  readonly deadLetter: (
    topic: string,
    message: KafkaMessage,
    partition: number,
    reason: Error,
  ) => Promise<void>;
  readonly retry?: BackoffPolicy;
  readonly onSinkError?: (topic: string, error: unknown, attempt: number, delayMs: number) => void;
  readonly onBatchApplied?: (topic: string, partition: number, count: number, offsetLag: number) => void;
  readonly fromBeginning?: boolean;
  /** See ProjectionRunnerOptions.isUnreachable. */
  readonly isUnreachable?: (error: unknown) => boolean;
  /** Where the consumers report, as `<componentPrefix>accounts`, `…outcomes`, `…postings`, `…balances`. */
  readonly supervision?: {
    readonly componentPrefix: string;
    readonly health: ComponentHealth;
    readonly registry?: Registry;
  };
}

export interface RunningAccountsProjection {
  readonly consumers: readonly RunningProjection[];
  /** Stops every consumer (a batch in flight finishes or is replayed later). */
  disconnect(): Promise<void>;
}

export class TombstoneError extends Error {
  readonly deadLetterCode = 'TOMBSTONE';
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

/** Starts the consumers; resolves once all run. If one fails to start, those started are stopped. */
export async function runAccountsProjection(
  options: AccountsProjectionRunnerOptions,
): Promise<RunningAccountsProjection> {
  const topics = options.topics ?? {
    accounts: TOPIC.accounts,
    outcomes: TOPIC.accountsOutcomes,
    postings: TOPIC.ledgerPostings,
    balances: TOPIC.ledgerBalances,
  };
  const start = <E>(
    group: string,
    topic: string,
    decode: (message: KafkaMessage, partition: number) => Promise<E>,
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
      ...(options.isUnreachable ? { isUnreachable: options.isUnreachable } : {}),
      ...(options.supervision === undefined
        ? {}
        : {
            supervision: {
              component: `${options.supervision.componentPrefix}${group}`,
              health: options.supervision.health,
              ...(options.supervision.registry === undefined
                ? {}
                : { registry: options.supervision.registry }),
            },
          }),
    });

  const accounts = await start(
    'accounts',
    topics.accounts,
    decoder(topics.accounts, options.accountSerde),
    (batch) => options.projection.applyAccounts(batch),
  );
  const consumers = [accounts];
  const disconnect = async () => void (await Promise.all(consumers.map((consumer) => consumer.disconnect())));
  try {
    consumers.push(
      await start('outcomes', topics.outcomes, decoder(topics.outcomes, options.outcomeSerde), (batch) =>
        options.projection.applyOutcomes(batch),
      ),
    );
    consumers.push(
      await start(
        'postings',
        topics.postings,
        decoder(topics.postings, options.postingSerde, checkPosting),
        (batch) => options.projection.applyPostings(batch),
      ),
    );
    const balanceOf = decoder(topics.balances, options.balanceSerde);
    consumers.push(
      await start(
        'balances',
        topics.balances,
        async (message, partition): Promise<PositionedBalance> => ({
          balance: await balanceOf(message),
          partition,
          offset: BigInt(message.offset),
        }),
        (batch) => options.projection.applyLedgerBalances(batch),
      ),
    );
    return { consumers, disconnect };
  } catch (error) {
    await disconnect().catch(() => undefined);
    throw error;
  }
}
