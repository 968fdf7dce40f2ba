/**
 * The payment commands one producer's gateway calls put on `payments.commands`, as the log has
 * them (read_committed, from the moment the follower joined): what a retry republished, next to
 * what its first attempt published, per Idempotency-Key.
 */
import { randomUUID } from 'node:crypto';

import { Kafka, logLevel, type Consumer } from 'kafkajs';

import { AVRO } from '../../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../../schemas/registry.js';
import type { PaymentCommand } from '../../schemas/types.js';
import { TOPIC } from '../../topics/catalogue.js';
import type { StackEnv } from './stack.js';

export interface LoggedCommand {
  readonly commandId: string;
  readonly paymentId: string;
}

export class PaymentCommandLog {
  readonly #byKey = new Map<string, LoggedCommand[]>();

  private constructor(private readonly consumer: Consumer) {}

  /** Follows the commands `principal` submits from now on; resolves once the follower has joined. */
  static async follow(stack: StackEnv, principal: string): Promise<PaymentCommandLog> {
    const kafka = new Kafka({
      clientId: 'payflow-command-log',
      brokers: stack.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    const serde = registryAvroSerde<PaymentCommand>(
      createSchemaRegistry(stack.schemaRegistryUrl),
      valueSubject(TOPIC.paymentsCommands),
      AVRO.PaymentCommand,
    );
    const consumer = kafka.consumer({
      groupId: `payflow-command-log-${randomUUID()}`,
      readUncommitted: false,
    });
    const log = new PaymentCommandLog(consumer);
    await consumer.connect();
    try {
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.subscribe({ topic: TOPIC.paymentsCommands, fromBeginning: false });
      await consumer.run({
        eachMessage: async ({ message }) => {
          if (message.value === null) return;
          const command = await serde.deserialize(message.value, TOPIC.paymentsCommands);
          if (command.principal !== principal) return;
          const seen = log.#byKey.get(command.idempotencyKey) ?? [];
          seen.push({ commandId: command.commandId, paymentId: command.paymentId });
          log.#byKey.set(command.idempotencyKey, seen);
        },
      });
      await joined;
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return log;
  }

  /** Every command published under `idempotencyKey`, in log order (a republished one twice). */
  commandsOf(idempotencyKey: string): readonly LoggedCommand[] {
    return this.#byKey.get(idempotencyKey) ?? [];
  }

  close(): Promise<void> {
    return this.consumer.disconnect();
  }
}
