/**
 * The exactly-once loop's shape, shared by every client: records are buffered per scope (an
 * input partition when each partition has its own transactional producer, the whole process
 * when one producer serves all), and a scope commits one transaction at a time holding at most
 * `maxRecords` records, at the latest `maxMs` after its oldest buffered record arrived. The
 * consumer waits while a scope holds `bound` records, so nothing grows without limit.
 */
import { nowMs } from '../limits.js';
import type { InRecord, LoopStats } from './types.js';

/** Sends the records, adds their input offsets and commits, as one transaction. */
export type CommitTransaction = (records: readonly InRecord[]) => Promise<void>;

export class TransactionWindow {
  #buffer: InRecord[] = [];
  #oldestAt = 0;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failure: Error | undefined;
  #waiters: (() => void)[] = [];

  constructor(
    private readonly commit: CommitTransaction,
    private readonly stats: LoopStats,
    private readonly fail: (error: unknown) => void,
    private readonly maxRecords: number,
    private readonly maxMs: number,
    private readonly bound = 5 * maxRecords,
  ) {}

  /** Buffers records; resolves once the scope has room again. */
  async push(records: readonly InRecord[]): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (records.length === 0) return;
    const at = nowMs();
    if (this.stats.firstRecordAt === 0) this.stats.firstRecordAt = at;
    if (this.#buffer.length === 0) this.#oldestAt = at;
    for (const record of records) this.#buffer.push(record);
    this.#schedule();
    while (this.#buffer.length >= this.bound && this.#failure === undefined) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Commits what is buffered and waits for it. */
  async drain(): Promise<void> {
    while ((this.#inFlight !== undefined || this.#buffer.length > 0) && this.#failure === undefined) {
      if (this.#inFlight === undefined) this.#start();
      await this.#inFlight;
    }
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#inFlight !== undefined || this.#buffer.length === 0) return;
    const wait = this.#oldestAt + this.maxMs - nowMs();
    if (this.#buffer.length >= this.maxRecords || wait <= 0) {
      this.#start();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, wait);
    }
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const records = this.#buffer.splice(0, this.maxRecords);
    // What stays behind waited as long as the oldest of it; the next window starts now.
    if (this.#buffer.length > 0) this.#oldestAt = nowMs();
    const startedAt = nowMs();
    this.#inFlight = this.commit(records).then(
      () => {
        const end = nowMs();
        this.stats.records += records.length;
        this.stats.transactions += 1;
        this.stats.commitMs += end - startedAt;
        this.stats.lastCommitAt = end;
        this.#inFlight = undefined;
        for (const wake of this.#waiters.splice(0)) wake();
        this.#schedule();
      },
      (error: unknown) => {
        this.#failure =
          error instanceof Error ? error : new Error('a transaction of the loop failed', { cause: error });
        this.#inFlight = undefined;
        for (const wake of this.#waiters.splice(0)) wake();
        this.fail(error);
      },
    );
  }
}

/** The loop's transform: the JSON value decoded and re-encoded, key, headers and timestamp kept. */
export function transform(value: Buffer | null): Buffer {
  if (value === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(JSON.parse(value.toString('utf8'))));
}

/** The next offset to consume of each partition among the records (the last one + 1). */
export function nextOffsets(records: readonly InRecord[]): Map<number, bigint> {
  const next = new Map<number, bigint>();
  for (const record of records) {
    const offset = record.offset + 1n;
    if ((next.get(record.partition) ?? -1n) < offset) next.set(record.partition, offset);
  }
  return next;
}

/** Records grouped by partition, each group in consumed order. */
export function byPartition(records: readonly InRecord[]): Map<number, InRecord[]> {
  const groups = new Map<number, InRecord[]>();
  for (const record of records) {
    const group = groups.get(record.partition);
    if (group === undefined) groups.set(record.partition, [record]);
    else group.push(record);
  }
  return groups;
}
