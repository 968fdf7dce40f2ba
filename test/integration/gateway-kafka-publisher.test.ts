/**
 * The gateway's Kafka publisher against the real broker: a command is on the topic, keyed by
 * its sender's account, with the correlation id, principal and idempotency key in headers, by the time
 * publish resolves; a topic that does not exist fails the publish instead of hanging; many
 * concurrent publishes share produce requests and still land exactly once, in order per key.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { Kafka, logLevel, type Producer, type ProducerConfig, type ProducerRecord } from 'kafkajs';

import { KafkaCommandPublisher } from '../../gateway/kafka-publisher.js';
import type { AccountCommand, PaymentCommand } from '../../schemas/types.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const jsonSerializer = {
  serialize: (_topic: string, value: unknown) =>
    Promise.resolve(
      Buffer.from(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
    ),
};

describe('Kafka command publisher', { skip }, () => {
  let kafka: Kafka;
  const paymentsTopic = uniqueName('payments-commands');
  const accountsTopic = uniqueName('accounts-commands');

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({
      clientId: 'publisher-test',
      brokers: env.kafkaBrokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 2 },
    });
    await createTopics(paymentsTopic, accountsTopic);
  });

  async function createTopics(...topics: string[]): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
    await admin.disconnect();
  }

  test("a published payment command is on the topic, keyed by its sender's account, with its headers, when publish resolves", async () => {
    const publisher = await KafkaCommandPublisher.connect({
      kafka,
      serializer: jsonSerializer,
      paymentsTopic,
      accountsTopic,
      produceTimeoutMs: 5_000,
    });
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
      authority: { kind: 'SERVICE', owners: ['*'] },
    };
    await publisher.publishPayment(command, {
      correlationId: 'corr-1',
      principal: 'merchant-1',
      idempotencyKey: 'key-1',
    });
    await publisher.close();

    const consumer = kafka.consumer({ groupId: uniqueName('publisher-check') });
    await consumer.connect();
    await consumer.subscribe({ topic: paymentsTopic, fromBeginning: true });
    const received = await new Promise<{
      key: string;
      value: string;
      headers: Record<string, string>;
      timestamp: string;
    }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no record within 20 s')), 20_000);
      void consumer.run({
        eachMessage: ({ message }) => {
          clearTimeout(timer);
          const headers = Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
          );
          resolve({
            key: message.key!.toString(),
            value: message.value!.toString(),
            headers,
            timestamp: message.timestamp,
          });
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.equal(received.key, command.senderAccountId, "keyed by the sender's account");
    assert.equal((JSON.parse(received.value) as { amountMinor: string }).amountMinor, '9007199254740993');
    assert.equal(received.timestamp, '1795000000000');
    assert.deepEqual(received.headers, {
      'payflow-correlation-id': 'corr-1',
      'payflow-principal': 'merchant-1',
      'payflow-idempotency-key': 'key-1',
      'payflow-payment-id': command.paymentId,
    });
  });

  test('publishing to a topic that does not exist fails rather than creating it or hanging', async () => {
    const missing = uniqueName('missing');
    const publisher = await KafkaCommandPublisher.connect({
      kafka,
      serializer: jsonSerializer,
      paymentsTopic,
      accountsTopic: missing,
      produceTimeoutMs: 2_000,
    });
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

  test('2,000 concurrent publishes land exactly once, in order per key, in far fewer produce requests than records', async () => {
    const payments = uniqueName('payments-batched');
    const accounts = uniqueName('accounts-batched');
    await createTopics(payments, accounts);

    // The real producer the publisher creates, observed: every Produce request on the wire
    // (retries included) and the records of every send call.
    let produceRequests = 0;
    const sendSizes: number[] = [];
    const observed = {
      producer: (config: ProducerConfig): Producer => {
        const producer = kafka.producer(config);
        producer.on(producer.events.REQUEST, (event) => {
          if (event.payload.apiName === 'Produce') produceRequests += 1;
        });
        const send = producer.send.bind(producer);
        producer.send = (record: ProducerRecord) => {
          sendSizes.push(record.messages.length);
          return send(record);
        };
        return producer;
      },
    } as unknown as Kafka;
    const publisher = await KafkaCommandPublisher.connect({
      kafka: observed,
      serializer: jsonSerializer,
      paymentsTopic: payments,
      accountsTopic: accounts,
      produceTimeoutMs: 15_000,
    });

    // 40 payment keys × 45 commands and 10 accounts × 20 commands, interleaved, none awaited
    // before the next is published.
    const published: Promise<void>[] = [];
    for (let sequence = 0; sequence < 45; sequence += 1) {
      for (let k = 0; k < 40; k += 1) {
        const command: PaymentCommand = {
          commandId: `${k}:${sequence}`,
          paymentId: `pay-${k}-${sequence}`,
          kind: 'TRANSFER',
          principal: `merchant-${k}`,
          idempotencyKey: `key-${k}`,
          requestHash: 'hash',
          senderAccountId: `sender-${k}`,
          recipientAccountId: 'acc-b',
          amountMinor: BigInt(sequence + 1),
          currency: 'EUR',
          reference: null,
          device: null,
          submittedAtMs: 1_795_000_000_000 + sequence,
          authority: { kind: 'SERVICE', owners: ['*'] },
        };
        const headers = {
          correlationId: `corr-${k}-${sequence}`,
          principal: command.principal,
          idempotencyKey: command.idempotencyKey,
        };
        published.push(publisher.publishPayment(command, headers));
      }
      if (sequence < 20) {
        for (let a = 0; a < 10; a += 1) {
          const command: AccountCommand = {
            type: 'CHANGE_STATUS',
            commandId: `acc-${a}:${sequence}`,
            accountId: `acc-${a}`,
            status: sequence % 2 === 0 ? 'FROZEN' : 'ACTIVE',
            issuedAtMs: 1_795_000_000_000 + sequence,
          };
          published.push(
            publisher.publishAccount(command, {
              correlationId: `corr-acc-${a}`,
              principal: 'admin',
              idempotencyKey: null,
            }),
          );
        }
      }
    }
    const records = published.length;
    assert.equal(records, 2_000);
    await Promise.all(published);
    await publisher.close();

    const seen = new Map<string, number>();
    const sequencesByKey = new Map<string, number[]>();
    const consumer = kafka.consumer({ groupId: uniqueName('publisher-batch-check') });
    await consumer.connect();
    await consumer.subscribe({ topics: [payments, accounts], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${[...seen.values()].reduce((a, b) => a + b, 0)} records within 60 s`)),
        60_000,
      );
      void consumer.run({
        eachMessage: ({ topic, message }) => {
          const { commandId } = JSON.parse(message.value!.toString()) as { commandId: string };
          seen.set(commandId, (seen.get(commandId) ?? 0) + 1);
          const key = `${topic} ${message.key!.toString()}`;
          const sequences = sequencesByKey.get(key) ?? [];
          sequences.push(Number(commandId.split(':')[1]));
          sequencesByKey.set(key, sequences);
          if (seen.size === records) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
    // Anything published twice would arrive right behind; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await consumer.disconnect();

    assert.equal(seen.size, records, 'every command landed');
    assert.deepEqual(
      [...seen.entries()].filter(([, count]) => count !== 1),
      [],
      'none landed twice',
    );
    assert.equal(sequencesByKey.size, 50);
    for (const [key, sequences] of sequencesByKey) {
      const expected = Array.from({ length: key.startsWith(payments) ? 45 : 20 }, (_, i) => i);
      assert.deepEqual(sequences, expected, `${key} in publish order`);
    }
    assert.equal(
      sendSizes.reduce((a, b) => a + b, 0),
      records,
      'every record was sent once',
    );
    assert.ok(
      Math.max(...sendSizes) <= 500,
      `at most 500 records per produce call (${Math.max(...sendSizes)})`,
    );
    assert.ok(
      produceRequests > 0 && produceRequests <= records / 20,
      `${produceRequests} produce requests for ${records} records`,
    );
  });
});
