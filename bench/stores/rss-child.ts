/**
 * The memory row of `BENCH_ONLY=state` (bench/stores/state.ts), in a process of its own so its
 * RSS is the stores' alone: `rss-child.ts <directory> <dedupe keys>` restores that many dedupe
 * keys into a task directory, reads 200,000 random ones (committing every 1,000 reads, as a task
 * commits at least every 1,000 records, and turning the event loop after each commit and restore
 * batch, as a task awaits the broker), processes 20,000 records, and prints its RSS after the
 * restore and after the work as JSON. The stores run under the default mapped-memory budget
 * (processors/runtime/mapped-memory.ts), checked after each commit and restore batch.
 */
import { processMappedMemory } from '../../processors/runtime/mapped-memory.js';
import { commit, openStores, processRecord, restoreChangelog, rssOf, seenKey } from './state.js';

const [path, count] = process.argv.slice(2);
const dedupe = Number(count);
const stores = openStores(path!);
const started = performance.now();
await restoreChangelog(stores, 1_000, dedupe, 0);
const loadMs = performance.now() - started;
const afterLoad = await rssOf();
/** A commit, then a turn of the event loop, as a task's commit awaits the broker. */
const commitAndYield = async () => {
  commit(stores);
  await new Promise((resolve) => setImmediate(resolve));
};
for (let i = 0; i < 200_000; i++) {
  stores.seen.get(seenKey((i * 104_729) % dedupe));
  if (i % 1_000 === 999) await commitAndYield();
}
for (let i = 0; i < 20_000; i++) {
  processRecord(stores, i, 'rss');
  if (i % 1_000 === 999) await commitAndYield();
}
commit(stores);
const afterWork = await rssOf();
const diskMiB = stores.backend.diskBytes / 2 ** 20;
stores.backend.close();
process.stdout.write(
  JSON.stringify({
    loadMs,
    afterLoad,
    afterWork,
    diskMiB,
    budgetMiB: processMappedMemory.budgetBytes / 2 ** 20,
    remaps: processMappedMemory.remaps,
  }),
);
