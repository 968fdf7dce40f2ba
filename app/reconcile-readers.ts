/**
 * The readers of reconciliation: each turns one place a payment is kept into the aggregates of
 * projections/reconciliation.ts, for the payments whose command time is in the window.
 *
 * - the log: `payments.events` read from the beginning to the end offsets captured at the start of
 *   the run (committed records only), folded per payment;
 * - the ledger: `ledger.postings` read the same way, one completed payment per CREDIT posting;
 * - PostgreSQL: `payflow.payments` grouped in SQL;
 * - Elasticsearch: the transactions index scanned in pages (the amounts are int64 strings, so the
 *   sum is made here, exactly, not by a floating-point aggregation);
 * - the archive: the Parquet objects of the window's `dt=` prefixes, read with parquet-wasm (the
 *   arrow-rs reader the archive already writes with, a production dependency), folded per payment
 *   like the log, so a row written twice by a replayed batch counts once.
 *
 * Every call is bounded: Kafka reads and waits by the run's catch-up timeout, SQL by the pool's
 * statement timeout, Elasticsearch and S3 by their clients' request timeouts.
 */
import { randomUUID } from 'node:crypto';

import type { Client } from '@elastic/elasticsearch';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { tableFromIPC } from 'apache-arrow';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { readParquet } from 'parquet-wasm/node';
import type pg from 'pg';

import type { Serde } from '../processors/runtime/api.js';
import {
  Aggregates,
  inWindow,
  PaymentFold,
  utcDay,
  type ReconciliationWindow,
} from '../projections/reconciliation.js';
import type { LedgerPosting, PaymentEvent, PaymentStatus } from '../schemas/types.js';

/** End offset per partition (the last stable offset: everything before it is decided). */
export type EndOffsets = ReadonlyMap<number, bigint>;

export async function endOffsets(admin: Admin, topic: string): Promise<EndOffsets> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
}

/** How far a view holds a partition, from its group's committed offset and metadata. */
export type HeldPosition = (committed: {
  readonly offset: string;
  readonly metadata: string | null;
}) => bigint;

/** Most views: the committed offset. */
export const committedOffset: HeldPosition = ({ offset }) => BigInt(offset);

/**
 * Whether the consumer group holds `ends` on every partition (by `held`, default the committed
 * offset). A transactional topic's last offset before the end is a commit marker no consumer is
 * given, so a group that committed `end − 1` has every record.
 */
export async function groupCaughtUp(
  admin: Admin,
  groupId: string,
  topic: string,
  ends: EndOffsets,
  held: HeldPosition = committedOffset,
): Promise<{ readonly caughtUp: boolean; readonly behind: readonly number[] }> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, held(p)]));
  const behind = [...ends]
    .filter(([partition, end]) => end > 0n && (at.get(partition) ?? -1n) + 1n < end)
    .map(([partition]) => partition);
  return { caughtUp: behind.length === 0, behind };
}

/** Polls `groupCaughtUp` until it holds or `timeoutMs` passes; the partitions still behind, if any. */
export async function waitForGroup(
  admin: Admin,
  groupId: string,
  topic: string,
  ends: EndOffsets,
  timeoutMs: number,
  held: HeldPosition = committedOffset,
  pollMs = 500,
): Promise<readonly number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { caughtUp, behind } = await groupCaughtUp(admin, groupId, topic, ends, held);
    if (caughtUp || Date.now() >= deadline) return behind;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Every committed record of `topic` before `ends`, from the beginning, given to `onMessage`; a
 * throwaway consumer group that commits nothing. Rejects after `timeoutMs`.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  ends: EndOffsets,
  timeoutMs: number,
  onMessage: (message: KafkaMessage) => Promise<void>,
): Promise<void> {
  const remaining = new Set([...ends].filter(([, end]) => end > 0n).map(([partition]) => partition));
  if (remaining.size === 0) return;
  const groupId = `payflow-reconcile-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`reading ${topic} to its end did not finish within ${timeoutMs} ms`)),
        timeoutMs,
      );
      // `lastOffset`: the last offset the partition's fetch covered. The last offset before the
      // end is a commit marker, never delivered.
      const covered = (partition: number, lastOffset: string) => {
        if (BigInt(lastOffset) + 2n >= (ends.get(partition) ?? 0n) && remaining.delete(partition))
          if (remaining.size === 0) resolve();
      };
      // A fetch of aborted records and markers only is given to no eachBatch; kafkajs reports it
      // as an empty batch, and moves past it as far as this.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (payload.topic === topic && payload.batchSize === 0)
          covered(payload.partition, payload.lastOffset);
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition) ?? 0n;
            for (const message of batch.messages) {
              if (BigInt(message.offset) >= end) break;
              await onMessage(message);
            }
            covered(batch.partition, batch.lastOffset());
          },
        })
        .catch((error: unknown) => reject(error instanceof Error ? error : new Error(String(error))));
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect());
  }
}

/** The log's aggregates: `payments.events` to `ends`, folded per payment. */
export async function logAggregates(options: {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly serde: Serde<PaymentEvent>;
  readonly ends: EndOffsets;
  readonly window: ReconciliationWindow;
  readonly timeoutMs: number;
  readonly maxPayments: number;
}): Promise<{ readonly aggregates: Aggregates; readonly payments: number; readonly orphans: number }> {
  const fold = new PaymentFold(options.window, options.maxPayments);
  await readTopicToEnd(options.kafka, options.topic, options.ends, options.timeoutMs, async (message) => {
    if (message.value === null) return;
    const event = await options.serde.deserialize(message.value, options.topic);
    fold.apply({
      paymentId: event.paymentId,
      type: event.type,
      sequence: event.sequence,
      occurredAtMs: event.occurredAtMs,
      ...(event.initiated === null
        ? {}
        : { initiated: { currency: event.initiated.currency, amountMinor: event.initiated.amountMinor } }),
    });
  });
  return { aggregates: fold.aggregates(), payments: fold.size, orphans: fold.orphans };
}

/** The ledger's aggregates: one completed payment per CREDIT posting, its amount the credited line. */
export async function ledgerAggregates(options: {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly serde: Serde<LedgerPosting>;
  readonly ends: EndOffsets;
  readonly window: ReconciliationWindow;
  readonly timeoutMs: number;
}): Promise<Aggregates> {
  const aggregates = new Aggregates();
  const seen = new Set<string>();
  await readTopicToEnd(options.kafka, options.topic, options.ends, options.timeoutMs, async (message) => {
    if (message.value === null) return;
    const posting = await options.serde.deserialize(message.value, options.topic);
    if (
      posting.leg !== 'CREDIT' ||
      !inWindow(options.window, posting.postedAtMs) ||
      seen.has(posting.postingId)
    )
      return;
    seen.add(posting.postingId);
    const credited = posting.lines.reduce(
      (sum, line) => (line.amountMinor > 0n ? sum + line.amountMinor : sum),
      0n,
    );
    aggregates.addPayment(posting.currency, utcDay(posting.postedAtMs), 'COMPLETED', credited);
  });
  return aggregates;
}

/** PostgreSQL's aggregates, grouped by the database (sums as text: bigint exact). */
export async function postgresAggregates(pool: pg.Pool, window: ReconciliationWindow): Promise<Aggregates> {
  const { rows } = await pool.query<{
    currency: string;
    day: string;
    status: PaymentStatus;
    n: string;
    amount: string;
  }>(
    `SELECT currency, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, status,
            count(*)::text AS n, sum(amount_minor)::text AS amount
       FROM payflow.payments
      WHERE created_at >= to_timestamp($1 / 1000.0) AND created_at < to_timestamp($2 / 1000.0)
      GROUP BY 1, 2, 3`,
    [window.fromMs, window.toMs],
  );
  const aggregates = new Aggregates();
  for (const row of rows)
    aggregates.addPayment(row.currency.trim(), row.day, row.status, BigInt(row.amount), BigInt(row.n));
  return aggregates;
}

/** Bound on one page of the Elasticsearch scan. */
const SEARCH_PAGE_SIZE = 5_000;

interface ReconciledDocument {
  status: PaymentStatus;
  amountMinor: string;
  currency: string;
  createdAt: number;
}

/** Elasticsearch's aggregates: the window's documents in pages, summed here (int64 exact). */
export async function elasticsearchAggregates(
  client: Client,
  index: string,
  window: ReconciliationWindow,
): Promise<Aggregates> {
  // What the projection wrote is searchable only after a refresh.
  await client.indices.refresh({ index });
  const aggregates = new Aggregates();
  let after: (string | number)[] | undefined;
  for (;;) {
    const response = await client.search<ReconciledDocument>({
      index,
      size: SEARCH_PAGE_SIZE,
      _source: ['status', 'amountMinor', 'currency', 'createdAt'],
      sort: [{ createdAt: 'asc' }, { paymentId: 'asc' }],
      query: { range: { createdAt: { gte: window.fromMs, lt: window.toMs } } },
      ...(after === undefined ? {} : { search_after: after }),
    });
    const hits = response.hits.hits;
    for (const hit of hits) {
      const doc = hit._source;
      if (doc === undefined) continue;
      aggregates.addPayment(doc.currency, utcDay(doc.createdAt), doc.status, BigInt(doc.amountMinor));
    }
    if (hits.length < SEARCH_PAGE_SIZE) return aggregates;
    after = hits.at(-1)!.sort as (string | number)[];
  }
}

/** The columns of an archived row the fold needs (projections/s3-parquet/archive.ts). */
interface ArchivedRow {
  payment_id: string;
  event_type: string;
  sequence: number;
  occurred_at: number;
  amount_minor: bigint | null;
  currency: string | null;
}

const ARCHIVE_COLUMNS = ['payment_id', 'event_type', 'sequence', 'occurred_at', 'amount_minor', 'currency'];

/** The archive's aggregates: the objects under each day's `dt=` prefix of the window, folded per payment. */
export async function archiveAggregates(options: {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly window: ReconciliationWindow;
  readonly maxPayments: number;
}): Promise<Aggregates> {
  const { s3, bucket, window } = options;
  const fold = new PaymentFold(window, options.maxPayments);
  for (const day of daysOf(window)) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: `${options.prefix}/dt=${day}/`,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.endsWith('.parquet')) continue;
        const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        const bytes = await body.Body!.transformToByteArray();
        const table = tableFromIPC(readParquet(bytes, { columns: ARCHIVE_COLUMNS }).intoIPCStream());
        for (const row of table.toArray() as ArchivedRow[]) {
          fold.apply({
            paymentId: row.payment_id,
            type: row.event_type,
            sequence: row.sequence,
            occurredAtMs: Number(row.occurred_at),
            ...(row.event_type === 'PaymentInitiated' && row.amount_minor !== null && row.currency !== null
              ? { initiated: { currency: row.currency, amountMinor: BigInt(row.amount_minor) } }
              : {}),
          });
        }
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
  }
  return fold.aggregates();
}

/** The UTC days the window touches, oldest first. */
function daysOf(window: ReconciliationWindow): string[] {
  const days: string[] = [];
  for (let ms = Math.floor(window.fromMs / 86_400_000) * 86_400_000; ms < window.toMs; ms += 86_400_000)
    days.push(utcDay(ms));
  return days;
}
