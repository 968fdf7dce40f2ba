import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { describeGatewayEnv } from './config.js';

test('every environment variable the gateway reads is documented in its README table', () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const table = readme.split('\n').filter((line) => line.startsWith('| `PAYFLOW_'));
  const undocumented = describeGatewayEnv()
    .map(({ name }) => name)
    .filter((name) => !table.some((row) => row.includes(`\`${name}\``)));
  assert.deepEqual(undocumented, [], 'add a row to gateway/README.md for each of these');
});
