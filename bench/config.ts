/**
 * Benchmark settings from the environment, each bounded, and the broker address, which must be
 * a loopback address: the benchmark creates, floods and deletes topics.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BenchError } from './limits.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Partitions of every benchmark topic. */
export const PARTITIONS = 6;

export interface BenchSettings {
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
  BENCH_TIMEOUT_SECONDS: { fallback: 480, min: 60, max: 3_600, meaning: 'bound on the whole run' },
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

/** The `PAYFLOW_KAFKA_BROKERS` line of the local stack's env file, if there is one. */
function stackBrokers(env: NodeJS.ProcessEnv): { value: string; file: string } | undefined {
  const home = env.PAYFLOW_HOME ?? path.join(REPO_ROOT, '.payflow');
  const file = path.join(home, 'stack.env');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('PAYFLOW_KAFKA_BROKERS='));
  const value = line?.slice('PAYFLOW_KAFKA_BROKERS='.length).trim();
  return value ? { value, file } : undefined;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const fromEnv = env.PAYFLOW_KAFKA_BROKERS?.trim();
  const fromStack = fromEnv ? undefined : stackBrokers(env);
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
  return {
    brokers,
    brokerSource,
    records: bounded('BENCH_RECORDS', env),
    rate: bounded('BENCH_RATE', env),
    seconds: bounded('BENCH_SECONDS', env),
    timeoutSeconds: bounded('BENCH_TIMEOUT_SECONDS', env),
  };
}
