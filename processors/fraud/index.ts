/**
 * Fraud scoring: the pure core the fraud processor calls. No I/O: the app reads a rules file
 * with `loadRules` (app/fraud-files.ts) and passes the parsed rules in.
 */
export {
  FEATURE_KINDS,
  FEATURE_NAMES,
  fraudFeatures,
  isDenyListed,
  REVIEW_AMOUNT_BY_TIER,
  withinVelocityLimits,
  type FeatureName,
  type FraudFeatures,
  type FraudSignals,
  type VelocitySnapshot,
} from './features.js';
export { FraudConfigError, parseJsonText } from './errors.js';
export {
  parseRules,
  parseRulesText,
  rulesDocument,
  RULES_FILE_SCHEMA,
  type Condition,
  type FraudRule,
  type FraudRules,
  type RuleKind,
} from './rules.js';
export { fraudProbability, MODEL_INPUTS, parseModel, type FraudModel } from './model.js';
export {
  CAP_LOW_RISK_SHAPE,
  CAP_NOT_DENYLISTED,
  decide,
  DEFAULT_THRESHOLDS,
  guaranteeProblems,
  isLowRiskShape,
  parseThresholds,
  scorePayment,
  type FraudDecision,
  type FraudReason,
  type FraudScore,
  type FraudThresholds,
} from './score.js';
export { DEFAULT_RULES } from './default-rules.js';
export { DEFAULT_MODEL } from './default-model.js';
