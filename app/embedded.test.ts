/** The embedded mode's pipeline: what its readiness and metrics say when a partition stops. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Registry } from 'prom-client';

import type { PaymentInFlight } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { EmbeddedPipeline } from './embedded.js';
import { paymentCommand } from '../processors/test-fixtures.js';

test('a program error in the embedded pipeline turns its readiness red and payflow_component_up of the processor to 0, naming why', async () => {
  const registry = new Registry();
  const pipeline = new EmbeddedPipeline({ metricsRegistry: registry, now: () => 1_700_000_000_000 });
  assert.equal(pipeline.driver.notReadyDetail, undefined);
  const unbalanced: PaymentInFlight = {
    command: paymentCommand({
      kind: 'DEPOSIT',
      senderAccountId: 'funding:EUR',
      recipientAccountId: 'acc-b',
      currency: 'USD',
      amountMinor: 100n,
    }),
    nextSequence: 2,
  };
  await pipeline.driver.pipe(TOPIC.paymentsValidated, 'funding:EUR', unbalanced);
  assert.match(
    pipeline.driver.notReadyDetail ?? '',
    /processor:ledger failed \(TaskFailedError: ledger partition \d+ stopped at payments\.validated offset 0: InvariantError: posting pay-1:debit is unbalanced/,
  );
  const metrics = await registry.metrics();
  assert.match(metrics, /payflow_component_up\{component="processor:ledger"\} 0/);
  assert.match(metrics, /payflow_component_up\{component="processor:validate"\} 1/);
  assert.match(metrics, /payflow_processor_task_failures_total\{processor="ledger",partition="\d+"\} 1/);
  assert.deepEqual(pipeline.driver.records(TOPIC.deadLetter), []);
});
