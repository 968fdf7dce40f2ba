/** The embedded mode's pipeline: what its readiness and metrics say when a partition stops. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Registry } from 'prom-client';

import type { CreditInstruction } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { EmbeddedPipeline } from './embedded.js';

test('a program error in the embedded pipeline turns its readiness red and payflow_component_up of the processor to 0, naming why', async () => {
  const registry = new Registry();
  const pipeline = new EmbeddedPipeline({ metricsRegistry: registry, now: () => 1_700_000_000_000 });
  assert.equal(pipeline.driver.notReadyDetail, undefined);
  // A credit leg of nothing: a posting with a zero line breaks the ledger's invariants.
  const stray: CreditInstruction = {
    paymentId: 'pay-1',
    recipientAccountId: 'acc-b',
    amountMinor: 0n,
    currency: 'EUR',
    nextSequence: 4,
    correlationId: null,
  };
  await pipeline.driver.pipe(TOPIC.ledgerCredits, 'acc-b', stray);
  assert.match(
    pipeline.driver.notReadyDetail ?? '',
    /subtopology:payments failed \(TaskFailedError: ledger partition \d+ stopped at ledger\.credits offset 0: InvariantError: posting pay-1:credit has a zero line for transit:EUR:\d+/,
  );
  const metrics = await registry.metrics();
  assert.match(metrics, /payflow_component_up\{component="subtopology:payments"\} 0/);
  assert.match(metrics, /payflow_component_up\{component="subtopology:accounts"\} 1/);
  assert.match(metrics, /payflow_processor_task_failures_total\{processor="ledger",partition="\d+"\} 1/);
  assert.deepEqual(pipeline.driver.records(TOPIC.deadLetter), []);
});
