import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decimalToMinor, JsonNumber, minorToDecimal, parseJsonExact, rawJsonNumber } from './money.js';

describe('exact amount conversions at the partner edge', () => {
  test('minor units become a decimal of major units with the currency exponent, and back, exactly', () => {
    for (const [minor, exponent, text] of [
      [12_345n, 2, '123.45'],
      [5n, 2, '0.05'],
      [1_000n, 0, '1000'],
      [1_250n, 3, '1.250'],
      [9_007_199_254_740_993n, 2, '90071992547409.93'],
    ] as const) {
      assert.equal(minorToDecimal(minor, exponent), text);
      assert.equal(decimalToMinor(text, exponent, true), minor);
    }
  });

  test('a decimal with too many digits, a sign, an exponent or leading zeros is not an amount', () => {
    for (const bad of ['1.234', '-1.00', '1e2', '01.00', '1.', '.5', ' 1.00', '1,00'])
      assert.equal(decimalToMinor(bad, 2), undefined, bad);
    assert.equal(decimalToMinor('10.5', 2), 1_050n, 'fewer digits are fine unless exact');
    assert.equal(decimalToMinor('10.5', 2, true), undefined);
    assert.equal(decimalToMinor('10.0', 0), undefined);
  });

  test('JSON numbers are written and read as their literal, never through a double', () => {
    const text = JSON.stringify({ value: rawJsonNumber('90071992547409.93') });
    assert.equal(text, '{"value":90071992547409.93}');
    const parsed = parseJsonExact(text) as { value: JsonNumber };
    assert.equal(parsed.value.source, '90071992547409.93');
    assert.equal((parseJsonExact('{"v":0.10}') as { v: JsonNumber }).v.source, '0.10');
  });
});
