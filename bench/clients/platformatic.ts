/**
 * `@platformatic/kafka` (pure TypeScript, Node >= 22, transactions since 1.24). Its TxnOffsetCommit
 * carries the consumer's generation and member id (KIP-447), so one transactional producer serves
 * every partition of the process. Three of its defaults are set here, each a reproduced pitfall:
 * the flat 1 s retry delay (every transaction begun right after a commit waited a second on
 * CONCURRENT_TRANSACTIONS), InitProducerId with producer id/epoch 0/0 instead of -1/-1 (the
 * broker fences a restarted instance out of its own transactional id), and concurrent addOffset
 * calls in one transaction (only one partition's offset is committed): they are awaited one by one.
 * Loaded from .payflow/bench-clients, never a product dependency.
 */
import { pathToFileURL } from 'node:url';

import { withTimeout } from '../limits.js';
import { PINNED, requireFromClients } from './paths.js';
import type {
  ClientAdapter,
  InRecord,
  LoopConfig,
  LoopStats,
  OutRecord,
  StartAt,
  Stoppable,
  TestProducer,
} from './types.js';
import { testProducer } from './test-producer.js';
import { byPartition, transform, TransactionWindow } from './window.js';

interface PlatformaticMessage {
  readonly key: Buffer | null | undefined;
  readonly value: Buffer | null | undefined;
  readonly headers: Map<Buffer, Buffer>;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: bigint;
}

interface MessageToProduce {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly headers: Map<Buffer, Buffer>;
  readonly timestamp: bigint;
}

interface MessagesStream extends AsyncIterable<PlatformaticMessage> {
  close(): Promise<void>;
}

interface Consumer {
  consume(options: object): Promise<MessagesStream>;
  close(force?: boolean): Promise<void>;
}

interface Transaction {
  addConsumer(consumer: Consumer): Promise<void>;
  send(options: { messages: MessageToProduce[] }): Promise<unknown>;
  addOffset(message: PlatformaticMessage): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

interface Producer {
  send(options: { messages: MessageToProduce[]; acks?: number }): Promise<unknown>;
  beginTransaction(): Promise<Transaction>;
  close(force?: boolean): Promise<void>;
}

interface Platformatic {
  readonly Consumer: new (options: object) => Consumer;
  readonly Producer: new (options: object) => Producer;
}

let loaded: Promise<Platformatic> | undefined;
const platformatic = (): Promise<Platformatic> =>
  (loaded ??= import(
    pathToFileURL(requireFromClients.resolve('@platformatic/kafka')).href
  ) as Promise<Platformatic>);

/** 10, 20, 40 … ms, at most 1 s; its default is a flat 1,000 ms. */
const retryDelay = (_client: unknown, _operation: string, attempt: number): number =>
  Math.min(1_000, 10 * 2 ** Math.max(0, attempt - 1));

const base = (brokers: readonly string[]) => ({
  clientId: 'bench-clients',
  bootstrapBrokers: [...brokers],
  timeout: 30_000,
  retries: 10,
  retryDelay,
});

function headersIn(headers: Map<Buffer, Buffer>): [string, Buffer][] {
  return [...headers].map(([name, value]) => [name.toString('utf8'), value]);
}

const inRecord = (m: PlatformaticMessage): InRecord => ({
  partition: m.partition,
  offset: m.offset,
  key: m.key ?? null,
  value: m.value ?? null,
  headers: headersIn(m.headers),
  timestamp: Number(m.timestamp),
  source: m,
});

const messagesOf = (topic: string, records: readonly OutRecord[]): MessageToProduce[] =>
  records.map((r) => ({
    topic,
    partition: r.partition,
    key: r.key,
    value: r.value,
    headers: new Map(r.headers.map(([name, value]) => [Buffer.from(name), value])),
    timestamp: BigInt(Math.floor(r.timestamp)),
  }));

async function newProducer(brokers: readonly string[], transactionalId?: string): Promise<Producer> {
  const { Producer } = await platformatic();
  return new Producer({
    ...base(brokers),
    idempotent: true,
    acks: -1,
    ...(transactionalId === undefined ? {} : { transactionalId, producerId: -1n, producerEpoch: -1 }),
  });
}

async function newConsumer(brokers: readonly string[], groupId: string): Promise<Consumer> {
  const { Consumer } = await platformatic();
  return new Consumer({
    ...base(brokers),
    groupId,
    sessionTimeout: 6_000,
    heartbeatInterval: 1_000,
    maxWaitTime: 500,
    isolationLevel: 1, // READ_COMMITTED
  });
}

/** Reads the stream, each delivery awaited, until stopped. */
function drive(
  stream: MessagesStream,
  onRecords: (records: readonly InRecord[]) => Promise<void>,
  fail: (error: unknown) => void,
): Promise<void> {
  return (async () => {
    for await (const message of stream) await onRecords([inRecord(message)]);
  })().catch(fail);
}

async function consume(consumer: Consumer, topic: string, start: StartAt): Promise<MessagesStream> {
  return withTimeout(
    consumer.consume({
      topics: [topic],
      autocommit: false,
      isolationLevel: 1,
      ...(start === 'earliest'
        ? { mode: 'committed', fallbackMode: 'earliest' }
        : { mode: 'manual', offsets: [{ topic, partition: start.partition, offset: BigInt(start.offset) }] }),
    }),
    30_000,
    `consuming ${topic}`,
  );
}

export const platformaticClient: ClientAdapter = {
  producers: 'one per process (KIP-447)',
  version: PINNED['@platformatic/kafka'],

  async producer(brokers, transactionalId): Promise<TestProducer> {
    const producer = await newProducer(brokers, transactionalId);
    return testProducer<Transaction>({
      send: (transaction, topic, records) =>
        (transaction ?? producer).send({ messages: messagesOf(topic, records), acks: -1 }),
      begin: () => producer.beginTransaction(),
      close: () => producer.close(),
    });
  },

  async consumer(brokers, topic, groupId, start, onRecords): Promise<Stoppable> {
    const consumer = await newConsumer(brokers, groupId);
    const stream = await consume(consumer, topic, start);
    const done = drive(stream, onRecords, (error) =>
      process.stderr.write(`bench: consumer: ${String(error)}\n`),
    );
    return {
      async stop() {
        await stream.close();
        await withTimeout(done, 10_000, 'stopping a platformatic consumer');
        await consumer.close(true);
      },
    };
  },

  async loop(config: LoopConfig, stats: LoopStats, fail) {
    const producer = await newProducer(config.brokers, `${config.transactionalIdPrefix}-0`);
    const consumer = await newConsumer(config.brokers, config.groupId);
    const commit = async (records: readonly InRecord[]): Promise<void> => {
      const transaction = await producer.beginTransaction();
      try {
        await transaction.addConsumer(consumer);
        await transaction.send({
          messages: messagesOf(
            config.output,
            records.map((r) => ({
              partition: r.partition,
              key: r.key ?? Buffer.alloc(0),
              value: transform(r.value),
              headers: r.headers,
              timestamp: r.timestamp,
            })),
          ),
        });
        // One at a time: concurrent addOffset calls commit only one partition's offset.
        for (const group of byPartition(records).values())
          await transaction.addOffset(group.at(-1)!.source as PlatformaticMessage);
        await transaction.commit();
      } catch (error) {
        await transaction.abort().catch(() => undefined);
        throw error;
      }
    };
    const window = new TransactionWindow(commit, stats, fail, config.maxRecords, config.maxMs);
    const stream = await consume(consumer, config.input, 'earliest');
    let stopping = false;
    const done = drive(
      stream,
      async (records) => {
        if (!stopping) await window.push(records);
      },
      fail,
    );
    return {
      async stop() {
        stopping = true;
        await window.drain();
        await stream.close();
        await withTimeout(done, 10_000, 'stopping the loop consumer');
        await consumer.close(true);
        await producer.close();
      },
    };
  },
};
