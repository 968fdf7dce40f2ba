/**
 * Training of the fraud model, deterministic end to end: the seeded synthetic data set, a fixed
 * split (the first `1 − heldOutShare` of the rows train, the rest are held out), inputs
 * standardized with the training rows' mean and standard deviation, and full-batch gradient
 * descent on the L2-regularized log loss for a fixed number of epochs at a fixed learning rate.
 * Same settings → same floating-point operations in the same order → the same model, byte for
 * byte. `npm run fraud:train` (app/fraud-train.ts) writes the result to model.json and
 * model-metrics.json.
 */
import { DEFAULT_RULES } from './default-rules.js';
import { fraudProbability, MODEL_FORMAT, MODEL_INPUTS, sigmoid, type FraudModel } from './model.js';
import type { FraudRules } from './rules.js';
import { DEFAULT_THRESHOLDS, scorePayment, type FraudThresholds } from './score.js';
import { generateDataset, PATTERNS, type LabelledPayment, type Pattern } from './synthetic.js';

export interface TrainingSettings {
  readonly seed: number;
  readonly rows: number;
  readonly heldOutShare: number;
  readonly epochs: number;
  readonly learningRate: number;
  readonly l2: number;
  readonly maxPoints: number;
}

export const MODEL_VERSION = 1;

export const DEFAULT_TRAINING: TrainingSettings = {
  seed: 1010,
  rows: 40_000,
  heldOutShare: 0.25,
  epochs: 300,
  learningRate: 0.5,
  l2: 0.001,
  maxPoints: 40,
};

export interface PrecisionRecall {
  readonly flagged: number;
  readonly precision: number;
  readonly recall: number;
  /** Legitimate payments flagged, as a share of all legitimate ones. */
  readonly falsePositiveRate: number;
}

export interface ModelMetrics {
  readonly seed: number;
  readonly version: number;
  readonly trainingRows: number;
  readonly heldOutRows: number;
  readonly heldOutFraudRows: number;
  /** ROC AUC of the model's probability on the held-out rows. */
  readonly modelRocAuc: number;
  /** ROC AUC of the whole score (default rules, model, caps) on the held-out rows. */
  readonly scoreRocAuc: number;
  readonly thresholds: FraudThresholds;
  /** Score ≥ holdFrom (HOLD or BLOCK) and score > blockAbove (BLOCK), against the fraud label. */
  readonly atHoldThreshold: PrecisionRecall;
  readonly atBlockThreshold: PrecisionRecall;
  /** Model probability ≥ 0.5 alone. */
  readonly modelAtHalf: PrecisionRecall;
  /** Share of each pattern's held-out rows held or blocked. */
  readonly flaggedShareByPattern: Readonly<Record<Pattern, number>>;
  readonly finalTrainingLogLoss: number;
}

export interface TrainingResult {
  readonly model: FraudModel;
  readonly metrics: ModelMetrics;
}

export function train(settings: TrainingSettings = DEFAULT_TRAINING): TrainingResult {
  const rows = generateDataset(settings.seed, settings.rows);
  const split = Math.round(rows.length * (1 - settings.heldOutShare));
  const training = rows.slice(0, split);
  const heldOut = rows.slice(split);
  const fitted = fit(training, settings);
  const model: FraudModel = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    seed: settings.seed,
    maxPoints: settings.maxPoints,
    bias: fitted.bias,
    inputs: MODEL_INPUTS.map((input, i) => ({
      name: input.name,
      mean: fitted.means[i]!,
      scale: fitted.scales[i]!,
      weight: fitted.weights[i]!,
    })),
    training: {
      rows: training.length,
      epochs: settings.epochs,
      learningRate: settings.learningRate,
      l2: settings.l2,
    },
  };
  const metrics = evaluate(model, heldOut, training.length, DEFAULT_RULES, DEFAULT_THRESHOLDS);
  return { model, metrics: { ...metrics, finalTrainingLogLoss: round(fitted.logLoss) } };
}

interface Fitted {
  readonly means: Float64Array;
  readonly scales: Float64Array;
  readonly weights: Float64Array;
  readonly bias: number;
  readonly logLoss: number;
}

/** Standardized inputs, row-major, and the labels. */
function design(rows: readonly LabelledPayment[]): {
  x: Float64Array;
  y: Float64Array;
  means: Float64Array;
  scales: Float64Array;
} {
  const width = MODEL_INPUTS.length;
  const x = new Float64Array(rows.length * width);
  const y = new Float64Array(rows.length);
  rows.forEach((row, r) => {
    y[r] = row.fraud ? 1 : 0;
    for (let i = 0; i < width; i++) x[r * width + i] = MODEL_INPUTS[i]!.value(row.features);
  });
  const means = new Float64Array(width);
  const scales = new Float64Array(width);
  for (let i = 0; i < width; i++) {
    let sum = 0;
    for (let r = 0; r < rows.length; r++) sum += x[r * width + i]!;
    const mean = sum / rows.length;
    let squares = 0;
    for (let r = 0; r < rows.length; r++) squares += (x[r * width + i]! - mean) ** 2;
    const deviation = Math.sqrt(squares / rows.length);
    means[i] = mean;
    scales[i] = deviation > 1e-12 ? deviation : 1;
    for (let r = 0; r < rows.length; r++) x[r * width + i] = (x[r * width + i]! - mean) / scales[i]!;
  }
  return { x, y, means, scales };
}

function fit(rows: readonly LabelledPayment[], settings: TrainingSettings): Fitted {
  const width = MODEL_INPUTS.length;
  const { x, y, means, scales } = design(rows);
  const n = rows.length;
  const weights = new Float64Array(width);
  const gradient = new Float64Array(width);
  let bias = 0;
  let logLoss = 0;
  for (let epoch = 0; epoch < settings.epochs; epoch++) {
    gradient.fill(0);
    let gradientBias = 0;
    logLoss = 0;
    for (let r = 0; r < n; r++) {
      let logit = bias;
      for (let i = 0; i < width; i++) logit += weights[i]! * x[r * width + i]!;
      const p = sigmoid(logit);
      const error = p - y[r]!;
      for (let i = 0; i < width; i++) gradient[i]! += error * x[r * width + i]!;
      gradientBias += error;
      logLoss -= y[r] === 1 ? Math.log(Math.max(p, 1e-15)) : Math.log(Math.max(1 - p, 1e-15));
    }
    for (let i = 0; i < width; i++)
      weights[i] = weights[i]! - settings.learningRate * (gradient[i]! / n + settings.l2 * weights[i]!);
    bias -= (settings.learningRate * gradientBias) / n;
  }
  return { means, scales, weights, bias, logLoss: logLoss / n };
}

function evaluate(
  model: FraudModel,
  heldOut: readonly LabelledPayment[],
  trainingRows: number,
  rules: FraudRules,
  thresholds: FraudThresholds,
): Omit<ModelMetrics, 'finalTrainingLogLoss'> {
  const labels = heldOut.map((row) => row.fraud);
  const probabilities = heldOut.map((row) => fraudProbability(model, row.features));
  const scores = heldOut.map((row) => scorePayment(row.features, rules, model, thresholds).score);
  const flaggedByPattern = Object.fromEntries(
    PATTERNS.map((pattern) => {
      const of = heldOut
        .map((row, i) => [row, scores[i]!] as const)
        .filter(([row]) => row.pattern === pattern);
      return [pattern, round(of.filter(([, s]) => s >= thresholds.holdFrom).length / Math.max(1, of.length))];
    }),
  ) as Record<Pattern, number>;
  return {
    seed: model.seed,
    version: model.version,
    trainingRows,
    heldOutRows: heldOut.length,
    heldOutFraudRows: labels.filter(Boolean).length,
    modelRocAuc: round(rocAuc(probabilities, labels)),
    scoreRocAuc: round(rocAuc(scores, labels)),
    thresholds,
    atHoldThreshold: precisionRecall(
      scores.map((s) => s >= thresholds.holdFrom),
      labels,
    ),
    atBlockThreshold: precisionRecall(
      scores.map((s) => s > thresholds.blockAbove),
      labels,
    ),
    modelAtHalf: precisionRecall(
      probabilities.map((p) => p >= 0.5),
      labels,
    ),
    flaggedShareByPattern: flaggedByPattern,
  };
}

/** Area under the ROC curve: the Mann–Whitney statistic, ties counted half. */
export function rocAuc(values: readonly number[], labels: readonly boolean[]): number {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let rankSumPositive = 0;
  let positives = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]![0] === order[start]![0]) end++;
    const meanRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++)
      if (labels[order[k]![1]]) {
        rankSumPositive += meanRank;
        positives++;
      }
    start = end + 1;
  }
  const negatives = values.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSumPositive - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function precisionRecall(flagged: readonly boolean[], labels: readonly boolean[]): PrecisionRecall {
  let truePositive = 0;
  let falsePositive = 0;
  let positives = 0;
  flagged.forEach((f, i) => {
    if (labels[i]) positives++;
    if (f && labels[i]) truePositive++;
    if (f && !labels[i]) falsePositive++;
  });
  const negatives = labels.length - positives;
  return {
    flagged: truePositive + falsePositive,
    precision: round(truePositive / Math.max(1, truePositive + falsePositive)),
    recall: round(truePositive / Math.max(1, positives)),
    falsePositiveRate: round(falsePositive / Math.max(1, negatives)),
  };
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The model and metrics documents as written to disk: stable key order, two-space indent, newline. */
export const serialize = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
