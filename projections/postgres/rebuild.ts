/**
 * Rebuilds the PostgreSQL payments projection (`payflow.payments`, `payflow.payment_events`)
 * from `payments.events` beside the live one, then swaps it in:
 *
 * 1. creates the tables in a fresh schema `payflow_rebuild_<ts>` and projects the topic into
 *    them from the beginning with a new consumer group `<groupPrefix>.rebuild-<ts>`;
 * 2. waits (bounded by `catchUpTimeoutMs`) until that group's committed offsets reach the topic's
 *    end offsets captured at the start, and keeps following the log;
 * 3. swaps in one transaction: locks the live tables (the live consumer's writes wait, bounded
 *    by `lockTimeoutMs` on our side and its own statement timeout on its side, which it
 *    retries), waits (bounded by `swapTimeoutMs`) until the rebuild has the topic's end offsets
 *    at that moment, so it holds everything the live tables can hold, stops the rebuild
 *    consumer, moves the live tables to `payflow_retired_<ts>` and the rebuilt ones into
 *    `payflow`, and commits. The live consumer then writes into the rebuilt tables (its replays
 *    are idempotent); the retired tables stay for comparison until an operator drops the schema.
 *
 * On a timeout or an error nothing is swapped: the rebuild schema is dropped and the live tables
 * are untouched.
 */
import type { Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';

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
import { migratePaymentsProjection, PAYMENTS_SCHEMA, PostgresPaymentsProjection } from './payments.js';

export { RebuildTimeoutError } from '../rebuild.js';

export interface PaymentsRebuildOptions {
  readonly kafka: Kafka;
  readonly pool: pg.Pool;
  readonly topic: string;
  /** The rebuild's consumer group is `<groupPrefix>.rebuild-<ts>`. */
  readonly groupPrefix: string;
  readonly decode: (message: KafkaMessage, partition: number) => Promise<ProjectedPaymentEvent>;
  readonly catchUpTimeoutMs: number;
  readonly swapTimeoutMs: number;
  readonly lockTimeoutMs: number;
  /** Structured progress: a message and its fields. */
  readonly log: RebuildLog;
  /** Stops the rebuild at its next wait, nothing swapped (an interrupted command). */
  readonly signal?: AbortSignal;
  /** For tests: the suffix of the schemas and the group (default: the current time in ms). */
  readonly suffix?: string;
}

export interface PaymentsRebuildResult {
  readonly groupId: string;
  /** Where the tables replaced by the rebuilt ones now are. */
  readonly retiredSchema: string;
  /** The rebuild's offsets when swapped, per partition. */
  readonly offsets: Readonly<Record<number, string>>;
}

export async function rebuildPaymentsProjection(
  options: PaymentsRebuildOptions,
): Promise<PaymentsRebuildResult> {
  const suffix = options.suffix ?? String(Date.now());
  const shadow = `${PAYMENTS_SCHEMA}_rebuild_${suffix}`;
  const retired = `${PAYMENTS_SCHEMA}_retired_${suffix}`;
  const groupId = `${options.groupPrefix}.rebuild-${suffix}`;
  await migratePaymentsProjection(options.pool, PAYMENTS_SCHEMA);
  await migratePaymentsProjection(options.pool, shadow);
  const startEnds = await endOffsets(options.kafka, options.topic);
  options.log('rebuild started', {
    projection: 'postgres',
    schema: shadow,
    groupId,
    endOffsets: offsetsJson(startEnds),
  });
  const catchUp = catchUpOf(options, groupId);
  let consumer: RebuildConsumer | undefined = await startRebuildConsumer({
    ...catchUp,
    decode: options.decode,
    sink: new PostgresPaymentsProjection(options.pool, { schema: shadow }),
  });
  try {
    await waitCaughtUp(catchUp, startEnds, 'catch-up', options.catchUpTimeoutMs);
    options.log('rebuild caught up with the start offsets; swapping', {
      groupId,
      skipped: consumer.skipped(),
    });
    const client = await options.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.lockTimeoutMs)}`);
      await client.query(
        `SET LOCAL statement_timeout = ${Math.trunc(options.lockTimeoutMs + options.swapTimeoutMs)}`,
      );
      await client.query(
        `LOCK TABLE ${PAYMENTS_SCHEMA}.payments, ${PAYMENTS_SCHEMA}.payment_events IN ACCESS EXCLUSIVE MODE`,
      );
      const swapEnds = await endOffsets(options.kafka, options.topic);
      const at = await waitCaughtUp(catchUp, swapEnds, 'swap', options.swapTimeoutMs);
      const skipped = consumer.skipped();
      options.signal?.throwIfAborted();
      await consumer.disconnect();
      consumer = undefined;
      await client.query(`CREATE SCHEMA ${retired}`);
      for (const table of ['payments', 'payment_events'])
        await client.query(`ALTER TABLE ${PAYMENTS_SCHEMA}.${table} SET SCHEMA ${retired}`);
      for (const table of ['payments', 'payment_events'])
        await client.query(`ALTER TABLE ${shadow}.${table} SET SCHEMA ${PAYMENTS_SCHEMA}`);
      await client.query(`DROP SCHEMA ${shadow}`);
      await client.query('COMMIT');
      const offsets = offsetsJson(at);
      options.log('rebuild swapped in', {
        projection: 'postgres',
        groupId,
        retiredSchema: retired,
        offsets,
        skipped,
      });
      return { groupId, retiredSchema: retired, offsets };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    await consumer?.disconnect().catch(() => undefined);
    await options.pool.query(`DROP SCHEMA IF EXISTS ${shadow} CASCADE`).catch(() => undefined);
    throw error;
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    await deleteRebuildGroup(options.kafka, groupId);
  }
}
