/**
 * `@confluentinc/kafka-javascript` (librdkafka), its native API: the KafkaJS-compatible API on
 * top of it is slower. sendOffsetsToTransaction takes the consumer, whose group metadata
 * (generation, member) goes with the offsets (KIP-447), so one transactional producer serves
 * every partition of the process. Loaded from .payflow/bench-clients, never a product dependency.
 */
import { withTimeout } from '../limits.js';
import { PINNED, requireFromClients } from './paths.js';
import type {
  ClientAdapter,
  InRecord,
  LoopConfig,
  LoopStats,
  StartAt,
  Stoppable,
  TestProducer,
} from './types.js';
import { nextOffsets, transform, TransactionWindow } from './window.js';

type Callback<T = unknown> = (error: Error | null | undefined, value?: T) => void;

interface RdMessage {
  readonly value: Buffer | null;
  readonly key?: Buffer | string | null;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp?: number;
  readonly headers?: readonly Record<string, Buffer | string>[];
}

interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

interface RdConsumer {
  connect(options: object, callback: Callback): void;
  subscribe(topics: string[]): void;
  assign(assignments: TopicPartitionOffset[]): void;
  consume(count: number, callback: Callback<RdMessage[]>): void;
  setDefaultConsumeTimeout(ms: number): void;
  setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void;
  disconnect(callback: Callback): void;
}

interface RdProducer {
  connect(options: object, callback: Callback): void;
  produce(
    topic: string,
    partition: number,
    value: Buffer,
    key: Buffer,
    timestamp: number,
    opaque: undefined,
    headers: Record<string, Buffer>[],
  ): void;
  flush(timeoutMs: number, callback: Callback): void;
  initTransactions(timeoutMs: number, callback: Callback): void;
  beginTransaction(callback: Callback): void;
  commitTransaction(timeoutMs: number, callback: Callback): void;
  abortTransaction(timeoutMs: number, callback: Callback): void;
  sendOffsetsToTransaction(
    offsets: TopicPartitionOffset[],
    consumer: RdConsumer,
    timeoutMs: number,
    callback: Callback,
  ): void;
  disconnect(callback: Callback): void;
}

interface RdKafka {
  readonly librdkafkaVersion: string;
  readonly KafkaConsumer: new (config: object, topicConfig: object) => RdConsumer;
  readonly Producer: new (config: object) => RdProducer;
}

let module: RdKafka | undefined;
const rdkafka = (): RdKafka => (module ??= requireFromClients('@confluentinc/kafka-javascript') as RdKafka);

const TIMEOUT_MS = 30_000;

function call<T = unknown>(what: string, start: (callback: Callback<T>) => void): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve, reject) =>
      start((error, value) =>
        error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(value as T),
      ),
    ),
    TIMEOUT_MS + 5_000,
    what,
  );
}

function headersIn(headers: RdMessage['headers']): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const header of headers ?? [])
    for (const [name, value] of Object.entries(header)) out.push([name, Buffer.from(value)]);
  return out;
}

const inRecord = (m: RdMessage): InRecord => ({
  partition: m.partition,
  offset: BigInt(m.offset),
  key: m.key === undefined || m.key === null ? null : Buffer.from(m.key),
  value: m.value,
  headers: headersIn(m.headers),
  timestamp: m.timestamp ?? Date.now(),
});

const headersOut = (headers: readonly (readonly [string, Buffer])[]): Record<string, Buffer>[] =>
  headers.map(([name, value]) => ({ [name]: value }));

async function connectedProducer(brokers: readonly string[], transactionalId?: string): Promise<RdProducer> {
  const producer = new (rdkafka().Producer)({
    'bootstrap.servers': brokers.join(','),
    'client.id': 'bench-clients',
    'enable.idempotence': true,
    acks: 'all',
    'linger.ms': 5,
    // A transaction started right after a commit is refused (CONCURRENT_TRANSACTIONS) until the
    // markers are written: retry after 10 ms, as the product's kafkajs producers do after 20 ms.
    'retry.backoff.ms': 10,
    ...(transactionalId === undefined ? {} : { 'transactional.id': transactionalId }),
  });
  await call('connecting a librdkafka producer', (cb) => producer.connect({}, cb));
  if (transactionalId !== undefined)
    await call('initialising transactions', (cb) => producer.initTransactions(TIMEOUT_MS, cb));
  return producer;
}

/** Calls consume() again and again, each delivery awaited, until stopped. */
function pump(
  consumer: RdConsumer,
  onRecords: (records: readonly InRecord[]) => Promise<void>,
  fail: (error: unknown) => void,
): Stoppable {
  let running = true;
  let idle: Promise<void> = Promise.resolve();
  let settle: () => void = () => undefined;
  const next = (): void => {
    if (!running) return settle();
    consumer.consume(1_000, (error, messages) => {
      if (error) {
        running = false;
        fail(error);
        return settle();
      }
      const records = (messages ?? []).map(inRecord);
      (records.length > 0 ? onRecords(records) : Promise.resolve()).then(
        () => setImmediate(next),
        (cause: unknown) => {
          running = false;
          fail(cause);
          settle();
        },
      );
    });
  };
  idle = new Promise<void>((resolve) => (settle = resolve));
  next();
  return {
    async stop() {
      running = false;
      await withTimeout(idle, 10_000, 'stopping a librdkafka consume loop');
    },
  };
}

async function connectedConsumer(brokers: readonly string[], groupId: string): Promise<RdConsumer> {
  const consumer = new (rdkafka().KafkaConsumer)(
    {
      'bootstrap.servers': brokers.join(','),
      'client.id': 'bench-clients',
      'group.id': groupId,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
      'session.timeout.ms': 6_000,
      'heartbeat.interval.ms': 1_000,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.setDefaultConsumeTimeout(100);
  consumer.setDefaultIsTimeoutOnlyForFirstMessage(true);
  await call('connecting a librdkafka consumer', (cb) => consumer.connect({}, cb));
  return consumer;
}

export const confluentClient: ClientAdapter = {
  producers: 'one per process (KIP-447)',
  get version() {
    return `${PINNED['@confluentinc/kafka-javascript']} (librdkafka ${rdkafka().librdkafkaVersion})`;
  },

  async producer(brokers, transactionalId): Promise<TestProducer> {
    const producer = await connectedProducer(brokers, transactionalId);
    return {
      async send(topic, records) {
        for (const r of records)
          producer.produce(topic, r.partition, r.value, r.key, r.timestamp, undefined, headersOut(r.headers));
        await call('flushing a librdkafka producer', (cb) => producer.flush(TIMEOUT_MS, cb));
      },
      async begin() {
        await call('beginning a transaction', (cb) => producer.beginTransaction(cb));
      },
      async commit() {
        await call('committing a transaction', (cb) => producer.commitTransaction(TIMEOUT_MS, cb));
      },
      async abort() {
        await call('aborting a transaction', (cb) => producer.abortTransaction(TIMEOUT_MS, cb));
      },
      async close() {
        await call('disconnecting a librdkafka producer', (cb) => producer.disconnect(cb));
      },
    };
  },

  async consumer(brokers, topic, groupId, start: StartAt, onRecords) {
    const consumer = await connectedConsumer(brokers, groupId);
    if (start === 'earliest') consumer.subscribe([topic]);
    else consumer.assign([{ topic, partition: start.partition, offset: start.offset }]);
    const loop = pump(consumer, onRecords, (error) =>
      process.stderr.write(`bench: consumer: ${String(error)}\n`),
    );
    return {
      async stop() {
        await loop.stop();
        await call('disconnecting a librdkafka consumer', (cb) => consumer.disconnect(cb));
      },
    };
  },

  async loop(config: LoopConfig, stats: LoopStats, fail) {
    const producer = await connectedProducer(config.brokers, `${config.transactionalIdPrefix}-0`);
    const consumer = await connectedConsumer(config.brokers, config.groupId);
    const commit = async (records: readonly InRecord[]): Promise<void> => {
      await call('beginning a transaction', (cb) => producer.beginTransaction(cb));
      try {
        for (const r of records)
          producer.produce(
            config.output,
            r.partition,
            transform(r.value),
            r.key ?? Buffer.alloc(0),
            r.timestamp,
            undefined,
            headersOut(r.headers),
          );
        const offsets = [...nextOffsets(records)].map(([partition, offset]) => ({
          topic: config.input,
          partition,
          offset: Number(offset),
        }));
        await call('sending offsets to the transaction', (cb) =>
          producer.sendOffsetsToTransaction(offsets, consumer, TIMEOUT_MS, cb),
        );
        await call('committing a transaction', (cb) => producer.commitTransaction(TIMEOUT_MS, cb));
      } catch (error) {
        await call('aborting a transaction', (cb) => producer.abortTransaction(TIMEOUT_MS, cb)).catch(
          () => undefined,
        );
        throw error;
      }
    };
    const window = new TransactionWindow(commit, stats, fail, config.maxRecords, config.maxMs);
    consumer.subscribe([config.input]);
    const loop = pump(consumer, (records) => window.push(records), fail);
    return {
      async stop() {
        await loop.stop();
        await window.drain();
        await call('disconnecting the loop consumer', (cb) => consumer.disconnect(cb));
        await call('disconnecting the loop producer', (cb) => producer.disconnect(cb));
      },
    };
  },
};
