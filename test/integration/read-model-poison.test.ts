/**
 * No record stops the payments read model (the main job in the Kafka mode, PostgreSQL behind
 * the status URL): a payment whose reference holds a NUL byte (which PostgreSQL text can't
 * store) is projected with U+FFFD in its place; a payment whose PaymentInitiated PostgreSQL
 * refuses (a four-letter currency, put on the log past the gateway) is dead-lettered with a
 * reason code and its payment id, its later event too, and the payments after it — one on the
 * very same partition of `payments.events` — are projected as usual.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Kafka, logLevel, Partitioners, type Consumer } from 'kafkajs';

import { HEADER } from '../../processors/runtime/api.js';
import type { PaymentCommand } from '../../schemas/types.js';
import { TOPIC } from '../../topics/catalogue.js';
import { JobHarness } from '../support/main-job-harness.js';
import { stackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const SETTLE_MS = 60_000;

interface DeadLetter {
  readonly processor: string;
  readonly code: string;
  readonly paymentId: string | undefined;
}

describe('the payments read model under records it cannot store (Kafka mode)', { skip }, () => {
  let h: JobHarness;
  let kafka: Kafka;
  let dlq: Consumer;
  const deadLetters: DeadLetter[] = [];

  before(async () => {
    if ('skip' in env) return;
    h = await JobHarness.start('kafka', env);
    kafka = new Kafka({ clientId: 'poison-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    dlq = kafka.consumer({ groupId: `poison-test-${randomUUID()}`, readUncommitted: false });
    await dlq.connect();
    const joined = new Promise<void>((resolve) => dlq.on(dlq.events.GROUP_JOIN, () => resolve()));
    await dlq.subscribe({ topic: TOPIC.deadLetter, fromBeginning: false });
    await dlq.run({
      eachMessage: ({ message }) => {
        const header = (name: string) => message.headers?.[name]?.toString();
        deadLetters.push({
          processor: header(HEADER.dlqProcessor) ?? '',
          code: header(HEADER.dlqErrorCode) ?? '',
          paymentId: header(HEADER.dlqPaymentId),
        });
        return Promise.resolve();
      },
    });
    await joined;
  });
  after(async () => {
    await dlq?.disconnect();
    await h?.close();
  });

  test('a payment whose reference holds a NUL byte (the gateway refuses one; this one is injected on the ingress topic) ends visibly with U+FFFD in its place, and the payments after it are projected', async () => {
    const [payer, payee] = await h.openFundedPair(10_000);
    const refused = await h.pay({
      senderAccountId: payer,
      recipientAccountId: payee,
      amount: 100,
      currency: 'EUR',
      reference: 'invoice\u0000 42',
    });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const paymentId = randomUUID();
    await h.injectCommand({
      commandId: randomUUID(),
      paymentId,
      kind: 'TRANSFER',
      principal: 'poison-injector',
      idempotencyKey: randomUUID(),
      requestHash: '0'.repeat(64),
      senderAccountId: payer,
      recipientAccountId: payee,
      amountMinor: 100n,
      currency: 'EUR',
      reference: 'invoice\u0000 42',
      device: null,
      submittedAtMs: Date.now(),
      authority: { kind: 'SERVICE', owners: ['*'] },
    });
    const view = await h.settled(paymentId, SETTLE_MS);
    assert.equal(view.status, 'COMPLETED', JSON.stringify(view));
    assert.equal(view.reference, 'invoice\uFFFD 42');
    const next = await h.pay({
      senderAccountId: payer,
      recipientAccountId: payee,
      amount: 200,
      currency: 'EUR',
    });
    assert.equal((await h.settled(String(next.body.paymentId), SETTLE_MS)).status, 'COMPLETED');
    // The balances read model follows its own consumer group: wait until it has the postings.
    await h.account(payee, (view) => String(view.balanceMinor) === '300');
    assert.equal(await h.balance(payee), 300n);
  });

  test('an event PostgreSQL refuses is dead-lettered REFUSED_BY_TARGET with its payment id, the payment’s next event MISSING_PREDECESSOR, and a payment on the same partition after them completes', async () => {
    const [payer, payee] = await h.openFundedPair(10_000);
    const command = (paymentId: string, currency: string): PaymentCommand => ({
      commandId: paymentId,
      paymentId,
      kind: 'TRANSFER',
      principal: 'poison-injector',
      idempotencyKey: randomUUID(),
      requestHash: '0'.repeat(64),
      senderAccountId: payer,
      recipientAccountId: payee,
      amountMinor: 500n,
      currency,
      reference: null,
      device: null,
      submittedAtMs: Date.now(),
      authority: { kind: 'SERVICE', owners: ['*'] },
    });
    // A payment id that lands on the same partition of payments.events as the poisoned one.
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC.paymentsEvents] });
    await admin.disconnect();
    const partitionMetadata = metadata.topics[0]!.partitions;
    const partitionOf = (key: string) =>
      Partitioners.DefaultPartitioner()({
        topic: TOPIC.paymentsEvents,
        partitionMetadata,
        message: { key, value: null },
      });
    const poisonId = randomUUID();
    let followId = randomUUID();
    while (partitionOf(followId) !== partitionOf(poisonId)) followId = randomUUID();

    // Four letters don't fit the read model's char(3) currency; validation rejects the payment.
    await h.injectCommand(command(poisonId, 'EURO'));
    await h.injectCommand(command(followId, 'EUR'));
    const followed = await h.settled(followId, SETTLE_MS);
    assert.equal(followed.status, 'COMPLETED', JSON.stringify(followed));
    // The balances read model follows its own consumer group: wait until it has the postings.
    await h.account(payee, (view) => String(view.balanceMinor) === '500');
    assert.equal(await h.balance(payee), 500n);

    const deadline = Date.now() + SETTLE_MS;
    const ofPoison = () => deadLetters.filter((d) => d.paymentId === poisonId);
    while (ofPoison().length < 2) {
      assert.ok(Date.now() < deadline, `dead letters of ${poisonId}: ${JSON.stringify(ofPoison())}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual(
      ofPoison().map((d) => [d.processor, d.code]),
      [
        ['read-model.payments', 'REFUSED_BY_TARGET'],
        ['read-model.payments', 'MISSING_PREDECESSOR'],
      ],
    );
  });
});
