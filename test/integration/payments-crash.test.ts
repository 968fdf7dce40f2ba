/**
 * Money under SIGKILL, on the real stack: the payment pipeline (`npm run processors`, every
 * processor in one process) is killed with SIGKILL at random moments while payments stream in,
 * and restarted each time. The commands go onto the ingress topic through the gateway's own
 * Kafka publisher; some twice byte for byte (a producer's retry), some again under the same
 * idempotency key with a new payment id (a second gateway attempt).
 *
 * Afterwards, read_committed from the public topics: every payment ended exactly once and every
 * event of it is there once; each completed payment has one debit and one credit posting, each
 * balanced, a rejected one none; every account's last published balance is its deposit plus what
 * its completed payments moved, to the unit; no customer balance was ever published below zero.
 * Bounded: 20 accounts, 2,000 payments, 4 kills, loopback only, a deadline on every wait.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { Kafka, logLevel, type Consumer } from 'kafkajs';

import { KafkaCommandPublisher, type CommandHeaders } from '../../gateway/index.js';
import { fundingAccountOf } from '../../schemas/system-accounts.js';
import { seededRandom } from '../../processors/test-fixtures.js';
import { AVRO } from '../../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../../schemas/registry.js';
import type {
  AccountBalance,
  AccountCommand,
  LedgerPosting,
  PaymentCommand,
  PaymentEvent,
} from '../../schemas/types.js';
import { TOPIC } from '../../topics/catalogue.js';
import { kill, sleep } from '../support/eos-harness.js';
import { freePort, startProcessorsProcess as startProcessors, waitHttpOk } from '../support/processes.js';
import { stackEnv, uniqueName, type StackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const ACCOUNTS = 20;
const PAYMENTS = 2_000;
const PUBLISH_SECONDS = 12;
const KILLS = 4;
const DEPOSIT = 1_000_000n;
const MAX_AMOUNT = 10_000;
/** Every REDELIVER_EVERY-th payment is published twice, byte for byte. */
const REDELIVER_EVERY = 10;
/** Every RETRY_EVERY-th payment is sent again under its key with a new payment id. */
const RETRY_EVERY = 25;
const READY_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 240_000;
const TERMINAL = new Set(['PaymentCompleted', 'PaymentRejected']);

const waitReady = (child: ChildProcess, opsPort: number): Promise<void> =>
  waitHttpOk(child, `http://127.0.0.1:${opsPort}/readyz`, READY_TIMEOUT_MS);

/** What the test reads back from the public topics, read_committed, from its start on. */
interface Observed {
  readonly events: Map<string, PaymentEvent[]>;
  readonly postings: Map<string, LedgerPosting[]>;
  /** Every balance the ledger published per account, in order. */
  readonly balances: Map<string, bigint[]>;
}

async function follow(
  kafka: Kafka,
  topic: string,
  onValue: (value: Buffer) => Promise<void>,
): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: `payflow-crash-${randomUUID()}`, readUncommitted: false });
  await consumer.connect();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value !== null) await onValue(message.value);
    },
  });
  await joined;
  return consumer;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

async function observe(kafka: Kafka, stack: StackEnv, accountPrefix: string) {
  const registry = createSchemaRegistry(stack.schemaRegistryUrl);
  const events = registryAvroSerde(registry, valueSubject(TOPIC.paymentsEvents), AVRO.PaymentEvent);
  const postings = registryAvroSerde(registry, valueSubject(TOPIC.ledgerPostings), AVRO.LedgerPosting);
  const balances = registryAvroSerde(registry, valueSubject(TOPIC.ledgerBalances), AVRO.AccountBalance);
  const observed: Observed = { events: new Map(), postings: new Map(), balances: new Map() };
  const consumers = [
    await follow(kafka, TOPIC.paymentsEvents, async (value) => {
      const event = await events.deserialize(value, TOPIC.paymentsEvents);
      push(observed.events, event.paymentId, event);
    }),
    await follow(kafka, TOPIC.ledgerPostings, async (value) => {
      const posting = await postings.deserialize(value, TOPIC.ledgerPostings);
      push(observed.postings, posting.paymentId, posting);
    }),
    await follow(kafka, TOPIC.ledgerBalances, async (value) => {
      const balance: AccountBalance = await balances.deserialize(value, TOPIC.ledgerBalances);
      if (balance.accountId.startsWith(accountPrefix))
        push(observed.balances, balance.accountId, balance.balanceMinor);
    }),
  ];
  return { observed, close: () => Promise.all(consumers.map((consumer) => consumer.disconnect())) };
}

const terminalOf = (events: readonly PaymentEvent[] | undefined): PaymentEvent[] =>
  (events ?? []).filter((event) => TERMINAL.has(event.type));

async function until(what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('payments on Kafka under SIGKILL', { skip }, () => {
  test(
    '2,000 payments while the processors are killed with SIGKILL 4 times: each ends exactly once, completed ones post one balanced debit and credit, balances are deposits plus completed payments exactly, none below zero',
    { timeout: 600_000 },
    async () => {
      if ('skip' in env) return;
      const stack = env;
      const random = seededRandom(20261201);
      const kafka = new Kafka({
        clientId: 'payflow-crash-test',
        brokers: stack.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const opsPort = await freePort();
      let processors = startProcessors(stack, opsPort);
      await waitReady(processors, opsPort);

      const prefix = uniqueName('crash');
      const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
      const { observed, close } = await observe(kafka, stack, prefix);
      const registry = createSchemaRegistry(stack.schemaRegistryUrl);
      const paymentCommands = registryAvroSerde(
        registry,
        valueSubject(TOPIC.paymentsCommands),
        AVRO.PaymentCommand,
      );
      const accountCommands = registryAvroSerde(
        registry,
        valueSubject(TOPIC.accountsCommands),
        AVRO.AccountCommand,
      );
      const publisher = await KafkaCommandPublisher.connect({
        kafka,
        serializer: {
          serialize: async (topic, value) =>
            topic === TOPIC.paymentsCommands
              ? paymentCommands.serialize(value as PaymentCommand, topic)
              : accountCommands.serialize(value as AccountCommand, topic),
        },
        paymentsTopic: TOPIC.paymentsCommands,
        accountsTopic: TOPIC.accountsCommands,
        produceTimeoutMs: 10_000,
      });
      const headers = (command: PaymentCommand): CommandHeaders => ({
        correlationId: `corr-${command.paymentId}`,
        principal: command.principal,
        idempotencyKey: command.idempotencyKey,
      });
      const command = (
        kind: PaymentCommand['kind'],
        sender: string,
        recipient: string,
        amount: bigint,
        key = randomUUID(),
      ): PaymentCommand => ({
        commandId: randomUUID(),
        paymentId: randomUUID(),
        kind,
        principal: 'crash-test',
        idempotencyKey: key,
        requestHash: `${kind}:${sender}:${recipient}:${amount}`,
        senderAccountId: sender,
        recipientAccountId: recipient,
        amountMinor: amount,
        currency: 'EUR',
        reference: null,
        device: null,
        submittedAtMs: Date.now(),
        authority: { kind: 'ADMIN', owners: ['*'] },
      });

      try {
        // Accounts, then a deposit each; a deposit that ran before its account was visible to
        // validation is rejected and sent again under a new key.
        for (const accountId of accounts) {
          const open: AccountCommand = {
            type: 'OPEN',
            commandId: randomUUID(),
            accountId,
            ownerId: `owner-${accountId}`,
            currency: 'EUR',
            kycTier: 'TIER_2',
            iban: null,
            issuedAtMs: Date.now(),
          };
          await publisher.publishAccount(open, {
            correlationId: `corr-${accountId}`,
            principal: 'crash-test',
            idempotencyKey: null,
          });
        }
        const funded = new Set<string>();
        for (let round = 0; funded.size < ACCOUNTS; round += 1) {
          assert.ok(round < 20, 'every account is funded within 20 rounds');
          const deposits = accounts
            .filter((accountId) => !funded.has(accountId))
            .map((accountId) => command('DEPOSIT', fundingAccountOf('EUR'), accountId, DEPOSIT));
          await Promise.all(deposits.map((deposit) => publisher.publishPayment(deposit, headers(deposit))));
          await until('the deposits to end', 60_000, () =>
            deposits.every((deposit) => terminalOf(observed.events.get(deposit.paymentId)).length > 0),
          );
          for (const deposit of deposits) {
            if (terminalOf(observed.events.get(deposit.paymentId))[0]?.type === 'PaymentCompleted')
              funded.add(deposit.recipientAccountId);
          }
          if (funded.size < ACCOUNTS) await sleep(500);
        }

        // Payments paced over PUBLISH_SECONDS while the processors are killed and restarted.
        const payments: PaymentCommand[] = [];
        const retries: PaymentCommand[] = [];
        const publishing = (async () => {
          const startedMs = Date.now();
          for (let i = 0; i < PAYMENTS; i += 1) {
            const sender = accounts[Math.floor(random() * ACCOUNTS)]!;
            let recipient = accounts[Math.floor(random() * ACCOUNTS)]!;
            if (recipient === sender) recipient = accounts[(accounts.indexOf(sender) + 1) % ACCOUNTS]!;
            const payment = command(
              'TRANSFER',
              sender,
              recipient,
              BigInt(1 + Math.floor(random() * MAX_AMOUNT)),
            );
            payments.push(payment);
            const sends = [publisher.publishPayment(payment, headers(payment))];
            if (i % REDELIVER_EVERY === 0) sends.push(publisher.publishPayment(payment, headers(payment)));
            if (i % RETRY_EVERY === 0) {
              const retry = { ...payment, commandId: randomUUID(), paymentId: randomUUID() };
              retries.push(retry);
              sends.push(publisher.publishPayment(retry, headers(retry)));
            }
            await Promise.all(sends);
            const dueMs = startedMs + ((i + 1) * PUBLISH_SECONDS * 1_000) / PAYMENTS;
            if (dueMs > Date.now()) await sleep(dueMs - Date.now());
          }
        })();
        // Each kill lands while the restarted process is working: after it is ready, at a random moment.
        for (let round = 0; round < KILLS; round += 1) {
          await sleep(1_000 + Math.floor(random() * 3_000));
          await kill(processors, 'SIGKILL');
          processors = startProcessors(stack, opsPort);
          await waitReady(processors, opsPort);
        }
        await publishing;
        const all = [...payments, ...retries];
        await until('every payment to end', SETTLE_TIMEOUT_MS, () =>
          all.every((payment) => terminalOf(observed.events.get(payment.paymentId)).length > 0),
        );
        await sleep(2_000); // anything published twice would have arrived by now
        assert.equal(
          await kill(processors, 'SIGTERM'),
          0,
          'SIGTERM finishes the batches in flight and exits 0',
        );

        // Exactly once: one end per payment, every event once.
        for (const payment of all) {
          const events = observed.events.get(payment.paymentId) ?? [];
          assert.equal(
            terminalOf(events).length,
            1,
            `payment ${payment.paymentId} ended once: ${events.map((e) => `${e.eventId} ${e.type} ${e.rejection?.code ?? ''}`).join(', ')}; postings ${(observed.postings.get(payment.paymentId) ?? []).map((p) => p.postingId).join(', ')}`,
          );
          const ids = events.map((event) => event.eventId);
          assert.equal(new Set(ids).size, ids.length, `no event of ${payment.paymentId} twice`);
        }
        for (const retry of retries) {
          assert.equal(
            terminalOf(observed.events.get(retry.paymentId))[0]?.rejection?.code,
            'DUPLICATE_REQUEST',
            'a second attempt under a used key is rejected as a duplicate',
          );
        }

        // Postings: one balanced debit and credit per completed payment, none for a rejection.
        const expected = new Map(accounts.map((accountId) => [accountId, DEPOSIT]));
        let completed = 0;
        for (const payment of all) {
          const end = terminalOf(observed.events.get(payment.paymentId))[0]!;
          const legs = (observed.postings.get(payment.paymentId) ?? []).map((posting) => posting.leg).sort();
          if (end.type === 'PaymentRejected') {
            assert.deepEqual(legs, [], `rejected ${payment.paymentId} moved no money`);
            continue;
          }
          completed += 1;
          assert.deepEqual(legs, ['CREDIT', 'DEBIT'], `completed ${payment.paymentId} posted once per leg`);
          for (const posting of observed.postings.get(payment.paymentId)!) {
            const sum = posting.lines.reduce((total, line) => total + line.amountMinor, 0n);
            assert.equal(sum, 0n, `posting ${posting.postingId} balances`);
          }
          expected.set(payment.senderAccountId, expected.get(payment.senderAccountId)! - payment.amountMinor);
          expected.set(
            payment.recipientAccountId,
            expected.get(payment.recipientAccountId)! + payment.amountMinor,
          );
        }
        assert.ok(completed > PAYMENTS / 2, `most payments complete (${completed} of ${PAYMENTS})`);

        // Balances: the last one published per account is exact; none was ever below zero.
        for (const accountId of accounts) {
          const published = observed.balances.get(accountId) ?? [];
          assert.equal(published.at(-1), expected.get(accountId), `balance of ${accountId}`);
          assert.ok(
            published.every((balance) => balance >= 0n),
            `${accountId} never published below zero`,
          );
        }
      } finally {
        await publisher.close();
        await close();
        await kill(processors, 'SIGKILL');
      }
    },
  );
});
