import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromJson, toJson } from './json-serde.js';

test('bigints survive JSON exactly, inside objects and arrays', () => {
  const value = { amount: 2n ** 70n, lines: [1n, -5n], note: 'bigint in a string', n: 1 };
  assert.deepEqual(fromJson(toJson(value)), value);
});

test('JSON without the tag parses as is, and a tag written with escapes is still read as a bigint', () => {
  assert.deepEqual(fromJson('{"a":{"b":[1,"x"]}}'), { a: { b: [1, 'x'] } });
  assert.equal(fromJson('{"\\u0024bigint":"12"}'), 12n);
  assert.deepEqual(fromJson('{"$bigint":"7","other":1}'), { $bigint: '7', other: 1 });
});
