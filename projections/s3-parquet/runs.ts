/**
 * How the archive cuts a partition's records into files, the pure part (no I/O).
 *
 * A file is a *run*: consecutive records of one Kafka partition that share the hour of their event
 * time (`dt`/`hour`, rotation by time) and the same block of `fileOffsets` offsets
 * (`floor(offset / fileOffsets)`, rotation by size: at most `fileOffsets` rows). Both are
 * functions of the record alone, aligned on absolute values, so the runs are a function of the
 * log: a restart, a second consumer or a rebuild from the beginning cuts the same files with the
 * same rows and names them the same (partition and first offset). A consumer that resumes from
 * the first offset of its open run — where the archive commits its offsets — writes that run
 * again whole, over the same object.
 *
 * The open run is the partition's last one: it still grows until a record of another hour or
 * block arrives. It is uploaded now and then (each upload replaces the object with more rows)
 * and closed, uploaded a last time, when the next run begins.
 */
import type { ProjectedPaymentEvent } from '../payment-view.js';

export interface ArchivedEvent {
  /** The Kafka offset of the record; names the file and keeps replays idempotent. */
  readonly offset: bigint;
  readonly event: ProjectedPaymentEvent;
}

/** `dt=YYYY-MM-DD/hour=HH` of an event time (UTC), the Hive partition of its file. */
export function partitionPath(occurredAtMs: number): string {
  const iso = new Date(occurredAtMs).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/** What a record's file is a function of: its hour and its block of offsets. */
export function runOf(record: ArchivedEvent, fileOffsets: number): string {
  return `${partitionPath(record.event.occurredAtMs)}|${record.offset / BigInt(fileOffsets)}`;
}

/** Splits records (one partition's, in offset order) into runs. */
export function planRuns(records: readonly ArchivedEvent[], fileOffsets: number): ArchivedEvent[][] {
  const runs: ArchivedEvent[][] = [];
  let current: ArchivedEvent[] = [];
  let currentRun: string | undefined;
  for (const record of records) {
    const run = runOf(record, fileOffsets);
    if (currentRun !== undefined && run !== currentRun) {
      runs.push(current);
      current = [];
    }
    currentRun = run;
    current.push(record);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

export interface OpenRun {
  readonly run: string;
  readonly records: ArchivedEvent[];
  /** The offset after the last record of the run's last upload; undefined: never uploaded. */
  uploadedTo?: bigint;
  /** When it was last uploaded (or opened), for the flush interval. */
  uploadedAtMs: number;
}

/**
 * One partition's open run as records arrive. `add` returns the runs it closed, to upload for the
 * last time. Records at or below what it already holds (a partition fetched again after a
 * rebalance, from the committed offset) replace the held ones from that offset on, so a run
 * never holds a record twice.
 */
export class PartitionRuns {
  private open: OpenRun | undefined;
  /** The offset after the last record added. */
  private next: bigint | undefined;

  constructor(private readonly fileOffsets: number) {}

  add(records: readonly ArchivedEvent[], nowMs: number): ArchivedEvent[][] {
    const closed: ArchivedEvent[][] = [];
    for (const record of records) {
      if (this.next !== undefined && record.offset < this.next) this.rewind(record.offset);
      const run = runOf(record, this.fileOffsets);
      if (this.open !== undefined && this.open.run !== run) {
        closed.push(this.open.records);
        this.open = undefined;
      }
      this.open ??= { run, records: [], uploadedAtMs: nowMs };
      this.open.records.push(record);
      this.next = record.offset + 1n;
    }
    return closed;
  }

  /** Drops what is held from `offset` on; a run that loses its first record is forgotten. */
  private rewind(offset: bigint): void {
    const open = this.open;
    if (open === undefined) return;
    const keep = open.records.findIndex((r) => r.offset >= offset);
    if (keep <= 0) {
      this.open = undefined;
      this.next = undefined;
      return;
    }
    open.records.splice(keep);
    this.next = offset;
    if (open.uploadedTo !== undefined && open.uploadedTo > offset) open.uploadedTo = undefined;
  }

  /** A copy to go back to when the uploads of an `add` fail (the records it closed are then held again). */
  clone(): PartitionRuns {
    const copy = new PartitionRuns(this.fileOffsets);
    copy.open = this.open === undefined ? undefined : { ...this.open, records: [...this.open.records] };
    copy.next = this.next;
    return copy;
  }

  get openRun(): OpenRun | undefined {
    return this.open;
  }

  /** True when the open run has records its last upload did not (or it was never uploaded). */
  get dirty(): boolean {
    const open = this.open;
    return open !== undefined && open.uploadedTo !== this.next;
  }

  /** Marks the open run uploaded as it is now. */
  uploaded(nowMs: number): void {
    if (this.open === undefined) return;
    this.open.uploadedTo = this.next;
    this.open.uploadedAtMs = nowMs;
  }

  /**
   * Where to resume reading the partition so that nothing held only here is lost: the open run's
   * first offset (it is written again whole), or `processedTo` when nothing is open.
   */
  resumeOffset(processedTo: bigint): bigint {
    return this.open?.records[0]?.offset ?? processedTo;
  }

  /**
   * The offset the archive's objects hold the partition up to: every record before it is in an
   * uploaded file. `processedTo` is the offset after the last record (or control record) read.
   */
  archivedTo(processedTo: bigint): bigint {
    const open = this.open;
    if (open === undefined || !this.dirty) return processedTo;
    return open.uploadedTo ?? open.records[0]!.offset;
  }
}
