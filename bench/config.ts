/**
 * Benchmark settings from the environment, each bounded, and the servers' addresses, which must
 * be loopback addresses: the benchmark creates, floods and deletes topics, and sends payments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BenchError } from './limits.js';
import type { StateBenchSettings } from './stores/state.js';
import type { StateKafkaBenchSettings } from './stores/state-kafka.js';
import type { HistoryBenchSettings } from './history.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Partitions of every benchmark topic. */
export const PARTITIONS = 6;

/**
 * Which rows a run measures (`BENCH_ONLY`); the Kafka client comparison, fraud scoring alone and
 * the state stores (both in process, no servers) only when asked for.
 */
export const ROW_GROUPS = [
  'identity',
  'payments',
  'clients',
  'fraud',
  'state',
  'state-kafka',
  'history',
] as const;
export type RowGroup = (typeof ROW_GROUPS)[number];
const DEFAULT_GROUPS: readonly RowGroup[] = ['identity', 'payments'];

/** The servers the main job uses in the Kafka mode, besides the broker. */
export interface StackServices {
  readonly registryUrl: string;
  readonly postgresUrl: string;
  readonly redisUrl: string;
}

export interface PaymentSettings {
  /** Payments of the bulk (throughput) load. */
  readonly payments: number;
  /** Parallel HTTP clients of the bulk load, and the bound on requests in flight of the paced one. */
  readonly clients: number;
  /** Offered rate of the paced (latency) load, payments/s; it lasts `seconds`. */
  readonly rate: number;
  /** Accounts opened and funded for the run. */
  readonly accounts: number;
  /** A phase stops waiting when no payment of it reached a terminal event for this long. */
  readonly stallSeconds: number;
  /** The servers of the Kafka mode; undefined when the payment rows are not measured. */
  readonly services: StackServices | undefined;
}

export interface BenchSettings {
  readonly groups: readonly RowGroup[];
  readonly brokers: readonly string[];
  /** Where the broker address came from, for the report. */
  readonly brokerSource: string;
  /** Records of the bulk (throughput) load. */
  readonly records: number;
  /** Offered rate of the paced (latency) load, records/s. */
  readonly rate: number;
  /** Duration of the paced load, seconds. */
  readonly seconds: number;
  /** Bound on the whole run, seconds. */
  readonly timeoutSeconds: number;
  readonly payments: PaymentSettings;
  /** Payments scored by the fraud scoring row. */
  readonly fraudPayments: number;
  /** Sizes of the state store rows (bench/stores/state.ts). */
  readonly state: StateBenchSettings;
  /** Sizes of the Kafka restart rows (bench/stores/state-kafka.ts). */
  readonly stateKafka: StateKafkaBenchSettings;
  /** The account history rows (bench/history.ts); undefined unless BENCH_ONLY=history. */
  readonly history: HistoryBenchSettings | undefined;
}

interface Bound {
  readonly fallback: number;
  readonly min: number;
  readonly max: number;
  readonly meaning: string;
}

export const BOUNDS = {
  BENCH_RECORDS: { fallback: 50_000, min: 1_000, max: 500_000, meaning: 'records of the bulk load' },
  BENCH_RATE: { fallback: 1_000, min: 10, max: 20_000, meaning: 'records/s of the paced load' },
  BENCH_SECONDS: { fallback: 10, min: 1, max: 120, meaning: 'seconds of the paced load' },
  BENCH_TIMEOUT_SECONDS: { fallback: 900, min: 60, max: 3_600, meaning: 'bound on the whole run' },
  BENCH_PAYMENTS: { fallback: 5_000, min: 100, max: 100_000, meaning: 'payments of the bulk load' },
  BENCH_PAYMENT_CLIENTS: { fallback: 32, min: 1, max: 256, meaning: 'parallel HTTP clients' },
  BENCH_PAYMENT_RATE: { fallback: 100, min: 1, max: 2_000, meaning: 'payments/s of the paced load' },
  BENCH_ACCOUNTS: { fallback: 50, min: 2, max: 1_000, meaning: 'accounts opened and funded' },
  BENCH_FRAUD_PAYMENTS: {
    fallback: 100_000,
    min: 1_000,
    max: 1_000_000,
    meaning: 'payments scored by the fraud scoring row',
  },
  BENCH_STATE_ACCOUNTS: {
    fallback: 1_000_000,
    min: 1_000,
    max: 10_000_000,
    meaning: 'account balances in the state of the restore and restart rows',
  },
  BENCH_STATE_DEDUPE: {
    fallback: 10_000_000,
    min: 10_000,
    max: 50_000_000,
    meaning: 'dedupe keys in the state of the restore, restart and expiry rows',
  },
  BENCH_STATE_RSS_DEDUPE: {
    fallback: 20_000_000,
    min: 10_000,
    max: 50_000_000,
    meaning: 'dedupe keys in the state of the memory row',
  },
  BENCH_STATE_EXPIRED: {
    fallback: 2_000_000,
    min: 1_000,
    max: 10_000_000,
    meaning: 'entries that expire in the expiry row (at most BENCH_STATE_DEDUPE)',
  },
  BENCH_STATE_KAFKA_ACCOUNTS: {
    fallback: 1_000_000,
    min: 1_000,
    max: 10_000_000,
    meaning: 'account balances in the changelog of the Kafka restart rows',
  },
  BENCH_STATE_KAFKA_DEDUPE: {
    fallback: 10_000_000,
    min: 10_000,
    max: 50_000_000,
    meaning: 'dedupe keys in the changelog of the Kafka restart rows',
  },
  BENCH_HISTORY_PAYMENTS: {
    fallback: 1_000_000,
    min: 1_000,
    max: 5_000_000,
    meaning: 'payments stored in each backend of the history rows',
  },
  BENCH_HISTORY_ACCOUNTS: {
    fallback: 5_000,
    min: 10,
    max: 1_000_000,
    meaning: 'accounts the payments of the history rows are among',
  },
  BENCH_HISTORY_REQUESTS: {
    fallback: 2_000,
    min: 100,
    max: 100_000,
    meaning: 'requests of each history row',
  },
  BENCH_PAYMENT_STALL_SECONDS: {
    fallback: 30,
    min: 5,
    max: 600,
    meaning: 'seconds without a terminal event after which the rest of a phase counts as stuck',
  },
} as const satisfies Record<string, Bound>;

function bounded(name: keyof typeof BOUNDS, env: NodeJS.ProcessEnv): number {
  const bound: Bound = BOUNDS[name];
  const text = env[name]?.trim();
  if (text === undefined || text === '') return bound.fallback;
  const value = /^[0-9][0-9_]*$/.test(text) ? Number(text.replaceAll('_', '')) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bound.min || value > bound.max)
    throw new BenchError(
      `${name}=${text} is not valid: ${bound.meaning}, a whole number from ${bound.min} to ${bound.max}`,
    );
  return value;
}

export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (name.startsWith('::ffff:') && isIP(name.slice(7)) === 4) return name.slice(7).startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}

/** `host:port` or `[v6]:port` on a loopback host, else a BenchError saying why. */
export function loopbackBroker(address: string): string {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  const plain = /^([^:[\]]+):(\d+)$/.exec(address);
  const match = bracketed ?? plain;
  if (match === null)
    throw new BenchError(`broker address "${address}" is not host:port (write IPv6 as [::1]:9092)`);
  const host = match[1]!;
  const port = Number(match[2]);
  if (!(port >= 1 && port <= 65_535)) throw new BenchError(`broker address "${address}" has no valid port`);
  if (!isLoopbackHost(host))
    throw new BenchError(
      `refusing broker "${address}": the benchmark creates, floods and deletes topics, so it only ` +
        'talks to a broker on this machine (127.0.0.0/8, ::1 or localhost)',
    );
  return address;
}

/** A variable's line in the local stack's env file, if there is one. */
function stackValue(name: string, env: NodeJS.ProcessEnv): { value: string; file: string } | undefined {
  const home = env.PAYFLOW_HOME ?? path.join(REPO_ROOT, '.payflow');
  const file = path.join(home, 'stack.env');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}=`));
  const value = line?.slice(name.length + 1).trim();
  return value ? { value, file } : undefined;
}

/** A server URL from the environment, else from the stack's env file; its host must be loopback. */
function serviceUrl(name: string, env: NodeJS.ProcessEnv): string {
  const text = env[name]?.trim() || stackValue(name, env)?.value;
  if (!text) throw new BenchError(`${name} is not set and not in .payflow/stack.env: is the local stack up?`);
  let host: string;
  try {
    host = new URL(text).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    throw new BenchError(`${name} is not a URL`);
  }
  if (!isLoopbackHost(host))
    throw new BenchError(`refusing ${name}: the benchmark only talks to servers on this machine`);
  return text;
}

function rowGroups(env: NodeJS.ProcessEnv): readonly RowGroup[] {
  const text = env.BENCH_ONLY?.trim();
  if (text === undefined || text === '') return DEFAULT_GROUPS;
  const group = ROW_GROUPS.find((g) => g === text);
  if (group === undefined)
    throw new BenchError(
      `BENCH_ONLY=${text} is not valid: one of ${ROW_GROUPS.join(', ')}, or unset for ${DEFAULT_GROUPS.join(' and ')}`,
    );
  return [group];
}

function stateSettings(env: NodeJS.ProcessEnv): StateBenchSettings {
  const state = {
    accounts: bounded('BENCH_STATE_ACCOUNTS', env),
    dedupe: bounded('BENCH_STATE_DEDUPE', env),
    rssDedupe: bounded('BENCH_STATE_RSS_DEDUPE', env),
    expired: bounded('BENCH_STATE_EXPIRED', env),
  };
  if (state.expired > state.dedupe)
    throw new BenchError(
      `BENCH_STATE_EXPIRED=${state.expired} is not valid: at most BENCH_STATE_DEDUPE (${state.dedupe})`,
    );
  return state;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const fromEnv = env.PAYFLOW_KAFKA_BROKERS?.trim();
  const fromStack = fromEnv ? undefined : stackValue('PAYFLOW_KAFKA_BROKERS', env);
  const list = fromEnv || fromStack?.value || '127.0.0.1:9092';
  const brokerSource = fromEnv
    ? 'PAYFLOW_KAFKA_BROKERS'
    : fromStack
      ? path.relative(REPO_ROOT, fromStack.file)
      : 'default';
  const brokers = list
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
    .map(loopbackBroker);
  if (brokers.length === 0) throw new BenchError('PAYFLOW_KAFKA_BROKERS names no broker');
  const groups = rowGroups(env);
  return {
    groups,
    brokers,
    brokerSource,
    records: bounded('BENCH_RECORDS', env),
    rate: bounded('BENCH_RATE', env),
    seconds: bounded('BENCH_SECONDS', env),
    timeoutSeconds: bounded('BENCH_TIMEOUT_SECONDS', env),
    fraudPayments: bounded('BENCH_FRAUD_PAYMENTS', env),
    state: stateSettings(env),
    stateKafka: {
      accounts: bounded('BENCH_STATE_KAFKA_ACCOUNTS', env),
      dedupe: bounded('BENCH_STATE_KAFKA_DEDUPE', env),
    },
    history: groups.includes('history')
      ? {
          payments: bounded('BENCH_HISTORY_PAYMENTS', env),
          accounts: bounded('BENCH_HISTORY_ACCOUNTS', env),
          requests: bounded('BENCH_HISTORY_REQUESTS', env),
          elasticsearchUrl: serviceUrl('PAYFLOW_ELASTICSEARCH_URL', env),
          postgresUrl: serviceUrl('PAYFLOW_POSTGRES_URL', env),
        }
      : undefined,
    payments: {
      payments: bounded('BENCH_PAYMENTS', env),
      clients: bounded('BENCH_PAYMENT_CLIENTS', env),
      rate: bounded('BENCH_PAYMENT_RATE', env),
      accounts: bounded('BENCH_ACCOUNTS', env),
      stallSeconds: bounded('BENCH_PAYMENT_STALL_SECONDS', env),
      services: groups.includes('payments')
        ? {
            registryUrl: serviceUrl('PAYFLOW_SCHEMA_REGISTRY_URL', env),
            postgresUrl: serviceUrl('PAYFLOW_POSTGRES_URL', env),
            redisUrl: serviceUrl('PAYFLOW_REDIS_URL', env),
          }
        : undefined,
    },
  };
}
