import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Lifecycle } from './lifecycle.js';

describe('lifecycle', () => {
  test('resources close newest first, each once, however often close is called', async () => {
    const closed: string[] = [];
    const lifecycle = new Lifecycle();
    for (const name of ['pool', 'pipeline', 'publisher'])
      lifecycle.own(name, name, (n) => void closed.push(n));
    await Promise.all([lifecycle.close(), lifecycle.close()]);
    await lifecycle.close();
    assert.deepEqual(closed, ['publisher', 'pipeline', 'pool']);
  });

  test('a resource that fails to close does not keep the older ones open, and close rejects with its error', async () => {
    const closed: string[] = [];
    const warnings: unknown[] = [];
    const lifecycle = new Lifecycle({ log: { warn: (detail) => void warnings.push(detail) } });
    lifecycle.own('pool', 'pool', (n) => void closed.push(n));
    lifecycle.own('broken', 'broken', () => Promise.reject(new Error('socket hang up')));
    await assert.rejects(lifecycle.close(), /socket hang up/);
    assert.deepEqual(closed, ['pool']);
    assert.deepEqual(warnings, [{ resource: 'broken', error: 'socket hang up' }]);
  });

  test('a resource that never closes is given up after the bound, and the rest still close', async () => {
    const closed: string[] = [];
    const lifecycle = new Lifecycle({ closeTimeoutMs: 50 });
    lifecycle.own('pool', 'pool', (n) => void closed.push(n));
    lifecycle.own('stuck', 'stuck', () => new Promise(() => undefined));
    await assert.rejects(lifecycle.close(), /stuck did not close within 50 ms/);
    assert.deepEqual(closed, ['pool']);
  });

  test('a resource may have its own close bound, longer or shorter than the default', async () => {
    const lifecycle = new Lifecycle({ closeTimeoutMs: 10_000 });
    lifecycle.own('stuck', 'stuck', () => new Promise(() => undefined), { closeTimeoutMs: 30 });
    await assert.rejects(lifecycle.close(), /stuck did not close within 30 ms/);
  });

  test('nothing may open once closing began', async () => {
    const lifecycle = new Lifecycle();
    await lifecycle.close();
    assert.throws(
      () => lifecycle.own('late', 1, () => undefined),
      /late opened after the program began to close/,
    );
  });
});
