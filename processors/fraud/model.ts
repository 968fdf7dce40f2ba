/**
 * The fraud model: logistic regression over standardized inputs derived from the features. Its
 * probability becomes at most `maxPoints` points of the score, split over the inputs that pushed
 * it up, so each shows in the reasons with its share. Trained by train.ts, stored as model.json.
 */
import { z } from 'zod';

import { parseWith } from './errors.js';
import type { FraudFeatures } from './features.js';

export interface ModelInput {
  readonly name: string;
  /** The reason code of this input's share of the model's points. */
  readonly code: string;
  readonly value: (f: FraudFeatures) => number;
}

const clamp = (x: number, low: number, high: number): number => Math.min(high, Math.max(low, x));
const flag = (b: boolean): number => (b ? 1 : 0);
const logRatio = (r: number): number => Math.log(clamp(r, 0.01, 1_000));

/**
 * The model's inputs, in the order of the weights. Ratios enter as logarithms and fractions are
 * clamped, so a single extreme payment cannot dominate the standardized scale.
 */
export const MODEL_INPUTS: readonly ModelInput[] = [
  {
    name: 'amountVsReviewLevel',
    code: 'MODEL_AMOUNT_VS_REVIEW_LEVEL',
    value: (f) => logRatio(f.amountToReviewRatio),
  },
  {
    name: 'amountVsHistory',
    code: 'MODEL_AMOUNT_VS_HISTORY',
    value: (f) => logRatio(f.amountToHistoryMeanRatio),
  },
  { name: 'historyLength', code: 'MODEL_SHORT_HISTORY', value: (f) => Math.log1p(f.historyCount) },
  { name: 'noDevice', code: 'MODEL_NO_DEVICE', value: (f) => flag(!f.hasDevice) },
  { name: 'deviceNewForSender', code: 'MODEL_NEW_DEVICE', value: (f) => flag(f.deviceNewForSender) },
  {
    name: 'newDeviceAmountVsHistory',
    code: 'MODEL_NEW_DEVICE_HIGH_AMOUNT',
    value: (f) => (f.deviceNewForSender ? Math.max(0, logRatio(f.amountToHistoryMeanRatio)) : 0),
  },
  {
    name: 'sendersOnDevice',
    code: 'MODEL_SHARED_DEVICE',
    value: (f) => Math.log1p(clamp(f.distinctSendersOnDevice24h, 0, 10_000)),
  },
  {
    name: 'sendersOnIp',
    code: 'MODEL_SHARED_IP',
    value: (f) => Math.log1p(clamp(f.distinctSendersOnIp24h, 0, 10_000)),
  },
  { name: 'count1mFraction', code: 'MODEL_COUNT_1M', value: (f) => clamp(f.count1mFraction, 0, 2) },
  { name: 'count1hFraction', code: 'MODEL_COUNT_1H', value: (f) => clamp(f.count1hFraction, 0, 2) },
  { name: 'count24hFraction', code: 'MODEL_COUNT_24H', value: (f) => clamp(f.count24hFraction, 0, 2) },
  { name: 'amount24hFraction', code: 'MODEL_AMOUNT_24H', value: (f) => clamp(f.amount24hFraction, 0, 2) },
];

/** The largest share of the score the model may have: below the hold threshold on its own. */
export const MODEL_MAX_POINTS_LIMIT = 49;

export const MODEL_FORMAT = 'payflow-fraud-logistic-regression';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const MODEL_SCHEMA = z.strictObject({
  format: z.literal(MODEL_FORMAT),
  version: z.int().min(1),
  seed: z.int().min(0),
  maxPoints: z.int().min(0).max(MODEL_MAX_POINTS_LIMIT),
  bias: finite,
  inputs: z
    .array(
      z.strictObject({
        name: z.string(),
        mean: finite,
        scale: finite.refine((s) => s > 0, 'must be greater than 0'),
        weight: finite,
      }),
    )
    .superRefine((inputs, ctx) => {
      const expected = MODEL_INPUTS.map((i) => i.name);
      if (inputs.length !== expected.length)
        ctx.addIssue({
          code: 'custom',
          message: `expected ${expected.length} inputs: ${expected.join(', ')}`,
        });
      inputs.forEach((input, index) => {
        if (expected[index] !== undefined && input.name !== expected[index])
          ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `expected ${expected[index]}` });
      });
    }),
  training: z.strictObject({
    rows: z.int().min(1),
    epochs: z.int().min(1),
    learningRate: finite,
    l2: finite,
  }),
});

export type FraudModel = z.infer<typeof MODEL_SCHEMA>;

/** Validates a model document (model.json); throws FraudConfigError naming the field. */
export const parseModel = (json: unknown, source = 'fraud model'): FraudModel =>
  parseWith(MODEL_SCHEMA, json, source);

/** Each input's contribution to the logit, `weight × standardized value`, into `out`. */
export function contributions(model: FraudModel, features: FraudFeatures, out: Float64Array): number {
  let logit = model.bias;
  for (let i = 0; i < MODEL_INPUTS.length; i++) {
    const input = model.inputs[i]!;
    const z = (MODEL_INPUTS[i]!.value(features) - input.mean) / input.scale;
    out[i] = input.weight * z;
    logit += out[i]!;
  }
  return logit;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The model's probability that the payment is fraud. */
export function fraudProbability(model: FraudModel, features: FraudFeatures): number {
  return sigmoid(contributions(model, features, new Float64Array(MODEL_INPUTS.length)));
}

export interface ModelShare {
  readonly code: string;
  readonly points: number;
  readonly detail: string;
}

/**
 * The model's points, round(maxPoints × probability), split over the inputs with a positive
 * contribution in proportion to it (largest remainder, so the shares sum exactly). Points the
 * bias alone earns, with no input pushing up, show as MODEL_BASELINE.
 */
export function modelShares(model: FraudModel, features: FraudFeatures): ModelShare[] {
  const parts = new Float64Array(MODEL_INPUTS.length);
  const probability = sigmoid(contributions(model, features, parts));
  const total = Math.round(model.maxPoints * probability);
  if (total === 0) return [];
  let positive = 0;
  for (const c of parts) if (c > 0) positive += c;
  const pTag = `p=${probability.toFixed(3)}`;
  if (positive === 0) return [{ code: 'MODEL_BASELINE', points: total, detail: pTag }];
  const floors: number[] = [];
  let given = 0;
  for (const c of parts) {
    const share = c > 0 ? Math.floor((total * c) / positive) : 0;
    floors.push(share);
    given += share;
  }
  // Hand the rounding remainder to the largest fractional parts, ties to the earlier input.
  const order = [...parts.keys()]
    .filter((i) => parts[i]! > 0)
    .sort((a, b) => fraction(total, parts[b]!, positive) - fraction(total, parts[a]!, positive) || a - b);
  for (let k = 0; k < total - given; k++) floors[order[k % order.length]!]! += 1;
  const shares: ModelShare[] = [];
  floors.forEach((points, i) => {
    if (points === 0) return;
    const input = MODEL_INPUTS[i]!;
    const value = input.value(features);
    shares.push({ code: input.code, points, detail: `${input.name}=${round3(value)}, ${pTag}` });
  });
  return shares;
}

const fraction = (total: number, c: number, positive: number): number => {
  const exact = (total * c) / positive;
  return exact - Math.floor(exact);
};

const round3 = (x: number): string => String(Math.round(x * 1_000) / 1_000);
