import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { DEFAULT_MODEL } from './default-model.js';
import { FraudConfigError } from './errors.js';
import { parseModel } from './model.js';
import { Random } from './random.js';
import { generateDataset } from './synthetic.js';
import { DEFAULT_TRAINING, precisionRecall, rocAuc, serialize, train } from './train.js';

const checkedIn = (name: string): string => readFileSync(new URL(name, import.meta.url), 'utf8');

describe('fraud model', () => {
  const fresh = train();

  test('the checked-in model.json is byte for byte a fresh training run (npm run fraud:train)', () => {
    assert.equal(checkedIn('model.json'), serialize(fresh.model));
  });

  test('the checked-in model-metrics.json are the metrics of a fresh training run', () => {
    assert.equal(checkedIn('model-metrics.json'), serialize(fresh.metrics));
  });

  test('the same seed gives the same model; another seed another one', () => {
    const small = { ...DEFAULT_TRAINING, rows: 4_000, epochs: 50 };
    assert.equal(serialize(train(small).model), serialize(train(small).model));
    assert.notEqual(serialize(train({ ...small, seed: 7 }).model), serialize(train(small).model));
  });

  test('the model separates fraud from legitimate payments on the held-out rows (ROC AUC ≥ 0.9)', () => {
    assert.ok(fresh.metrics.modelRocAuc >= 0.9, String(fresh.metrics.modelRocAuc));
    assert.ok(fresh.metrics.heldOutFraudRows > 500);
  });

  test('the checked-in model is the default model, and parseModel names a bad field', () => {
    assert.deepEqual(DEFAULT_MODEL, fresh.model);
    const bad = {
      ...fresh.model,
      inputs: fresh.model.inputs.map((i, k) => (k === 2 ? { ...i, scale: 0 } : i)),
    };
    assert.throws(
      () => parseModel(bad, 'm.json'),
      (error: unknown) =>
        error instanceof FraudConfigError && /^inputs\[2\]\.scale: /.test(error.problems[0]!),
    );
    assert.throws(() => parseModel({ ...fresh.model, maxPoints: 50 }), /maxPoints: /);
  });

  test('the synthetic data set is the same for the same seed', () => {
    const a = generateDataset(5, 500);
    const b = generateDataset(5, 500);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, generateDataset(6, 500));
    const first = new Random(1);
    const second = new Random(1);
    assert.deepEqual([first.next(), first.next()], [second.next(), second.next()]);
  });

  test('ROC AUC and precision/recall count as defined', () => {
    assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75);
    assert.equal(rocAuc([1, 1], [true, false]), 0.5);
    assert.deepEqual(precisionRecall([true, true, false, false], [true, false, true, false]), {
      flagged: 2,
      precision: 0.5,
      recall: 0.5,
      falsePositiveRate: 0.5,
    });
  });
});
