/**
 * What the client comparison's processes say to each other, and the small surface each client
 * offers the bench: a producer (plain or transactional), a consumer, and the exactly-once loop.
 */

/** The clients under comparison. */
export const CLIENTS = ['kafkajs', 'confluent', 'platformatic'] as const;
export type ClientName = (typeof CLIENTS)[number];

/** A consumed record, client-neutral. Header values stay bytes. */
export interface InRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [string, Buffer])[];
  readonly timestamp: number;
  /** The client's own message object, for clients that commit offsets by message. */
  readonly source?: unknown;
}

/** A record to produce to a given partition. */
export interface OutRecord {
  readonly partition: number;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly headers: readonly (readonly [string, Buffer])[];
  readonly timestamp: number;
}

export interface TestProducer {
  /** Writes and waits for the broker's acknowledgement (acks=-1). */
  send(topic: string, records: readonly OutRecord[]): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

export interface Stoppable {
  stop(): Promise<void>;
}

/** Where a consumer starts: the earliest offset of every partition, or one offset of partition 0. */
export type StartAt = 'earliest' | { readonly partition: number; readonly offset: number };

/** Counters of a running exactly-once loop (wall-clock ms, same machine as the bench). */
export interface LoopStats {
  records: number;
  transactions: number;
  commitMs: number;
  firstRecordAt: number;
  lastCommitAt: number;
  cpuMs: number;
}

export const emptyStats = (): LoopStats => ({
  records: 0,
  transactions: 0,
  commitMs: 0,
  firstRecordAt: 0,
  lastCommitAt: 0,
  cpuMs: 0,
});

export interface LoopConfig {
  readonly brokers: readonly string[];
  readonly input: string;
  readonly output: string;
  readonly partitions: number;
  readonly groupId: string;
  readonly transactionalIdPrefix: string;
  /** A transaction takes at most this many records ... */
  readonly maxRecords: number;
  /** ... or is committed this long after its first record, whichever comes first. */
  readonly maxMs: number;
}

export interface ClientAdapter {
  /** How the loop assigns transactional producers, for the report. */
  readonly producers: 'one per input partition' | 'one per process (KIP-447)';
  readonly version: string;
  producer(brokers: readonly string[], transactionalId?: string): Promise<TestProducer>;
  /** A read_committed consumer; `onRecords` is awaited before the next delivery (back-pressure). */
  consumer(
    brokers: readonly string[],
    topic: string,
    groupId: string,
    start: StartAt,
    onRecords: (records: readonly InRecord[]) => Promise<void>,
  ): Promise<Stoppable>;
  /** Starts the consume → transform → produce loop; `fail` is called when it cannot go on. */
  loop(config: LoopConfig, stats: LoopStats, fail: (error: unknown) => void): Promise<Stoppable>;
}

/** The job of one worker process (JSON in BENCH_CLIENT_JOB). */
export type WorkerJob =
  | {
      readonly kind: 'raw';
      readonly client: ClientName;
      readonly brokers: readonly string[];
      readonly topic: string;
      readonly groupId: string;
      readonly warmup: number;
      readonly records: number;
      readonly rate: number;
      readonly seconds: number;
    }
  | { readonly kind: 'loop'; readonly client: ClientName; readonly config: LoopConfig }
  | {
      readonly kind: 'read-committed';
      readonly client: ClientName;
      readonly brokers: readonly string[];
      readonly topic: string;
      readonly groupPrefix: string;
      readonly transactionalIdPrefix: string;
    };

export interface RawResult {
  readonly bulkRate: number;
  readonly pacedP50: number;
  readonly pacedP99: number;
  readonly pacedMax: number;
  readonly duplicates: number;
}

export interface ReadCommittedResult {
  readonly passed: boolean;
  readonly detail: string;
}

export type FromWorker =
  | { readonly type: 'started'; readonly version: string; readonly producers: string }
  | { readonly type: 'stats'; readonly stats: LoopStats }
  | { readonly type: 'raw'; readonly result: RawResult }
  | { readonly type: 'read-committed'; readonly result: ReadCommittedResult }
  | { readonly type: 'failed'; readonly message: string };

export type ToWorker = { readonly type: 'stats' } | { readonly type: 'stop' };

export function isFromWorker(message: unknown): message is FromWorker {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string'
  );
}
