/**
 * Rebuilding the PostgreSQL payments projection from the log against the real Kafka and
 * PostgreSQL: while the live projection keeps consuming (and new events keep arriving), the
 * rebuild fills a schema of its own from the beginning, swaps its tables in, and the read model
 * ends equal to what it was, with the events that arrived meanwhile, and still answers queries.
 * The rebuild replaces `payflow.payments` and `payflow.payment_events` with the content of this
 * test's topic: rows other test files left there are gone afterwards (each file seeds its own).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

import { RetriableError } from '../../processors/runtime/api.js';
import { runKafkaProjection, type RunningProjection } from '../../projections/kafka-runner.js';
import { replayPayment } from '../../projections/payment-view.js';
import {
  migratePaymentsProjection,
  PostgresPaymentsProjection,
} from '../../projections/postgres/payments.js';
import { rebuildPaymentsProjection, RebuildTimeoutError } from '../../projections/postgres/rebuild.js';
import { decodeJsonEvent as decodeJson } from '../support/json-events.js';
import { paymentRecords as records, WAIT_MS } from '../support/rebuild-fixture.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { until as untilWithin } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const until = (condition: () => Promise<boolean>, what: string) => untilWithin(condition, what, WAIT_MS);

describe('projections rebuild (PostgreSQL)', { skip }, () => {
  let kafka: Kafka;
  let pool: pg.Pool;
  let live: RunningProjection | undefined;
  const topic = uniqueName('payments-events-rebuild');
  const retiredSchemas: string[] = [];

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({ clientId: 'rebuild-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    pool = new pg.Pool({ connectionString: env.postgresUrl, max: 6, connectionTimeoutMillis: 5_000 });
    await migratePaymentsProjection(pool);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });
  after(async () => {
    await live?.disconnect();
    for (const schema of retiredSchemas) await pool?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool?.end();
  });

  test('a rebuild from the log, run while the live projection consumes and new events arrive, swaps in tables equal to the live ones plus what arrived meanwhile, and queries still answer', async () => {
    const prefix = uniqueName('rebuilt');
    const ids = Array.from({ length: 1_500 }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: ids.slice(0, 1_200).flatMap((id, i) => records(id, i)) });

    const projection = new PostgresPaymentsProjection(pool);
    live = await runKafkaProjection({
      kafka,
      groupId: `${topic}.live`,
      topic,
      decode: decodeJson,
      sink: projection,
      deadLetter: () => Promise.reject(new Error('no record of this test is refused')),
    });
    const count = async () =>
      Number(
        (
          await pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM payflow.payments WHERE payment_id LIKE $1`,
            [`${prefix}-%`],
          )
        ).rows[0]!.n,
      );
    await until(async () => (await count()) === 1_200, 'the live projection to have 1,200 payments');
    const before = await projection.readModels(ids.slice(0, 1_200));
    const beforeEvents = await projection.storedEvents(ids.slice(0, 1_200));

    const progress: string[] = [];
    const rebuilding = rebuildPaymentsProjection({
      kafka,
      pool,
      topic,
      groupPrefix: `${topic}.live`,
      decode: decodeJson,
      catchUpTimeoutMs: WAIT_MS,
      swapTimeoutMs: 20_000,
      lockTimeoutMs: 10_000,
      log: (message) => progress.push(message),
    });
    // Events keep arriving while the rebuild runs.
    await producer.send({ topic, messages: ids.slice(1_200).flatMap((id, i) => records(id, 1_200 + i)) });
    const result = await rebuilding;
    retiredSchemas.push(result.retiredSchema);
    await producer.disconnect();
    assert.deepEqual(progress.slice(0, 1), ['rebuild started']);
    assert.equal(progress.at(-1), 'rebuild swapped in');

    // The payments in the read model now are the rebuilt tables'.
    const { rows } = await pool.query<{ schema: string }>(
      `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'payments' AND table_schema LIKE 'payflow_%' AND table_schema = $1`,
      [result.retiredSchema],
    );
    assert.equal(rows.length, 1, 'the replaced tables are kept under the retired schema');
    await until(
      async () => (await count()) === 1_500,
      'every payment, including those sent during the rebuild',
    );
    const after = await projection.readModels(ids.slice(0, 1_200));
    assert.deepEqual(after, before);
    assert.deepEqual(await projection.storedEvents(ids.slice(0, 1_200)), beforeEvents);
    const all = await projection.storedEvents(ids);
    const models = await projection.readModels(ids);
    for (const id of ids)
      assert.deepEqual(replayPayment(all.get(id) ?? []), models.get(id), `replay of ${id}`);
    const { rows: dup } = await pool.query<{ n: string }>(
      `SELECT count(*) - count(DISTINCT event_id) AS n FROM payflow.payment_events WHERE payment_id LIKE $1`,
      [`${prefix}-%`],
    );
    assert.equal(dup[0]!.n, '0');

    // Queries still work on the swapped tables, and the live projection keeps writing into them.
    assert.equal((await projection.getPayment(ids[3]!))?.status, 'REJECTED');
    const page = await projection.accountPayments({ accountId: 'acc-3', limit: 5 });
    assert.ok(page.some((view) => view.paymentId.startsWith(prefix)));
    const late = `${prefix}-late`;
    const again = kafka.producer();
    await again.connect();
    await again.send({ topic, messages: records(late, 9) });
    await again.disconnect();
    await until(
      async () => (await projection.getPayment(late)) !== undefined,
      'the live projection to write after the swap',
    );
  });

  test('a rebuild that does not catch up in time swaps nothing: the rebuild schema is dropped and the live tables stay', async () => {
    const suffix = `t${Date.now()}`;
    const tables = `SELECT 'payflow.payments'::regclass::oid::text || ',' || 'payflow.payment_events'::regclass::oid::text AS oids`;
    const before = await pool.query<{ oids: string }>(tables);
    await assert.rejects(
      rebuildPaymentsProjection({
        kafka,
        pool,
        topic,
        groupPrefix: `${topic}.timeout`,
        // The registry unreachable: every batch fails and is read again, so the rebuild's group
        // never commits and can't catch up, however fast the machine (a decoder that worked
        // could catch up with this small topic before the first check).
        decode: () => Promise.reject(new RetriableError('schema registry unreachable')),
        catchUpTimeoutMs: 1,
        swapTimeoutMs: 1,
        lockTimeoutMs: 1_000,
        log: () => undefined,
        suffix,
      }),
      RebuildTimeoutError,
    );
    const { rows } = await pool.query('SELECT 1 FROM information_schema.schemata WHERE schema_name LIKE $1', [
      `payflow_%_${suffix}`,
    ]);
    assert.equal(rows.length, 0, 'no rebuild or retired schema is left');
    assert.deepEqual(
      (await pool.query<{ oids: string }>(tables)).rows,
      before.rows,
      'the live tables are the same tables',
    );
  });
});
