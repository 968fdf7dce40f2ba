import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigError } from '../gateway/index.js';
import { parseInvocation } from './projections-rebuild.js';

const problems = (args: string[], configured: string[] = ['postgres', 'elasticsearch', 'archive']) => {
  try {
    parseInvocation(args, configured);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.join('\n');
  }
  assert.fail('expected a ConfigError');
};

test('rebuilding postgres takes the default bounds unless an option sets one', () => {
  assert.deepEqual(parseInvocation(['postgres'], ['postgres']), {
    name: 'postgres',
    timeouts: { 'catch-up-timeout-ms': 600_000, 'swap-timeout-ms': 30_000, 'lock-timeout-ms': 10_000 },
  });
  assert.equal(
    parseInvocation(['postgres', '--swap-timeout-ms=5000'], ['postgres']).timeouts['swap-timeout-ms'],
    5_000,
  );
});

test('an unknown or missing projection name is refused naming the rebuildable names (exit 2)', () => {
  assert.match(problems(['payments']), /must be one of postgres, elasticsearch, archive \(got payments\)/);
  assert.match(problems([]), /got none/);
});

test('a projection PAYFLOW_PROJECTIONS does not feed is refused', () => {
  assert.match(problems(['archive'], ['postgres']), /archive is not in PAYFLOW_PROJECTIONS/);
});

test('the search index is rebuildable with the same bounds', () => {
  assert.deepEqual(
    parseInvocation(['elasticsearch', '--lock-timeout-ms=2000'], ['postgres', 'elasticsearch']),
    {
      name: 'elasticsearch',
      timeouts: { 'catch-up-timeout-ms': 600_000, 'swap-timeout-ms': 30_000, 'lock-timeout-ms': 2_000 },
    },
  );
});

test('every projection has a rebuild: postgres and elasticsearch swap, the archive rebuilds in place', () => {
  for (const name of ['postgres', 'elasticsearch', 'archive'])
    assert.equal(parseInvocation([name], ['postgres', 'elasticsearch', 'archive']).name, name);
});

test('an unknown option or a bound that is not a positive integer is refused', () => {
  assert.match(problems(['postgres', '--fast']), /--fast: expected/);
  assert.match(problems(['postgres', '--swap-timeout-ms=0']), /--swap-timeout-ms=0: expected/);
});
