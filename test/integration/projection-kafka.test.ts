/**
 * A projection fed from a real Kafka topic into the real PostgreSQL projection: every committed
 * event lands once, a failing target is waited out without losing anything, and an undecodable
 * record is dead-lettered with its reason instead of stopping the partition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

import { runKafkaProjection } from '../../projections/kafka-runner.js';
import {
  migratePaymentsProjection,
  PostgresPaymentsProjection,
} from '../../projections/postgres/payments.js';
import { decodeJsonEvent as decodeJson } from '../support/json-events.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { until } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

function paymentRecords(paymentId: string): { key: string; value: string }[] {
  const base = { paymentId, correlationId: null };
  const events = [
    {
      ...base,
      eventId: `${paymentId}-0`,
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: 1_000,
      initiated: {
        kind: 'TRANSFER',
        principal: 'm',
        senderAccountId: 'a',
        recipientAccountId: 'b',
        amountMinor: '700',
        currency: 'EUR',
        reference: null,
      },
    },
    { ...base, eventId: `${paymentId}-1`, type: 'PaymentValidated', sequence: 1, occurredAtMs: 1_001 },
    { ...base, eventId: `${paymentId}-2`, type: 'PaymentCompleted', sequence: 2, occurredAtMs: 1_002 },
  ];
  return events.map((event) => ({ key: paymentId, value: JSON.stringify(event) }));
}

describe('Kafka to PostgreSQL projection', { skip }, () => {
  let kafka: Kafka;
  let pool: pg.Pool;
  let projection: PostgresPaymentsProjection;
  const topic = uniqueName('payments-events');

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({ clientId: 'projection-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    pool = new pg.Pool({ connectionString: env.postgresUrl, max: 4, connectionTimeoutMillis: 5_000 });
    await migratePaymentsProjection(pool);
    projection = new PostgresPaymentsProjection(pool);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });
  after(async () => {
    await pool?.end();
  });

  async function allCompleted(paymentIds: readonly string[]): Promise<boolean> {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM payflow.payments WHERE payment_id = ANY($1) AND status = 'COMPLETED'",
      [paymentIds],
    );
    return rows[0]!.n === paymentIds.length;
  }

  test('events of many payments are all projected once, a failing target is retried until it recovers, and a bad record is dead-lettered', async () => {
    const paymentIds = Array.from({ length: 20 }, () => uniqueName('pay'));
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, messages: paymentIds.flatMap(paymentRecords) });
    await producer.send({ topic, messages: [{ key: 'poison', value: '{"not":"an event"}' }] });
    await producer.disconnect();

    let failuresLeft = 3;
    const sinkErrors: number[] = [];
    const deadLetters: string[] = [];
    const consumer = await runKafkaProjection({
      kafka,
      groupId: uniqueName('projection'),
      topic,
      decode: decodeJson,
      sink: {
        apply: async (events) => {
          // The target is "down" for the first three attempts, as a database restart would be.
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
          }
          await projection.apply(events);
        },
      },
      deadLetter: (message, _partition, reason) => {
        deadLetters.push(`${message.key?.toString()}: ${reason.message}`);
        return Promise.resolve();
      },
      retry: { initialDelayMs: 50, maxDelayMs: 200 },
      onSinkError: (_error, attempt) => sinkErrors.push(attempt),
    });
    try {
      await until(() => allCompleted(paymentIds), 'all payments COMPLETED');
      await until(() => Promise.resolve(deadLetters.length === 1), 'the poison record to be dead-lettered');
    } finally {
      await consumer.disconnect();
    }
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM payflow.payment_events WHERE payment_id = ANY($1)',
      [paymentIds],
    );
    assert.equal(rows[0]!.n, paymentIds.length * 3);
    assert.equal(sinkErrors.length, 3);
    assert.deepEqual(deadLetters, ['poison: paymentId missing']);
  });
  test('an event PostgreSQL refuses is dead-lettered with its reason while the rest of its batch is applied, instead of stopping the partition', async () => {
    const paymentIds = Array.from({ length: 6 }, () => uniqueName('pay'));
    const refused = uniqueName('pay');
    const refusedTopic = uniqueName('payments-events');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: refusedTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    // A currency of four letters does not fit the projection's char(3) column: refused on every retry.
    const [bad] = paymentRecords(refused).map((r) => ({ ...r, value: r.value.replace('"EUR"', '"EURO"') }));
    const records = paymentIds.flatMap((id) => paymentRecords(id));
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: refusedTopic,
      messages: [...records.slice(0, 9), bad!, ...records.slice(9)],
    });
    await producer.disconnect();

    const deadLetters: string[] = [];
    const transientErrors: unknown[] = [];
    const consumer = await runKafkaProjection({
      kafka,
      groupId: uniqueName('projection'),
      topic: refusedTopic,
      decode: decodeJson,
      sink: projection,
      deadLetter: (message, _partition, reason) => {
        deadLetters.push(`${message.key?.toString()}: ${reason.message}`);
        return Promise.resolve();
      },
      retry: { initialDelayMs: 50, maxDelayMs: 200 },
      onSinkError: (error) => transientErrors.push(error),
    });
    try {
      await until(() => allCompleted(paymentIds), 'every other payment COMPLETED');
    } finally {
      await consumer.disconnect();
    }
    assert.equal(deadLetters.length, 1, JSON.stringify(deadLetters));
    assert.match(deadLetters[0]!, new RegExp(`^${refused}: .*character`));
    assert.deepEqual(transientErrors, []);
    assert.equal(await projection.getPayment(refused), undefined);
  });
});
