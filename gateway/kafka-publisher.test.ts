/**
 * The Kafka publisher's batching rules without a broker: a fake producer (handed out by a fake
 * `Kafka`, so the publisher is built through its public `connect`) records every produce call
 * and answers it when the test says so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Kafka, Message, ProducerConfig, ProducerRecord } from 'kafkajs';

import type { AccountCommand, PaymentCommand } from '../schemas/types.js';
import { keyPartitioner } from '../topics/partitioner.js';
import {
  KafkaCommandPublisher,
  PublisherClosedError,
  PublishQueueFullError,
  type KafkaPublisherOptions,
} from './kafka-publisher.js';
import { TimeoutError } from './timeout.js';

const HEADERS = { correlationId: 'corr', principal: 'merchant-1', idempotencyKey: 'key' } as const;

/** A produce call the fake producer received; `answer` settles it. */
interface ProduceCall {
  readonly topic: string;
  readonly commandIds: readonly string[];
  readonly answer: (error?: Error) => void;
}

class FakeProducer {
  readonly calls: ProduceCall[] = [];
  config: ProducerConfig | undefined;
  disconnected = false;
  inFlight = 0;
  maxInFlight = 0;
  /** Whether produce calls are acknowledged at once; otherwise they wait for `answer`. */
  autoAck: boolean;
  #waiters: (() => void)[] = [];

  constructor(autoAck: boolean) {
    this.autoAck = autoAck;
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    this.disconnected = true;
    return Promise.resolve();
  }

  send(record: ProducerRecord): Promise<unknown> {
    assert.equal(record.acks, -1, 'acknowledged by all in-sync replicas');
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      const answer = (error?: Error) => {
        this.inFlight -= 1;
        if (error === undefined) resolve();
        else reject(error);
      };
      const commandIds = record.messages.map(
        (message: Message) => (JSON.parse(String(message.value)) as { commandId: string }).commandId,
      );
      this.calls.push({ topic: record.topic, commandIds, answer });
      for (const wake of this.#waiters.splice(0)) wake();
      if (this.autoAck) answer();
    });
  }

  /** Resolves once `count` produce calls were made. */
  async callsMade(count: number): Promise<void> {
    while (this.calls.length < count) await new Promise<void>((wake) => this.#waiters.push(wake));
  }
}

const jsonSerializer = {
  serialize: (_topic: string, value: unknown) => {
    if ((value as { commandId: string }).commandId === 'unserializable')
      return Promise.reject(new Error('no schema'));
    return Promise.resolve(
      Buffer.from(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
    );
  },
};

async function publisherWith(
  producer: FakeProducer,
  options: Partial<Omit<KafkaPublisherOptions, 'kafka' | 'serializer'>> = {},
): Promise<KafkaCommandPublisher> {
  const kafka = {
    producer: (config: ProducerConfig) => {
      producer.config = config;
      return producer;
    },
  } as unknown as Kafka;
  return KafkaCommandPublisher.connect({
    kafka,
    serializer: jsonSerializer,
    paymentsTopic: 'payments.commands',
    accountsTopic: 'accounts.commands',
    produceTimeoutMs: 5_000,
    lingerMs: 0,
    ...options,
  });
}

function payment(commandId: string): PaymentCommand {
  return {
    commandId,
    paymentId: `pay-${commandId}`,
    kind: 'TRANSFER',
    principal: 'merchant-1',
    idempotencyKey: 'key',
    requestHash: 'hash',
    senderAccountId: 'acc-a',
    recipientAccountId: 'acc-b',
    amountMinor: 1250n,
    currency: 'EUR',
    reference: null,
    device: null,
    submittedAtMs: 1_795_000_000_000,
    authority: { kind: 'SERVICE', owners: ['*'] },
  };
}

function accountCommand(commandId: string): AccountCommand {
  return { type: 'CHANGE_STATUS', commandId, accountId: 'acc-a', status: 'FROZEN', issuedAtMs: 1 };
}

/** Settles `promise` into a value the test can assert on without unhandled rejections. */
function outcome(promise: Promise<void>): Promise<'ok' | Error> {
  return promise.then(
    () => 'ok' as const,
    (error: Error) => error,
  );
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Kafka command publisher batching', () => {
  it('keeps the idempotent producer with the Java partitioner', async () => {
    const producer = new FakeProducer(true);
    await publisherWith(producer);
    assert.equal(producer.config?.idempotent, true);
    assert.equal(producer.config?.createPartitioner, keyPartitioner);
    assert.equal(producer.config?.allowAutoTopicCreation, false);
  });

  it('commands published while a produce call is in flight go out together in the next one, in call order', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer);
    const first = publisher.publishPayment(payment('c0'), HEADERS);
    await producer.callsMade(1);
    const rest = ['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => publisher.publishPayment(payment(id), HEADERS));
    await tick();
    assert.equal(producer.calls.length, 1, 'no second produce call while the first is in flight');
    producer.calls[0]!.answer();
    await first;
    await producer.callsMade(2);
    assert.deepEqual(producer.calls[1]!.commandIds, ['c1', 'c2', 'c3', 'c4', 'c5']);
    producer.calls[1]!.answer();
    await Promise.all(rest);
    assert.equal(producer.maxInFlight, 1);
  });

  it('a publish resolves only when the produce call carrying its record is acknowledged', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer);
    let resolved = false;
    const published = publisher.publishPayment(payment('c0'), HEADERS).then(() => (resolved = true));
    await producer.callsMade(1);
    await tick();
    assert.equal(resolved, false);
    producer.calls[0]!.answer();
    await published;
    assert.equal(resolved, true);
  });

  it('the linger gathers commands published close together into one produce call', async () => {
    const producer = new FakeProducer(true);
    const publisher = await publisherWith(producer, { lingerMs: 20 });
    const first = publisher.publishPayment(payment('c0'), HEADERS);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all([first, publisher.publishPayment(payment('c1'), HEADERS)]);
    assert.deepEqual(
      producer.calls.map((call) => call.commandIds),
      [['c0', 'c1']],
    );
  });

  it('a produce call carries at most maxBatchRecords records and maxBatchBytes bytes', async () => {
    const byCount = new FakeProducer(true);
    const counted = await publisherWith(byCount, { lingerMs: 10, maxBatchRecords: 3 });
    await Promise.all(Array.from({ length: 7 }, (_, i) => counted.publishPayment(payment(`c${i}`), HEADERS)));
    assert.deepEqual(
      byCount.calls.map((call) => call.commandIds.length),
      [3, 3, 1],
    );

    const bySize = new FakeProducer(true);
    // One record is a few hundred bytes: two fit, three do not.
    const sized = await publisherWith(bySize, { lingerMs: 10, maxBatchBytes: 1_000 });
    await Promise.all(Array.from({ length: 5 }, (_, i) => sized.publishPayment(payment(`c${i}`), HEADERS)));
    assert.deepEqual(
      bySize.calls.map((call) => call.commandIds),
      [['c0', 'c1'], ['c2', 'c3'], ['c4']],
    );
  });

  it('beyond maxQueuedRecords waiting commands a publish rejects at once, and the queued ones still land', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer, { maxQueuedRecords: 3 });
    const inFlight = publisher.publishPayment(payment('c0'), HEADERS);
    await producer.callsMade(1);
    const queued = ['c1', 'c2', 'c3'].map((id) => publisher.publishPayment(payment(id), HEADERS));
    const startedMs = Date.now();
    const refused = await outcome(publisher.publishPayment(payment('c4'), HEADERS));
    assert.ok(refused instanceof PublishQueueFullError, `refused with ${String(refused)}`);
    assert.ok(Date.now() - startedMs < 50, 'refused without waiting');
    producer.calls[0]!.answer();
    await producer.callsMade(2);
    producer.calls[1]!.answer();
    await Promise.all([inFlight, ...queued]);
    assert.deepEqual(producer.calls[1]!.commandIds, ['c1', 'c2', 'c3']);
  });

  it('a publish settles within produceTimeoutMs, queueing included, and a command timed out before it was sent is never sent', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer, { produceTimeoutMs: 100 });
    const startedMs = Date.now();
    const inFlight = outcome(publisher.publishPayment(payment('c0'), HEADERS));
    await producer.callsMade(1);
    const queued = outcome(publisher.publishPayment(payment('c1'), HEADERS));
    const [first, second] = await Promise.all([inFlight, queued]);
    assert.ok(first instanceof TimeoutError && second instanceof TimeoutError);
    const elapsedMs = Date.now() - startedMs;
    assert.ok(elapsedMs >= 90 && elapsedMs < 1_000, `settled after ${elapsedMs} ms`);
    producer.calls[0]!.answer();
    await tick();
    assert.equal(producer.calls.length, 1, 'the timed-out queued command was dropped');
    const later = publisher.publishPayment(payment('c2'), HEADERS);
    await producer.callsMade(2);
    assert.deepEqual(producer.calls[1]!.commandIds, ['c2']);
    producer.calls[1]!.answer();
    await later;
  });

  it("every caller of a failed produce call gets that call's error, and the next batch is still sent", async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer);
    const first = outcome(publisher.publishPayment(payment('c0'), HEADERS));
    await producer.callsMade(1);
    const batch = ['c1', 'c2'].map((id) => outcome(publisher.publishPayment(payment(id), HEADERS)));
    producer.calls[0]!.answer();
    await producer.callsMade(2);
    const failure = new Error('NOT_ENOUGH_REPLICAS');
    producer.calls[1]!.answer(failure);
    assert.equal(await first, 'ok');
    assert.deepEqual(await Promise.all(batch), [failure, failure]);
    producer.autoAck = true;
    await publisher.publishPayment(payment('c3'), HEADERS);
    assert.deepEqual(producer.calls[2]!.commandIds, ['c3']);
  });

  it('a command that cannot be serialized fails only its own publish', async () => {
    const producer = new FakeProducer(true);
    const publisher = await publisherWith(producer, { lingerMs: 10 });
    const results = await Promise.all(
      ['c0', 'unserializable', 'c2'].map((id) => outcome(publisher.publishPayment(payment(id), HEADERS))),
    );
    assert.equal(results[0], 'ok');
    assert.match(String(results[1]), /no schema/);
    assert.equal(results[2], 'ok');
    assert.deepEqual(
      producer.calls.map((call) => call.commandIds),
      [['c0', 'c2']],
    );
  });

  it('a topic whose produce call hangs does not hold up the other topic', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer, { produceTimeoutMs: 200 });
    const account = outcome(publisher.publishAccount(accountCommand('a0'), HEADERS));
    await producer.callsMade(1);
    const paid = publisher.publishPayment(payment('c0'), HEADERS);
    await producer.callsMade(2);
    assert.deepEqual(
      producer.calls.map((call) => call.topic),
      ['accounts.commands', 'payments.commands'],
    );
    producer.calls[1]!.answer();
    await paid;
    assert.ok((await account) instanceof TimeoutError);
  });

  it('close sends what is queued without waiting for the linger, then refuses new commands and disconnects', async () => {
    const producer = new FakeProducer(true);
    const publisher = await publisherWith(producer, { lingerMs: 60_000 });
    const queued = ['c0', 'c1'].map((id) => publisher.publishPayment(payment(id), HEADERS));
    await publisher.close();
    await Promise.all(queued);
    assert.deepEqual(producer.calls[0]!.commandIds, ['c0', 'c1']);
    assert.equal(producer.disconnected, true);
    await assert.rejects(publisher.publishPayment(payment('c2'), HEADERS), PublisherClosedError);
  });

  it('close never leaves a caller hanging when the broker does not answer', async () => {
    const producer = new FakeProducer(false);
    const publisher = await publisherWith(producer, { produceTimeoutMs: 100 });
    const inFlight = outcome(publisher.publishPayment(payment('c0'), HEADERS));
    await producer.callsMade(1);
    const queued = outcome(publisher.publishPayment(payment('c1'), HEADERS));
    const startedMs = Date.now();
    await publisher.close();
    assert.ok(Date.now() - startedMs < 1_000);
    assert.ok((await inFlight) instanceof TimeoutError);
    assert.ok((await queued) instanceof TimeoutError);
    assert.equal(producer.disconnected, true);
  });

  it('settings out of range are refused before connecting', async () => {
    for (const bad of [{ maxBatchRecords: 0 }, { maxQueuedRecords: 1.5 }, { lingerMs: -1 }]) {
      const producer = new FakeProducer(true);
      await assert.rejects(publisherWith(producer, bad), RangeError);
      assert.equal(producer.config, undefined);
    }
  });
});
