/**
 * Projected payment events as JSON on a test topic (amounts as strings): the projection runner
 * is decoder-agnostic, so tests of a sink feed it these instead of registry-encoded Avro.
 */
import type { KafkaMessage } from 'kafkajs';

import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';

/** The JSON of an event as a test topic holds it. */
export function encodeJsonEvent(event: ProjectedPaymentEvent): string {
  return JSON.stringify(event, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

export function decodeJsonEvent(message: KafkaMessage): Promise<ProjectedPaymentEvent> {
  const raw = JSON.parse(message.value!.toString()) as ProjectedPaymentEvent & {
    initiated?: { amountMinor: string };
  };
  if (typeof raw.paymentId !== 'string') return Promise.reject(new Error('paymentId missing'));
  const initiated = raw.initiated
    ? { ...raw.initiated, amountMinor: BigInt(raw.initiated.amountMinor) }
    : undefined;
  return Promise.resolve({ ...raw, ...(initiated ? { initiated } : {}) });
}
