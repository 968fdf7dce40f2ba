import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isValidIban, maskIban } from './iban.js';

it('a masked IBAN keeps only the country code and the last four characters', () => {
  assert.equal(maskIban('SA0380000000608010167519'), 'SA****7519');
  assert.equal(maskIban('GB82 WEST 1234 5698 7654 32'), 'GB****5432');
  assert.equal(maskIban('SA03'), '****');
});

it('an IBAN is valid only with the right shape and mod-97 check digits', () => {
  assert.equal(isValidIban('SA0380000000608010167519'), true);
  assert.equal(isValidIban('GB82WEST12345698765432'), true);
  assert.equal(isValidIban('GB83WEST12345698765432'), false);
  assert.equal(isValidIban('gb82west12345698765432'), false);
});
