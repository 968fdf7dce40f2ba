/**
 * The topic catalogue as data: every topic PayFlow reads or writes, with its partitions, what its
 * key is, its cleanup policy and retention, its value contract, its headers and a doc line.
 * Topic creation, schema registration and `asyncapi.yaml` all follow this list.
 *
 * The dead-letter topic holds bad data only: a record that does not decode, a tombstone, a
 * record a processor refuses as bad (BadRecordError) or that would overfill a state store, and a
 * record a read model cannot apply. Its `payflow-dlq-error-code` is one of DEAD_LETTER_CODES
 * (processors/runtime/api.ts), a closed list. An unreachable registry, broker or database is
 * retried and never dead-lettered; a program error or broken invariant stops the partition and
 * dead-letters nothing (see processors/runtime/README.md).
 *
 * Every topic has the same partition count: the processors join streams and tables by key
 * (payments by sender, credits by recipient, the accounts table by account), which needs
 * co-partitioned topics.
 */
import { AVRO, type AvroContract } from '../schemas/avro.js';
import { DEAD_LETTER_CODES, HEADER } from './headers.js';
import { changelogTopic, TOPIC, type TopicName } from './names.js';

export { changelogTopic, TOPIC, type TopicName } from './names.js';

export const DEFAULT_PARTITIONS = 6;
export const MAX_PARTITIONS = 10_000;
const DAY_MS = 86_400_000;

export type CleanupPolicy = 'delete' | 'compact';
/**
 * ingress: written by the gateway; table: compacted state; internal: between sub-topologies (a
 * Kafka topic where the key changes); in-task: an edge between processors of one sub-topology,
 * passed in memory and never a Kafka topic (its contract still holds, and a record the reader
 * refuses is dead-lettered in it); public: for downstream teams.
 */
export type TopicAudience = 'ingress' | 'table' | 'internal' | 'in-task' | 'public' | 'dead-letter';

export type TopicValue =
  | { readonly kind: 'avro'; readonly contract: AvroContract<unknown> }
  | { readonly kind: 'raw'; readonly doc: string };

export interface TopicContract {
  readonly name: TopicName;
  readonly partitions: number;
  readonly audience: TopicAudience;
  /** What the record key is. */
  readonly key: string;
  readonly cleanupPolicy: CleanupPolicy;
  /** How long records are kept; null for a compacted topic (the latest value per key stays). */
  readonly retentionMs: number | null;
  readonly value: TopicValue;
  /** Header name -> meaning. */
  readonly headers: Readonly<Record<string, string>>;
  readonly doc: string;
}

/** What topic creation needs: a name, a partition count and topic-level configs. */
export interface TopicCreateSpec {
  readonly name: string;
  readonly partitions: number;
  readonly config: Readonly<Record<string, string>>;
}

const avroValue = (contract: AvroContract<unknown>): TopicValue => ({ kind: 'avro', contract });

/** Header name -> meaning, per kind of topic. */
function headerDocs() {
  const correlation = {
    [HEADER.correlationId]:
      'Correlation id of the HTTP request that started the work; travels on to every derived record.',
  };
  return {
    correlation,
    /** Records of a payment's path after dedupe: the payment id rides along, whatever the key. */
    payment: {
      ...correlation,
      [HEADER.paymentId]:
        'The paymentId the record belongs to (set by dedupe on payments.accepted and carried to every derived record).',
    },
    command: {
      ...correlation,
      [HEADER.principal]: 'The authenticated principal (JWT sub) that submitted the command.',
      [HEADER.idempotencyKey]: 'The Idempotency-Key of the request, when it had one.',
      [HEADER.paymentId]:
        'On a payment command, its paymentId: a command the pipeline cannot read still ends its payment (PaymentFailed).',
    },
    /** The original record's headers travel along, with these added. */
    deadLetter: {
      ...correlation,
      [HEADER.dlqReason]: 'Why the record could not be processed (error message).',
      [HEADER.dlqErrorCode]: `Machine-readable class of the failure, one of the closed list ${DEAD_LETTER_CODES.join(', ')}.`,
      [HEADER.dlqProcessor]: 'The processor that gave up on the record.',
      [HEADER.dlqSourceTopic]: 'Topic the record was read from.',
      [HEADER.dlqSourcePartition]: 'Partition the record was read from.',
      [HEADER.dlqSourceOffset]: 'Offset of the record in its source partition.',
      [HEADER.dlqPaymentId]:
        'The payment the record belongs to, when its source topic is keyed by payment id.',
    },
  };
}

/**
 * The catalogue. Every topic has `partitions` partitions (PAYFLOW_TOPIC_PARTITIONS in the
 * programs' configuration); the processors' joins need them co-partitioned.
 */
export function topicCatalogue(options: { readonly partitions?: number } = {}): readonly TopicContract[] {
  const partitions = options.partitions ?? DEFAULT_PARTITIONS;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    throw new RangeError(
      `a topic's partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${partitions}`,
    );
  const headers = headerDocs();
  const topic = (contract: Omit<TopicContract, 'partitions'>): TopicContract => ({ ...contract, partitions });
  return [
    topic({
      name: TOPIC.paymentsCommands,
      audience: 'ingress',
      key: 'senderAccountId (topics/keys.ts): the whole sender side of a payment runs in one task',
      cleanupPolicy: 'delete',
      retentionMs: 7 * DAY_MS,
      value: avroValue(AVRO.PaymentCommand),
      headers: headers.command,
      doc: 'Every payment command the gateway accepted, in arrival order per request identity: the single ingress of payments.',
    }),
    topic({
      name: TOPIC.accountsCommands,
      audience: 'ingress',
      key: 'accountId',
      cleanupPolicy: 'delete',
      retentionMs: 7 * DAY_MS,
      value: avroValue(AVRO.AccountCommand),
      headers: headers.command,
      doc: 'Administrative account commands (open, change status) from the gateway, in order per account.',
    }),
    topic({
      name: TOPIC.accounts,
      audience: 'table',
      key: 'accountId',
      cleanupPolicy: 'compact',
      retentionMs: null,
      value: avroValue(AVRO.Account),
      headers: headers.correlation,
      doc: 'The accounts table: the latest state of every account, read by validation as a table.',
    }),
    topic({
      name: TOPIC.accountsOutcomes,
      audience: 'public',
      key: 'accountId',
      cleanupPolicy: 'delete',
      retentionMs: 7 * DAY_MS,
      value: avroValue(AVRO.AccountCommandOutcome),
      headers: headers.correlation,
      doc: "The accounts processor's decision on every account command (applied, unchanged, or refused with a reason code), in order per account: what an account command's status URL shows.",
    }),
    topic({
      name: TOPIC.paymentsAccepted,
      audience: 'in-task',
      key: 'senderAccountId',
      cleanupPolicy: 'delete',
      retentionMs: null,
      value: avroValue(AVRO.PaymentInFlight),
      headers: headers.payment,
      doc: "Payments that passed the idempotency dedupe, handed to validation in the sender's task (in memory, not a Kafka topic).",
    }),
    topic({
      name: TOPIC.paymentsValidated,
      audience: 'in-task',
      key: 'senderAccountId',
      cleanupPolicy: 'delete',
      retentionMs: null,
      value: avroValue(AVRO.PaymentInFlight),
      headers: headers.payment,
      doc: "Validated payments, handed to the velocity step in the sender's task (in memory, not a Kafka topic).",
    }),
    topic({
      name: TOPIC.paymentsChecked,
      audience: 'in-task',
      key: 'senderAccountId',
      cleanupPolicy: 'delete',
      retentionMs: null,
      value: avroValue(AVRO.PaymentInFlight),
      headers: headers.payment,
      doc: "Payments within their sender's velocity limits, with the counts, handed to fraud scoring in the sender's task (in memory, not a Kafka topic).",
    }),
    topic({
      name: TOPIC.paymentsScored,
      audience: 'in-task',
      key: 'senderAccountId',
      cleanupPolicy: 'delete',
      retentionMs: null,
      value: avroValue(AVRO.PaymentInFlight),
      headers: headers.payment,
      doc: "Scored payments that were not blocked, with their risk, handed to the ledger's debit (or its hold) in the sender's task (in memory, not a Kafka topic).",
    }),
    topic({
      name: TOPIC.reviewsDecisions,
      audience: 'ingress',
      key: 'senderAccountId of the held payment',
      cleanupPolicy: 'delete',
      retentionMs: 7 * DAY_MS,
      value: avroValue(AVRO.ReviewDecision),
      headers: headers.command,
      doc: "Reviewers' decisions on held payments from the gateway, keyed by the payment's sender so each reaches the task holding its funds.",
    }),
    topic({
      name: TOPIC.riskDenylist,
      audience: 'table',
      key: '<kind>:<value>, e.g. DEVICE:dev-1',
      cleanupPolicy: 'compact',
      retentionMs: null,
      value: avroValue(AVRO.DenyListEntry),
      headers: headers.command,
      doc: 'The fraud deny list of devices, IP addresses and accounts from the gateway: compacted, a tombstone removes an entry; read by fraud scoring as a table.',
    }),
    topic({
      name: TOPIC.riskSightings,
      audience: 'internal',
      key: 'DEVICE:<id> or IP:<address>',
      cleanupPolicy: 'delete',
      retentionMs: 2 * DAY_MS,
      value: avroValue(AVRO.DeviceSighting),
      headers: headers.correlation,
      doc: 'Senders seen on a device or IP address by fraud scoring, keyed by the device or address so its profile is kept in one task.',
    }),
    topic({
      name: TOPIC.riskProfiles,
      audience: 'table',
      key: 'DEVICE:<id> or IP:<address>',
      cleanupPolicy: 'compact',
      retentionMs: null,
      value: avroValue(AVRO.DeviceProfile),
      headers: headers.correlation,
      doc: 'The senders seen on each device and IP address in the last 24 hours: compacted, read by fraud scoring as a table.',
    }),
    topic({
      name: TOPIC.ledgerCredits,
      audience: 'internal',
      key: 'recipientAccountId',
      cleanupPolicy: 'delete',
      retentionMs: 7 * DAY_MS,
      value: avroValue(AVRO.CreditInstruction),
      headers: headers.payment,
      doc: "Credit legs of debited transfers, keyed by recipient so the credit is posted on the recipient's partition.",
    }),
    topic({
      name: TOPIC.paymentsEvents,
      audience: 'public',
      key: 'paymentId',
      cleanupPolicy: 'delete',
      retentionMs: 30 * DAY_MS,
      value: avroValue(AVRO.PaymentEvent),
      headers: headers.payment,
      doc: 'Every state change of every payment (initiated, validated, debited, completed, rejected), in order per payment.',
    }),
    topic({
      name: TOPIC.ledgerPostings,
      audience: 'public',
      key: 'paymentId',
      cleanupPolicy: 'delete',
      retentionMs: 30 * DAY_MS,
      value: avroValue(AVRO.LedgerPosting),
      headers: headers.payment,
      doc: 'Balanced double-entry journal entries: the debit and credit legs of every payment.',
    }),
    topic({
      name: TOPIC.ledgerBalances,
      audience: 'public',
      key: 'accountId',
      cleanupPolicy: 'compact',
      retentionMs: null,
      value: avroValue(AVRO.AccountBalance),
      headers: headers.payment,
      doc: "The ledger's balance of every account after each posting that moved it; compacted to the latest per account.",
    }),
    topic({
      name: TOPIC.deadLetter,
      audience: 'dead-letter',
      key: 'the original record key',
      cleanupPolicy: 'delete',
      retentionMs: 14 * DAY_MS,
      value: { kind: 'raw', doc: 'The original record value, byte for byte (it may not decode).' },
      headers: headers.deadLetter,
      doc: 'Bad data: records a processor or read model could not decode or refused as bad, with the code, reason and origin in headers. Never infrastructure failures or program errors.',
    }),
  ];
}

/** The topic-level configs a catalogue topic is created with. */
export function topicConfig(
  topic: Pick<TopicContract, 'cleanupPolicy' | 'retentionMs'>,
): Readonly<Record<string, string>> {
  return {
    'cleanup.policy': topic.cleanupPolicy,
    ...(topic.retentionMs === null ? {} : { 'retention.ms': String(topic.retentionMs) }),
  };
}

/** The Kafka topics of a catalogue: every topic but the in-task edges. */
export function topicCreateSpecs(catalogue: readonly TopicContract[]): readonly TopicCreateSpec[] {
  return catalogue
    .filter((topic) => topic.audience !== 'in-task')
    .map((topic) => ({
      name: topic.name,
      partitions: topic.partitions,
      config: topicConfig(topic),
    }));
}

/**
 * The compacted changelog topic backing one state store of one processor
 * (`<applicationId>-<processor>-<store>-changelog`), partitioned like the processor's input.
 */
export function changelogTopicConfig(
  applicationId: string,
  processor: string,
  store: string,
  partitions: number,
): TopicCreateSpec {
  return {
    name: changelogTopic(applicationId, processor, store),
    partitions,
    config: topicConfig({ cleanupPolicy: 'compact', retentionMs: null }),
  };
}
