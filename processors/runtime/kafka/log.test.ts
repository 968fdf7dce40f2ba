import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';

import { logLevel } from 'kafkajs';
import { pino } from 'pino';

import { pinoLogCreator } from './log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = pinoLogCreator(pino({ level: 'debug' }, stream))(logLevel.DEBUG);
  return { lines, log };
}

test('kafkajs logs become pino JSON lines with their fields, retried conditions at info and real errors at error', () => {
  const { lines, log } = capture();
  const at = { timestamp: '2026-01-01T00:00:00.000Z', logger: 'kafkajs' };
  const concurrent =
    'Failed to send messages: The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
  const entries: [string, logLevel, Record<string, unknown>][] = [
    ['Runner', logLevel.WARN, { message: 'The group is rebalancing, re-joining', groupId: 'payflow-ledger' }],
    [
      'Connection',
      logLevel.ERROR,
      { message: 'Response Heartbeat', error: 'The group is rebalancing, so a rejoin is needed' },
    ],
    // CONCURRENT_TRANSACTIONS: the previous transaction's commit markers are still being written.
    ['Producer', logLevel.ERROR, { message: concurrent, retryCount: 0, retryTime: 21 }],
    [
      'Producer',
      logLevel.ERROR,
      { message: 'Failed to send messages', error: 'This server does not host this topic-partition' },
    ],
  ];
  for (const [namespace, level, fields] of entries) {
    log({ namespace, level, label: logLevel[level], log: { ...at, message: '', ...fields } });
  }
  assert.deepEqual(
    lines.map((l) => [l.level, l.component, l.msg]),
    [
      [30, 'kafkajs.Runner', 'The group is rebalancing, re-joining'],
      [30, 'kafkajs.Connection', 'Response Heartbeat'],
      [30, 'kafkajs.Producer', concurrent],
      [50, 'kafkajs.Producer', 'Failed to send messages'],
    ],
  );
  assert.equal(lines[0]!.groupId, 'payflow-ledger');
  assert.equal(lines[2]!.retryTime, 21);
  assert.equal(lines[3]!.error, 'This server does not host this topic-partition');
  assert.equal(lines[0]!.logger, undefined, "kafkajs's own timestamp and logger name are not repeated");
});
