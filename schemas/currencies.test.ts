import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISO_4217_MINOR_UNITS, SUPPORTED_CURRENCIES, SUPPORTED_MINOR_UNITS } from './currencies.js';

test('every supported currency is an ISO 4217 currency with the ISO exponent', () => {
  for (const code of SUPPORTED_CURRENCIES) {
    assert.equal(SUPPORTED_MINOR_UNITS[code], ISO_4217_MINOR_UNITS[code], code);
  }
});

test('withdrawn codes, metals, funds and the test codes are not ISO currencies here', () => {
  for (const code of ['HRK', 'ZWL', 'CUC', 'XAU', 'XAG', 'XXX', 'XTS', 'XDR', 'CLF', 'USN', 'SLL', 'BTC']) {
    assert.equal(Object.hasOwn(ISO_4217_MINOR_UNITS, code), false, code);
  }
});

test('the list holds three-letter upper-case codes, each once, with exponents 0, 2 or 3', () => {
  const codes = Object.keys(ISO_4217_MINOR_UNITS);
  assert.ok(codes.length > 150, `only ${codes.length} codes`);
  for (const code of codes) assert.match(code, /^[A-Z]{3}$/);
  for (const exponent of Object.values(ISO_4217_MINOR_UNITS)) assert.ok([0, 2, 3].includes(exponent));
});
