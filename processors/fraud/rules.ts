/**
 * Fraud rules as configuration: a JSON document of rules, each a condition over the payment's
 * features (features.ts) that, when it holds, adds its points and its reason code to the score.
 * Parsed once at start-up (or on reload) into predicates, so scoring a payment evaluates closures
 * and allocates nothing per condition. A bad document throws FraudConfigError naming each field
 * (`rules[2].when.all[0].value: …`). The file format is documented in README.md.
 */
import { z } from 'zod';

import { parseJsonText, parseWith } from './errors.js';
import { FEATURE_KINDS, FEATURE_NAMES, type FeatureName, type FraudFeatures } from './features.js';

export const COMPARISONS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** A literal to compare with, or another feature of the same kind. */
export type Operand = number | string | boolean | { readonly feature: FeatureName };

export type Condition =
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition }
  | { readonly feature: FeatureName; readonly op: Comparison; readonly value: Operand };

/**
 * `denylist`: a deny-list hit (the default points block on their own); `review`: the payment
 * must go to manual review (exempts it from the low-risk cap); `signal`: any other risk signal.
 */
export const RULE_KINDS = ['denylist', 'review', 'signal'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export interface RuleConfig {
  readonly id: string;
  readonly code: string;
  readonly kind: RuleKind;
  readonly points: number;
  readonly description: string | undefined;
  readonly when: Condition;
}

export interface FraudRule extends RuleConfig {
  readonly test: (features: FraudFeatures) => boolean;
}

export interface FraudRules {
  readonly version: 1;
  readonly rules: readonly FraudRule[];
}

/** Bounds on the rules of a file and on the conditions of one all/any list. */
export const MAX_RULES = 200;
const MAX_CONDITIONS = 32;

const AMOUNT_LITERAL = /^(0|[1-9][0-9]{0,18})$/;
const EQUALITY_ONLY: readonly Comparison[] = ['==', '!='];

const featureName = z.enum(FEATURE_NAMES as [FeatureName, ...FeatureName[]]);

const comparison = z
  .strictObject({
    feature: featureName,
    op: z.enum(COMPARISONS),
    value: z.union([
      z.number().refine(Number.isFinite, 'must be a finite number'),
      z.string(),
      z.boolean(),
      z.strictObject({ feature: featureName }),
    ]),
  })
  .superRefine((leaf, ctx) => {
    const problem = operandProblem(leaf.feature, leaf.op, leaf.value);
    if (problem !== undefined)
      ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
  });

function operandProblem(
  feature: FeatureName,
  op: Comparison,
  value: Operand,
): { field: 'op' | 'value'; message: string } | undefined {
  const kind = FEATURE_KINDS[feature];
  if ((kind === 'boolean' || kind === 'text') && !EQUALITY_ONLY.includes(op))
    return {
      field: 'op',
      message: `${feature} is ${kind === 'boolean' ? 'a boolean' : 'text'}: use == or !=`,
    };
  if (typeof value === 'object') {
    const other = FEATURE_KINDS[value.feature];
    return other === kind
      ? undefined
      : {
          field: 'value',
          message: `${feature} (${kind}) cannot be compared with ${value.feature} (${other})`,
        };
  }
  switch (kind) {
    case 'amount':
      return typeof value === 'string' && AMOUNT_LITERAL.test(value)
        ? undefined
        : {
            field: 'value',
            message: `${feature} is an amount: give minor units as a string of digits, e.g. "20000"`,
          };
    case 'number':
      return typeof value === 'number' ? undefined : { field: 'value', message: `${feature} takes a number` };
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : { field: 'value', message: `${feature} takes true or false` };
    case 'text':
      return typeof value === 'string' ? undefined : { field: 'value', message: `${feature} takes a string` };
  }
}

const allOf = z.strictObject({
  get all() {
    return z.array(condition).min(1).max(MAX_CONDITIONS);
  },
});
const anyOf = z.strictObject({
  get any() {
    return z.array(condition).min(1).max(MAX_CONDITIONS);
  },
});
const notOf = z.strictObject({
  get not() {
    return condition;
  },
});

/** A condition is picked by its key (all, any, not, else a comparison), so errors name the inner field. */
const condition: z.ZodType<Condition> = z.unknown().transform((value, ctx) => {
  const keyed = typeof value === 'object' && value !== null ? value : {};
  const branch = 'all' in keyed ? allOf : 'any' in keyed ? anyOf : 'not' in keyed ? notOf : comparison;
  const result = (branch as z.ZodType<Condition>).safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues)
    ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  return z.NEVER;
});

const rule = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 of a-z 0-9 . _ -'),
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must be an UPPER_SNAKE_CASE reason code'),
  kind: z.enum(RULE_KINDS).default('signal'),
  points: z.int().min(0).max(100),
  description: z.string().max(500).optional(),
  when: condition,
});

export const RULES_FILE_SCHEMA = z.strictObject({
  version: z.literal(1),
  rules: z
    .array(rule)
    .max(MAX_RULES)
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((r, index) => {
        if (seen.has(r.id))
          ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate rule id ${r.id}` });
        seen.add(r.id);
      });
    }),
});

/** Validates a parsed rules document and compiles its conditions; throws FraudConfigError. */
export function parseRules(json: unknown, source = 'fraud rules'): FraudRules {
  const file = parseWith(RULES_FILE_SCHEMA, json, source);
  return {
    version: file.version,
    rules: file.rules.map((r) => ({
      id: r.id,
      code: r.code,
      kind: r.kind,
      points: r.points,
      description: r.description,
      when: r.when,
      test: compile(r.when),
    })),
  };
}

/** The rules as the document they were parsed from (no compiled conditions): `parseRules` reads it back. */
export function rulesDocument(rules: FraudRules): unknown {
  return {
    version: rules.version,
    rules: rules.rules.map((rule) => ({
      id: rule.id,
      code: rule.code,
      kind: rule.kind,
      points: rule.points,
      ...(rule.description === undefined ? {} : { description: rule.description }),
      when: rule.when,
    })),
  };
}

/** parseRules of a JSON text (a rules file's contents). */
export const parseRulesText = (text: string, source = 'fraud rules'): FraudRules =>
  parseRules(parseJsonText(text, source), source);

type Predicate = (features: FraudFeatures) => boolean;
type Read = (features: FraudFeatures) => FraudFeatures[FeatureName];

function compile(c: Condition): Predicate {
  if ('all' in c) {
    const parts = c.all.map(compile);
    return (f) => parts.every((p) => p(f));
  }
  if ('any' in c) {
    const parts = c.any.map(compile);
    return (f) => parts.some((p) => p(f));
  }
  if ('not' in c) {
    const inner = compile(c.not);
    return (f) => !inner(f);
  }
  const left: Read = (f) => f[c.feature];
  const right = operand(c.feature, c.value);
  const test = COMPARE[c.op];
  return (f) => test(left(f), right(f));
}

function operand(feature: FeatureName, value: Operand): Read {
  if (typeof value === 'object') {
    const other = value.feature;
    return (f) => f[other];
  }
  const literal = FEATURE_KINDS[feature] === 'amount' ? BigInt(value) : value;
  return () => literal;
}

type Value = FraudFeatures[FeatureName];
/** Both sides are of one kind (checked at parse time), so the JS comparison is the typed one. */
const COMPARE: Readonly<Record<Comparison, (a: Value, b: Value) => boolean>> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};
