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

import { HEADER } from '../processors/runtime/api.js';
import { TOPIC } from '../topics/catalogue.js';
import { deadLetterCode } from './kafka-runner.js';

/** The payment a dead-lettered record belongs to, where its topic is keyed by payment id. */
export const DLQ_PAYMENT_ID_HEADER = 'payflow-dlq-payment-id';

/** Same bound as the runtime's: a reason is a sentence, not a stack trace. */
const MAX_REASON_CHARS = 1_000;

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
    const headers: Record<string, string | Buffer> = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      if (typeof value === 'string' || Buffer.isBuffer(value)) headers[name] = value;
    }
    Object.assign(headers, {
      [HEADER.dlqReason]: reason.message.slice(0, MAX_REASON_CHARS),
      [HEADER.dlqErrorCode]: deadLetterCode(reason),
      [HEADER.dlqProcessor]: options.projection,
      [HEADER.dlqSourceTopic]: sourceTopic,
      [HEADER.dlqSourcePartition]: String(partition),
      [HEADER.dlqSourceOffset]: message.offset,
    });
    if (sourceTopic === TOPIC.paymentsEvents && message.key !== null)
      headers[DLQ_PAYMENT_ID_HEADER] = message.key;
    await producer.send({
      topic: options.topic ?? TOPIC.deadLetter,
      acks: -1,
      timeout: options.timeoutMs,
      messages: [{ key: message.key, value: message.value, headers }],
    });
  };
}
