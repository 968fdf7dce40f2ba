/**
 * read_committed, checked before anything is consumed. kafkajs 2.2.4 filters records of aborted
 * transactions on the client, and its filter let some through: it opened at most one aborted
 * transaction per record and trusted the broker's list to be sorted by first offset. After a
 * crash, when the coordinator aborts several transactions of the dead instance at once, a fetch
 * starting inside two of them delivered the first record of the second to every read_committed
 * consumer — a debit leg's credit instruction that the committed retry never made, for one.
 * `scripts/patch-dependencies.mjs` replaces the filter on install (as the Java client does it);
 * `assertReadCommittedFilter` runs the installed filter on the cases that leaked and stops the
 * process with a message if any still does, so a pipeline never runs on the unsafe filter.
 */
import { createRequire } from 'node:module';

interface FilterRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly isControlRecord?: boolean;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

type AbortedFilter = (fetch: {
  messages: FilterRecord[];
  abortedTransactions: AbortedTransaction[];
}) => FilterRecord[];

/** A fetch response's records of one partition, the aborted transactions it lists, and what a read_committed consumer must get. */
export interface ReadCommittedCase {
  readonly name: string;
  readonly records: readonly FilterRecord[];
  readonly aborted: readonly AbortedTransaction[];
  /** Offsets of the data records (control records aside) the consumer must see. */
  readonly delivered: readonly number[];
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

const data = (offset: number, producerId: number, key = Buffer.from(`key-${offset}`)): FilterRecord => ({
  offset: String(offset),
  key,
  batchContext: { producerId: String(producerId), inTransaction: true },
});

const abortMarker = (offset: number, producerId: number): FilterRecord => ({
  offset: String(offset),
  key: ABORT_MARKER_KEY,
  isControlRecord: true,
  batchContext: { producerId: String(producerId), inTransaction: true },
});

const aborted = (producerId: number, firstOffset: number): AbortedTransaction => ({
  producerId: String(producerId),
  firstOffset: String(firstOffset),
});

export const READ_COMMITTED_CASES: readonly ReadCommittedCase[] = [
  {
    name: 'a fetch that starts inside two aborted transactions delivers neither',
    // Producers 1 and 2 began at 5 and 8; the previous fetch stopped at the last stable offset, 10.
    records: [data(10, 2), data(11, 1), data(12, 3), abortMarker(13, 1), abortMarker(14, 2), data(15, 2)],
    aborted: [aborted(1, 5), aborted(2, 8)],
    delivered: [12, 15],
  },
  {
    name: 'aborted transactions listed out of first-offset order are all skipped',
    records: [data(20, 2), data(21, 3), data(22, 1), abortMarker(23, 2), abortMarker(24, 1)],
    aborted: [aborted(1, 22), aborted(2, 20)],
    delivered: [21],
  },
  {
    name: 'a data record whose key is four zero bytes does not end an aborted transaction',
    records: [data(30, 1, Buffer.from([0, 0, 0, 0])), data(31, 1), abortMarker(32, 1), data(33, 4)],
    aborted: [aborted(1, 30)],
    delivered: [33],
  },
];

/** The data records' offsets the filter lets through. */
export function deliveredOffsets(filter: AbortedFilter, fetch: ReadCommittedCase): number[] {
  return filter({ messages: [...fetch.records], abortedTransactions: [...fetch.aborted] })
    .filter((record) => record.isControlRecord !== true)
    .map((record) => Number(record.offset));
}

export function installedAbortedFilter(): AbortedFilter {
  const require = createRequire(import.meta.url);
  return require('kafkajs/src/consumer/filterAbortedMessages.js') as AbortedFilter;
}

export class ReadCommittedError extends Error {
  constructor(leak: string) {
    super(
      `the installed kafkajs delivers records of aborted transactions to read_committed consumers (${leak}); ` +
        'exactly-once needs the fix that `npm ci` applies (node scripts/patch-dependencies.mjs)',
    );
    this.name = 'ReadCommittedError';
  }
}

let checked = false;

/** Throws ReadCommittedError when the installed filter leaks any case; checks once per process. */
export function assertReadCommittedFilter(): void {
  if (checked) return;
  const filter = installedAbortedFilter();
  for (const fetch of READ_COMMITTED_CASES) {
    const delivered = deliveredOffsets(filter, fetch);
    if (delivered.join() !== fetch.delivered.join()) {
      throw new ReadCommittedError(`${fetch.name}: got offsets ${delivered.join(', ')}`);
    }
  }
  checked = true;
}
