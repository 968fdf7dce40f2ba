/**
 * The topics the payment processors read and write, in one place. The topic catalogue
 * (topics/catalogue.ts) holds their partitions, keys and retention; these are the names.
 */
export const TOPIC = {
  /** Payment commands from the gateway, keyed by the dedupe scope (see dedupe/README.md). */
  paymentsCommands: 'payments.commands',
  /** Account commands from the gateway, keyed by accountId. */
  accountsCommands: 'accounts.commands',
  /** The accounts table: compacted, keyed by accountId, latest Account per key. */
  accounts: 'accounts',
  /** PaymentInFlight after dedupe, keyed by paymentId. */
  paymentsAccepted: 'payments.accepted',
  /** PaymentInFlight after validation, keyed by senderAccountId (the ledger's debit side). */
  paymentsValidated: 'payments.validated',
  /** CreditInstruction after the debit leg, keyed by recipientAccountId (the ledger's credit side). */
  ledgerCredits: 'ledger.credits',
  /** The public payment events, keyed by paymentId. */
  paymentsEvents: 'payments.events',
  /** Balanced journal entries, keyed by paymentId. */
  ledgerPostings: 'ledger.postings',
  /** The ledger's balance of each account after every posting: compacted, keyed by accountId. */
  ledgerBalances: 'ledger.balances',
} as const;

export type TopicName = (typeof TOPIC)[keyof typeof TOPIC];
