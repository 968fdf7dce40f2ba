/**
 * The gateway's Kafka publisher against the real broker: a command is on the topic, keyed by
 * its payment, with the correlation id, principal and idempotency key in headers, by the time
 * publish resolves; a topic that does not exist fails the publish instead of hanging.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import { KafkaCommandPublisher } from '../../gateway/kafka-publisher.js';
import type { PaymentCommand } from '../../schemas/types.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const jsonSerializer = {
  serialize: (_topic: string, value: unknown) =>
    Promise.resolve(Buffer.from(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))),
};

describe('Kafka command publisher', { skip }, () => {
  let kafka: Kafka;
  const paymentsTopic = uniqueName('payments-commands');
  const accountsTopic = uniqueName('accounts-commands');

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({ clientId: 'publisher-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: paymentsTopic, numPartitions: 3 }, { topic: accountsTopic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });

  test('a published payment command is on the topic, keyed by payment id, with its headers, when publish resolves', async () => {
    const publisher = await KafkaCommandPublisher.connect({ kafka, serializer: jsonSerializer, paymentsTopic, accountsTopic, produceTimeoutMs: 5_000 });
    const command: PaymentCommand = {
      commandId: 'cmd-1',
      paymentId: uniqueName('pay'),
      kind: 'TRANSFER',
      principal: 'merchant-1',
      idempotencyKey: 'key-1',
      requestHash: 'abc',
      senderAccountId: 'acc-a',
      recipientAccountId: 'acc-b',
      amountMinor: 9_007_199_254_740_993n,
      currency: 'EUR',
      reference: null,
      device: null,
      submittedAtMs: 1_795_000_000_000,
    };
    await publisher.publishPayment(command, { correlationId: 'corr-1', principal: 'merchant-1', idempotencyKey: 'key-1' });
    await publisher.close();

    const consumer = kafka.consumer({ groupId: uniqueName('publisher-check') });
    await consumer.connect();
    await consumer.subscribe({ topic: paymentsTopic, fromBeginning: true });
    const received = await new Promise<{ key: string; value: string; headers: Record<string, string>; timestamp: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no record within 20 s')), 20_000);
      void consumer.run({
        eachMessage: ({ message }) => {
          clearTimeout(timer);
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          resolve({ key: message.key!.toString(), value: message.value!.toString(), headers, timestamp: message.timestamp });
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.equal(received.key, JSON.stringify([command.principal, command.idempotencyKey]), 'keyed by the idempotency scope');
    assert.equal((JSON.parse(received.value) as { amountMinor: string }).amountMinor, '9007199254740993');
    assert.equal(received.timestamp, '1795000000000');
    assert.deepEqual(received.headers, {
      'payflow-correlation-id': 'corr-1',
      'payflow-principal': 'merchant-1',
      'payflow-idempotency-key': 'key-1',
    });
  });

  test('publishing to a topic that does not exist fails rather than creating it or hanging', async () => {
    const missing = uniqueName('missing');
    const publisher = await KafkaCommandPublisher.connect({ kafka, serializer: jsonSerializer, paymentsTopic, accountsTopic: missing, produceTimeoutMs: 2_000 });
    const startedMs = Date.now();
    await assert.rejects(
      publisher.publishAccount(
        { type: 'CHANGE_STATUS', commandId: 'c', accountId: 'acc-a', status: 'FROZEN', issuedAtMs: 1 },
        { correlationId: 'corr-2', principal: 'admin', idempotencyKey: null },
      ),
    );
    assert.ok(Date.now() - startedMs < 30_000, 'the failure is bounded in time');
    await publisher.close();
    const admin = kafka.admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    assert.equal(topics.includes(missing), false, 'the topic was not auto-created');
});
});
