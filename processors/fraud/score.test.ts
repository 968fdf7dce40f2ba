import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DEFAULT_MODEL } from './default-model.js';
import { DEFAULT_RULES } from './default-rules.js';
import { amountRatio, isDenyListed, withinVelocityLimits, type FraudFeatures } from './features.js';
import { Random } from './random.js';
import { parseRules } from './rules.js';
import {
  CAP_LOW_RISK_SHAPE,
  CAP_NOT_DENYLISTED,
  DEFAULT_THRESHOLDS,
  guaranteeProblems,
  parseThresholds,
  scorePayment,
  type FraudScore,
} from './score.js';
import { arbitraryFeatures, generateDataset } from './synthetic.js';

/** Random vectors of every shape, plus the labelled data set's fraud patterns. */
const PROPERTY_RUNS = 20_000;
const score = (f: FraudFeatures): FraudScore => scorePayment(f, DEFAULT_RULES, DEFAULT_MODEL);

function samples(seed: number): FraudFeatures[] {
  const random = new Random(seed);
  const arbitrary = Array.from({ length: PROPERTY_RUNS }, () => arbitraryFeatures(random));
  return [...arbitrary, ...generateDataset(seed + 1, 5_000).map((row) => row.features)];
}

function withAmount(f: FraudFeatures, amountMinor: bigint): FraudFeatures {
  return {
    ...f,
    amountMinor,
    amountToReviewRatio: amountRatio(amountMinor, f.reviewAmountMinor),
    amountToHistoryMeanRatio: f.historyCount > 0 ? amountRatio(amountMinor, f.historyMeanAmountMinor) : 1,
  };
}

const clean = (f: FraudFeatures): FraudFeatures => ({
  ...f,
  denyListedDevice: false,
  denyListedIp: false,
  denyListedAccount: false,
});

/** Every risk signal at its worst short of a deny-list hit: each signal rule fires, the model is near 1. */
function worst(f: FraudFeatures): FraudFeatures {
  return clean({
    ...withAmount(f, f.reviewAmountMinor * 1_000n),
    hasDevice: true,
    hasIp: true,
    deviceNewForSender: true,
    distinctSendersOnDevice24h: 10_000,
    distinctSendersOnIp24h: 10_000,
    count1mFraction: 1,
    count1hFraction: 1,
    count24hFraction: 1,
    amount24hFraction: 1,
    historyCount: 50,
    historyMeanAmountMinor: 1n,
    amountToHistoryMeanRatio: 1e9,
  });
}

const sumOf = (s: FraudScore): number => s.reasons.reduce((total, r) => total + r.points, 0);

describe('fraud score: the default guarantees', () => {
  test('a deny-list hit on the device, the IP or the account scores over 90 and blocks', () => {
    const random = new Random(7);
    for (const f of samples(11)) {
      const which = random.integer(0, 2);
      const denied = {
        ...f,
        hasDevice: f.hasDevice || which < 2,
        hasIp: f.hasIp || which === 1,
        denyListedDevice: which === 0,
        denyListedIp: which === 1,
        denyListedAccount: which === 2,
      };
      const s = score(denied);
      assert.ok(s.score > 90 && s.decision === 'BLOCK', JSON.stringify({ s, which }));
    }
  });

  test('at or above the tier review amount, without a deny-list hit, the score is within 50..90: HOLD', () => {
    const random = new Random(8);
    for (const f of samples(12)) {
      const extra = BigInt(random.integer(0, 3)) * f.reviewAmountMinor;
      const s = score(clean(withAmount(f, f.reviewAmountMinor + extra)));
      assert.ok(s.score >= 50 && s.score <= 90 && s.decision === 'HOLD', JSON.stringify(s));
    }
  });

  test('a review payment with every signal rule firing and the model at its maximum still holds', () => {
    const f = worst(arbitraryFeatures(new Random(3)));
    // Some signal rules exclude each other (small and large amounts); here all of them fire.
    const everySignal = {
      ...DEFAULT_RULES,
      rules: DEFAULT_RULES.rules.map((r) => (r.kind === 'denylist' ? r : { ...r, test: () => true })),
    };
    const s = scorePayment(f, everySignal, DEFAULT_MODEL);
    const fired = DEFAULT_RULES.rules.filter((r) => r.kind !== 'denylist').map((r) => r.code);
    const ruleCodes = s.reasons.map((r) => r.code).filter((code) => !/^(MODEL|CAP)_/.test(code));
    assert.deepEqual(ruleCodes.sort(), fired.sort());
    const model = s.reasons.filter((r) => r.code.startsWith('MODEL_')).reduce((t, r) => t + r.points, 0);
    assert.equal(model, DEFAULT_MODEL.maxPoints);
    assert.equal(s.score, 90);
    assert.equal(s.decision, 'HOLD');
    assert.equal(s.reasons.at(-1)!.code, CAP_NOT_DENYLISTED);
  });

  test('no device, not deny-listed, below the review amount, within velocity limits: always PASS', () => {
    const random = new Random(9);
    let capped = 0;
    for (const f of samples(13)) {
      const below = f.amountMinor < f.reviewAmountMinor ? f.amountMinor : BigInt(random.integer(1, 19_999));
      const shaped = clean({
        ...withAmount(f, below),
        hasDevice: false,
        hasIp: false,
        deviceNewForSender: false,
        distinctSendersOnDevice24h: 0,
        distinctSendersOnIp24h: 0,
        count1mFraction: Math.min(1, f.count1mFraction),
        count1hFraction: Math.min(1, f.count1hFraction),
        count24hFraction: Math.min(1, f.count24hFraction),
        amount24hFraction: Math.min(1, f.amount24hFraction),
      });
      const s = score(shaped);
      assert.ok(s.score < 50 && s.decision === 'PASS', JSON.stringify(s));
      if (s.reasons.some((r) => r.code === CAP_LOW_RISK_SHAPE)) capped++;
    }
    // The cap is not idle: without it some of these would be held.
    assert.ok(capped > 0);
  });

  test('the model alone stays below 50: its points are at most maxPoints, and maxPoints is 40', () => {
    assert.equal(DEFAULT_MODEL.maxPoints, 40);
    for (const f of samples(14)) {
      const s = score(f);
      const model = s.reasons.filter((r) => r.code.startsWith('MODEL_')).reduce((t, r) => t + r.points, 0);
      assert.ok(model <= DEFAULT_MODEL.maxPoints, JSON.stringify(s));
    }
  });

  test('the default configuration has no guarantee problem', () => {
    assert.deepEqual(guaranteeProblems(DEFAULT_RULES, DEFAULT_MODEL, DEFAULT_THRESHOLDS), []);
  });
});

describe('fraud score: explanation and thresholds', () => {
  test('the reasons sum to the score (below the clamp at 100) and each names its points', () => {
    for (const f of samples(15)) {
      const s = score(f);
      assert.ok(Number.isInteger(s.score) && s.score >= 0 && s.score <= 100);
      assert.equal(Math.min(100, sumOf(s)), s.score);
      for (const r of s.reasons) assert.ok(r.points > 0 || r.code.startsWith('CAP_'), JSON.stringify(r));
      const points = s.reasons.map((r) => r.points);
      assert.deepEqual(
        points,
        [...points].sort((a, b) => b - a),
        'largest first',
      );
    }
  });

  test('a signal rule that fires shows with its code, points and rule id', () => {
    const f = clean({ ...arbitraryFeatures(new Random(4)), hasDevice: true, distinctSendersOnDevice24h: 9 });
    const s = score(f);
    assert.deepEqual(
      s.reasons.find((r) => r.code === 'MULE_DEVICE'),
      { code: 'MULE_DEVICE', points: 30, detail: 'mule-device' },
    );
  });

  test('over 90 without a deny-list hit is capped at 90 and the cap is a reason', () => {
    const rules = parseRules({
      version: 1,
      rules: [{ id: 'big', code: 'BIG', points: 100, when: { feature: 'count1m', op: '>=', value: 0 } }],
    });
    const s = scorePayment(worst(arbitraryFeatures(new Random(5))), rules, DEFAULT_MODEL);
    assert.equal(s.score, 90);
    assert.equal(s.decision, 'HOLD');
    assert.equal(s.reasons.at(-1)!.code, CAP_NOT_DENYLISTED);
  });

  test('thresholds are configuration: the same points decide by the thresholds given', () => {
    const rules = parseRules({
      version: 1,
      rules: [{ id: 'sixty', code: 'SIXTY', points: 60, when: { feature: 'count1m', op: '>=', value: 0 } }],
    });
    const silent = { ...DEFAULT_MODEL, maxPoints: 0 };
    const f = clean({ ...arbitraryFeatures(new Random(6)), hasDevice: true });
    const decide = (holdFrom: number, blockAbove: number) =>
      scorePayment(f, rules, silent, parseThresholds({ holdFrom, blockAbove }));
    assert.equal(decide(50, 90).decision, 'HOLD');
    assert.equal(decide(61, 99).decision, 'PASS');
    // Without a deny-list hit the score is capped at blockAbove: stricter thresholds hold, never block.
    assert.deepEqual([decide(10, 59).score, decide(10, 59).decision], [59, 'HOLD']);
    assert.throws(
      () => parseThresholds({ holdFrom: 80, blockAbove: 60 }),
      /holdFrom: must be at most blockAbove/,
    );
  });

  test('a configuration that breaks a guarantee is reported, naming the rule', () => {
    const rules = parseRules({
      version: 1,
      rules: [
        {
          id: 'd',
          code: 'DENY',
          kind: 'denylist',
          points: 90,
          when: { feature: 'denyListedIp', op: '==', value: true },
        },
        {
          id: 'r',
          code: 'REVIEW',
          kind: 'review',
          points: 40,
          when: { feature: 'count1m', op: '>', value: 9 },
        },
      ],
    });
    assert.deepEqual(
      guaranteeProblems(rules, { ...DEFAULT_MODEL, maxPoints: 50 }, DEFAULT_THRESHOLDS).map(
        (p) => p.split(':')[0],
      ),
      ['rules[0].points', 'rules[1].points', 'maxPoints'],
    );
  });

  test('the helpers agree with the features they summarise', () => {
    const f = arbitraryFeatures(new Random(2));
    assert.equal(isDenyListed(clean(f)), false);
    assert.equal(withinVelocityLimits({ ...f, count1mFraction: 1.01 }), false);
  });
});
