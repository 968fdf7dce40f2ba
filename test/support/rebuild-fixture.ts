/**
 * The payments of the projection rebuild tests: each payment's three events as JSON records of a
 * test topic (initiated, validated, then completed or — every third — rejected), with amounts
 * above 2^53, read with `decodeJsonEvent` (json-events.ts).
 */

/** The `i`th payment's records, keyed by payment id. */
export function paymentRecords(paymentId: string, i: number): { key: string; value: string }[] {
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
  return events.map((event) => ({ key: paymentId, value: JSON.stringify(event) }));
}

/** How long the rebuild tests wait for a projection or a rebuild. */
export const WAIT_MS = 60_000;
