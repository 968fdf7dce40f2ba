/** Builders of valid domain records for the processors' tests: override only what a test is about. */
import type { Account, LedgerPosting, PaymentCommand } from '../schemas/types.js';

export function paymentCommand(overrides: Partial<PaymentCommand> = {}): PaymentCommand {
  return {
    commandId: 'cmd-1',
    paymentId: 'pay-1',
    kind: 'TRANSFER',
    principal: 'merchant-1',
    idempotencyKey: 'key-1',
    requestHash: 'hash-1',
    senderAccountId: 'acc-a',
    recipientAccountId: 'acc-b',
    amountMinor: 1_250n,
    currency: 'EUR',
    reference: 'invoice 7',
    device: null,
    submittedAtMs: 1_000,
    // A deposit comes from an operator; a transfer from a producer acting for any owner.
    authority:
      overrides.kind === 'DEPOSIT' ? { kind: 'ADMIN', owners: [] } : { kind: 'SERVICE', owners: ['*'] },
    ...overrides,
  };
}

export function account(accountId: string, overrides: Partial<Account> = {}): Account {
  return {
    accountId,
    ownerId: `owner-of-${accountId}`,
    currency: 'EUR',
    kycTier: 'TIER_1',
    iban: null,
    status: 'ACTIVE',
    openedAtMs: 0,
    updatedAtMs: 0,
    ...overrides,
  };
}

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Each account's balance as the lines of `postings` add up. */
export function balancesOfPostings(postings: Iterable<LedgerPosting>): Map<string, bigint> {
  const balances = new Map<string, bigint>();
  for (const posting of postings) {
    for (const line of posting.lines)
      balances.set(line.accountId, (balances.get(line.accountId) ?? 0n) + line.amountMinor);
  }
  return balances;
}
