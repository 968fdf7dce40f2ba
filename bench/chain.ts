/**
 * The measured topologies: a chain of identity processors, in → t1 → … → out, every topic JSON
 * with the runtime's serde. Zero hops is plain Kafka: records are read back from `in`.
 * Also the messages between the benchmark and the process that runs the chain.
 */
import type { Processor, Topology } from '../processors/runtime/api.js';
import { jsonSerde } from '../processors/runtime/json-serde.js';

export interface ChainNames {
  readonly applicationId: string;
  /** in, t1, …, out: hops + 1 topics (just `in` for zero hops). */
  readonly topics: readonly string[];
  readonly deadLetterTopic: string;
}

export function chainNames(applicationId: string, hops: number): ChainNames {
  const topics = Array.from({ length: hops + 1 }, (_, i) =>
    i === 0 ? `${applicationId}-in` : i === hops ? `${applicationId}-out` : `${applicationId}-t${i}`,
  );
  return { applicationId, topics, deadLetterTopic: `${applicationId}-dlq` };
}

/** Forwards each record unchanged: key, value, headers and timestamp. */
function identity(name: string, input: string, output: string): Processor {
  return {
    name,
    inputs: [input],
    outputs: [output],
    stores: [],
    process(record, context) {
      context.forward({ topic: output, key: record.key, value: record.value });
    },
  };
}

export function identityChain(names: ChainNames, partitions: number): Topology {
  const serde = jsonSerde<unknown>();
  return {
    applicationId: names.applicationId,
    topics: names.topics.map((name) => ({ name, partitions, serde })),
    processors: names.topics
      .slice(1)
      .map((output, i) => identity(`identity-${i + 1}`, names.topics[i]!, output)),
    deadLetterTopic: names.deadLetterTopic,
  };
}

/** How the benchmark configures the chain process (JSON in BENCH_CHAIN). */
export interface ChainWorkerConfig {
  readonly brokers: readonly string[];
  readonly applicationId: string;
  readonly hops: number;
  readonly partitions: number;
  /** The process exits on its own after this many ms, whatever happens. */
  readonly lifetimeMs: number;
}

/** Cumulative counters of the chain process since it started. */
export interface ChainStats {
  readonly cpuMs: number;
  /** Event-loop time spent running code vs. waiting, ms. */
  readonly loopActiveMs: number;
  readonly loopIdleMs: number;
  readonly transactions: number;
  readonly records: number;
  readonly commitMs: number;
  /** Tasks dropped for a reason other than shutdown (failed transactions, revocations). */
  readonly drops: number;
  readonly lastDropReason: string | undefined;
  /** Produce retries because the previous transaction of the same producer was still completing. */
  readonly concurrentRetries: number;
  /** The backoff those retries waited, ms. */
  readonly concurrentBackoffMs: number;
}

export type ToChain = { readonly type: 'stats' } | { readonly type: 'stop' };

export type FromChain =
  | { readonly type: 'started' }
  | { readonly type: 'stats'; readonly stats: ChainStats }
  | { readonly type: 'stopped' }
  | { readonly type: 'failed'; readonly message: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

export function isToChain(value: unknown): value is ToChain {
  return isObject(value) && (value.type === 'stats' || value.type === 'stop');
}

export function isFromChain(value: unknown): value is FromChain {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'started':
    case 'stopped':
      return true;
    case 'stats':
      return isObject(value.stats);
    case 'failed':
      return typeof value.message === 'string';
    default:
      return false;
  }
}
