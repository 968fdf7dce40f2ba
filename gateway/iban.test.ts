import assert from 'node:assert/strict';
import { it } from 'node:test';
import { maskIban } from './iban.js';

it('a masked IBAN keeps only the country code and the last four characters', () => {
  assert.equal(maskIban('SA0380000000608010167519'), 'SA****7519');
  assert.equal(maskIban('GB82 WEST 1234 5698 7654 32'), 'GB****5432');
  assert.equal(maskIban('SA03'), '****');
});
