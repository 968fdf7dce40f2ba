/**
 * The payment pipeline on the real stack: Kafka (exactly-once driver), the schema registry
 * (Avro wire format). Commands go in through the gateway's Kafka publisher; the events a
 * downstream team would read come out of payments.events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Consumer } from 'kafkajs';
import { Registry } from 'prom-client';

import { KafkaCommandPublisher } from '../../gateway/kafka-publisher.js';
import { startKafkaPipeline, type KafkaPipeline } from '../../app/kafka.js';
import { HEADER } from '../../processors/runtime/api.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../../schemas/registry.js';
import { AVRO } from '../../schemas/avro.js';
import type { AccountCommand, PaymentCommand, PaymentEvent } from '../../schemas/types.js';
import { TOPIC } from '../../topics/catalogue.js';
import { sleep } from '../support/eos-harness.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { defaultPipelineSettings } from '../../app/config.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

describe('payment pipeline on Kafka', { skip }, () => {
  let pipeline: KafkaPipeline;
  let publisher: KafkaCommandPublisher;
  let collector: Consumer;
  const events = new Map<string, PaymentEvent[]>();

  before(async () => {
    if ('skip' in env) return;
    pipeline = await startKafkaPipeline(
      { brokers: env.kafkaBrokers, registryUrl: env.schemaRegistryUrl, applicationId: 'payflow' },
      defaultPipelineSettings(),
      { metricsRegistry: new Registry() },
    );
    const registry = createSchemaRegistry(env.schemaRegistryUrl);
    const serdes = {
      [TOPIC.paymentsCommands]: registryAvroSerde(
        registry,
        valueSubject(TOPIC.paymentsCommands),
        AVRO.PaymentCommand,
      ),
      [TOPIC.accountsCommands]: registryAvroSerde(
        registry,
        valueSubject(TOPIC.accountsCommands),
        AVRO.AccountCommand,
      ),
    } as Record<string, { serialize(value: unknown, topic: string): Buffer | Promise<Buffer> }>;
    publisher = await KafkaCommandPublisher.connect({
      kafka: pipeline.kafka,
      serializer: { serialize: async (topic, value) => serdes[topic]!.serialize(value, topic) },
      paymentsTopic: TOPIC.paymentsCommands,
      accountsTopic: TOPIC.accountsCommands,
      produceTimeoutMs: 10_000,
    });
    const eventSerde = registryAvroSerde(registry, valueSubject(TOPIC.paymentsEvents), AVRO.PaymentEvent);
    collector = pipeline.kafka.consumer({ groupId: uniqueName('pipeline-check'), readUncommitted: false });
    await collector.connect();
    await collector.subscribe({ topic: TOPIC.paymentsEvents, fromBeginning: false });
    await collector.run({
      eachMessage: async ({ message }) => {
        const event = await eventSerde.deserialize(message.value!, TOPIC.paymentsEvents);
        const list = events.get(event.paymentId) ?? [];
        list.push(event);
        events.set(event.paymentId, list);
        assert.equal(message.headers?.[HEADER.correlationId]?.toString(), event.correlationId ?? undefined);
      },
    });
    await sleep(3_000); // the collector's group settles before the first event
  });

  after(async () => {
    await collector?.disconnect();
    await publisher?.close();
    await pipeline?.stop();
  });

  async function until(paymentId: string, terminal: number): Promise<PaymentEvent[]> {
    const deadline = Date.now() + 60_000;
    while ((events.get(paymentId)?.length ?? 0) < terminal && Date.now() < deadline) await sleep(200);
    await sleep(1_000);
    return events.get(paymentId) ?? [];
  }

  const open = (accountId: string): Promise<void> => {
    const command: AccountCommand = {
      type: 'OPEN',
      commandId: uniqueName('cmd'),
      accountId,
      ownerId: 'owner',
      currency: 'EUR',
      kycTier: 'TIER_1',
      iban: null,
      issuedAtMs: Date.now(),
    };
    return publisher.publishAccount(command, {
      correlationId: uniqueName('corr'),
      principal: 'admin',
      idempotencyKey: null,
    });
  };

  const payment = (overrides: Partial<PaymentCommand>): PaymentCommand => ({
    commandId: uniqueName('cmd'),
    paymentId: uniqueName('pay'),
    kind: 'TRANSFER',
    principal: 'merchant-it',
    idempotencyKey: uniqueName('key'),
    requestHash: 'hash',
    senderAccountId: 'x',
    recipientAccountId: 'y',
    amountMinor: 100n,
    currency: 'EUR',
    reference: null,
    device: null,
    submittedAtMs: Date.now(),
    authority: { kind: 'ADMIN', owners: ['*'] },
    ...overrides,
  });

  test(
    'a deposit then a transfer complete through dedupe, validation and both ledger legs; a duplicate record on the ingress topic has no second effect',
    { timeout: 180_000 },
    async () => {
      const alice = uniqueName('alice');
      const bob = uniqueName('bob');
      await open(alice);
      await open(bob);
      await sleep(3_000); // the accounts table reaches the validator's global table

      const deposit = payment({
        kind: 'DEPOSIT',
        senderAccountId: 'funding:EUR',
        recipientAccountId: alice,
        amountMinor: 10_000n,
      });
      await publisher.publishPayment(deposit, {
        correlationId: 'corr-deposit',
        principal: deposit.principal,
        idempotencyKey: deposit.idempotencyKey,
      });
      const depositEvents = await until(deposit.paymentId, 5);
      assert.deepEqual(
        depositEvents.map((e) => e.type),
        ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentDebited', 'PaymentCompleted'],
      );

      const transfer = payment({ senderAccountId: alice, recipientAccountId: bob, amountMinor: 2_500n });
      const headers = {
        correlationId: 'corr-transfer',
        principal: transfer.principal,
        idempotencyKey: transfer.idempotencyKey,
      };
      await publisher.publishPayment(transfer, headers);
      await publisher.publishPayment(transfer, headers); // a producer retry: the same record twice
      const transferEvents = await until(transfer.paymentId, 5);
      assert.deepEqual(
        transferEvents.map((e) => [e.type, e.sequence]),
        [
          ['PaymentInitiated', 0],
          ['PaymentValidated', 1],
          ['PaymentScored', 2],
          ['PaymentDebited', 3],
          ['PaymentCompleted', 4],
        ],
      );
      assert.ok(
        transferEvents.every((e) => e.correlationId === 'corr-transfer'),
        'the correlation id travels end to end',
      );

      const overdraft = payment({ senderAccountId: alice, recipientAccountId: bob, amountMinor: 7_501n });
      await publisher.publishPayment(overdraft, {
        correlationId: 'corr-overdraft',
        principal: overdraft.principal,
        idempotencyKey: overdraft.idempotencyKey,
      });
      const overdraftEvents = await until(overdraft.paymentId, 4);
      assert.deepEqual(
        overdraftEvents.map((e) => e.type),
        ['PaymentInitiated', 'PaymentValidated', 'PaymentScored', 'PaymentRejected'],
      );
      assert.equal(overdraftEvents[3]?.rejection?.code, 'INSUFFICIENT_FUNDS');
    },
  );
});
