import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { CreditInstruction, LedgerPosting, PaymentInFlight } from '../../schemas/types.js';
import { InvariantError } from '../runtime/api.js';
import { isFundingAccount, isTransitAccount } from '../../schemas/system-accounts.js';
import { paymentCommand, seededRandom } from '../test-fixtures.js';
import { maxAmountMinor } from '../validate/currencies.js';
import {
  balanceCeilingMinor,
  decideCredit,
  decideDebit,
  decideHold,
  linesSumToZero,
  sumsByCurrency,
  totalsByCurrency,
  type CreditDecision,
  type DebitDecision,
  type LedgerView,
} from './logic.js';

/** One ledger partition's stores, applying decisions the way the processor does. */
class Partition {
  readonly balances = new Map<string, bigint>();
  readonly applied = new Map<string, number>();
  constructor(readonly partition: number) {}

  get view(): LedgerView {
    return { balanceOf: (id) => this.balances.get(id) ?? 0n, appliedAtMs: (id) => this.applied.get(id) };
  }

  at(nowMs: number) {
    return { partition: this.partition, nowMs, recordedAtMs: nowMs + 40, correlationId: 'corr-1' };
  }

  debit(inFlight: PaymentInFlight, nowMs = 10_000): DebitDecision {
    return this.apply(decideDebit(inFlight, this.view, this.at(nowMs)), nowMs);
  }

  credit(instruction: CreditInstruction, nowMs = 20_000): CreditDecision {
    return this.apply(decideCredit(instruction, this.view, this.at(nowMs)), nowMs);
  }

  apply<D extends DebitDecision | CreditDecision>(decision: D, nowMs: number): D {
    if (decision.outcome === 'already-applied') return decision;
    this.applied.set(decision.postingId, nowMs);
    if (decision.outcome === 'posted')
      for (const [id, balance] of decision.balances) this.balances.set(id, balance);
    return decision;
  }
}

const transfer = (amountMinor: bigint, overrides = {}): PaymentInFlight => ({
  command: paymentCommand({ amountMinor, ...overrides }),
  nextSequence: 3,
  velocity: null,
  risk: null,
});
const deposit = (
  recipientAccountId: string,
  amountMinor: bigint,
  paymentId = `dep-${recipientAccountId}`,
): PaymentInFlight => ({
  command: paymentCommand({
    kind: 'DEPOSIT',
    paymentId,
    senderAccountId: 'funding:EUR',
    recipientAccountId,
    amountMinor,
  }),
  nextSequence: 3,
  velocity: null,
  risk: null,
});

function withBalance(balance: bigint, partition = 0): Partition {
  const p = new Partition(partition);
  p.balances.set('acc-a', balance);
  return p;
}

function funded(partition: Partition, accountId: string, amountMinor: bigint): void {
  const debit = partition.debit(deposit(accountId, amountMinor));
  assert.equal(debit.outcome, 'posted');
  partition.credit(debit.credit);
}

test('a transfer within the balance posts the debit leg to the partition transit account and hands on the credit', () => {
  const p = withBalance(5_000n, 3);
  const decision = p.debit(transfer(1_250n));
  assert.equal(decision.outcome, 'posted');
  assert.deepEqual(decision.posting, {
    postingId: 'pay-1:debit',
    paymentId: 'pay-1',
    leg: 'DEBIT',
    currency: 'EUR',
    lines: [
      { accountId: 'acc-a', amountMinor: -1_250n },
      { accountId: 'transit:EUR:3', amountMinor: 1_250n },
    ],
    postedAtMs: 10_000,
    recordedAtMs: 10_040,
  });
  assert.deepEqual(
    p.balances,
    new Map([
      ['acc-a', 3_750n],
      ['transit:EUR:3', 1_250n],
    ]),
  );
  assert.equal(decision.event.type, 'PaymentDebited');
  assert.equal(decision.event.eventId, 'pay-1:3');
  assert.deepEqual(decision.credit, {
    paymentId: 'pay-1',
    recipientAccountId: 'acc-b',
    amountMinor: 1_250n,
    currency: 'EUR',
    nextSequence: 4,
    correlationId: 'corr-1',
  });
});

test('a transfer of exactly the balance empties the account', () => {
  const p = withBalance(1_250n);
  assert.equal(p.debit(transfer(1_250n)).outcome, 'posted');
  assert.equal(p.balances.get('acc-a'), 0n);
});

test('a transfer larger than the balance is rejected with INSUFFICIENT_FUNDS, a detail that does not name the balance, and moves no money', () => {
  const p = withBalance(1_249n);
  const decision = p.debit(transfer(1_250n));
  assert.equal(decision.outcome, 'rejected');
  assert.equal(decision.event.type, 'PaymentRejected');
  assert.equal(decision.event.sequence, 3);
  assert.equal(decision.event.rejection?.code, 'INSUFFICIENT_FUNDS');
  assert.equal(
    decision.event.rejection.detail,
    'the balance of senderAccountId acc-a is less than the amount 12.50 EUR',
  );
  // The principal may be a producer, which can't read the balance.
  assert.doesNotMatch(decision.event.rejection.detail ?? '', /12\.49|1249/);
  assert.deepEqual(p.balances, new Map([['acc-a', 1_249n]]));
});

test('a payment rejected for insufficient funds is not debited later when it is delivered again', () => {
  const p = new Partition(0);
  assert.equal(p.debit(transfer(100n)).outcome, 'rejected');
  p.balances.set('acc-a', 1_000n);
  assert.equal(p.debit(transfer(100n)).outcome, 'already-applied');
  assert.equal(p.balances.get('acc-a'), 1_000n);
});

test('a non-positive amount reaching the ledger, zero included, is rejected with AMOUNT_NOT_POSITIVE', () => {
  for (const amount of [-5n, 0n]) {
    const p = withBalance(1_000n);
    const decision = p.debit(transfer(amount));
    assert.equal(decision.outcome, 'rejected', `amount ${amount}`);
    assert.equal(decision.event.rejection?.code, 'AMOUNT_NOT_POSITIVE');
    assert.equal(p.balances.get('acc-a'), 1_000n);
  }
});

test('a deposit draws on the funding account, which may go below zero', () => {
  const p = new Partition(1);
  const decision = p.debit(deposit('acc-b', 700n));
  assert.equal(decision.outcome, 'posted');
  assert.equal(p.balances.get('funding:EUR'), -700n);
  assert.equal(p.balances.get('transit:EUR:1'), 700n);
});

test("a deposit that would take a currency's money past its ceiling is rejected AMOUNT_LIMIT_EXCEEDED before any money moves; one up to the ceiling is posted", () => {
  const ceiling = balanceCeilingMinor('EUR');
  assert.equal(ceiling, maxAmountMinor('EUR'), "the ceiling is the currency's largest amount");
  const p = new Partition(0);
  p.balances.set('funding:EUR', -(ceiling - 100n));
  const over = p.debit(deposit('acc-z', 101n, 'dep-over'));
  assert.equal(over.outcome, 'rejected');
  assert.equal(over.event.type, 'PaymentRejected');
  assert.equal(over.event.rejection?.code, 'AMOUNT_LIMIT_EXCEEDED');
  assert.match(
    over.event.rejection.detail ?? '',
    /deposit of 1\.01 EUR .* past its ceiling of 9223372036854775\.80 EUR/,
  );
  assert.doesNotMatch(
    over.event.rejection.detail ?? '',
    /9223372036854774/,
    'the funding balance is not named',
  );
  assert.deepEqual(p.balances, new Map([['funding:EUR', -(ceiling - 100n)]]), 'no money moved');
  const upTo = p.debit(deposit('acc-z', 100n, 'dep-up-to'));
  assert.equal(upTo.outcome, 'posted');
  assert.equal(p.balances.get('funding:EUR'), -ceiling);
});

test('a deposit sent to review past the ceiling is rejected AMOUNT_LIMIT_EXCEEDED, not held', () => {
  const p = new Partition(0);
  p.balances.set('funding:EUR', -balanceCeilingMinor('EUR'));
  const held = decideHold(deposit('acc-z', 1n), p.view, p.at(10_000));
  assert.equal(held.outcome, 'rejected');
  assert.equal(held.event.rejection?.code, 'AMOUNT_LIMIT_EXCEEDED');
});

test('at the ceiling every balance still fits a signed 64-bit long: all the money on one account, and on one transit account', () => {
  const ceiling = balanceCeilingMinor('EUR');
  const funding = new Partition(0);
  const recipient = new Partition(1);
  const debit = funding.debit(deposit('acc-z', ceiling));
  assert.equal(debit.outcome, 'posted');
  recipient.credit(debit.credit);
  assert.equal(recipient.balances.get('acc-z'), ceiling);
  assert.equal(recipient.balances.get('transit:EUR:1'), -ceiling);
  assert.equal(funding.balances.get('transit:EUR:0'), ceiling);
  for (const balance of [...funding.balances.values(), ...recipient.balances.values()])
    assert.ok(balance <= 2n ** 63n - 1n && balance >= -(2n ** 63n), `${balance} fits a long`);
});

test('the credit leg moves the money from the partition transit account to the recipient and completes the payment', () => {
  const p = new Partition(2);
  const instruction: CreditInstruction = {
    paymentId: 'pay-1',
    recipientAccountId: 'acc-b',
    amountMinor: 1_250n,
    currency: 'EUR',
    nextSequence: 4,
    correlationId: 'corr-1',
  };
  const decision = p.credit(instruction);
  assert.equal(decision.outcome, 'posted');
  assert.deepEqual(decision.posting.lines, [
    { accountId: 'transit:EUR:2', amountMinor: -1_250n },
    { accountId: 'acc-b', amountMinor: 1_250n },
  ]);
  assert.equal(decision.posting.postingId, 'pay-1:credit');
  assert.equal(decision.posting.leg, 'CREDIT');
  assert.deepEqual(decision.event, {
    eventId: 'pay-1:4',
    paymentId: 'pay-1',
    type: 'PaymentCompleted',
    sequence: 4,
    occurredAtMs: 20_000,
    recordedAtMs: 20_040,
    correlationId: 'corr-1',
    initiated: null,
    rejection: null,
    risk: null,
    review: null,
  });
  assert.equal(p.balances.get('acc-b'), 1_250n);
});

test('a posting is applied at most once: the same debit or credit again changes nothing and emits nothing', () => {
  const p = new Partition(0);
  funded(p, 'acc-a', 5_000n);
  const first = p.debit(transfer(1_000n));
  assert.equal(first.outcome, 'posted');
  const before = new Map(p.balances);
  assert.deepEqual(p.debit(transfer(1_000n), 99_000), {
    outcome: 'already-applied',
    postingId: 'pay-1:debit',
    appliedAtMs: 10_000,
  });
  assert.deepEqual(p.balances, before);
  assert.equal(p.credit(first.credit).outcome, 'posted');
  const afterCredit = new Map(p.balances);
  assert.equal(p.credit(first.credit).outcome, 'already-applied');
  assert.deepEqual(p.balances, afterCredit);
});

test('a posting whose lines do not sum to zero is recognised as unbalanced', () => {
  assert.equal(
    linesSumToZero([
      { accountId: 'a', amountMinor: -5n },
      { accountId: 'b', amountMinor: 5n },
    ]),
    true,
  );
  assert.equal(
    linesSumToZero([
      { accountId: 'a', amountMinor: -5n },
      { accountId: 'b', amountMinor: 4n },
    ]),
    false,
  );
  assert.equal(linesSumToZero([]), true);
});

test('a debit whose lines would not balance per currency is a broken invariant, never a posting', () => {
  const ledger = new Partition(0);
  const inFlight: PaymentInFlight = {
    command: paymentCommand({
      kind: 'DEPOSIT',
      senderAccountId: 'funding:EUR',
      currency: 'USD',
      amountMinor: 100n,
    }),
    nextSequence: 3,
    velocity: null,
    risk: null,
  };
  assert.throws(() => ledger.debit(inFlight), InvariantError);
  assert.deepEqual([...ledger.balances], []);
  assert.deepEqual(
    sumsByCurrency({
      currency: 'USD',
      lines: [
        { accountId: 'funding:EUR', amountMinor: -100n },
        { accountId: 'transit:USD:0', amountMinor: 100n },
      ],
    }),
    new Map([
      ['EUR', -100n],
      ['USD', 100n],
    ]),
  );
});

test('a credit that would take a customer below zero is a broken invariant, never a posting', () => {
  const ledger = new Partition(1);
  const instruction: CreditInstruction = {
    paymentId: 'pay-neg',
    recipientAccountId: 'acc-b',
    amountMinor: -500n,
    currency: 'EUR',
    nextSequence: 4,
    correlationId: null,
  };
  assert.throws(() => ledger.credit(instruction), /would leave acc-b at -500, below zero/);
  assert.deepEqual([...ledger.balances], []);
});

test('a hand-off whose sequence would go back in the payment history is a broken invariant: no money moves', () => {
  const ledger = new Partition(0);
  ledger.balances.set('acc-a', 5_000n);
  assert.throws(
    () => ledger.debit({ command: paymentCommand(), nextSequence: 2, velocity: null, risk: null }),
    /payment pay-1: debit would emit sequence 2, before the earlier stages' events/,
  );
  const credit: CreditInstruction = {
    paymentId: 'pay-1',
    recipientAccountId: 'acc-b',
    amountMinor: 100n,
    currency: 'EUR',
    nextSequence: 3,
    correlationId: null,
  };
  assert.throws(() => ledger.credit(credit), InvariantError);
  assert.deepEqual([...ledger.balances], [['acc-a', 5_000n]]);
});

test('balances total per currency, system accounts by their name and customers by lookup', () => {
  const totals = totalsByCurrency(
    [
      ['funding:EUR', -100n],
      ['transit:EUR:0', 30n],
      ['acc-a', 70n],
      ['funding:USD', -5n],
      ['acc-d', 2n],
    ],
    (id) => ({ 'acc-a': 'EUR', 'acc-d': 'USD' })[id],
  );
  assert.deepEqual(
    totals,
    new Map([
      ['EUR', 0n],
      ['USD', -3n],
    ]),
  );
  assert.throws(
    () => totalsByCurrency([['acc-z', 1n]], () => undefined),
    /no currency known for account acc-z/,
  );
});

test('random deposits and transfers, delivered out of order and twice, keep customer balances at or above zero and every currency summing to zero', () => {
  const customers = new Map([
    ['acc-a', 'EUR'],
    ['acc-b', 'EUR'],
    ['acc-c', 'EUR'],
    ['acc-d', 'USD'],
    ['acc-e', 'USD'],
  ]);
  const ids = [...customers.keys()];
  const PARTITIONS = 3;
  const partitionOf = (accountId: string): number =>
    [...accountId].reduce((sum, c) => sum + c.charCodeAt(0), 0) % PARTITIONS;

  let debited = 0;
  let rejected = 0;
  let completed = 0;
  for (let seed = 1; seed <= 40; seed += 1) {
    const next = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const partitions = Array.from({ length: PARTITIONS }, (_, p) => new Partition(p));
    const delivered: PaymentInFlight[] = [];
    const pendingCredits: CreditInstruction[] = [];
    const creditsDone: CreditInstruction[] = [];

    const checkInvariants = (step: number, posting?: LedgerPosting): void => {
      const where = `seed ${seed}, step ${step}`;
      if (posting !== undefined) assert.ok(linesSumToZero(posting.lines), `${where}: unbalanced posting`);
      const all = partitions.flatMap((p) => [...p.balances]);
      for (const [accountId, balance] of all) {
        if (!isFundingAccount(accountId) && !isTransitAccount(accountId))
          assert.ok(balance >= 0n, `${where}: ${accountId} at ${balance}`);
      }
      for (const [currency, total] of totalsByCurrency(all, (id) => customers.get(id))) {
        assert.equal(total, 0n, `${where}: ${currency} totals ${total}`);
      }
    };

    const debit = (inFlight: PaymentInFlight, step: number): void => {
      const decision = partitions[partitionOf(inFlight.command.senderAccountId)]!.debit(inFlight, step);
      if (decision.outcome === 'posted') {
        debited += 1;
        pendingCredits.push(decision.credit);
        checkInvariants(step, decision.posting);
      }
      if (decision.outcome === 'rejected') rejected += 1;
      checkInvariants(step);
    };
    const credit = (instruction: CreditInstruction, step: number): void => {
      const decision = partitions[partitionOf(instruction.recipientAccountId)]!.credit(instruction, step);
      assert.equal(decision.outcome, 'posted', `seed ${seed}: credit ${instruction.paymentId} posted once`);
      completed += 1;
      creditsDone.push(instruction);
      checkInvariants(step, decision.posting);
    };

    for (let step = 0; step < 300; step += 1) {
      const roll = next();
      const paymentId = `s${seed}-p${step}`;
      if (roll < 0.25) {
        const recipient = pick(ids);
        const currency = customers.get(recipient)!;
        const amountMinor = BigInt(1 + Math.floor(next() * 1_000));
        const command = paymentCommand({
          kind: 'DEPOSIT',
          paymentId,
          senderAccountId: `funding:${currency}`,
          recipientAccountId: recipient,
          currency,
          amountMinor,
        });
        delivered.push({ command, nextSequence: 3, velocity: null, risk: null });
        debit(delivered.at(-1)!, step);
      } else if (roll < 0.65) {
        const sender = pick(ids);
        const currency = customers.get(sender)!;
        const recipient = pick(ids.filter((id) => id !== sender && customers.get(id) === currency));
        const amountMinor = BigInt(1 + Math.floor(next() * 1_500));
        const command = paymentCommand({
          paymentId,
          senderAccountId: sender,
          recipientAccountId: recipient,
          currency,
          amountMinor,
        });
        delivered.push({ command, nextSequence: 3, velocity: null, risk: null });
        debit(delivered.at(-1)!, step);
      } else if (roll < 0.75 && delivered.length > 0) {
        // A payment delivered to the ledger again: its debit is never posted twice.
        const before = partitions.map((p) => new Map(p.balances));
        debit(pick(delivered), step);
        assert.deepEqual(
          partitions.map((p) => p.balances),
          before,
          `seed ${seed}: a repeated debit moved money`,
        );
      } else if (roll < 0.85 && creditsDone.length > 0) {
        const again = pick(creditsDone);
        assert.equal(
          partitions[partitionOf(again.recipientAccountId)]!.credit(again, step).outcome,
          'already-applied',
        );
      } else if (pendingCredits.length > 0) {
        // Credits arrive in any order relative to each other and to later debits.
        const [instruction] = pendingCredits.splice(Math.floor(next() * pendingCredits.length), 1);
        credit(instruction!, step);
      }
    }
    // Every debited payment completes once its credit arrives; then nothing is left in transit.
    for (const instruction of pendingCredits.splice(0)) credit(instruction, 1_000);
    checkInvariants(-1);
    assert.equal(completed, debited, `seed ${seed}: every debit completed once`);
    const transit = partitions.flatMap((p) => [...p.balances].filter(([id]) => isTransitAccount(id)));
    assert.deepEqual(
      [...totalsByCurrency(transit, () => undefined).values()].filter((total) => total !== 0n),
      [],
      `seed ${seed}: money left in transit`,
    );
  }
  // The runs exercised both sides of the funds check.
  assert.ok(debited > 1_000 && rejected > 100, `debited ${debited}, rejected ${rejected}`);
});
