/**
 * The four processors wired as one topology on the in-memory driver: what the adapters read,
 * store and forward, end to end, with the records a producer would see.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import type {
  AccountBalance,
  AccountCommand,
  AccountCommandOutcome,
  LedgerPosting,
  PaymentCommand,
  PaymentEvent,
  PaymentInFlight,
} from '../schemas/types.js';
import { accountsProcessor } from './accounts/processor.js';
import { DEFAULT_DEDUPE_TTL_MS, type DedupeDecision } from './dedupe/logic.js';
import { dedupeProcessor, SEEN_STORE } from './dedupe/processor.js';
import { ledgerProcessor } from './ledger/processor.js';
import { HEADER, type Topology } from './runtime/api.js';
import { jsonSerde } from './runtime/json-serde.js';
import { MemoryDriver } from './runtime/memory/driver.js';
import { balancesOfPostings, paymentCommand } from './test-fixtures.js';
import { paymentCommandKey } from '../topics/keys.js';
import { partitionOfKey } from '../topics/partitioner.js';
import { TOPIC } from '../topics/names.js';
import { validateProcessor } from './validate/processor.js';
import { velocityProcessor } from './velocity/processor.js';
import { deviceProfileProcessor } from './fraud/device-profile.js';
import { fraudProcessor } from './fraud/processor.js';

const DLQ = 'payflow.dlq';
const T0 = 1_700_000_000_000;

let dedupeDecisions: DedupeDecision[];
let driver: MemoryDriver;

/** In-task topics as in the main job's pipeline: one sub-topology per side; unfused, a Kafka topic per edge. */
const IN_TASK: readonly string[] = [
  TOPIC.paymentsAccepted,
  TOPIC.paymentsValidated,
  TOPIC.paymentsChecked,
  TOPIC.paymentsScored,
];

function topology(fused = true): Topology {
  return {
    applicationId: 'payflow-pipeline-test',
    topics: Object.values(TOPIC).map((name) => ({
      name,
      partitions: 3,
      serde: jsonSerde(),
      ...(fused && IN_TASK.includes(name) ? { inTask: true } : {}),
    })),
    processors: [
      accountsProcessor(),
      dedupeProcessor({ onDecision: (decision) => dedupeDecisions.push(decision) }),
      validateProcessor(),
      velocityProcessor(),
      fraudProcessor(),
      deviceProfileProcessor(),
      ledgerProcessor(),
    ],
    deadLetterTopic: DLQ,
    subTopologyNames: { dedupe: 'payments' },
  };
}

/** The same processors with every edge a Kafka topic, to inject records between them. */
function unfusedDriver(): MemoryDriver {
  return new MemoryDriver(topology(false), { retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 } });
}

beforeEach(() => {
  dedupeDecisions = [];
  driver = new MemoryDriver(topology(), { retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 } });
});

async function openAccount(accountId: string, currency = 'EUR', ownerId = 'owner'): Promise<void> {
  const command: AccountCommand = {
    type: 'OPEN',
    commandId: `open-${accountId}`,
    accountId,
    ownerId,
    currency,
    kycTier: 'TIER_1',
    iban: null,
    issuedAtMs: T0,
  };
  await driver.pipe(TOPIC.accountsCommands, accountId, command, { timestampMs: T0 });
}

async function submit(command: PaymentCommand, timestampMs = T0 + 1_000, partition?: number): Promise<void> {
  const options = { timestampMs, headers: { [HEADER.correlationId]: `corr-${command.commandId}` } };
  await driver.pipe(
    TOPIC.paymentsCommands,
    paymentCommandKey(command),
    command,
    partition === undefined ? options : { ...options, partition },
  );
}

/** Events validation emitted (PaymentValidated or its rejection: sequence 1), over all payments. */
async function validationEvents(): Promise<number> {
  const dedupeCodes: readonly string[] = ['IDEMPOTENCY_KEY_REUSED', 'DUPLICATE_REQUEST'];
  return (await driver.read<PaymentEvent>(TOPIC.paymentsEvents)).filter(
    (r) => r.value.sequence === 1 && !dedupeCodes.includes(r.value.rejection?.code ?? ''),
  ).length;
}

async function eventsOf(paymentId: string): Promise<PaymentEvent[]> {
  return (await driver.read<PaymentEvent>(TOPIC.paymentsEvents))
    .filter((r) => r.key === paymentId)
    .map((r) => r.value);
}

/** Balances as the postings on `ledger.postings` add up. */
async function balancesFromPostings(): Promise<Map<string, bigint>> {
  return balancesOfPostings((await driver.read<LedgerPosting>(TOPIC.ledgerPostings)).map((r) => r.value));
}

const deposit = (recipientAccountId: string, amountMinor: bigint, id: string): PaymentCommand =>
  paymentCommand({
    kind: 'DEPOSIT',
    commandId: `cmd-${id}`,
    paymentId: id,
    idempotencyKey: id,
    requestHash: id,
    senderAccountId: 'funding:EUR',
    recipientAccountId,
    amountMinor,
  });

/** acc-a and acc-b opened, 5,000 deposited to acc-a (dep-1), then pay-t1 (1,250 acc-a -> acc-b). */
async function depositThenTransfer(): Promise<void> {
  await openAccount('acc-a');
  await openAccount('acc-b');
  await submit(deposit('acc-a', 5_000n, 'dep-1'));
  await submit(
    paymentCommand({ commandId: 'cmd-t1', paymentId: 'pay-t1', idempotencyKey: 't1' }),
    T0 + 2_000,
  );
}

describe('the payment pipeline on the in-memory driver', () => {
  test('a deposit and a transfer run the whole chain: initiated, validated, debited, completed, with balanced postings', async () => {
    await depositThenTransfer();

    const events = await eventsOf('pay-t1');
    assert.deepEqual(
      events.map((e) => [e.eventId, e.type, e.correlationId]),
      [
        ['pay-t1:0', 'PaymentInitiated', 'corr-cmd-t1'],
        ['pay-t1:1', 'PaymentValidated', 'corr-cmd-t1'],
        ['pay-t1:2', 'PaymentScored', 'corr-cmd-t1'],
        ['pay-t1:3', 'PaymentDebited', 'corr-cmd-t1'],
        ['pay-t1:4', 'PaymentCompleted', 'corr-cmd-t1'],
      ],
    );
    assert.equal((await eventsOf('dep-1')).at(-1)?.type, 'PaymentCompleted');
    const postings = await driver.read<LedgerPosting>(TOPIC.ledgerPostings);
    assert.deepEqual(postings.map((p) => p.value.postingId).sort(), [
      'dep-1:credit',
      'dep-1:debit',
      'pay-t1:credit',
      'pay-t1:debit',
    ]);
    const balances = await balancesFromPostings();
    assert.equal(balances.get('acc-a'), 3_750n);
    assert.equal(balances.get('acc-b'), 1_250n);
    assert.equal(balances.get('funding:EUR'), -5_000n);
    assert.equal(
      [...balances.values()].reduce((a, b) => a + b, 0n),
      0n,
    );
    assert.deepEqual(driver.records(DLQ), []);
  });

  test("every event and posting of a payment keeps its command's time as occurredAt and carries the driver's clock when it was decided as recordedAt", async () => {
    await openAccount('acc-a');
    await openAccount('acc-b');
    await driver.advanceWallClock(T0 + 5_000);
    await submit(deposit('acc-a', 5_000n, 'dep-1'), T0 + 1_000);
    await driver.advanceWallClock(60_000);
    await submit(
      paymentCommand({ commandId: 'cmd-t1', paymentId: 'pay-t1', idempotencyKey: 't1' }),
      T0 + 2_000,
    );

    assert.deepEqual(
      (await eventsOf('pay-t1')).map((e) => [e.type, e.occurredAtMs, e.recordedAtMs]),
      [
        ['PaymentInitiated', T0 + 2_000, T0 + 65_000],
        ['PaymentValidated', T0 + 2_000, T0 + 65_000],
        ['PaymentScored', T0 + 2_000, T0 + 65_000],
        ['PaymentDebited', T0 + 2_000, T0 + 65_000],
        ['PaymentCompleted', T0 + 2_000, T0 + 65_000],
      ],
    );
    assert.deepEqual((await eventsOf('dep-1')).map((e) => [e.type, e.occurredAtMs, e.recordedAtMs]).at(-1), [
      'PaymentCompleted',
      T0 + 1_000,
      T0 + 5_000,
    ]);
    const postings = await driver.read<LedgerPosting>(TOPIC.ledgerPostings);
    assert.deepEqual(
      postings
        .map(({ value }) => [value.postingId, value.postedAtMs, value.recordedAtMs])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
      [
        ['dep-1:credit', T0 + 1_000, T0 + 5_000],
        ['dep-1:debit', T0 + 1_000, T0 + 5_000],
        ['pay-t1:credit', T0 + 2_000, T0 + 65_000],
        ['pay-t1:debit', T0 + 2_000, T0 + 65_000],
      ],
    );
  });

  test('every balance a posting moves is published on ledger.balances keyed by account, in the order the ledger had them, the latest equal to the postings', async () => {
    await depositThenTransfer();
    await submit(
      paymentCommand({ commandId: 'cmd-t2', paymentId: 'pay-t2', idempotencyKey: 't2' }),
      T0 + 3_000,
    );

    const published = await driver.read<AccountBalance>(TOPIC.ledgerBalances);
    for (const { key, value } of published) assert.equal(key, value.accountId);
    const historyOf = (accountId: string) =>
      published.filter((r) => r.key === accountId).map((r) => [r.value.balanceMinor, r.value.postingId]);
    assert.deepEqual(historyOf('acc-a'), [
      [5_000n, 'dep-1:credit'],
      [3_750n, 'pay-t1:debit'],
      [2_500n, 'pay-t2:debit'],
    ]);
    assert.deepEqual(historyOf('acc-b'), [
      [1_250n, 'pay-t1:credit'],
      [2_500n, 'pay-t2:credit'],
    ]);
    const latest = new Map(published.map((r) => [r.key, r.value.balanceMinor]));
    assert.deepEqual(latest, await balancesFromPostings());
  });

  test('a transfer larger than the balance ends rejected with INSUFFICIENT_FUNDS and posts nothing', async () => {
    await openAccount('acc-a');
    await openAccount('acc-b');
    await submit(paymentCommand({ amountMinor: 1n }));
    const events = await eventsOf('pay-1');
    assert.deepEqual(
      events.map((e) => e.type),
      ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentRejected'],
    );
    assert.equal(events[3]?.rejection?.code, 'INSUFFICIENT_FUNDS');
    assert.deepEqual(await driver.read(TOPIC.ledgerPostings), []);
  });

  test('a transfer to an unknown account is rejected by validation at sequence 1', async () => {
    await openAccount('acc-a');
    await submit(paymentCommand());
    const events = await eventsOf('pay-1');
    assert.deepEqual(
      events.map((e) => [e.sequence, e.type, e.rejection?.code ?? null]),
      [
        [0, 'PaymentInitiated', null],
        [1, 'PaymentRejected', 'RECIPIENT_NOT_FOUND'],
      ],
    );
  });

  test('the same command submitted twice starts one payment; the repeat is reported and emits nothing', async () => {
    await openAccount('acc-a');
    await openAccount('acc-b');
    await submit(paymentCommand());
    const before = driver.records(TOPIC.paymentsEvents).length;
    await submit(paymentCommand(), T0 + 5_000);
    assert.equal(driver.records(TOPIC.paymentsEvents).length, before);
    assert.equal(await validationEvents(), 1, 'validation saw the payment once');
    assert.deepEqual(
      dedupeDecisions.map((d) => d.outcome),
      ['accepted', 'redelivered'],
    );
  });

  test('a new payment under a used key is initiated and rejected without reaching validation', async () => {
    await submit(paymentCommand());
    await submit(paymentCommand({ commandId: 'cmd-2', paymentId: 'pay-2', requestHash: 'other' }));
    assert.deepEqual(
      (await eventsOf('pay-2')).map((e) => e.rejection?.code ?? e.type),
      ['PaymentInitiated', 'IDEMPOTENCY_KEY_REUSED'],
    );
    assert.equal(await validationEvents(), 1, 'only pay-1 reached validation');
  });

  test('a key a new payment was refused under keeps its original: the original delivered again afterwards emits nothing', async () => {
    await openAccount('acc-a');
    await openAccount('acc-b');
    await submit(paymentCommand());
    await submit(paymentCommand({ commandId: 'cmd-2', paymentId: 'pay-2' }), T0 + 2_000);
    const before = driver.records(TOPIC.paymentsEvents).length;
    await submit(paymentCommand(), T0 + 3_000);
    assert.equal(driver.records(TOPIC.paymentsEvents).length, before);
    assert.deepEqual(
      dedupeDecisions.map((d) => d.outcome),
      ['accepted', 'rejected', 'redelivered'],
    );
    assert.deepEqual(
      (await eventsOf('pay-1')).map((e) => e.type),
      ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentRejected'],
      'pay-1 is decided once',
    );
  });

  test('remembered scopes are purged once stream time passes their TTL', async () => {
    await submit(paymentCommand(), T0);
    const partition = partitionOfKey('acc-a', 3);
    const seen = () => driver.task('dedupe', partition).stores.get(SEEN_STORE)?.size;
    assert.equal(seen(), 1);
    await submit(
      paymentCommand({ commandId: 'cmd-2', paymentId: 'pay-2', idempotencyKey: 'k2' }),
      T0 + DEFAULT_DEDUPE_TTL_MS - 60_000,
    );
    assert.equal(seen(), 2);
    await submit(
      paymentCommand({ commandId: 'cmd-3', paymentId: 'pay-3', idempotencyKey: 'k3' }),
      T0 + DEFAULT_DEDUPE_TTL_MS + 60_000,
    );
    assert.equal(seen(), 2, 'the first scope is gone, the two younger ones remain');
  });

  test('an account command the rules refuse is a decision, not a dead letter: its refusal is published on accounts.outcomes with the reason, the accounts table is untouched, and the partition goes on', async () => {
    const change: AccountCommand = {
      type: 'CHANGE_STATUS',
      commandId: 'c-1',
      accountId: 'acc-x',
      status: 'FROZEN',
      issuedAtMs: T0,
    };
    await driver.pipe(TOPIC.accountsCommands, 'acc-x', change, { timestampMs: T0 });
    assert.deepEqual(driver.records(DLQ), []);
    assert.deepEqual(driver.records(TOPIC.accounts), []);
    assert.deepEqual(
      (await driver.read<AccountCommandOutcome>(TOPIC.accountsOutcomes)).map((r) => [
        r.key,
        r.value.outcome,
        r.value.code,
      ]),
      [['acc-x', 'REFUSED', 'ACCOUNT_NOT_FOUND']],
    );
    await openAccount('acc-x');
    assert.deepEqual(
      driver.records(TOPIC.accounts).map((r) => r.key),
      ['acc-x'],
    );
    assert.deepEqual(
      (await driver.read<AccountCommandOutcome>(TOPIC.accountsOutcomes)).map((r) => r.value.outcome),
      ['REFUSED', 'APPLIED'],
    );
    assert.equal(driver.ready, true);
  });

  test('a validated payment whose posting would not balance per currency stops the ledger partition: no money moves, nothing is dead-lettered', async () => {
    driver = unfusedDriver();
    const inFlight: PaymentInFlight = {
      command: paymentCommand({
        kind: 'DEPOSIT',
        commandId: 'cmd-u',
        paymentId: 'pay-u',
        senderAccountId: 'funding:EUR',
        recipientAccountId: 'acc-b',
        currency: 'USD',
        amountMinor: 100n,
      }),
      nextSequence: 3,
      velocity: null,
      risk: null,
    };
    await driver.pipe(TOPIC.paymentsScored, 'funding:EUR', inFlight, { timestampMs: T0 });
    assert.deepEqual(driver.records(DLQ), []);
    assert.deepEqual(driver.records(TOPIC.ledgerPostings), []);
    assert.deepEqual(driver.records(TOPIC.ledgerBalances), []);
    assert.deepEqual(await eventsOf('pay-u'), []);
    const [failed, ...others] = driver.failedTasks;
    assert.equal(failed?.processor, 'ledger');
    assert.deepEqual(others, []);
    assert.match(
      failed.reason,
      /InvariantError: posting pay-u:debit is unbalanced: its EUR lines sum to -100, not 0/,
    );
    assert.equal(driver.task('ledger', failed.partition).entries, 0, 'no balance moved');
    assert.equal(driver.ready, false);
    assert.match(
      driver.notReadyDetail ?? '',
      /subtopology:ledger failed \(TaskFailedError: ledger partition/,
    );
  });

  test('an undecodable payment record between separately deployed processors is dead-lettered UNDECODABLE and its payment ends PaymentFailed RECORD_DEAD_LETTERED', async () => {
    driver = unfusedDriver();
    const corr = { [HEADER.correlationId]: 'corr-bad' };
    await driver.pipeRaw(TOPIC.paymentsAccepted, 'acc-x', Buffer.from('{not json'), {
      timestampMs: T0,
      headers: { ...corr, [HEADER.paymentId]: 'pay-bad' },
    });
    // payments.validated is keyed by sender: the payment id comes from the header dedupe sets.
    await driver.pipeRaw(TOPIC.paymentsValidated, 'acc-a', Buffer.from('{not json'), {
      timestampMs: T0,
      headers: { ...corr, [HEADER.paymentId]: 'pay-bad2' },
    });
    assert.deepEqual(
      driver.records(DLQ).map((r) => [r.key, r.headers[HEADER.dlqErrorCode], r.headers[HEADER.dlqProcessor]]),
      [
        ['acc-x', 'UNDECODABLE', 'validate'],
        ['acc-a', 'UNDECODABLE', 'velocity'],
      ],
    );
    for (const [paymentId, sequence] of [
      ['pay-bad', 1],
      ['pay-bad2', 2],
    ] as const) {
      const events = await eventsOf(paymentId);
      assert.deepEqual(
        events.map((e) => [e.eventId, e.type, e.rejection?.code, e.correlationId]),
        [[`${paymentId}:${sequence}`, 'PaymentFailed', 'RECORD_DEAD_LETTERED', 'corr-bad']],
      );
      assert.match(events[0]?.rejection?.detail ?? '', /dead-lettered UNDECODABLE/);
    }
    assert.equal(driver.ready, true);
  });

  test("dedupe puts the payment id on the payment's records, so records keyed by account carry it", async () => {
    driver = unfusedDriver();
    await depositThenTransfer();
    const validated = driver.records(TOPIC.paymentsValidated).find((r) => r.key === 'acc-a');
    assert.equal(validated?.headers[HEADER.paymentId], 'pay-t1');
  });

  test('a frozen account stops its transfers at validation, through the accounts table', async () => {
    await openAccount('acc-a');
    await openAccount('acc-b');
    const freeze: AccountCommand = {
      type: 'CHANGE_STATUS',
      commandId: 'c-f',
      accountId: 'acc-a',
      status: 'FROZEN',
      issuedAtMs: T0,
    };
    await driver.pipe(TOPIC.accountsCommands, 'acc-a', freeze, { timestampMs: T0 });
    await submit(paymentCommand());
    assert.equal((await eventsOf('pay-1')).at(-1)?.rejection?.code, 'SENDER_NOT_ACTIVE');
  });
});

describe('the pipeline enforces who may debit whose account', () => {
  /** acc-mallory belongs to mallory, acc-victim to victim; the victim's account is funded. */
  async function victimAndMallory(): Promise<void> {
    await openAccount('acc-victim', 'EUR', 'victim');
    await openAccount('acc-mallory', 'EUR', 'mallory');
    await submit(deposit('acc-victim', 5_000n, 'dep-1'));
  }

  const theft = (overrides: Partial<PaymentCommand>): PaymentCommand =>
    paymentCommand({
      commandId: 'cmd-theft',
      paymentId: 'pay-theft',
      principal: 'mallory',
      senderAccountId: 'acc-victim',
      recipientAccountId: 'acc-mallory',
      ...overrides,
    });

  async function assertRejectedNotAuthorized(paymentId: string): Promise<void> {
    const events = await eventsOf(paymentId);
    assert.deepEqual(
      events.map((e) => [e.sequence, e.type, e.rejection?.code ?? null]),
      [
        [0, 'PaymentInitiated', null],
        [1, 'PaymentRejected', 'NOT_AUTHORIZED'],
      ],
    );
    const balances = await balancesFromPostings();
    assert.equal(balances.get('acc-victim'), 5_000n);
    assert.equal(balances.get('acc-mallory'), undefined);
  }

  test('a command injected on the ingress topic with a foreign sender is rejected NOT_AUTHORIZED and moves no money', async () => {
    await victimAndMallory();
    await submit(theft({ authority: { kind: 'OWNER', owners: ['mallory'] } }));
    await assertRejectedNotAuthorized('pay-theft');
  });

  test('a command injected without an authority is rejected NOT_AUTHORIZED', async () => {
    await victimAndMallory();
    await submit(theft({ authority: null }));
    await assertRejectedNotAuthorized('pay-theft');
  });

  test('a deposit injected with a non-ADMIN authority is rejected NOT_AUTHORIZED: only operators fund accounts', async () => {
    await victimAndMallory();
    await submit(
      theft({
        kind: 'DEPOSIT',
        senderAccountId: 'funding:EUR',
        authority: { kind: 'SERVICE', owners: ['*'] },
      }),
    );
    await assertRejectedNotAuthorized('pay-theft');
  });

  test("a producer's authority for o1 debits o1's account and not another owner's", async () => {
    await openAccount('acc-o1', 'EUR', 'o1');
    await openAccount('acc-o2', 'EUR', 'o2');
    await submit(deposit('acc-o1', 5_000n, 'dep-1'));
    await submit(deposit('acc-o2', 5_000n, 'dep-2'));
    const authority = { kind: 'SERVICE', owners: ['o1'] } as const;
    const base = { amountMinor: 100n, authority };
    await submit(
      paymentCommand({
        ...base,
        commandId: 'c1',
        paymentId: 'p1',
        idempotencyKey: 'k1',
        senderAccountId: 'acc-o1',
        recipientAccountId: 'acc-o2',
      }),
    );
    await submit(
      paymentCommand({
        ...base,
        commandId: 'c2',
        paymentId: 'p2',
        idempotencyKey: 'k2',
        senderAccountId: 'acc-o2',
        recipientAccountId: 'acc-o1',
      }),
    );
    assert.equal((await eventsOf('p1')).at(-1)?.type, 'PaymentCompleted');
    assert.equal((await eventsOf('p2')).at(-1)?.rejection?.code, 'NOT_AUTHORIZED');
    const balances = await balancesFromPostings();
    assert.equal(balances.get('acc-o1'), 4_900n);
    assert.equal(balances.get('acc-o2'), 5_100n);
  });
});
