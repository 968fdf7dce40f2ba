/**
 * The payments of the projection rebuild tests: each payment's three events as JSON records of a
 * test topic (initiated, validated, then completed or — every third — rejected), with amounts
 * above 2^53, and the decoder the projections read them with.
 */
import type { KafkaMessage } from 'kafkajs';

import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';

export function decodeJson(message: KafkaMessage): Promise<ProjectedPaymentEvent> {
  const raw = JSON.parse(message.value!.toString()) as ProjectedPaymentEvent & {
    initiated?: { amountMinor: string };
  };
  const initiated = raw.initiated
    ? { ...raw.initiated, amountMinor: BigInt(raw.initiated.amountMinor) }
    : undefined;
  return Promise.resolve({ ...raw, ...(initiated ? { initiated } : {}) });
}

/** The `i`th payment's records, keyed by payment id (`partition` pins them to one). */
export function paymentRecords(
  paymentId: string,
  i: number,
  partition?: number,
): { key: string; value: string; partition?: number }[] {
  const base = { paymentId, correlationId: null, occurredAtMs: 1_795_000_000_000 + i };
  const events = [
    {
      ...base,
      eventId: `${paymentId}-0`,
      type: 'PaymentInitiated',
      sequence: 0,
      initiated: {
        kind: 'TRANSFER',
        principal: 'm',
        senderAccountId: `acc-${i % 7}`,
        recipientAccountId: 'acc-b',
        amountMinor: String(9_007_199_254_740_993n + BigInt(i)),
        currency: 'EUR',
        reference: `ref ${i}`,
      },
    },
    { ...base, eventId: `${paymentId}-1`, type: 'PaymentValidated', sequence: 1 },
    i % 3 === 0
      ? {
          ...base,
          eventId: `${paymentId}-2`,
          type: 'PaymentRejected',
          sequence: 2,
          rejection: { code: 'LIMIT', detail: null },
        }
      : { ...base, eventId: `${paymentId}-2`, type: 'PaymentCompleted', sequence: 2 },
  ];
  return events.map((event) => ({
    key: paymentId,
    value: JSON.stringify(event),
    ...(partition === undefined ? {} : { partition }),
  }));
}

export const WAIT_MS = 60_000;

/** Polls `condition` every 200 ms until it holds, for at most WAIT_MS. */
export async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
