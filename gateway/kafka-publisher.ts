/**
 * The gateway's CommandPublisher for the Kafka mode: an idempotent producer (acks=all), one
 * record per command, keyed so that all commands of a payment (or an account) share a
 * partition, with the correlation id, principal and idempotency key in headers.
 *
 * `publishPayment` resolves only once the broker has acknowledged the record on all in-sync
 * replicas, so a 202 from the gateway means the command is durable on the log.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';

import { HEADER } from '../processors/runtime/api.js';
import type { AccountCommand, PaymentCommand } from '../schemas/types.js';
import type { CommandHeaders, CommandPublisher } from './ports.js';
import { paymentCommandKey } from '../topics/catalogue.js';

export interface CommandSerializer {
  serialize(topic: string, value: unknown): Promise<Buffer>;
}

export interface KafkaPublisherOptions {
  readonly kafka: Kafka;
  readonly serializer: CommandSerializer;
  readonly paymentsTopic: string;
  readonly accountsTopic: string;
  /** Bound on one produce request, including the wait for all in-sync replicas. */
  readonly produceTimeoutMs: number;
}

export const COMMAND_HEADER = {
  principal: 'payflow-principal',
  idempotencyKey: 'payflow-idempotency-key',
} as const;

/** The Kafka headers of a command record (also used by the embedded log, so both modes carry the same). */
export function commandRecordHeaders(headers: CommandHeaders): Record<string, string> {
  return {
    [HEADER.correlationId]: headers.correlationId,
    [COMMAND_HEADER.principal]: headers.principal,
    ...(headers.idempotencyKey === null ? {} : { [COMMAND_HEADER.idempotencyKey]: headers.idempotencyKey }),
  };
}

export class KafkaCommandPublisher implements CommandPublisher {
  readonly #producer: Producer;

  private constructor(
    producer: Producer,
    private readonly options: KafkaPublisherOptions,
  ) {
    this.#producer = producer;
  }

  static async connect(options: KafkaPublisherOptions): Promise<KafkaCommandPublisher> {
    const producer = options.kafka.producer({
      // Java's murmur2 partitioner, as every other client of these topics uses.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    return new KafkaCommandPublisher(producer, options);
  }

  publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void> {
    // Keyed by the idempotency scope, so dedupe sees every retry of a request in one partition.
    return this.#send(
      this.options.paymentsTopic,
      paymentCommandKey(command),
      command,
      headers,
      command.submittedAtMs,
    );
  }

  publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void> {
    return this.#send(this.options.accountsTopic, command.accountId, command, headers, command.issuedAtMs);
  }

  async #send(
    topic: string,
    key: string,
    value: unknown,
    headers: CommandHeaders,
    timestampMs: number,
  ): Promise<void> {
    const encoded = await this.options.serializer.serialize(topic, value);
    await this.#producer.send({
      topic,
      acks: -1,
      timeout: this.options.produceTimeoutMs,
      messages: [
        { key, value: encoded, headers: commandRecordHeaders(headers), timestamp: String(timestampMs) },
      ],
    });
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}
