import assert from 'node:assert/strict';
import { test } from 'node:test';

import { defaultPipelineSettings } from './config.js';
import { clonablePipeline, compiledPipeline } from './worker.js';

test("a worker's pipeline settings cross to its process by structured clone and score the same: bigint limits, the model, and the fraud rules as their document, compiled again", () => {
  const settings = defaultPipelineSettings();
  assert.throws(() => structuredClone(settings), /could not be cloned/);
  const arrived = compiledPipeline(structuredClone(clonablePipeline(settings)));
  assert.deepEqual(arrived.processors.velocity, settings.processors.velocity);
  assert.deepEqual(arrived.processors.fraud.model, settings.processors.fraud.model);
  const ids = (pipeline: typeof settings) => pipeline.processors.fraud.rules.rules.map((rule) => rule.id);
  assert.deepEqual(ids(arrived), ids(settings));
  for (const rule of arrived.processors.fraud.rules.rules) assert.equal(typeof rule.test, 'function');
});
