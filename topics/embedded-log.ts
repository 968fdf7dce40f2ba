/**
 * The embedded default's command log: the gateway appends commands to the same topic names the
 * Kafka mode uses, in order, bounded per topic. Consumers read from an offset.
 */
import type { CommandHeaders, CommandPublisher } from '../gateway/index.js';
import type { AccountCommand, PaymentCommand } from '../schemas/types.js';
import { paymentCommandKey } from './catalogue.js';

export const COMMAND_TOPICS = {
  payments: 'payments.commands',
  accounts: 'accounts.commands',
} as const;

export interface LoggedRecord<V> {
  readonly offset: number;
  readonly key: string;
  readonly value: V;
  readonly headers: CommandHeaders;
  readonly timestampMs: number;
}

export class LogCapacityError extends Error {
  constructor(topic: string, maxRecords: number) {
    super(`the embedded log's topic ${topic} is full (${maxRecords} records); restart or use Kafka`);
    this.name = 'LogCapacityError';
  }
}

export class EmbeddedCommandLog implements CommandPublisher {
  readonly #topics = new Map<string, LoggedRecord<unknown>[]>();
  readonly #maxRecordsPerTopic: number;
  readonly #now: () => number;

  constructor(options: { maxRecordsPerTopic: number; now?: () => number }) {
    this.#maxRecordsPerTopic = options.maxRecordsPerTopic;
    this.#now = options.now ?? Date.now;
  }

  publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void> {
    return this.#append(COMMAND_TOPICS.payments, paymentCommandKey(command), command, headers);
  }

  publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void> {
    return this.#append(COMMAND_TOPICS.accounts, command.accountId, command, headers);
  }

  /** Records of `topic` from `fromOffset` on, oldest first. */
  read<V>(topic: string, fromOffset = 0): readonly LoggedRecord<V>[] {
    return (this.#topics.get(topic) ?? []).slice(fromOffset) as LoggedRecord<V>[];
  }

  #append(topic: string, key: string, value: unknown, headers: CommandHeaders): Promise<void> {
    const records = this.#topics.get(topic) ?? [];
    if (records.length >= this.#maxRecordsPerTopic) {
      return Promise.reject(new LogCapacityError(topic, this.#maxRecordsPerTopic));
    }
    records.push({ offset: records.length, key, value, headers, timestampMs: this.#now() });
    this.#topics.set(topic, records);
    return Promise.resolve();
  }
}
