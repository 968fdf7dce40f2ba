import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';

import { RetriableError } from '../processors/runtime/api.js';
import { TombstoneError } from './accounts-runner.js';
import { LedgerPostingError } from './account-view.js';
import { deadLetterCode, isUnreachableTarget, runKafkaProjection, UndecodableError } from './kafka-runner.js';
import { ProjectionOrderError } from './payment-view.js';
import { storableText } from './postgres/payments.js';

const pgError = (code: string, message = 'refused') => Object.assign(new Error(message), { code });

describe('projection failures: retried or dead-lettered', () => {
  test('only an unreachable target is retried: refused connections, resets, timeouts, a database shutting down or refusing connections', () => {
    for (const error of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P03', 'the database system is starting up'),
      pgError('08006', 'connection failure'),
      pgError('53300', 'too many connections'),
      pgError('57014', 'canceling statement due to statement timeout'),
      pgError('40P01', 'deadlock detected'),
      pgError('25006', 'cannot execute INSERT in a read-only transaction'),
      pgError('42P01', 'relation "payflow.payments" does not exist'),
      pgError('XX000', 'internal error'),
      new Error('Query read timeout'),
      new Error('There was an error establishing an SSL connection'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }),
    ]) {
      assert.equal(isUnreachableTarget(error), true, String(error));
    }
  });

  test('an error of the record itself is not retried: data exceptions, constraint violations, an event out of order, a plain bug', () => {
    const event = {
      eventId: 'p:1',
      paymentId: 'p',
      type: 'PaymentRejected',
      sequence: 1,
      occurredAtMs: 0,
      correlationId: null,
    };
    for (const error of [
      pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'),
      pgError('23505', 'duplicate key'),
      pgError('22P02', 'invalid input syntax for type bigint: "Connection terminated"'),
      new ProjectionOrderError(event, 'arrived before PaymentInitiated', 'MISSING_PREDECESSOR'),
      new TypeError("Cannot read properties of undefined (reading 'x')"),
    ]) {
      assert.equal(isUnreachableTarget(error), false, String(error));
    }
  });

  test('each dead letter carries a code from the closed list', () => {
    const event = {
      eventId: 'p:2',
      paymentId: 'p',
      type: 'PaymentCompleted',
      sequence: 2,
      occurredAtMs: 0,
      correlationId: null,
    };
    assert.equal(deadLetterCode(new UndecodableError(new Error('bad magic byte'))), 'UNDECODABLE');
    assert.equal(deadLetterCode(new TombstoneError('payments.events')), 'TOMBSTONE');
    assert.equal(
      deadLetterCode(new LedgerPostingError({ postingId: 'x', lines: [] } as never, 'has no lines')),
      'UNBALANCED_POSTING',
    );
    assert.equal(
      deadLetterCode(new ProjectionOrderError(event, 'x', 'MISSING_PREDECESSOR')),
      'MISSING_PREDECESSOR',
    );
    assert.equal(deadLetterCode(new ProjectionOrderError(event, 'x', 'SEQUENCE_GAP')), 'SEQUENCE_GAP');
    assert.equal(
      deadLetterCode(pgError('22001', 'value too long for type character(3)')),
      'REFUSED_BY_TARGET',
    );
    assert.equal(deadLetterCode(new TypeError('bug')), 'UNAPPLICABLE');
  });

  test('text PostgreSQL cannot hold (U+0000) is stored as U+FFFD, the rest unchanged', () => {
    assert.equal(storableText('invoice\u0000 42\u0000'), 'invoice\uFFFD 42\uFFFD');
    assert.equal(storableText('plain'), 'plain');
    assert.equal(storableText(null), null);
  });
});

/** A kafkajs consumer stand-in: hands the runner's eachBatch to the test. */
function fakeKafka() {
  const handlers: { eachBatch?: (payload: EachBatchPayload) => Promise<void> } = {};
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' },
    on: () => undefined,
    connect: () => Promise.resolve(),
    subscribe: () => Promise.resolve(),
    run: (config: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) => {
      handlers.eachBatch = config.eachBatch;
      return Promise.resolve();
    },
    disconnect: () => Promise.resolve(),
  };
  return { kafka: { consumer: () => consumer } as unknown as Kafka, handlers };
}

function batchOf(message: KafkaMessage) {
  const resolved: string[] = [];
  const payload = {
    batch: {
      topic: 'payments.events',
      partition: 0,
      messages: [message],
      isEmpty: () => false,
      lastOffset: () => message.offset,
      offsetLag: () => '0',
    },
    resolveOffset: (offset: string) => resolved.push(offset),
    commitOffsetsIfNecessary: () => Promise.resolve(),
    heartbeat: () => Promise.resolve(),
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload;
  return { payload, resolved };
}

describe('a projection decoding through the schema registry', () => {
  test('a registry it cannot reach fails the batch, uncommitted, for the supervisor to read again; undecodable bytes are dead-lettered UNDECODABLE', async () => {
    const { kafka, handlers } = fakeKafka();
    const deadLetters: string[] = [];
    let registryReachable = false;
    const applied: unknown[] = [];
    const projection = await runKafkaProjection<string>({
      kafka,
      groupId: 'read-model.test',
      topic: 'payments.events',
      decode: (message) => {
        if (!registryReachable) return Promise.reject(new RetriableError('schema registry: ECONNREFUSED'));
        if (message.value?.toString() === 'garbage') return Promise.reject(new Error('bad magic byte'));
        return Promise.resolve(message.value?.toString() ?? '');
      },
      sink: { apply: (events) => void applied.push(...events) },
      deadLetter: (_message, _partition, reason) => {
        deadLetters.push(deadLetterCode(reason));
        return Promise.resolve();
      },
    });
    const message = (offset: string, value: string) =>
      ({ offset, key: Buffer.from('p'), value: Buffer.from(value), headers: {} }) as unknown as KafkaMessage;
    const unreachable = batchOf(message('0', 'event-1'));
    await assert.rejects(handlers.eachBatch!(unreachable.payload), RetriableError);
    assert.deepEqual(deadLetters, [], 'not dead-lettered');
    assert.deepEqual(unreachable.resolved, [], 'not committed');
    registryReachable = true;
    const again = batchOf(message('0', 'event-1'));
    await handlers.eachBatch!(again.payload);
    assert.deepEqual(applied, ['event-1']);
    await handlers.eachBatch!(batchOf(message('1', 'garbage')).payload);
    assert.deepEqual(deadLetters, ['UNDECODABLE']);
    await projection.disconnect();
  });
});
