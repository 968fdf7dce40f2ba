/**
 * The ledger processor on the in-memory driver, fed the way the pipeline feeds it: validated
 * payments on `payments.scored`, the credit legs it hands itself on `ledger.credits`. Kafka
 * delivers at least once into a transaction that may abort, so either input can bring the same
 * record again; the money moves once.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import type {
  AccountBalance,
  LedgerPosting,
  PaymentCommand,
  PaymentEvent,
  PaymentInFlight,
} from '../../schemas/types.js';
import type { Topology } from '../runtime/api.js';
import { jsonSerde } from '../runtime/json-serde.js';
import { MemoryDriver, type LoggedRecord } from '../runtime/memory/driver.js';
import type { MemoryKeyValueStore } from '../runtime/stores.js';
import { balancesOfPostings, paymentCommand } from '../test-fixtures.js';
import { TOPIC } from '../../topics/names.js';
import { BALANCES_STORE, ledgerProcessor } from './processor.js';

const DLQ = 'payflow.dlq';
const T0 = 1_700_000_000_000;
const PARTITIONS = 3;

let driver: MemoryDriver;

beforeEach(() => {
  const topology: Topology = {
    applicationId: 'payflow-ledger-test',
    topics: Object.values(TOPIC).map((name) => ({ name, partitions: PARTITIONS, serde: jsonSerde() })),
    processors: [ledgerProcessor()],
    deadLetterTopic: DLQ,
  };
  driver = new MemoryDriver(topology, { retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 } });
});

const deposit = (recipientAccountId: string, amountMinor: bigint, paymentId: string): PaymentCommand =>
  paymentCommand({
    kind: 'DEPOSIT',
    commandId: `cmd-${paymentId}`,
    paymentId,
    senderAccountId: 'funding:EUR',
    recipientAccountId,
    amountMinor,
  });

const transfer = (paymentId: string, amountMinor: bigint): PaymentCommand =>
  paymentCommand({ commandId: `cmd-${paymentId}`, paymentId, amountMinor });

/** A validated payment as the validate processor publishes it: keyed by sender. */
async function validated(command: PaymentCommand, timestampMs: number): Promise<void> {
  const inFlight: PaymentInFlight = { command, nextSequence: 3, velocity: null, risk: null };
  await driver.pipe(TOPIC.paymentsScored, command.senderAccountId, inFlight, { timestampMs });
}

/** The record of `topic` that carries `paymentId`, as it was appended. */
async function recordOf(topic: string, paymentId: string): Promise<LoggedRecord> {
  const decoded = await driver.read<{ paymentId?: string; command?: { paymentId: string } }>(topic);
  const matching = decoded.filter((r) => (r.value.paymentId ?? r.value.command?.paymentId) === paymentId);
  assert.equal(matching.length, 1, `one ${topic} record of ${paymentId}`);
  const { partition, offset } = matching[0]!;
  return driver.records(topic).find((r) => r.partition === partition && r.offset === offset)!;
}

/** The same bytes, key, headers and partition once more, later, as a redelivery brings them. */
async function redeliver(record: LoggedRecord, timestampMs: number): Promise<void> {
  await driver.pipeRaw(record.topic, record.key, record.value, {
    timestampMs,
    headers: record.headers,
    partition: record.partition,
  });
}

async function eventTypesOf(paymentId: string): Promise<string[]> {
  return (await driver.read<PaymentEvent>(TOPIC.paymentsEvents))
    .filter((r) => r.key === paymentId)
    .map((r) => r.value.type);
}

async function postingIdsOf(paymentId: string): Promise<string[]> {
  return (await driver.read<LedgerPosting>(TOPIC.ledgerPostings))
    .filter((r) => r.value.paymentId === paymentId)
    .map((r) => r.value.postingId);
}

/** Balances as the postings on `ledger.postings` add up. */
async function balancesFromPostings(): Promise<Map<string, bigint>> {
  return balancesOfPostings((await driver.read<LedgerPosting>(TOPIC.ledgerPostings)).map((r) => r.value));
}

/** The latest balance of each account published on `ledger.balances`. */
async function publishedBalances(): Promise<Map<string, bigint>> {
  const published = await driver.read<AccountBalance>(TOPIC.ledgerBalances);
  return new Map(published.map((r) => [r.key, r.value.balanceMinor]));
}

/** An account's balance in the ledger's store, over every partition. */
function storedBalance(accountId: string): bigint | undefined {
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    const store = driver.task('ledger', partition).stores.get(BALANCES_STORE) as MemoryKeyValueStore<bigint>;
    const balance = store.get(accountId);
    if (balance !== undefined) return balance;
  }
  return undefined;
}

/** Customer balances by every account of the ledger: postings, published balances and the store. */
async function assertCustomerBalances(expected: Record<string, bigint>): Promise<void> {
  const fromPostings = await balancesFromPostings();
  const published = await publishedBalances();
  for (const [accountId, balance] of Object.entries(expected)) {
    assert.equal(fromPostings.get(accountId), balance, `${accountId} by its postings`);
    assert.equal(published.get(accountId), balance, `${accountId} on ledger.balances`);
    assert.equal(storedBalance(accountId), balance, `${accountId} in the balances store`);
  }
  assert.equal(
    [...fromPostings.values()].reduce((a, b) => a + b, 0n),
    0n,
    'the postings move money, never make it',
  );
  assert.deepEqual(published, fromPostings, 'every account published as its postings add up');
}

/** acc-a funded with 5,000 (dep-1), then pay-t1: 1,250 from acc-a to acc-b. */
async function fundThenTransfer(): Promise<void> {
  await validated(deposit('acc-a', 5_000n, 'dep-1'), T0);
  await validated(transfer('pay-t1', 1_250n), T0 + 1_000);
  await assertCustomerBalances({ 'acc-a': 3_750n, 'acc-b': 1_250n });
}

describe('the ledger processor under redelivery', () => {
  test('a payment delivered again on payments.scored is debited once, credited once and completes once', async () => {
    await fundThenTransfer();
    const first = await recordOf(TOPIC.paymentsScored, 'pay-t1');

    await redeliver(first, T0 + 2_000);
    await redeliver(first, T0 + 3_000);

    assert.deepEqual(await postingIdsOf('pay-t1'), ['pay-t1:debit', 'pay-t1:credit']);
    assert.deepEqual(await eventTypesOf('pay-t1'), ['PaymentDebited', 'PaymentCompleted']);
    const credits = (await driver.read<{ paymentId: string }>(TOPIC.ledgerCredits)).filter(
      (r) => r.value.paymentId === 'pay-t1',
    );
    assert.equal(credits.length, 1, 'the credit leg is handed on once');
    await assertCustomerBalances({ 'acc-a': 3_750n, 'acc-b': 1_250n });
    assert.deepEqual(driver.records(DLQ), []);
  });

  test('a credit instruction delivered again on ledger.credits credits the recipient once', async () => {
    await fundThenTransfer();
    const credit = await recordOf(TOPIC.ledgerCredits, 'pay-t1');

    await redeliver(credit, T0 + 2_000);
    await redeliver(credit, T0 + 3_000);

    assert.deepEqual(await postingIdsOf('pay-t1'), ['pay-t1:debit', 'pay-t1:credit']);
    assert.deepEqual(await eventTypesOf('pay-t1'), ['PaymentDebited', 'PaymentCompleted']);
    await assertCustomerBalances({ 'acc-a': 3_750n, 'acc-b': 1_250n });
    const inTransit = [...(await balancesFromPostings())]
      .filter(([accountId]) => accountId.startsWith('transit:'))
      .reduce((sum, [, balance]) => sum + balance, 0n);
    assert.equal(inTransit, 0n, 'nothing is left in transit, nor drawn from it twice');
    assert.deepEqual(driver.records(DLQ), []);
  });

  test('a deposit delivered again on both inputs funds the account once', async () => {
    await validated(deposit('acc-a', 5_000n, 'dep-1'), T0);
    await redeliver(await recordOf(TOPIC.paymentsScored, 'dep-1'), T0 + 1_000);
    await redeliver(await recordOf(TOPIC.ledgerCredits, 'dep-1'), T0 + 2_000);

    assert.deepEqual(await postingIdsOf('dep-1'), ['dep-1:debit', 'dep-1:credit']);
    assert.deepEqual(await eventTypesOf('dep-1'), ['PaymentDebited', 'PaymentCompleted']);
    await assertCustomerBalances({ 'acc-a': 5_000n, 'funding:EUR': -5_000n });
  });

  test('a payment rejected for insufficient funds stays rejected when delivered again after the sender is funded', async () => {
    await validated(transfer('pay-t1', 1_250n), T0);
    assert.deepEqual(await eventTypesOf('pay-t1'), ['PaymentRejected']);
    const rejected = await recordOf(TOPIC.paymentsScored, 'pay-t1');

    await validated(deposit('acc-a', 5_000n, 'dep-1'), T0 + 1_000);
    await redeliver(rejected, T0 + 2_000);

    assert.deepEqual(await eventTypesOf('pay-t1'), ['PaymentRejected'], 'decided once');
    assert.deepEqual(await postingIdsOf('pay-t1'), []);
    await assertCustomerBalances({ 'acc-a': 5_000n });
    assert.equal(storedBalance('acc-b'), undefined, 'acc-b never credited');
  });
});
