import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { FraudConfigError } from './errors.js';
import { DEFAULT_RULES } from './default-rules.js';
import { REVIEW_AMOUNT_BY_TIER, type FraudFeatures } from './features.js';
import { parseRules, parseRulesText } from './rules.js';
import { arbitraryFeatures } from './synthetic.js';
import { Random } from './random.js';

const rule = (when: unknown, extra: Record<string, unknown> = {}) => ({
  version: 1,
  rules: [{ id: 'r', code: 'CODE', points: 10, when, ...extra }],
});

function problemsOf(json: unknown): readonly string[] {
  try {
    parseRules(json, 'test.json');
  } catch (error) {
    if (error instanceof FraudConfigError) return error.problems;
    throw error;
  }
  assert.fail('expected a FraudConfigError');
}

const base: FraudFeatures = arbitraryFeatures(new Random(1));

describe('fraud rules file', () => {
  test('the checked-in default rules parse', () => {
    const text = readFileSync(new URL('default-rules.json', import.meta.url), 'utf8');
    assert.equal(parseRulesText(text).rules.length, DEFAULT_RULES.rules.length);
    assert.ok(DEFAULT_RULES.rules.length >= 4);
  });

  test('an unknown feature is named by its path, inside combinators', () => {
    const problems = problemsOf(
      rule({
        all: [{ feature: 'count1m', op: '>', value: 1 }, { not: { feature: 'colour', op: '==', value: 1 } }],
      }),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^rules\[0\]\.when\.all\[1\]\.not\.feature: /);
  });

  test('an amount given as a number is named: amounts are strings of digits', () => {
    const problems = problemsOf(rule({ any: [{ feature: 'amountMinor', op: '>=', value: 20000 }] }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^rules\[0\]\.when\.any\[0\]\.value: amountMinor is an amount/);
  });

  test('an ordering on a boolean feature names the op', () => {
    const problems = problemsOf(rule({ feature: 'hasDevice', op: '>', value: true }));
    assert.match(problems[0]!, /^rules\[0\]\.when\.op: /);
  });

  test('a comparison of features of different kinds names the value', () => {
    const problems = problemsOf(rule({ feature: 'amountMinor', op: '>=', value: { feature: 'count1m' } }));
    assert.match(
      problems[0]!,
      /^rules\[0\]\.when\.value: amountMinor \(amount\) cannot be compared with count1m/,
    );
  });

  test('points out of 0..100, a bad code, a duplicate id and an unknown key are each named', () => {
    const when = { feature: 'count1m', op: '>', value: 1 };
    const problems = problemsOf({
      version: 1,
      rules: [
        { id: 'a', code: 'A', points: 101, when },
        { id: 'b', code: 'lower', points: 1, when },
        { id: 'a', code: 'C', points: 1, when },
        { id: 'd', code: 'D', points: 1, when, colour: 'red' },
      ],
    });
    assert.ok(problems.some((p) => p.startsWith('rules[0].points: ')));
    assert.ok(problems.some((p) => p.startsWith('rules[1].code: ')));
    assert.ok(problems.some((p) => p.startsWith('rules[2].id: duplicate rule id a')));
    assert.ok(problems.some((p) => p.startsWith('rules[3]: ') && p.includes('colour')));
  });

  test('a missing version and text that is not JSON are named', () => {
    assert.match(problemsOf({ rules: [] })[0]!, /^version: /);
    assert.throws(() => parseRulesText('{', 'x.json'), /x\.json: \(the document\): not JSON/);
  });

  test('amounts compare as bigint, exactly, beyond 2^53', () => {
    const rules = parseRules(rule({ feature: 'amountMinor', op: '>=', value: '9007199254740993' }));
    const test = rules.rules[0]!.test;
    assert.equal(test({ ...base, amountMinor: 9_007_199_254_740_993n }), true);
    assert.equal(test({ ...base, amountMinor: 9_007_199_254_740_992n }), false);
  });

  test('a feature compared with another feature: the amount at the tier review amount', () => {
    const review = REVIEW_AMOUNT_BY_TIER.TIER_1;
    const atReview = DEFAULT_RULES.rules.find((r) => r.code === 'AMOUNT_AT_REVIEW_LEVEL')!;
    const f = { ...base, senderTier: 'TIER_1' as const, reviewAmountMinor: review };
    assert.equal(atReview.test({ ...f, amountMinor: review }), true);
    assert.equal(atReview.test({ ...f, amountMinor: review - 1n }), false);
  });

  test('all, any and not combine as their names say', () => {
    const c = (value: number) => ({ feature: 'count1m', op: '>=', value });
    const f = { ...base, count1m: 5 };
    const holds = (when: unknown) => parseRules(rule(when)).rules[0]!.test(f);
    assert.equal(holds({ all: [c(1), c(5)] }), true);
    assert.equal(holds({ all: [c(1), c(6)] }), false);
    assert.equal(holds({ any: [c(9), c(5)] }), true);
    assert.equal(holds({ any: [c(9), c(6)] }), false);
    assert.equal(holds({ not: c(6) }), true);
  });

  test('a rule without a kind is a signal', () => {
    assert.equal(parseRules(rule({ feature: 'count1m', op: '>', value: 1 })).rules[0]!.kind, 'signal');
  });
});
