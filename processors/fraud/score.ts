/**
 * The fraud score of one payment: the points of every rule that holds, plus the model's points
 * split over its inputs, with two caps that make the guarantees of the default configuration
 * hold by construction (README.md, "Guarantees"):
 *   - without a deny-list rule firing, the score stays at or below `blockAbove`: only a
 *     deny-list hit blocks; every other signal can at most hold the payment for a reviewer;
 *   - a payment with no device, below its review amount, within its velocity limits and with
 *     no review rule firing stays below `holdFrom`: it always passes.
 * A cap shows in the reasons as a negative entry, so the reasons' points always sum to the score
 * (before the final clamp to 0..100), largest first. Pure and synchronous.
 */
import { z } from 'zod';

import type { RiskAssessment, RiskDecision, RiskReason } from '../../schemas/types.js';

import { parseWith } from './errors.js';
import { isDenyListed, withinVelocityLimits, type FraudFeatures } from './features.js';
import { modelShares, type FraudModel } from './model.js';
import type { FraudRules } from './rules.js';

/** The shapes of the contract (schemas/RiskAssessment.avsc): the score goes on the events as is. */
export type FraudDecision = RiskDecision;
export type FraudReason = RiskReason;
export type FraudScore = RiskAssessment;

/** score > blockAbove → BLOCK; holdFrom ≤ score ≤ blockAbove → HOLD; below holdFrom → PASS. */
export interface FraudThresholds {
  readonly holdFrom: number;
  readonly blockAbove: number;
}

export const DEFAULT_THRESHOLDS: FraudThresholds = { holdFrom: 50, blockAbove: 90 };

export const THRESHOLDS_SCHEMA = z
  .strictObject({ holdFrom: z.int().min(1).max(99), blockAbove: z.int().min(1).max(99) })
  .refine((t) => t.holdFrom <= t.blockAbove, { path: ['holdFrom'], message: 'must be at most blockAbove' });

export const parseThresholds = (json: unknown, source = 'fraud thresholds'): FraudThresholds =>
  parseWith(THRESHOLDS_SCHEMA, json, source);

export const SCORE_MAX = 100;

/** Reason codes of the caps. */
export const CAP_NOT_DENYLISTED = 'CAP_NOT_DENYLISTED';
export const CAP_LOW_RISK_SHAPE = 'CAP_LOW_RISK_SHAPE';

export function scorePayment(
  features: FraudFeatures,
  rules: FraudRules,
  model: FraudModel,
  thresholds: FraudThresholds = DEFAULT_THRESHOLDS,
): FraudScore {
  const reasons: FraudReason[] = [];
  let sum = 0;
  let denyListHit = false;
  let reviewHit = false;
  for (const rule of rules.rules) {
    if (!rule.test(features)) continue;
    reasons.push({ code: rule.code, points: rule.points, detail: rule.id });
    sum += rule.points;
    if (rule.kind === 'denylist') denyListHit = true;
    else if (rule.kind === 'review') reviewHit = true;
  }
  for (const share of modelShares(model, features)) {
    reasons.push(share);
    sum += share.points;
  }
  if (!denyListHit) {
    const lowRisk = !reviewHit && isLowRiskShape(features);
    const cap = lowRisk ? thresholds.holdFrom - 1 : thresholds.blockAbove;
    if (sum > cap) {
      reasons.push({
        code: lowRisk ? CAP_LOW_RISK_SHAPE : CAP_NOT_DENYLISTED,
        points: cap - sum,
        detail: lowRisk
          ? `no device, below the review amount, within velocity limits: capped at ${cap}`
          : `no deny-list hit: capped at ${cap}`,
      });
      sum = cap;
    }
  }
  const score = Math.min(SCORE_MAX, Math.max(0, sum));
  // Largest first, as the contract orders them (a stable sort: equal points keep rule order).
  reasons.sort((a, b) => b.points - a.points);
  return { score, reasons, decision: decide(score, thresholds) };
}

export function decide(score: number, thresholds: FraudThresholds): FraudDecision {
  if (score > thresholds.blockAbove) return 'BLOCK';
  return score >= thresholds.holdFrom ? 'HOLD' : 'PASS';
}

/** The payments the issue promises never to hold: no device, below review, within velocity limits. */
export const isLowRiskShape = (f: FraudFeatures): boolean =>
  !f.hasDevice && f.amountMinor < f.reviewAmountMinor && withinVelocityLimits(f) && !isDenyListed(f);

/**
 * What keeps a configuration from giving the default guarantees: a deny-list rule that does not
 * block on its own, a review rule that does not reach the hold threshold on its own, a model that
 * could hold a payment on its own. Empty for the default configuration; the app refuses to start
 * otherwise, naming each problem.
 */
export function guaranteeProblems(
  rules: FraudRules,
  model: FraudModel,
  thresholds: FraudThresholds,
): string[] {
  const problems: string[] = [];
  rules.rules.forEach((rule, index) => {
    if (rule.kind === 'denylist' && rule.points <= thresholds.blockAbove)
      problems.push(
        `rules[${index}].points: a denylist rule needs more than blockAbove (${thresholds.blockAbove}) to block`,
      );
    if (rule.kind === 'review' && rule.points < thresholds.holdFrom)
      problems.push(
        `rules[${index}].points: a review rule needs at least holdFrom (${thresholds.holdFrom}) to hold`,
      );
  });
  if (model.maxPoints >= thresholds.holdFrom)
    problems.push(`maxPoints: the model alone must stay below holdFrom (${thresholds.holdFrom})`);
  return problems;
}
