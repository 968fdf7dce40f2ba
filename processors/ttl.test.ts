import assert from 'node:assert/strict';
import { test } from 'node:test';

import { expiredKeys, isExpired } from './ttl.js';

test('an entry expires once it is exactly the TTL old, not a millisecond before', () => {
  assert.equal(isExpired(1_000, 1_999, 1_000), false);
  assert.equal(isExpired(1_000, 2_000, 1_000), true);
});

test('the purge selects exactly the entries at least the TTL old', () => {
  const entries: [string, number][] = [
    ['old', 0],
    ['edge', 500],
    ['young', 501],
  ];
  assert.deepEqual(
    expiredKeys(entries, (recordedAtMs) => recordedAtMs, 1_500, 1_000),
    ['old', 'edge'],
  );
});
