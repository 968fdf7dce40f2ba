/**
 * Where the time went: CPU of the benchmark, the broker and the process under test (a chain
 * process or the main job) between two moments, and what a chain's transactions did meanwhile.
 */
import type { ChainStats } from './chain.js';
import type { ChainProcesses } from './chain-process.js';
import { brokerPid, processCpuMs } from './machine.js';

/** Resource counters at one moment. */
export interface Snapshot {
  readonly atMs: number;
  readonly benchCpu: NodeJS.CpuUsage;
  readonly brokerCpuMs: number;
  readonly chain: ChainStats | undefined;
  /** CPU ms of the main job, when one runs. */
  readonly jobCpuMs: number | undefined;
}

export const BROKER_PID = brokerPid();
const brokerCpu = (): number =>
  BROKER_PID === undefined ? Number.NaN : (processCpuMs(BROKER_PID) ?? Number.NaN);

const percent = (part: number, whole: number): string =>
  whole > 0 && Number.isFinite(part) ? `${Math.round((100 * part) / whole)}%` : 'n/a';

export async function snapshot(
  under: { readonly chain?: ChainProcesses; readonly job?: { cpuMs(): number } } = {},
): Promise<Snapshot> {
  return {
    atMs: Date.now(),
    benchCpu: process.cpuUsage(),
    brokerCpuMs: brokerCpu(),
    chain: await under.chain?.stats(),
    jobCpuMs: under.job?.cpuMs(),
  };
}

/** CPU per process and, for a chain, what its transactions did between two snapshots. */
export function usage(before: Snapshot, after: Snapshot): string {
  const wallMs = after.atMs - before.atMs;
  const cpu = [
    `bench ${percent((after.benchCpu.user - before.benchCpu.user + after.benchCpu.system - before.benchCpu.system) / 1_000, wallMs)}`,
    `broker ${percent(after.brokerCpuMs - before.brokerCpuMs, wallMs)}`,
  ];
  if (before.jobCpuMs !== undefined && after.jobCpuMs !== undefined)
    cpu.push(`main job ${percent(after.jobCpuMs - before.jobCpuMs, wallMs)}`);
  const parts: string[] = [];
  const [b, a] = [before.chain, after.chain];
  if (b !== undefined && a !== undefined) {
    const active = a.loopActiveMs - b.loopActiveMs;
    const idle = a.loopIdleMs - b.loopIdleMs;
    cpu.push(
      `chain processes ${percent(a.cpuMs - b.cpuMs, wallMs)} (their event loops busy ${percent(active, active + idle)})`,
    );
    const transactions = a.transactions - b.transactions;
    const each = (total: number) => (transactions > 0 ? (total / transactions).toFixed(1) : 'n/a');
    parts.push(
      `${transactions.toLocaleString('en-US')} transactions over all hops, ${each(a.records - b.records)} records ` +
        `and ${each(a.commitMs - b.commitMs)} ms each`,
      `${(a.concurrentRetries - b.concurrentRetries).toLocaleString('en-US')} produce retries on ` +
        `CONCURRENT_TRANSACTIONS (${((a.concurrentBackoffMs - b.concurrentBackoffMs) / 1_000).toFixed(1)} s backoff)`,
    );
    if (a.drops > b.drops)
      parts.push(`${a.drops - b.drops} task(s) dropped, last: ${a.lastDropReason ?? '?'}`);
  }
  return [`CPU of a core: ${cpu.join(', ')}`, ...parts].join('; ');
}
