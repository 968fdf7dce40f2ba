/**
 * The gateway's read models in the Kafka mode: the payments projection (from `payments.events`)
 * and the accounts projection (from `accounts`, `ledger.postings` and `ledger.balances`) in PostgreSQL, each fed by
 * its own consumer group reading committed records only. Offsets are committed after the rows
 * are, and every write is idempotent, so a crash replays a batch harmlessly. Instances of the
 * main job share the groups (`<applicationId>.read-model.payments`, `.accounts`, `.postings`, `.balances`):
 * run several and each projects a share of the partitions into the same tables.
 *
 * No record blocks a read model: a record that can't be decoded, a tombstone, an unbalanced
 * posting, an event of a payment whose earlier events were dead-lettered, or a record PostgreSQL
 * refuses goes to the dead-letter topic with a reason code and the projection moves on; only a
 * database that can't be reached is waited out with capped backoff (the lag grows, nothing is
 * skipped). Each consumer is supervised and reports its health as `read-model:payments`,
 * `read-model:accounts`, `read-model:outcomes`, `read-model:postings` and `read-model:balances`. Metrics: records
 * applied, sink errors, dead letters and lag per read model.
 */
import type { Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import type { Registry } from 'prom-client';

import type { Serde } from '../processors/runtime/api.js';
import type { ComponentHealth } from '../processors/runtime/supervision.js';
import { projectedEvent } from '../projections/payment-view.js';
import { TOPIC } from '../topics/catalogue.js';
import type {
  Account,
  AccountBalance,
  AccountCommandOutcome,
  LedgerPosting,
  PaymentEvent,
} from '../schemas/types.js';
import {
  runAccountsProjection,
  TombstoneError,
  type RunningAccountsProjection,
} from '../projections/accounts-runner.js';
import { kafkaDeadLetter } from '../projections/kafka-dead-letter.js';
import { runKafkaProjection, type RunningProjection } from '../projections/kafka-runner.js';
import { migrateAccountsProjection, PostgresAccountsProjection } from '../projections/postgres/accounts.js';
import { migratePaymentsProjection, PostgresPaymentsProjection } from '../projections/postgres/payments.js';
import { keyPartitioner } from '../topics/partitioner.js';
import type { ElasticsearchTransactionsProjection } from '../projections/elasticsearch/transactions.js';
import type { ReadSideSettings } from './config.js';
import { readModelMetrics } from './read-model-metrics.js';
import { startReadSide, type ReadSide } from './read-side.js';

export interface PostgresReadModelsOptions {
  readonly kafka: Kafka;
  readonly pool: pg.Pool;
  /** Prefix of the consumer groups, normally the pipeline's application id. */
  readonly applicationId: string;
  readonly serdes: {
    readonly paymentEvent: Serde<PaymentEvent>;
    readonly account: Serde<Account>;
    readonly outcome: Serde<AccountCommandOutcome>;
    readonly posting: Serde<LedgerPosting>;
    readonly balance: Serde<AccountBalance>;
  };
  readonly metricsRegistry: Registry;
  /** Where the consumers report their health (the process's, so /readyz names them). */
  readonly health: ComponentHealth;
  /** Bound on one statement of a read model's write transaction. */
  readonly statementTimeoutMs: number;
  /** Bound on writing one dead letter. */
  readonly produceTimeoutMs: number;
  readonly onError?: (readModel: string, error: unknown, attempt: number, delayMs: number) => void;
  /** The Elasticsearch and archive projections to run beside PostgreSQL's (app/read-side.ts). */
  readonly readSide?: ReadSideSettings;
}

export interface PostgresReadModels {
  readonly payments: PostgresPaymentsProjection;
  readonly accounts: PostgresAccountsProjection;
  /** The transactions index, when PAYFLOW_PROJECTIONS has elasticsearch. */
  readonly search?: ElasticsearchTransactionsProjection;
  stop(): Promise<void>;
}

/** Creates the tables if missing, then starts the consumers; resolves once all run. */
export async function startPostgresReadModels(
  options: PostgresReadModelsOptions,
): Promise<PostgresReadModels> {
  await migratePaymentsProjection(options.pool);
  await migrateAccountsProjection(options.pool);
  const payments = new PostgresPaymentsProjection(options.pool);
  const accounts = new PostgresAccountsProjection(options.pool, {
    statementTimeoutMs: options.statementTimeoutMs,
  });
  const metrics = readModelMetrics(options.metricsRegistry);

  const producer: Producer = options.kafka.producer({
    createPartitioner: keyPartitioner,
    idempotent: true,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const deadLetter = (readModel: string) => {
    const write = kafkaDeadLetter(producer, {
      projection: `read-model.${readModel}`,
      timeoutMs: options.produceTimeoutMs,
    });
    return async (...args: Parameters<typeof write>) => {
      await write(...args);
      metrics.deadLetters.inc({ read_model: readModel, topic: args[0] });
    };
  };

  const started: { consumer?: RunningProjection; accounts?: RunningAccountsProjection; readSide?: ReadSide } =
    {};
  try {
    const eventSerde = options.serdes.paymentEvent;
    started.consumer = await runKafkaProjection({
      kafka: options.kafka,
      groupId: `${options.applicationId}.read-model.payments`,
      topic: TOPIC.paymentsEvents,
      decode: async (message) => {
        if (message.value === null) throw new TombstoneError(TOPIC.paymentsEvents);
        return projectedEvent(await eventSerde.deserialize(message.value, TOPIC.paymentsEvents));
      },
      sink: payments,
      supervision: {
        component: 'read-model:payments',
        health: options.health,
        registry: options.metricsRegistry,
      },
      deadLetter: (message, partition, reason) =>
        deadLetter('payments')(TOPIC.paymentsEvents, message, partition, reason),
      onSinkError: (error, attempt, delayMs) => {
        metrics.errors.inc({ read_model: 'payments' });
        options.onError?.('payments', error, attempt, delayMs);
      },
      onBatchApplied: (partition, count, offsetLag) => {
        metrics.applied.inc({ read_model: 'payments', topic: TOPIC.paymentsEvents }, count);
        metrics.lag.set({ read_model: 'payments', topic: TOPIC.paymentsEvents, partition }, offsetLag);
      },
    });
    started.accounts = await runAccountsProjection({
      kafka: options.kafka,
      projection: accounts,
      groupId: `${options.applicationId}.read-model`,
      accountSerde: options.serdes.account,
      outcomeSerde: options.serdes.outcome,
      postingSerde: options.serdes.posting,
      balanceSerde: options.serdes.balance,
      deadLetter: deadLetter('accounts'),
      supervision: {
        componentPrefix: 'read-model:',
        health: options.health,
        registry: options.metricsRegistry,
      },
      onSinkError: (topic, error, attempt, delayMs) => {
        metrics.errors.inc({ read_model: 'accounts' });
        options.onError?.(`accounts (${topic})`, error, attempt, delayMs);
      },
      onBatchApplied: (topic, partition, count, offsetLag) => {
        metrics.applied.inc({ read_model: 'accounts', topic }, count);
        metrics.lag.set({ read_model: 'accounts', topic, partition }, offsetLag);
      },
    });
    started.readSide = await startReadSide({
      kafka: options.kafka,
      applicationId: options.applicationId,
      settings: options.readSide ?? {},
      paymentEvents: options.serdes.paymentEvent,
      metricsRegistry: options.metricsRegistry,
      health: options.health,
      metrics,
      deadLetter: (readModel) => (message, partition, reason) =>
        deadLetter(readModel)(TOPIC.paymentsEvents, message, partition, reason),
      ...(options.onError === undefined ? {} : { onError: options.onError }),
    });
  } catch (error) {
    await started.accounts?.disconnect().catch(() => undefined);
    await started.consumer?.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    throw error;
  }
  const { consumer, accounts: accountsRunner, readSide } = started as Required<typeof started>;
  return {
    payments,
    accounts,
    ...(readSide.search === undefined ? {} : { search: readSide.search }),
    stop: async () => {
      await Promise.all([consumer.disconnect(), accountsRunner.disconnect(), readSide.stop()]);
      await producer.disconnect();
    },
  };
}
