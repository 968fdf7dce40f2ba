/**
 * A bound on the memory-mapped LMDB pages a process holds (its file-backed RSS).
 *
 * LMDB reads through a memory map of its data file, so every page a read or a B-tree insert
 * touches stays in the process's RSS for as long as the file is mapped, and a full restore
 * touches the whole file: RSS grows with the number of keys (10 GiB with 20,000,000 dedupe keys).
 * The pages are clean page cache the kernel could reclaim, yet they count. The governor keeps
 * them under a budget: after a task's LMDB write transaction (a commit, a restore batch) it reads
 * the process's `RssFile` (/proc/self/status); above the budget,
 * that task's LMDB environment is closed and reopened at once, which unmaps the file and drops
 * its pages from the RSS (they stay in the page cache: the next reads fault them back in without
 * I/O), and every other task's environment is reopened after its own next write transaction,
 * between two of its transactions, never while one of its reads is under way.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** The default budget of file-backed RSS: the process's mapped LMDB pages and its code. */
export const DEFAULT_MAPPED_BUDGET_BYTES = 256 * 2 ** 20;

/**
 * RssFile is read after every write transaction by default (about 10 µs, from a descriptor kept
 * open): a time-based interval would let the RSS run away between two checks, since one random
 * read can map 64 KiB (the kernel maps the cached pages around a fault) and a process's tasks
 * together commit hundreds of times a second.
 */
export const DEFAULT_MAPPED_CHECK_INTERVAL_MS = 0;

let statusFd: number | undefined;
const statusBuffer = Buffer.alloc(4096);

/** The process's file-backed resident memory in bytes (RssFile), or undefined where /proc lacks it. */
export function processRssFileBytes(): number | undefined {
  try {
    statusFd ??= openSync('/proc/self/status', 'r');
    const length = readSync(statusFd, statusBuffer, 0, statusBuffer.length, 0);
    const match = /^RssFile:\s+(\d+) kB/m.exec(statusBuffer.toString('latin1', 0, length));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    if (statusFd !== undefined) closeSync(statusFd);
    statusFd = undefined;
    return undefined;
  }
}

/** What a governed LMDB environment offers the governor. */
export interface Remappable {
  /** Closes and reopens the environment (its mapping dropped); called between its transactions. */
  remap(): void;
}

export interface MappedMemoryOptions {
  /** File-backed RSS above which environments are reopened; Infinity: never. */
  readonly budgetBytes?: number;
  readonly checkIntervalMs?: number;
  /** The process's file-backed RSS (tests substitute their own). */
  readonly rssFileBytes?: () => number | undefined;
  readonly nowMs?: () => number;
}

/** One per process (or per driver): the environments it governs and the last check. */
export class MappedMemoryGovernor {
  readonly budgetBytes: number;
  readonly #checkIntervalMs: number;
  readonly #rssFileBytes: () => number | undefined;
  readonly #nowMs: () => number;
  /** Governed environments, and whether each is due for a reopen after its next write. */
  readonly #environments = new Map<Remappable, boolean>();
  #lastCheckMs = -Infinity;
  #remaps = 0;

  constructor(options: MappedMemoryOptions = {}) {
    this.budgetBytes = options.budgetBytes ?? DEFAULT_MAPPED_BUDGET_BYTES;
    this.#checkIntervalMs = options.checkIntervalMs ?? DEFAULT_MAPPED_CHECK_INTERVAL_MS;
    this.#rssFileBytes = options.rssFileBytes ?? processRssFileBytes;
    this.#nowMs = options.nowMs ?? (() => performance.now());
  }

  /** Environments reopened so far. */
  get remaps(): number {
    return this.#remaps;
  }

  register(environment: Remappable): void {
    this.#environments.set(environment, false);
  }

  unregister(environment: Remappable): void {
    this.#environments.delete(environment);
  }

  /**
   * An environment finished a write transaction (and has no read under way): reopens it when it
   * is due or when the process's file-backed RSS is over the budget.
   */
  afterWrite(environment: Remappable): void {
    if (this.#environments.get(environment) === true || this.#overBudget()) {
      this.#environments.set(environment, false);
      this.#remaps++;
      environment.remap();
    }
  }

  /** Checks the RSS when the interval has passed; over the budget, every environment is due. */
  #overBudget(): boolean {
    if (this.budgetBytes === Infinity) return false;
    const now = this.#nowMs();
    if (now - this.#lastCheckMs < this.#checkIntervalMs) return false;
    this.#lastCheckMs = now;
    const rss = this.#rssFileBytes();
    if (rss === undefined || rss <= this.budgetBytes) return false;
    for (const environment of this.#environments.keys()) this.#environments.set(environment, true);
    return true;
  }
}

/** The governor of the directories opened without one (the driver passes its own). */
export const processMappedMemory = new MappedMemoryGovernor();
