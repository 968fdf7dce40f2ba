/**
 * `npm run fraud:train`: trains the fraud model on the seeded synthetic data set and writes
 * processors/fraud/model.json and model-metrics.json. Same seed → the same bytes; the model
 * test (processors/fraud/train.test.ts) fails when the checked-in files are not those of a
 * fresh run. `--seed N` trains with another seed (for experiments; the test expects the default).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { DEFAULT_TRAINING, serialize, train } from '../processors/fraud/train.js';

const { values } = parseArgs({ options: { seed: { type: 'string' } } });
const seed = values.seed === undefined ? DEFAULT_TRAINING.seed : Number(values.seed);
if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
  process.stderr.write(`fraud:train: --seed must be a whole number from 0 to 4294967295\n`);
  process.exit(2);
}

const startedAt = performance.now();
const { model, metrics } = train({ ...DEFAULT_TRAINING, seed });
const folder = new URL('../processors/fraud/', import.meta.url);
writeFileSync(new URL('model.json', folder), serialize(model));
writeFileSync(new URL('model-metrics.json', folder), serialize(metrics));
const seconds = ((performance.now() - startedAt) / 1_000).toFixed(1);
process.stdout.write(
  `fraud:train: seed ${seed}, ${metrics.trainingRows} training rows, ${metrics.heldOutRows} held out; ` +
    `ROC AUC ${metrics.modelRocAuc} (model), ${metrics.scoreRocAuc} (score); ` +
    `hold or block: precision ${metrics.atHoldThreshold.precision}, recall ${metrics.atHoldThreshold.recall}; ` +
    `${seconds} s → ${fileURLToPath(folder)}\n`,
);
