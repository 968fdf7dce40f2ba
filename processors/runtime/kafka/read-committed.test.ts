import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  assertReadCommittedFilter,
  deliveredOffsets,
  installedAbortedFilter,
  READ_COMMITTED_CASES,
} from './read-committed.js';

for (const fetch of READ_COMMITTED_CASES) {
  test(`read_committed: ${fetch.name}`, () => {
    assert.deepEqual(deliveredOffsets(installedAbortedFilter(), fetch), fetch.delivered);
  });
}

test('read_committed: committed records of every producer are delivered in order when nothing was aborted', () => {
  const filter = installedAbortedFilter();
  const records = [0, 1, 2].map((offset) => ({
    offset: String(offset),
    key: Buffer.from(`k${offset}`),
    batchContext: { producerId: String(offset % 2), inTransaction: true },
  }));
  assert.deepEqual(
    filter({ messages: records, abortedTransactions: [] }).map((r) => r.offset),
    ['0', '1', '2'],
  );
});

test('the runtime accepts the installed kafkajs: its read_committed filter skips every aborted record', () => {
  assert.doesNotThrow(() => assertReadCommittedFilter());
});
