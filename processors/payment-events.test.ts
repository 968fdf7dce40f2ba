import assert from 'node:assert/strict';
import { test } from 'node:test';

import { factsOf } from './payment-events.js';
import { paymentCommand } from './test-fixtures.js';

test('a reference with an IBAN in it is published masked, also for a command that did not come through the gateway', () => {
  const facts = factsOf(paymentCommand({ reference: 'rent to SA03 8000 0000 6080 1016 7519' }));
  assert.equal(facts.reference, 'rent to SA****7519');
  assert.equal(factsOf(paymentCommand({ reference: 'invoice 42' })).reference, 'invoice 42');
  assert.equal(factsOf(paymentCommand({ reference: null })).reference, null);
});
