import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  atFinestScale,
  FINEST_EXPONENT,
  formatAmount,
  isSupportedCurrency,
  MINOR_UNIT_EXPONENTS,
  SUPPORTED_CURRENCIES,
} from './currencies.js';

test('each supported currency carries its ISO 4217 minor unit exponent', () => {
  assert.deepEqual(
    [MINOR_UNIT_EXPONENTS.EUR, MINOR_UNIT_EXPONENTS.JPY, MINOR_UNIT_EXPONENTS.KWD, MINOR_UNIT_EXPONENTS.BHD],
    [2, 0, 3, 3],
  );
  assert.equal(SUPPORTED_CURRENCIES.length, 13);
  // The runtime's ICU data agrees on every exponent.
  for (const code of SUPPORTED_CURRENCIES) {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
      .maximumFractionDigits;
    assert.equal(digits, MINOR_UNIT_EXPONENTS[code], code);
  }
});

test('only the listed codes are supported, spelled in upper case', () => {
  assert.equal(isSupportedCurrency('EUR'), true);
  assert.equal(isSupportedCurrency('eur'), false);
  assert.equal(isSupportedCurrency('BTC'), false);
  assert.equal(isSupportedCurrency('toString'), false);
});

test('amounts of every currency scale to the finest minor unit, thousandths', () => {
  assert.equal(FINEST_EXPONENT, 3);
  assert.equal(atFinestScale(1n, 'JPY'), 1000n);
  assert.equal(atFinestScale(1n, 'EUR'), 10n);
  assert.equal(atFinestScale(1n, 'KWD'), 1n);
});

test('an amount in minor units reads as major units with the currency exponent', () => {
  assert.equal(formatAmount(1250n, 'EUR'), '12.50 EUR');
  assert.equal(formatAmount(5n, 'EUR'), '0.05 EUR');
  assert.equal(formatAmount(-5n, 'KWD'), '-0.005 KWD');
  assert.equal(formatAmount(7n, 'JPY'), '7 JPY');
});
