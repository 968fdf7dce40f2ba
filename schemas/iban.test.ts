import assert from 'node:assert/strict';
import { test } from 'node:test';

import { findIbans, ibanProblem, maskIbansIn } from './iban.js';
import { IBAN_TEST_TABLE } from './iban-test-table.js';

for (const { what, iban, problem } of IBAN_TEST_TABLE) {
  test(`the IBAN rule ${problem === undefined ? 'accepts' : 'refuses'} ${what}`, () => {
    const answer = ibanProblem(iban);
    if (problem === undefined) assert.equal(answer, undefined);
    else assert.match(answer ?? '(accepted)', problem);
  });
}

test('the IBAN rule never repeats the IBAN it refuses', () => {
  for (const { iban } of IBAN_TEST_TABLE)
    assert.ok(!(ibanProblem(iban) ?? '').includes(iban.slice(0, 6)), iban);
});

test('every valid IBAN in a text is found, printed in groups or in lower case, and nothing that only looks like one', () => {
  const text =
    'pay SA03 8000 0000 6080 1016 7519 THANKS, ref de89370400440532013000; ' +
    'also AB12 GB82-WEST-1234-5698-7654-32 and not DE89370400440532013001 nor ZZ65123456789012';
  assert.deepEqual(
    findIbans(text).map((found) => found.iban),
    ['SA0380000000608010167519', 'DE89370400440532013000', 'GB82WEST12345698765432'],
  );
  assert.deepEqual(findIbans('invoice 2026-11-30 for order 4711'), []);
});

test('masking a text leaves only the country code and last four characters of each IBAN, and the rest as it was', () => {
  assert.equal(
    maskIbansIn('to SA03 8000 0000 6080 1016 7519 for rent; DE89370400440532013000.'),
    'to SA****7519 for rent; DE****3000.',
  );
  assert.equal(maskIbansIn('rent for November'), 'rent for November');
  for (const { iban, problem } of IBAN_TEST_TABLE) {
    if (problem === undefined) assert.ok(!maskIbansIn(`x ${iban} y`).includes(iban.slice(4, -4)));
  }
});

test('an IBAN glued to other text, grouped by dots, no-break spaces or double spaces, or after a binary length byte is still found', () => {
  const found = (text: string) => findIbans(text).map((entry) => entry.iban);
  assert.deepEqual(found('refSA0380000000608010167519'), ['SA0380000000608010167519']);
  assert.deepEqual(found('\u00020SA0380000000608010167519\u0004GB82WEST12345698765432'), [
    'SA0380000000608010167519',
    'GB82WEST12345698765432',
  ]);
  assert.deepEqual(found('SA03.8000.0000.6080.1016.7519'), ['SA0380000000608010167519']);
  assert.deepEqual(found('SA03\u00a08000\u00a00000\u00a06080\u00a01016\u00a07519'), [
    'SA0380000000608010167519',
  ]);
  assert.deepEqual(found('SA03  8000  0000  6080  1016  7519'), ['SA0380000000608010167519']);
  assert.deepEqual(found('DE89370400440532013000GB82WEST12345698765432'), [
    'DE89370400440532013000',
    'GB82WEST12345698765432',
  ]);
});
