import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ibanProblem } from './iban.js';
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
