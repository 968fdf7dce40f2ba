import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TombstoneError } from './accounts-runner.js';
import { LedgerPostingError } from './account-view.js';
import { deadLetterCode, isUnreachableTarget, UndecodableError } from './kafka-runner.js';
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
