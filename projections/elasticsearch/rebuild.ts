/**
 * Rebuilds the Elasticsearch transactions index from `payments.events` beside the live one, then
 * swaps it in behind the index's name, an alias (transactions.ts, `migrate`):
 *
 * 1. creates a concrete index `<alias>-<ts>` with the current mapping and the live index's shard,
 *    replica and refresh settings, and projects the topic into it from the beginning with a new
 *    consumer group `<groupPrefix>.rebuild-<ts>`;
 * 2. waits (bounded by `catchUpTimeoutMs`) until that group's committed offsets reach the topic's
 *    end offsets captured at the start, and keeps following the log;
 * 3. hands over, the analogue of the PostgreSQL rebuild's lock: puts a write block on the live
 *    concrete index (`PUT /<index>/_block/write`, bounded by `blockTimeoutMs`; Elasticsearch
 *    answers once the writes in flight are done). The live consumer's writes are then refused
 *    with `cluster_block_exception`, which it retries with backoff like an unreachable target
 *    (the lag grows, nothing is dead-lettered). The rebuild waits (bounded by `swapTimeoutMs`)
 *    until it has the topic's end offsets at that moment, so it holds everything the live index
 *    can hold, refreshes the new index and moves the alias to it in one atomic `_aliases`
 *    request (`remove` with `must_exist`, so a concurrent swap fails it, then `add`). The live
 *    consumer's retried writes land in the new index through the alias; they are idempotent
 *    (external versions by event sequence), and their loads read the new index too, so no event
 *    finds its predecessors missing. The rebuild stops its consumer only then (stopping waits out
 *    a fetch, seconds the block would last longer); for that moment both consumers write the new
 *    index, which is safe: a document is the fold of its payment's events up to its version,
 *    whoever writes it, and an older version is refused. The write block of the replaced index
 *    is removed; it stays, retired, for comparison until an operator deletes it.
 *
 * A deployment from before the alias has a concrete index under the name. Then the hand-over
 * clones it (under the write block, a clone is a hard-linked copy) to `<alias>-retired-<ts>`, and
 * the one `_aliases` request adds the alias to the new index and deletes the old one
 * (`remove_index`): the name turns from an index into an alias without a moment where it is
 * missing.
 *
 * It refuses to start while the live index is write-blocked (another rebuild's hand-over, or
 * one killed during it), so a hand-over never ends by lifting another's block.
 *
 * On a timeout, an error or an abort (`signal`) nothing is swapped: the write block is removed from the live index,
 * the new index (and a retired clone) is deleted. Should the swap request fail without an answer,
 * the alias is read back: pointing at the new index, the swap is done; unreadable, nothing is
 * deleted and the error says what to check.
 */
import type { Client } from '@elastic/elasticsearch';
import type { Kafka, KafkaMessage } from 'kafkajs';

import type { ProjectedPaymentEvent } from '../payment-view.js';
import {
  catchUpOf,
  deleteRebuildGroup,
  endOffsets,
  offsetsJson,
  startRebuildConsumer,
  waitCaughtUp,
  type RebuildConsumer,
  type RebuildLog,
} from '../rebuild.js';
import { ElasticsearchTransactionsProjection } from './transactions.js';

export interface TransactionsRebuildOptions {
  readonly kafka: Kafka;
  /** Bounds every request (its `requestTimeout`). */
  readonly client: Client;
  /** The name the projection and the gateway use (PAYFLOW_ELASTICSEARCH_INDEX). */
  readonly alias: string;
  readonly topic: string;
  /** The rebuild's consumer group is `<groupPrefix>.rebuild-<ts>`. */
  readonly groupPrefix: string;
  readonly decode: (message: KafkaMessage, partition: number) => Promise<ProjectedPaymentEvent>;
  /** Which write failures are Elasticsearch's, retried (the live projection's rule). */
  readonly isUnreachable: (error: unknown) => boolean;
  readonly catchUpTimeoutMs: number;
  /** How long the live index stays write-blocked at most while the rebuild reaches the log's end. */
  readonly swapTimeoutMs: number;
  /** Bound on placing the write block (it waits for the writes in flight). */
  readonly blockTimeoutMs: number;
  readonly log: RebuildLog;
  /** Stops the rebuild before the swap, nothing swapped (an interrupted command). */
  readonly signal?: AbortSignal;
  /** For tests: the suffix of the indices and the group (default: the current time in ms). */
  readonly suffix?: string;
}

export interface TransactionsRebuildResult {
  readonly groupId: string;
  /** The rebuilt index, now behind the alias. */
  readonly index: string;
  /** The index the alias pointed at (or the copy of the concrete index it replaced), kept for comparison. */
  readonly retiredIndex: string;
  /** The rebuild's offsets when swapped, per partition. */
  readonly offsets: Readonly<Record<number, string>>;
  /** Records left out because the projection refuses them (the live one dead-lettered them). */
  readonly skipped: number;
}

/** The concrete index behind the name now, and the settings a rebuilt index copies from it. */
interface LiveIndex {
  readonly index: string;
  /** False for a concrete index under the name itself (a deployment from before the alias). */
  readonly aliased: boolean;
  readonly settings: Record<string, string | number>;
}

const unblockHint = (index: string) =>
  `PUT /${index}/_settings {"index.blocks.write": null} removes the write block by hand`;

async function liveIndex(client: Client, alias: string): Promise<LiveIndex> {
  const found = await client.indices.get({ index: alias });
  const names = Object.keys(found);
  if (names.length !== 1)
    throw new Error(`${alias} is an alias of ${names.length} indices (${names.join(', ')}); expected one`);
  const index = names[0]!;
  const settings = found[index]?.settings?.index;
  // Another rebuild is handing over, or one was killed during its hand-over: a second hand-over
  // would lift that block when it ends, under the other's feet.
  if (String(settings?.blocks?.write) === 'true')
    throw new Error(
      `the live index ${index} is write-blocked: another rebuild is handing over, or one was stopped during its hand-over (then ${unblockHint(index)}, and delete its ${alias}-<ts> index)`,
    );
  return {
    index,
    aliased: index !== alias,
    settings: {
      ...(settings?.number_of_shards === undefined
        ? {}
        : { number_of_shards: String(settings.number_of_shards) }),
      ...(settings?.number_of_replicas === undefined
        ? {}
        : { number_of_replicas: String(settings.number_of_replicas) }),
      ...(settings?.refresh_interval === undefined
        ? {}
        : { refresh_interval: String(settings.refresh_interval) }),
    },
  };
}

/** The indices an alias points at; none when it is not an alias (missing, or a concrete index). */
async function aliasTargets(client: Client, alias: string): Promise<string[]> {
  try {
    return Object.keys(await client.indices.getAlias({ name: alias }));
  } catch (error) {
    if ((error as { statusCode?: unknown }).statusCode === 404) return [];
    throw error;
  }
}

async function writeBlock(client: Client, index: string, timeoutMs: number): Promise<void> {
  const answer = await client.indices.addBlock(
    { index, block: 'write', timeout: `${timeoutMs}ms`, master_timeout: `${timeoutMs}ms` },
    { requestTimeout: timeoutMs + 1_000 },
  );
  if (!answer.acknowledged || !answer.shards_acknowledged)
    throw new Error(`the write block on ${index} was not acknowledged by all its shards in ${timeoutMs} ms`);
}

const UNBLOCK_ATTEMPTS = 3;

/** Removes the write block; retried a few times, as the live projection waits for it. */
async function removeWriteBlock(client: Client, index: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.indices.putSettings({ index, settings: { 'index.blocks.write': null } });
      return;
    } catch (error) {
      if (attempt >= UNBLOCK_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
    }
  }
}

async function deleteIndex(client: Client, index: string): Promise<void> {
  await client.indices.delete({ index, ignore_unavailable: true });
}

interface HandOver {
  readonly options: TransactionsRebuildOptions;
  readonly live: LiveIndex;
  readonly rebuilt: string;
  readonly retired: string;
  readonly groupId: string;
}

/** After the swap: the retired index without its write block, and the report. */
async function finishSwap(
  { options, rebuilt, retired, groupId }: HandOver,
  at: ReadonlyMap<number, bigint>,
  skipped: number,
): Promise<TransactionsRebuildResult> {
  await removeWriteBlock(options.client, retired).catch((error: unknown) =>
    options.log('the retired index keeps its write block', {
      retiredIndex: retired,
      error: error instanceof Error ? error.message : String(error),
      hint: unblockHint(retired),
    }),
  );
  const offsets = offsetsJson(at);
  options.log('rebuild swapped in', {
    projection: 'elasticsearch',
    alias: options.alias,
    index: rebuilt,
    retiredIndex: retired,
    groupId,
    offsets,
    skipped,
  });
  return { groupId, index: rebuilt, retiredIndex: retired, offsets, skipped };
}

/**
 * Nothing swapped: the live index writable again first (the live projection waits for it), then
 * the rebuild's consumer stopped (a write of it would re-create a deleted index), then the new
 * index and any clone deleted.
 */
async function abort(
  { options, live, rebuilt, retired }: HandOver,
  blocked: boolean,
  consumer: RebuildConsumer | undefined,
): Promise<void> {
  if (blocked)
    await removeWriteBlock(options.client, live.index).catch((error: unknown) =>
      options.log('the live index keeps its write block: its projection waits until it is removed', {
        liveIndex: live.index,
        error: error instanceof Error ? error.message : String(error),
        hint: unblockHint(live.index),
      }),
    );
  await consumer?.disconnect().catch(() => undefined);
  await deleteIndex(options.client, rebuilt).catch(() => undefined);
  if (!live.aliased) await deleteIndex(options.client, retired).catch(() => undefined);
}

/** Whether the alias points at the rebuilt index after a swap request that failed. */
async function swappedDespiteError({ options, live, rebuilt }: HandOver, blocked: boolean, error: unknown) {
  const targets = await aliasTargets(options.client, options.alias).catch((readError: unknown) => {
    throw new Error(
      `the swap's outcome is unknown (${readError instanceof Error ? readError.message : String(readError)}): ` +
        `if GET /_alias/${options.alias} shows ${rebuilt}, the rebuild is in; else delete ${rebuilt}` +
        (blocked ? ` and remove the write block of ${live.index} (${unblockHint(live.index)})` : ''),
      { cause: error },
    );
  });
  return targets.includes(rebuilt);
}

export async function rebuildTransactionsIndex(
  options: TransactionsRebuildOptions,
): Promise<TransactionsRebuildResult> {
  const { client, alias } = options;
  const suffix = options.suffix ?? String(Date.now());
  const rebuilt = `${alias}-${suffix}`;
  const groupId = `${options.groupPrefix}.rebuild-${suffix}`;
  await new ElasticsearchTransactionsProjection(client, alias).migrate();
  const live = await liveIndex(client, alias);
  const handOver: HandOver = {
    options,
    live,
    rebuilt,
    retired: live.aliased ? live.index : `${alias}-retired-${suffix}`,
    groupId,
  };
  const catchUp = catchUpOf(options, groupId);
  let consumer: RebuildConsumer | undefined;
  let created = false;
  let blocked = false;
  let swapSent = false;
  let at = new Map<number, bigint>();
  let skipped = 0;
  try {
    await new ElasticsearchTransactionsProjection(client, rebuilt).create(live.settings);
    created = true;
    const startEnds = await endOffsets(options.kafka, options.topic);
    options.log('rebuild started', {
      projection: 'elasticsearch',
      index: rebuilt,
      liveIndex: live.index,
      groupId,
      endOffsets: offsetsJson(startEnds),
    });
    consumer = await startRebuildConsumer({
      ...catchUp,
      decode: options.decode,
      sink: new ElasticsearchTransactionsProjection(client, rebuilt),
      isUnreachable: options.isUnreachable,
    });
    await waitCaughtUp(catchUp, startEnds, 'catch-up', options.catchUpTimeoutMs);
    options.log('rebuild caught up with the start offsets; write-blocking the live index', {
      groupId,
      liveIndex: live.index,
      skipped: consumer.skipped(),
    });
    blocked = true;
    await writeBlock(client, live.index, options.blockTimeoutMs);
    const swapEnds = await endOffsets(options.kafka, options.topic);
    options.log('live index write-blocked; following the log to its end', {
      liveIndex: live.index,
      endOffsets: offsetsJson(swapEnds),
    });
    at = await waitCaughtUp(catchUp, swapEnds, 'swap', options.swapTimeoutMs);
    skipped = consumer.skipped();
    // The rebuild's consumer is stopped after the swap, not under the block (see above).
    await client.indices.refresh({ index: rebuilt });
    if (!live.aliased)
      await client.indices.clone({
        index: live.index,
        target: handOver.retired,
        ...(live.settings.number_of_replicas === undefined
          ? {}
          : { settings: { number_of_replicas: live.settings.number_of_replicas } }),
      });
    options.signal?.throwIfAborted();
    swapSent = true;
    await client.indices.updateAliases({
      actions: live.aliased
        ? [{ remove: { index: live.index, alias, must_exist: true } }, { add: { index: rebuilt, alias } }]
        : [{ add: { index: rebuilt, alias } }, { remove_index: { index: live.index } }],
    });
  } catch (error) {
    if (swapSent && (await swappedDespiteError(handOver, blocked, error))) {
      options.log('the swap answered with an error but is done', { alias, index: rebuilt });
    } else {
      if (created) await abort(handOver, blocked, consumer);
      throw error;
    }
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    await deleteRebuildGroup(options.kafka, groupId);
  }
  return finishSwap(handOver, at, skipped);
}
