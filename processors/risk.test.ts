/**
 * Risk in the payment chain, on the in-memory driver: velocity limits by KYC tier, fraud scoring
 * with the deny list and device profiles, and holds for manual review in the ledger.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';

import type {
  AccountCommand,
  DenyListEntry,
  KycTier,
  LedgerPosting,
  PaymentCommand,
  PaymentEvent,
  ReviewDecision,
} from '../schemas/types.js';
import { HEADER } from './runtime/api.js';
import { jsonSerde } from './runtime/json-serde.js';
import { DiskStoreBackend } from './runtime/disk-stores.js';
import { MemoryDriver, type MemoryDriverOptions } from './runtime/memory/driver.js';
import { paymentPipeline } from './pipeline.js';
import { balancesOfPostings, paymentCommand } from './test-fixtures.js';
import { paymentCommandKey } from '../topics/keys.js';
import { TOPIC } from '../topics/names.js';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let driver: MemoryDriver;
let seq = 0;

const stateRoot = mkdtempSync(join(tmpdir(), 'payflow-risk-test-'));
after(() => rmSync(stateRoot, { recursive: true, force: true }));
let directories = 0;

/** The stores the velocity tests run on: in memory (the embedded default) and on disk (the Kafka mode's). */
const STORE_BACKENDS: readonly [string, MemoryDriverOptions['storeBackend']][] = [
  ['in-memory', undefined],
  [
    'disk',
    (sub, partition) => new DiskStoreBackend(join(stateRoot, `${directories++}`, sub, String(partition))),
  ],
];

function newDriver(storeBackend?: MemoryDriverOptions['storeBackend']): MemoryDriver {
  return new MemoryDriver(
    paymentPipeline({
      applicationId: 'payflow-risk-test',
      partitions: 3,
      serdeOf: () => jsonSerde(),
      processors: { ledger: { reviewTimeoutMs: HOUR } },
    }),
    {
      startWallClockMs: T0,
      retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 },
      ...(storeBackend === undefined ? {} : { storeBackend }),
    },
  );
}

beforeEach(() => {
  seq = 0;
  driver = newDriver();
});

async function open(accountId: string, kycTier: KycTier): Promise<void> {
  const command: AccountCommand = {
    type: 'OPEN',
    commandId: `open-${accountId}`,
    accountId,
    ownerId: `owner-${accountId}`,
    currency: 'EUR',
    kycTier,
    iban: null,
    issuedAtMs: T0,
  };
  await driver.pipe(TOPIC.accountsCommands, accountId, command, { timestampMs: T0 });
}

async function submit(overrides: Partial<PaymentCommand>, atMs: number): Promise<string> {
  seq += 1;
  const id = overrides.paymentId ?? `pay-${seq}`;
  const command = paymentCommand({
    commandId: `cmd-${id}`,
    paymentId: id,
    idempotencyKey: id,
    requestHash: id,
    senderAccountId: 'acc-a',
    recipientAccountId: 'acc-b',
    amountMinor: 100n,
    submittedAtMs: atMs,
    authority: { kind: 'ADMIN', owners: ['*'] },
    ...overrides,
  });
  await driver.pipe(TOPIC.paymentsCommands, paymentCommandKey(command), command, {
    timestampMs: atMs,
    headers: { [HEADER.correlationId]: `corr-${id}` },
  });
  return id;
}

const fund = (accountId: string, amountMinor: bigint) =>
  submit({ kind: 'DEPOSIT', senderAccountId: 'funding:EUR', recipientAccountId: accountId, amountMinor }, T0);

async function eventsOf(paymentId: string): Promise<PaymentEvent[]> {
  return (await driver.read<PaymentEvent>(TOPIC.paymentsEvents))
    .filter((r) => r.key === paymentId)
    .map((r) => r.value);
}

async function outcome(paymentId: string): Promise<string> {
  const last = (await eventsOf(paymentId)).at(-1);
  return last?.type === 'PaymentRejected' ? `REJECTED ${last.rejection?.code}` : (last?.type ?? 'none');
}

async function balances(): Promise<Map<string, bigint>> {
  return balancesOfPostings((await driver.read<LedgerPosting>(TOPIC.ledgerPostings)).map((r) => r.value));
}

async function decide(paymentId: string, decision: ReviewDecision['decision'], atMs: number): Promise<void> {
  const value: ReviewDecision = {
    decisionId: `d-${paymentId}-${decision}`,
    paymentId,
    senderAccountId: 'acc-a',
    decision,
    reviewer: 'reviewer-1',
    note: null,
    decidedAtMs: atMs,
  };
  await driver.pipe(TOPIC.reviewsDecisions, 'acc-a', value, { timestampMs: atMs });
}

for (const [stores, storeBackend] of STORE_BACKENDS)
  describe(`velocity limits by KYC tier, ${stores} stores`, () => {
    beforeEach(() => {
      if (storeBackend !== undefined) driver = newDriver(storeBackend);
    });

    test("a TIER_0 sender's 4th payment within a minute is rejected VELOCITY_LIMIT_EXCEEDED, naming the window and the limit; a minute later it passes again", async () => {
      await open('acc-a', 'TIER_0');
      await open('acc-b', 'TIER_1');
      await fund('acc-a', 10_000n);
      const ids = [];
      for (let i = 0; i < 4; i += 1) ids.push(await submit({}, T0 + 1_000 + i * 1_000));
      assert.deepEqual(await Promise.all(ids.map(outcome)), [
        'PaymentCompleted',
        'PaymentCompleted',
        'PaymentCompleted',
        'REJECTED VELOCITY_LIMIT_EXCEEDED',
      ]);
      const rejected = (await eventsOf(ids[3]!)).at(-1)!;
      assert.equal(rejected.sequence, 2);
      assert.match(rejected.rejection?.detail ?? '', /TIER_0 allows 3 payments per 1 minute/);
      // The rejected payment is not counted: one minute after the first, one slot is free again.
      assert.equal(await outcome(await submit({}, T0 + 1_000 + MINUTE)), 'PaymentCompleted');
      assert.equal(
        await outcome(await submit({}, T0 + 1_000 + MINUTE + 500)),
        'REJECTED VELOCITY_LIMIT_EXCEEDED',
      );
    });

    test('the 1-hour, 24-hour and amount windows each reject at their limit', async () => {
      await open('acc-a', 'TIER_0');
      await open('acc-b', 'TIER_1');
      await fund('acc-a', 1_000_000n);
      // 10 per hour: 3 per minute in minutes 0..3 reaches 10 in the 4th minute.
      const hourly: string[] = [];
      for (let i = 0; i < 11; i += 1)
        hourly.push(await submit({}, T0 + 1_000 + Math.floor(i / 3) * MINUTE + (i % 3) * 1_000));
      assert.equal(await outcome(hourly[9]!), 'PaymentCompleted');
      assert.match((await eventsOf(hourly[10]!)).at(-1)?.rejection?.detail ?? '', /10 payments per 1 hour/);
      // 20 per 24 h: ten more from two hours later, 7 minutes apart (within the hourly limit), and the
      // 21st of the day is refused.
      const daily: string[] = [];
      for (let i = 0; i < 11; i += 1) daily.push(await submit({}, T0 + 1_000 + 2 * HOUR + i * 7 * MINUTE));
      assert.equal(await outcome(daily[9]!), 'PaymentCompleted');
      assert.match((await eventsOf(daily[10]!)).at(-1)?.rejection?.detail ?? '', /20 payments per 24 hours/);
    });

    test('the amount per 24 hours rejects the payment that would pass it, and counts only what passed', async () => {
      await open('acc-a', 'TIER_0');
      await open('acc-b', 'TIER_1');
      await fund('acc-a', 1_000_000n);
      const first = await submit({ amountMinor: 19_000n }, T0 + 1_000);
      const second = await submit({ amountMinor: 19_000n }, T0 + 2 * MINUTE);
      const third = await submit({ amountMinor: 19_000n }, T0 + 4 * MINUTE);
      const fourth = await submit({ amountMinor: 12_000n }, T0 + 6 * MINUTE);
      assert.deepEqual(await Promise.all([first, second, third, fourth].map(outcome)), [
        'PaymentCompleted',
        'PaymentCompleted',
        'REJECTED VELOCITY_LIMIT_EXCEEDED',
        'PaymentCompleted',
      ]);
      assert.match((await eventsOf(third)).at(-1)?.rejection?.detail ?? '', /50000 minor units per 24 hours/);
    });
  });

describe('fraud scoring', () => {
  const denyDevice = async (value: string, atMs: number, remove = false) => {
    const entry: DenyListEntry = { kind: 'DEVICE', value, addedBy: 'admin', addedAtMs: atMs };
    await driver.pipe(TOPIC.riskDenylist, `DEVICE:${value}`, remove ? null : entry, { timestampMs: atMs });
  };

  test('a payment from a deny-listed device is blocked FRAUD_BLOCKED with its score and reasons, and no money moves; removed from the list, it passes again', async () => {
    await open('acc-a', 'TIER_1');
    await open('acc-b', 'TIER_1');
    await fund('acc-a', 10_000n);
    await denyDevice('dev-bad', T0 + 500);
    const blocked = await submit({ device: { id: 'dev-bad', ip: null } }, T0 + 1_000);
    const last = (await eventsOf(blocked)).at(-1)!;
    assert.equal(last.rejection?.code, 'FRAUD_BLOCKED');
    assert.ok((last.risk?.score ?? 0) > 90, `score ${last.risk?.score}`);
    assert.ok(last.risk?.reasons.some((r) => r.code.startsWith('DENYLIST')));
    assert.equal((await balances()).get('acc-a'), 10_000n);
    await driver.pipeRaw(TOPIC.riskDenylist, 'DEVICE:dev-bad', null, { timestampMs: T0 + 1_500 });
    assert.equal(
      await outcome(await submit({ device: { id: 'dev-bad', ip: null } }, T0 + 2_000)),
      'PaymentCompleted',
    );
  });

  test('every scored payment carries its score and reasons on PaymentScored', async () => {
    await open('acc-a', 'TIER_1');
    await open('acc-b', 'TIER_1');
    await fund('acc-a', 10_000n);
    const id = await submit({}, T0 + 1_000);
    const scored = (await eventsOf(id)).find((e) => e.type === 'PaymentScored');
    assert.equal(scored?.sequence, 2);
    assert.equal(scored?.risk?.decision, 'PASS');
    assert.ok((scored?.risk?.score ?? 100) < 50);
  });

  test('a device shared by many senders is counted across partitions through the device profiles', async () => {
    const senders = ['s-1', 's-2', 's-3', 's-4', 's-5', 's-6'];
    for (const s of senders) await open(s, 'TIER_1');
    await open('acc-b', 'TIER_1');
    for (const s of senders) await fund(s, 10_000n);
    for (const [i, s] of senders.entries())
      await submit(
        { senderAccountId: s, device: { id: 'mule-1', ip: '198.51.100.9' } },
        T0 + 1_000 + i * 1_000,
      );
    const profile = (await driver.read<{ senders: { accountId: string }[] }>(TOPIC.riskProfiles))
      .filter((r) => r.key === 'DEVICE:mule-1')
      .at(-1);
    assert.equal(profile?.value.senders.length, 6);
  });
});

describe('holds for manual review', () => {
  async function held(): Promise<string> {
    await open('acc-a', 'TIER_1');
    await open('acc-b', 'TIER_1');
    await fund('acc-a', 300_000n);
    const id = await submit({ amountMinor: 200_000n }, T0 + 1_000);
    assert.equal(await outcome(id), 'PaymentHeld');
    return id;
  }

  test("a payment at its tier's review amount is HELD with its reasons and the amount reserved: the sender can't spend it meanwhile", async () => {
    const id = await held();
    const heldEvent = (await eventsOf(id)).at(-1)!;
    assert.equal(heldEvent.risk?.decision, 'HOLD');
    assert.ok(heldEvent.risk.score >= 50 && heldEvent.risk.score <= 90);
    const now = await balances();
    assert.equal(now.get('acc-a'), 100_000n);
    assert.equal(
      now.get('hold:EUR:' + [...now.keys()].find((k) => k.startsWith('hold:'))!.split(':')[2]),
      200_000n,
    );
    assert.equal(
      await outcome(await submit({ amountMinor: 150_000n }, T0 + 2_000)),
      'REJECTED INSUFFICIENT_FUNDS',
    );
  });

  test('APPROVE posts the hold on and completes the payment; a second decision changes nothing', async () => {
    const id = await held();
    await decide(id, 'APPROVE', T0 + 10_000);
    assert.deepEqual(
      (await eventsOf(id)).map((e) => [e.sequence, e.type]),
      [
        [0, 'PaymentInitiated'],
        [1, 'PaymentValidated'],
        [2, 'PaymentScored'],
        [3, 'PaymentHeld'],
        [4, 'PaymentDebited'],
        [5, 'PaymentCompleted'],
      ],
    );
    assert.equal((await eventsOf(id))[4]?.review?.reviewer, 'reviewer-1');
    await decide(id, 'DECLINE', T0 + 11_000);
    assert.equal((await eventsOf(id)).length, 6);
    const now = await balances();
    assert.equal(now.get('acc-a'), 100_000n);
    assert.equal(now.get('acc-b'), 200_000n);
    for (const [account, balance] of now) if (account.startsWith('hold:')) assert.equal(balance, 0n, account);
  });

  test("DECLINE voids the hold: the payment ends REJECTED REVIEW_DECLINED and the sender's balance is whole again", async () => {
    const id = await held();
    await decide(id, 'DECLINE', T0 + 10_000);
    assert.equal(await outcome(id), 'REJECTED REVIEW_DECLINED');
    const now = await balances();
    assert.equal(now.get('acc-a'), 300_000n);
    assert.equal(now.get('acc-b'), undefined);
  });

  test('a hold nobody decides within the review timeout is voided REVIEW_TIMEOUT by the wall clock', async () => {
    const id = await held();
    await driver.advanceWallClock(HOUR / 2);
    assert.equal(await outcome(id), 'PaymentHeld');
    await driver.advanceWallClock(HOUR);
    assert.equal(await outcome(id), 'REJECTED REVIEW_TIMEOUT');
    assert.equal((await balances()).get('acc-a'), 300_000n);
    await decide(id, 'APPROVE', T0 + 2 * HOUR);
    assert.equal(await outcome(id), 'REJECTED REVIEW_TIMEOUT');
  });
});
