import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { topicCatalogue } from './catalogue.js';
import { resultTable } from './table.js';

describe('topics:create table', () => {
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
