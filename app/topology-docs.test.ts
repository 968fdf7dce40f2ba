/** The README's topology diagram is what the runtime prints for the pipeline. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { pipelineTopologyText, withTopology } from './topology-docs.js';

test("the README's topology is the runtime's describe() of the pipeline (npm run topology -- --write)", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(readme, withTopology(readme, pipelineTopologyText()));
});
