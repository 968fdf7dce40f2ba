import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DEFAULT_MODEL, DEFAULT_RULES, FraudConfigError } from '../processors/fraud/index.js';
import { loadModel, loadRules } from './fraud-files.js';

const fraud = (name: string) => fileURLToPath(new URL(`../processors/fraud/${name}`, import.meta.url));

describe('fraud files', () => {
  test('the checked-in rules and model load as the defaults', () => {
    assert.deepEqual(
      loadRules(fraud('default-rules.json')).rules.map((r) => r.id),
      DEFAULT_RULES.rules.map((r) => r.id),
    );
    assert.deepEqual(loadModel(fraud('model.json')), DEFAULT_MODEL);
  });

  test('a missing file and a bad field are named, with the file', (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'payflow-fraud-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const missing = path.join(dir, 'none.json');
    assert.throws(
      () => loadRules(missing),
      (e: unknown) =>
        e instanceof FraudConfigError && e.source === missing && /cannot be read/.test(e.message),
    );
    const bad = path.join(dir, 'rules.json');
    writeFileSync(
      bad,
      JSON.stringify({
        version: 1,
        rules: [{ id: 'x', code: 'X', points: 5, when: { feature: 'nope', op: '>', value: 1 } }],
      }),
    );
    assert.throws(
      () => loadRules(bad),
      new RegExp(`^FraudConfigError: ${bad}: rules\\[0\\]\\.when\\.feature: `),
    );
  });
});
