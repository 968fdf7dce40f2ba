import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { topicCatalogue } from './catalogue.js';
import { brokersFromEnv, resultTable } from './create-cli.js';

describe('topics:create command line', () => {
  test('PAYFLOW_KAFKA_BROKERS is read as a comma-separated list of host:port', () => {
    assert.deepEqual(brokersFromEnv({ PAYFLOW_KAFKA_BROKERS: '127.0.0.1:9092, kafka-2.internal:19092' }), [
      '127.0.0.1:9092',
      'kafka-2.internal:19092',
    ]);
  });

  test('a missing or malformed PAYFLOW_KAFKA_BROKERS is refused with the variable named', () => {
    for (const env of [
      {},
      { PAYFLOW_KAFKA_BROKERS: '' },
      { PAYFLOW_KAFKA_BROKERS: 'localhost' },
      { PAYFLOW_KAFKA_BROKERS: 'a:1,,b:2' },
    ]) {
      assert.throws(() => brokersFromEnv(env), /PAYFLOW_KAFKA_BROKERS/);
    }
  });

  test('the printed table has one row per catalogue topic with its partitions, cleanup, retention, key and outcome', () => {
    const catalogue = topicCatalogue({});
    const table = resultTable(catalogue, [
      { name: 'payments.events', partitions: 6, cleanupPolicy: 'delete', outcome: 'created' },
    ]);
    const lines = table.split('\n');
    assert.equal(lines.length, catalogue.length + 2);
    assert.match(lines[0] ?? '', /^topic\s+partitions\s+cleanup\s+retention\s+key\s+outcome$/);
    assert.match(table, /^payments\.events\s+6\s+delete\s+30 days\s+paymentId\s+created$/m);
    assert.match(table, /^accounts\s+6\s+compact\s+latest per key\s+accountId\s+-$/m);
  });
});
