/**
 * Dead letters of the Kafka-fed projections: a record a projection can't apply is copied to the
 * dead-letter topic (`payflow.dlq`) with the same headers the processors' runtime writes —
 * reason, a code from the projections' closed list (`payflow-dlq-error-code`, see
 * `DEAD_LETTER_CODES`), the projection's name, source topic, partition and offset — so one
 * consumer of the dead-letter topic sees both. Records of `payments.events` (keyed by payment id)
 * also carry `payflow-dlq-payment-id`. The copy is acknowledged by all in-sync replicas before
 * the projection skips the record, so nothing is dropped silently.
 */
import type { KafkaMessage, Producer } from 'kafkajs';

import { deadLetterHeaders } from '../topics/headers.js';
import { TOPIC } from '../topics/names.js';
import { deadLetterCode } from './kafka-runner.js';

export type ProjectionDeadLetter = (
  sourceTopic: string,
  message: KafkaMessage,
  partition: number,
  reason: Error,
) => Promise<void>;

export function kafkaDeadLetter(
  producer: Producer,
  options: { readonly projection: string; readonly timeoutMs: number; readonly topic?: string },
): ProjectionDeadLetter {
  return async (sourceTopic, message, partition, reason) => {
    const original: Record<string, string | Buffer> = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      if (typeof value === 'string' || Buffer.isBuffer(value)) original[name] = value;
    }
    const paymentId =
      sourceTopic === TOPIC.paymentsEvents && message.key !== null ? message.key.toString() : undefined;
    const headers = deadLetterHeaders(original, {
      reason: reason.message,
      code: deadLetterCode(reason),
      processor: options.projection,
      sourceTopic,
      sourcePartition: partition,
      sourceOffset: message.offset,
      ...(paymentId === undefined ? {} : { paymentId }),
    });
    await producer.send({
      topic: options.topic ?? TOPIC.deadLetter,
      acks: -1,
      timeout: options.timeoutMs,
      messages: [{ key: message.key, value: message.value, headers }],
    });
  };
}
