/**
 * Every topic PayFlow reads or writes, by name, in one place. The catalogue (catalogue.ts) holds
 * their partitions, keys, retention, contracts and headers; this is the list of names, and the
 * naming rule of the state stores' changelog topics.
 */
export const TOPIC = {
  /** Payment commands from the gateway, keyed by senderAccountId (see keys.ts). */
  paymentsCommands: 'payments.commands',
  /** Account commands from the gateway, keyed by accountId. */
  accountsCommands: 'accounts.commands',
  /** The accounts table: compacted, keyed by accountId, latest Account per key. */
  accounts: 'accounts',
  /** The decision on every account command (applied, unchanged, refused with a reason), keyed by accountId. */
  accountsOutcomes: 'accounts.outcomes',
  /** PaymentInFlight after dedupe, keyed by senderAccountId: an in-task edge (dedupe -> validate), not a Kafka topic. */
  paymentsAccepted: 'payments.accepted',
  /** PaymentInFlight after validation, keyed by senderAccountId: an in-task edge (validate -> the velocity step), not a Kafka topic. */
  paymentsValidated: 'payments.validated',
  /** PaymentInFlight after the velocity step, keyed by senderAccountId: an in-task edge (velocity -> fraud scoring), not a Kafka topic. */
  paymentsChecked: 'payments.checked',
  /** PaymentInFlight after fraud scoring, keyed by senderAccountId: an in-task edge (fraud scoring -> the ledger's debit), not a Kafka topic. */
  paymentsScored: 'payments.scored',
  /** Reviewers' decisions on held payments, keyed by the payment's senderAccountId. */
  reviewsDecisions: 'reviews.decisions',
  /** The fraud deny list: compacted, keyed by `<kind>:<value>`, a tombstone removes an entry. */
  riskDenylist: 'risk.denylist',
  /** Senders seen on devices and IP addresses, keyed by `DEVICE:<id>` / `IP:<address>`. */
  riskSightings: 'risk.sightings',
  /** The senders seen on each device and IP address in 24 h: compacted, keyed like risk.sightings. */
  riskProfiles: 'risk.profiles',
  /** CreditInstruction after the debit leg, keyed by recipientAccountId (the ledger's credit side). */
  ledgerCredits: 'ledger.credits',
  /** The public payment events, keyed by paymentId. */
  paymentsEvents: 'payments.events',
  /** Balanced journal entries, keyed by paymentId. */
  ledgerPostings: 'ledger.postings',
  /** The ledger's balance of each account after every posting: compacted, keyed by accountId. */
  ledgerBalances: 'ledger.balances',
  /** Records that could not be decoded or processed, with the reason in headers. */
  deadLetter: 'payflow.dlq',
} as const;

export type TopicName = (typeof TOPIC)[keyof typeof TOPIC];

/**
 * The compacted changelog topic backing one state store of one processor:
 * `<applicationId>-<processor>-<store>-changelog`, as Kafka Streams names them.
 */
export function changelogTopic(applicationId: string, processor: string, store: string): string {
  return `${applicationId}-${processor}-${store}-changelog`;
}
