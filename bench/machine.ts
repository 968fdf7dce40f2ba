/**
 * What the numbers were measured on: CPU, cores, memory, Node, and the local stack's Kafka
 * version and CPU time when its broker process can be found (Linux /proc; otherwise "unknown").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from './config.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly kafka: string;
}

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on mainstream kernels). */
const USER_HZ = 100;

/** The pid of the local stack's broker if it is alive (`.payflow/run/kafka.pid`: pid and start time). */
export function brokerPid(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const home = env.PAYFLOW_HOME ?? path.join(REPO_ROOT, '.payflow');
  try {
    const [pidText, startText] = readFileSync(path.join(home, 'run', 'kafka.pid'), 'utf8')
      .trim()
      .split(/\s+/);
    const pid = Number(pidText);
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const stat = procStat(pid);
    if (stat === undefined) return undefined;
    // Field 22 is the start time; it tells a recycled pid from the recorded broker.
    if (startText !== undefined && stat[19] !== startText) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name (field 3 onwards), or undefined. */
function procStat(pid: number): string[] | undefined {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** A process as recorded: its pid and start time (field 22), which tells a recycled pid apart. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

/** The process `pid` is now, or undefined when there is none. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  try {
    const stat = procStat(pid);
    return stat?.[19] === undefined ? undefined : { pid, startTime: stat[19] };
  } catch {
    return undefined;
  }
}

/** Whether the recorded process still runs (the same pid with the same start time). */
export function stillRunning(process: ProcessIdentity): boolean {
  return processIdentity(process.pid)?.startTime === process.startTime;
}

/** The processes below `pid` (its children, theirs, and so on) now, from /proc; empty elsewhere. */
export function descendants(pid: number): ProcessIdentity[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  for (const entry of entries) {
    try {
      const stat = procStat(Number(entry));
      const parent = Number(stat?.[1]);
      if (Number.isSafeInteger(parent))
        children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // the process ended while the list was read
    }
  }
  const found: ProcessIdentity[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0 && found.length < 10_000) {
    const next = queue.shift()!;
    const identity = processIdentity(next);
    if (identity !== undefined) found.push(identity);
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

/**
 * CPU milliseconds of these processes and of every child they reaped (fields 14-17), so a tree
 * whose worker died and was forked again keeps the dead one's time.
 */
export function treeCpuMs(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const stat = procStat(pid);
    if (stat === undefined) continue;
    total += ((Number(stat[11]) + Number(stat[12]) + Number(stat[13]) + Number(stat[14])) * 1_000) / USER_HZ;
  }
  return Number.isFinite(total) ? total : undefined;
}

/** User + system CPU milliseconds a process has used so far. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = procStat(pid);
    if (stat === undefined) return undefined;
    return ((Number(stat[11]) + Number(stat[12])) * 1_000) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** The version in the broker's kafka-server-<version>.jar, found through its class path. */
function kafkaVersion(pid: number | undefined): string {
  if (pid === undefined) return 'unknown';
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const classPath = args[args.indexOf('-cp') + 1] ?? '';
    for (const entry of classPath.split(':')) {
      const dir = entry.endsWith('*') ? path.dirname(entry) : entry;
      if (!existsSync(dir)) continue;
      for (const file of readdirSync(dir)) {
        const match = /^kafka-server-(\d+\.\d+\.\d+)\.jar$/.exec(file);
        if (match !== null) return match[1]!;
      }
    }
  } catch {
    // not readable: fall through
  }
  return 'unknown';
}

export function describeMachine(pid: number | undefined): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    kafka: kafkaVersion(pid),
  };
}
