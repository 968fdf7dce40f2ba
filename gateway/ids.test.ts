import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { uuidv7 } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('is an RFC 9562 version 7 UUID whose first 48 bits are the Unix milliseconds', () => {
    const nowMs = 1_767_225_600_123;
    const id = uuidv7(nowMs);
    assert.match(id, UUID_V7);
    assert.equal(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16), nowMs);
    assert.equal(uuidv7(0).slice(0, 15), '00000000-0000-7');
  });

  it('ids sort by creation time and never repeat', () => {
    const ids = Array.from({ length: 10_000 }, (_, index) => uuidv7(1_767_225_600_000 + index));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    const sameMs = Array.from({ length: 10_000 }, () => uuidv7(1_767_225_600_000));
    assert.equal(new Set(sameMs).size, sameMs.length);
  });

  it('a time that does not fit 48 bits of milliseconds is refused', () => {
    for (const nowMs of [-1, 2 ** 48, 1.5, Number.NaN])
      assert.throws(() => uuidv7(nowMs), RangeError, String(nowMs));
  });
});
