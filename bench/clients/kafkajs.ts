/**
 * kafkajs 2.2.4 (the product's client, with its read_committed filter fixed on install). It has
 * no KIP-447: offsets go to the transaction without the group's generation, so the loop keeps
 * one transactional producer per input partition, as the product's runtime does.
 */
import { createRequire } from 'node:module';

import { Kafka, logLevel, type Consumer, type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';

import { withTimeout } from '../limits.js';
import type {
  ClientAdapter,
  InRecord,
  LoopConfig,
  LoopStats,
  OutRecord,
  StartAt,
  TestProducer,
} from './types.js';
import { testProducer } from './test-producer.js';
import { transform, TransactionWindow } from './window.js';

const { version } = createRequire(import.meta.url)('kafkajs/package.json') as { version: string };

/** The runtime's retry of transactional sends (processors/runtime/kafka/eos-runner.ts). */
const TRANSACTIONAL_RETRY = { initialRetryTime: 20, maxRetryTime: 30_000, retries: Number.MAX_SAFE_INTEGER };

const kafkaOf = (brokers: readonly string[], clientId: string): Kafka =>
  new Kafka({
    clientId,
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
  });

const headersOut = (headers: readonly (readonly [string, Buffer])[]): IHeaders =>
  Object.fromEntries(headers.map(([name, value]) => [name, value]));

function headersIn(headers: IHeaders | undefined): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const first = Array.isArray(raw) ? raw[0] : raw;
    if (first !== undefined) out.push([name, Buffer.from(first)]);
  }
  return out;
}

const inRecord = (partition: number, message: KafkaMessage): InRecord => ({
  partition,
  offset: BigInt(message.offset),
  key: message.key,
  value: message.value,
  headers: headersIn(message.headers),
  timestamp: Number(message.timestamp),
});

const messagesOf = (records: readonly OutRecord[]) =>
  records.map((r) => ({
    partition: r.partition,
    key: r.key,
    value: r.value,
    headers: headersOut(r.headers),
    timestamp: String(r.timestamp),
  }));

async function startConsumer(
  consumer: Consumer,
  topic: string,
  start: StartAt,
  concurrency: number,
  onBatch: (partition: number, messages: KafkaMessage[]) => Promise<void>,
): Promise<void> {
  await withTimeout(consumer.connect(), 30_000, 'connecting a kafkajs consumer');
  await withTimeout(consumer.subscribe({ topic, fromBeginning: true }), 30_000, `subscribing to ${topic}`);
  await withTimeout(
    consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: ({ batch }) => onBatch(batch.partition, batch.messages),
    }),
    30_000,
    'starting a kafkajs consumer',
  );
  if (start !== 'earliest')
    consumer.seek({ topic, partition: start.partition, offset: String(start.offset) });
}

export const kafkajsClient: ClientAdapter = {
  producers: 'one per input partition',
  version,

  async producer(brokers, transactionalId): Promise<TestProducer> {
    const producer = kafkaOf(brokers, 'bench-clients').producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      ...(transactionalId === undefined ? {} : { transactionalId, retry: TRANSACTIONAL_RETRY }),
    });
    await withTimeout(producer.connect(), 20_000, 'connecting a kafkajs producer');
    return testProducer({
      send: (transaction, topic, records) =>
        (transaction ?? producer).send({ topic, acks: -1, messages: messagesOf(records) }),
      begin: () => producer.transaction(),
      close: () => producer.disconnect(),
    });
  },

  async consumer(brokers, topic, groupId, start, onRecords) {
    const consumer = kafkaOf(brokers, 'bench-clients').consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 500,
      sessionTimeout: 6_000,
      heartbeatInterval: 1_000,
    });
    await startConsumer(consumer, topic, start, 1, (partition, messages) =>
      onRecords(messages.map((m) => inRecord(partition, m))),
    );
    return { stop: () => consumer.disconnect() };
  },

  async loop(config: LoopConfig, stats: LoopStats, fail) {
    const kafka = kafkaOf(config.brokers, `${config.groupId}-loop`);
    const producers = new Map<number, Producer>();
    const windows = new Map<number, TransactionWindow>();
    for (let partition = 0; partition < config.partitions; partition++) {
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        transactionalId: `${config.transactionalIdPrefix}-${partition}`,
        retry: TRANSACTIONAL_RETRY,
      });
      await withTimeout(producer.connect(), 20_000, 'connecting a transactional producer');
      producers.set(partition, producer);
      const commit = async (records: readonly InRecord[]): Promise<void> => {
        const transaction = await producer.transaction();
        try {
          await transaction.send({
            topic: config.output,
            acks: -1,
            messages: messagesOf(
              records.map((r) => ({
                partition,
                key: r.key ?? Buffer.alloc(0),
                value: transform(r.value),
                headers: r.headers,
                timestamp: r.timestamp,
              })),
            ),
          });
          await transaction.sendOffsets({
            consumerGroupId: config.groupId,
            topics: [
              {
                topic: config.input,
                partitions: [{ partition, offset: String(records.at(-1)!.offset + 1n) }],
              },
            ],
          });
          await transaction.commit();
        } catch (error) {
          await transaction.abort().catch(() => undefined);
          throw error;
        }
      };
      windows.set(partition, new TransactionWindow(commit, stats, fail, config.maxRecords, config.maxMs));
    }
    const consumer = kafka.consumer({
      groupId: config.groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 500,
      sessionTimeout: 6_000,
      heartbeatInterval: 1_000,
    });
    await startConsumer(consumer, config.input, 'earliest', config.partitions, (partition, messages) =>
      windows.get(partition)!.push(messages.map((m) => inRecord(partition, m))),
    );
    return {
      async stop() {
        consumer.pause([{ topic: config.input }]);
        for (const window of windows.values()) await window.drain();
        await consumer.disconnect();
        for (const producer of producers.values()) await producer.disconnect();
      },
    };
  },
};
