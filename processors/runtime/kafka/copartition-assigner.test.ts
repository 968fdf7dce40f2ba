import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assignCoPartitioned } from './copartition-assigner.js';

test('partition N of every co-partitioned topic goes to the same member', () => {
  const plan = assignCoPartitioned(
    ['m-b', 'm-a'],
    new Map([
      ['debits', 6],
      ['credits', 6],
    ]),
  );
  for (const assignment of plan.values()) assert.deepEqual(assignment.debits, assignment.credits);
  assert.deepEqual(plan.get('m-a'), { debits: [0, 2, 4], credits: [0, 2, 4] });
  assert.deepEqual(plan.get('m-b'), { debits: [1, 3, 5], credits: [1, 3, 5] });
});

test('every partition is assigned exactly once whatever the member order', () => {
  const forward = assignCoPartitioned(['x', 'y', 'z'], new Map([['t', 7]]));
  const backward = assignCoPartitioned(['z', 'y', 'x'], new Map([['t', 7]]));
  assert.deepEqual(forward, backward);
  const all = [...forward.values()].flatMap((a) => a.t ?? []).sort((a, b) => a - b);
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6]);
});

test('more members than partitions leaves the extra members idle', () => {
  const plan = assignCoPartitioned(['a', 'b', 'c'], new Map([['t', 2]]));
  assert.deepEqual(plan.get('c'), {});
});
