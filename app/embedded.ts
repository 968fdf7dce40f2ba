/**
 * The embedded default: the payment pipeline on the in-memory driver, with the gateway's ports
 * wired to it — commands are appended to the in-memory `payments.commands` / `accounts.commands`
 * and processed before `publish` resolves; the payments and accounts read models follow
 * `payments.events`, `accounts`, `accounts.outcomes` and `ledger.postings` as records are appended. Same topology,
 * same processors and the same Avro encoding (without the registry) as the Kafka mode.
 */
import type { Registry } from 'prom-client';

import type { AccountQueries, CommandHeaders, CommandPublisher, PaymentQueries } from '../gateway/index.js';
import { MemoryAccountsProjection } from '../projections/memory-accounts.js';
import { MemoryPaymentsProjection } from '../projections/memory.js';
import { projectedEvent } from '../projections/payment-view.js';
import { AVRO, plainAvroSerde } from '../schemas/avro.js';
import type { AccountCommand, DenyListEntry, PaymentCommand, ReviewDecision } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { paymentCommandKey } from '../topics/keys.js';
import { commandRecordHeaders } from '../gateway/kafka-publisher.js';
import { paymentPipeline } from '../processors/pipeline.js';
import { MemoryDriver } from '../processors/runtime/memory/driver.js';
import { RuntimeMetrics } from '../processors/runtime/metrics.js';
import { ComponentHealth } from '../processors/runtime/supervision.js';
import type { PipelineSettings } from './config.js';
import { withRiskMetrics } from './risk-metrics.js';

export interface EmbeddedPipelineOptions {
  readonly metricsRegistry: Registry;
  /** Bound on each in-memory topic. */
  readonly maxRecordsPerTopic?: number;
  /** Bound on the payments and accounts read models. */
  readonly maxPayments?: number;
  readonly maxAccounts?: number;
  readonly now?: () => number;
  /** Partitions and processor bounds (defaults: the catalogue's and each processor's). */
  readonly pipeline?: Pick<PipelineSettings, 'partitions' | 'processors'> & {
    readonly runtime?: Pick<PipelineSettings['runtime'], 'retry'>;
  };
  /** Where the sub-topologies report (`subtopology:<name>`); default: one on the metrics registry. */
  readonly health?: ComponentHealth;
}

export class EmbeddedPipeline implements CommandPublisher {
  readonly driver: MemoryDriver;
  readonly payments: PaymentQueries;
  readonly accounts: AccountQueries;
  readonly #now: () => number;
  #clock: NodeJS.Timeout | undefined;

  constructor(options: EmbeddedPipelineOptions) {
    this.#now = options.now ?? Date.now;
    const topology = paymentPipeline({
      serdeOf: (topic) => plainAvroSerde(topic.value.contract),
      ...(options.pipeline === undefined ? {} : { partitions: options.pipeline.partitions }),
      processors: withRiskMetrics(options.pipeline?.processors, options.metricsRegistry),
    });
    this.driver = new MemoryDriver(topology, {
      startWallClockMs: this.#now(),
      observer: new RuntimeMetrics(options.metricsRegistry),
      maxRecordsPerTopic: options.maxRecordsPerTopic ?? 1_000_000,
      // The state lives as long as the process: the logs are pipes, kept records would only fill up.
      retainLogs: false,
      // subtopology:<name> in payflow_component_up; a partition stopped by a program error is logged.
      health: options.health ?? new ComponentHealth({ registry: options.metricsRegistry }),
      ...(options.pipeline?.runtime === undefined ? {} : { retry: options.pipeline.runtime.retry }),
    });
    const payments = new MemoryPaymentsProjection(options.maxPayments ?? 1_000_000);
    const accounts = new MemoryAccountsProjection({
      maxAccounts: options.maxAccounts ?? 100_000,
      maxPostings: 2_000_000,
    });
    this.driver.onAppend((record) => {
      if (record.value === null) return;
      if (record.topic === TOPIC.paymentsEvents)
        payments.apply([projectedEvent(AVRO.PaymentEvent.decode(record.value))]);
      else if (record.topic === TOPIC.accounts) accounts.applyAccount(AVRO.Account.decode(record.value));
      else if (record.topic === TOPIC.ledgerPostings)
        accounts.applyPosting(AVRO.LedgerPosting.decode(record.value));
      else if (record.topic === TOPIC.accountsOutcomes)
        accounts.applyOutcome(AVRO.AccountCommandOutcome.decode(record.value));
    });
    this.payments = payments;
    this.accounts = accounts;
  }

  /** Moves the driver's wall clock with real time (wall-clock punctuation), once a second. */
  start(): void {
    this.#clock = setInterval(
      () => void this.driver.advanceWallClock(Math.max(0, this.#now() - this.driver.wallClockMs)),
      1_000,
    );
    this.#clock.unref();
  }

  stop(): void {
    clearInterval(this.#clock);
  }

  /**
   * Brings the driver's clock up to real time before a command is processed, so the steps it
   * decides are recorded (`recordedAtMs`) at the time they happen, never before the command.
   */
  #catchUpClock(): Promise<void> {
    const behindMs = this.#now() - this.driver.wallClockMs;
    return behindMs > 0 ? this.driver.advanceWallClock(behindMs) : Promise.resolve();
  }

  async publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void> {
    await this.#catchUpClock();
    return this.driver.pipe(TOPIC.paymentsCommands, paymentCommandKey(command), command, {
      timestampMs: command.submittedAtMs,
      headers: commandRecordHeaders(headers, command.paymentId),
    });
  }

  async publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void> {
    await this.#catchUpClock();
    return this.driver.pipe(TOPIC.accountsCommands, command.accountId, command, {
      timestampMs: command.issuedAtMs,
      headers: commandRecordHeaders(headers),
    });
  }

  async publishReviewDecision(decision: ReviewDecision, headers: CommandHeaders): Promise<void> {
    await this.#catchUpClock();
    return this.driver.pipe(TOPIC.reviewsDecisions, decision.senderAccountId, decision, {
      timestampMs: decision.decidedAtMs,
      headers: commandRecordHeaders(headers),
    });
  }

  /** The in-memory table takes the change before this resolves: every later payment sees it. */
  async publishDenyList(
    key: string,
    entry: DenyListEntry | null,
    headers: CommandHeaders,
    atMs: number,
  ): Promise<void> {
    await this.#catchUpClock();
    const options = { timestampMs: atMs, headers: commandRecordHeaders(headers) };
    if (entry === null) return this.driver.pipeRaw(TOPIC.riskDenylist, key, null, options);
    return this.driver.pipe(TOPIC.riskDenylist, key, entry, options);
  }
}
