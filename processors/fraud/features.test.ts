import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { PaymentCommand } from '../../schemas/types.js';
import { fraudFeatures, REVIEW_AMOUNT_BY_TIER, type FraudSignals } from './features.js';

const command: PaymentCommand = {
  commandId: 'c1',
  paymentId: 'p1',
  kind: 'TRANSFER',
  principal: 'alice',
  idempotencyKey: 'k1',
  requestHash: 'h',
  senderAccountId: 'acc-a',
  recipientAccountId: 'acc-b',
  amountMinor: 50_000n,
  currency: 'EUR',
  reference: null,
  device: { id: 'dev-1', ip: '10.0.0.1' },
  submittedAtMs: 0,
  authority: { kind: 'SERVICE', owners: ['*'] },
};

const signals: FraudSignals = {
  command,
  senderTier: 'TIER_1',
  device: { newForSender: true, distinctSenders24h: 3, distinctSendersOnIp24h: 7 },
  velocity: {
    count1m: 5,
    count1h: 10,
    count24h: 20,
    amount24hMinor: 250_000n,
    limits: { perMinute: 10, perHour: 50, perDay: 200, amountPerDayMinor: 500_000n },
  },
  history: { count: 4, meanAmountMinor: 10_000n },
  denyListed: { device: true, ip: true, account: false },
};

describe('fraud features', () => {
  test('the review amounts by tier are those of the issue', () => {
    assert.deepEqual(REVIEW_AMOUNT_BY_TIER, {
      TIER_0: 20_000n,
      TIER_1: 200_000n,
      TIER_2: 2_000_000n,
      TIER_3: 50_000_000n,
    });
  });

  test('the features derive the review amount, the ratios and the velocity fractions', () => {
    const f = fraudFeatures(signals);
    assert.equal(f.reviewAmountMinor, 200_000n);
    assert.equal(f.amountToReviewRatio, 0.25);
    assert.equal(f.amountToHistoryMeanRatio, 5);
    assert.deepEqual(
      [f.count1mFraction, f.count1hFraction, f.count24hFraction, f.amount24hFraction],
      [0.5, 0.2, 0.1, 0.5],
    );
    assert.deepEqual(
      [f.hasDevice, f.hasIp, f.deviceNewForSender, f.denyListedDevice, f.denyListedIp],
      [true, true, true, true, true],
    );
  });

  test('without a device every device and IP signal is off, whatever the signals say', () => {
    const f = fraudFeatures({ ...signals, command: { ...command, device: null } });
    assert.deepEqual(
      [f.hasDevice, f.hasIp, f.deviceNewForSender, f.distinctSendersOnDevice24h, f.distinctSendersOnIp24h],
      [false, false, false, 0, 0],
    );
    assert.deepEqual([f.denyListedDevice, f.denyListedIp], [false, false]);
  });

  test('a sender without history has the neutral history ratio 1', () => {
    const f = fraudFeatures({ ...signals, history: { count: 0, meanAmountMinor: 0n } });
    assert.deepEqual([f.historyCount, f.historyMeanAmountMinor, f.amountToHistoryMeanRatio], [0, 0n, 1]);
  });
});
