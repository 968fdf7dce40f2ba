/**
 * A task's disk stores in a process of their own, for processors/runtime/mapped-memory.test.ts:
 * `mapped-memory-task.ts <directory> <keys> <budget MiB | off>` restores that many time-indexed
 * keys (as dedupe's `seen`) through the restore path, 1,000 per restore batch as the Kafka runner
 * records its progress per fetched batch, into a store whose cache holds 1,000 values; then runs
 * 40 transactions of 5,000 random reads and 250 new keys each, committed as a task commits. The
 * memory governor's budget is the process's file-backed RSS before the stores opened plus the
 * given MiB, checked after every write transaction (`off`: no budget). Prints, as JSON, the
 * growth of the file-backed RSS over that baseline (MiB): the largest seen just before a write
 * transaction ended (the peak between two checks), the one at the end, the LMDB file's size and
 * the environment's reopens, after verifying every value read.
 */
import { DiskStoreBackend } from '../../processors/runtime/disk-stores.js';
import { toJson } from '../../processors/runtime/json-serde.js';
import { MappedMemoryGovernor, processRssFileBytes } from '../../processors/runtime/mapped-memory.js';
import type { KeyValueStore } from '../../processors/runtime/api.js';
import type { RuntimeStore } from '../../processors/runtime/stores.js';

const [path, keysArgument, budgetArgument] = process.argv.slice(2);
const keys = Number(keysArgument);
const MiB = 2 ** 20;
const RESTORE_BATCH = 100;
const TRANSACTIONS = 40;
const READS = 250;
const WRITES = 50;

interface Seen {
  readonly paymentId: string;
  readonly firstSeenMs: number;
}
const rssFile = () => processRssFileBytes() ?? 0;
const baseline = rssFile();
const governor = new MappedMemoryGovernor({
  budgetBytes: budgetArgument === 'off' ? Infinity : baseline + Number(budgetArgument) * MiB,
  checkIntervalMs: 0,
});
const backend = new DiskStoreBackend(path!, 1_000, governor);
const seen = backend.create(
  'dedupe',
  { kind: 'kv', name: 'seen', maxEntries: 1, timeOf: (value: Seen) => value.firstSeenMs },
  () => 0,
) as RuntimeStore & KeyValueStore<Seen>;

let peak = 0;
/** The growth now, kept as the peak: called just before a write transaction ends. */
const sample = () => (peak = Math.max(peak, rssFile() - baseline));
const key = (i: number) => `merchant-${i % 5_000}:key-${i}`;

for (let i = 0; i < keys; i++) {
  await seen.restore(key(i), Buffer.from(toJson({ paymentId: `p-${i}`, firstSeenMs: i })));
  if (i % RESTORE_BATCH === RESTORE_BATCH - 1 || i === keys - 1) {
    sample();
    backend.restored(new Map([['dedupe-seen-changelog', BigInt(i + 1)]]));
  }
}
let wrong = 0;
for (let t = 0; t < TRANSACTIONS; t++) {
  for (let r = 0; r < READS; r++) {
    const i = ((t * READS + r) * 104_729) % keys;
    if (seen.get(key(i))?.paymentId !== `p-${i}`) wrong++;
  }
  for (let w = 0; w < WRITES; w++) {
    const i = keys + t * WRITES + w;
    seen.put(key(i), { paymentId: `p-${i}`, firstSeenMs: i });
  }
  seen.commit();
  sample();
  backend.flush(new Map());
}
const final = rssFile() - baseline;
const written = keys + TRANSACTIONS * WRITES;
if (seen.size !== written || wrong > 0)
  throw new Error(`the store holds ${seen.size} keys, not ${written}; ${wrong} reads were wrong`);
const fileMiB = backend.diskBytes / MiB;
backend.close();
process.stdout.write(
  JSON.stringify({ peakMiB: peak / MiB, finalMiB: final / MiB, fileMiB, remaps: governor.remaps }),
);
