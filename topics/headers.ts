/**
 * Every Kafka header PayFlow writes, by name, in one place, and the one builder of dead-letter
 * headers used by the processors' runtime and by the projections, so a consumer of the
 * dead-letter topic reads both the same way. The catalogue documents each header per topic.
 */

/** Kafka headers as PayFlow reads and writes them: UTF-8 strings, one value per name. */
export type Headers = Readonly<Record<string, string>>;

export const HEADER = {
  /** Correlation id of the HTTP request that started the work; travels on to every derived record. */
  correlationId: 'payflow-correlation-id',
  /** The authenticated principal (JWT sub) that submitted a command. */
  principal: 'payflow-principal',
  /** The Idempotency-Key of the request, when it had one. */
  idempotencyKey: 'payflow-idempotency-key',
  dlqReason: 'payflow-dlq-reason',
  dlqErrorCode: 'payflow-dlq-error-code',
  dlqProcessor: 'payflow-dlq-processor',
  dlqSourceTopic: 'payflow-dlq-source-topic',
  dlqSourcePartition: 'payflow-dlq-source-partition',
  dlqSourceOffset: 'payflow-dlq-source-offset',
  /** The payment a dead-lettered record belongs to, where its source topic is keyed by payment id. */
  dlqPaymentId: 'payflow-dlq-payment-id',
  /** The payment a record on a payment's path belongs to, where its key is another id. */
  paymentId: 'payflow-payment-id',
} as const;

/**
 * The closed list of `payflow-dlq-error-code` values: every writer of the dead-letter topic (the
 * processors' runtime and the read models) uses one of these, and nothing else.
 * - `UNDECODABLE`: the bytes are not a record of the topic's contract;
 * - `TOMBSTONE`: a record without a value, which no PayFlow topic contract has;
 * - `STORE_CAPACITY`: a processor's state store is full and the record would add a key;
 * - `UNBALANCED_POSTING`: (read models) a ledger posting whose lines don't sum to zero, or have none;
 * - `MISSING_PREDECESSOR`: (read models) an event of a payment whose earlier events the read
 *   model doesn't have (dead-lettered before it, or never written);
 * - `SEQUENCE_GAP`: (read models) an event that skips a sequence number of its payment;
 * - `REFUSED_BY_TARGET`: (read models) the target refused the data (a constraint or data exception);
 * - `UNAPPLICABLE`: any other failure of the record itself (a processor's BadRecordError, a read
 *   model's record it cannot apply).
 */
export const DEAD_LETTER_CODES = [
  'UNDECODABLE',
  'TOMBSTONE',
  'STORE_CAPACITY',
  'UNBALANCED_POSTING',
  'MISSING_PREDECESSOR',
  'SEQUENCE_GAP',
  'REFUSED_BY_TARGET',
  'UNAPPLICABLE',
] as const;
export type DeadLetterCode = (typeof DEAD_LETTER_CODES)[number];

/** A reason is a sentence, not a stack trace. */
export const MAX_DEAD_LETTER_REASON_CHARS = 1_000;

export interface DeadLetterOrigin {
  /** Why the record could not be processed. */
  readonly reason: string;
  /** Machine-readable class of the failure, from the closed list. */
  readonly code: DeadLetterCode;
  /** The processor or projection that gave up on the record. */
  readonly processor: string;
  readonly sourceTopic: string;
  readonly sourcePartition: number;
  readonly sourceOffset: string | number;
  /** The payment the record belongs to, when known. */
  readonly paymentId?: string;
}

/** The original record's headers with the dead-letter headers added (they win over same-named ones). */
export function deadLetterHeaders<H extends string | Buffer>(
  original: Readonly<Record<string, H>>,
  origin: DeadLetterOrigin,
): Record<string, H | string> {
  return {
    ...original,
    [HEADER.dlqReason]: origin.reason.slice(0, MAX_DEAD_LETTER_REASON_CHARS),
    [HEADER.dlqErrorCode]: origin.code,
    [HEADER.dlqProcessor]: origin.processor,
    [HEADER.dlqSourceTopic]: origin.sourceTopic,
    [HEADER.dlqSourcePartition]: String(origin.sourcePartition),
    [HEADER.dlqSourceOffset]: String(origin.sourceOffset),
    ...(origin.paymentId === undefined ? {} : { [HEADER.dlqPaymentId]: origin.paymentId }),
  };
}
