/**
 * Every payment ends: for every command on the ingress topic, exactly one terminal event
 * (PaymentCompleted, PaymentRejected or PaymentFailed) on payments.events, and it is the
 * payment's last. Run on the embedded pipeline (the main job's topology, Avro-encoded, on the
 * in-memory driver) with random and hostile input: unknown and closed accounts, amounts at and
 * past every limit, deposits past the currency's ceiling, reused idempotency keys, bytes that are
 * no command, tombstones, and fraud holds nobody reviews.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Registry } from 'prom-client';

import type { AccountCommand, CurrencyCode, PaymentCommand, PaymentEvent } from '../schemas/types.js';
import { AVRO } from '../schemas/avro.js';
import { HEADER } from '../topics/headers.js';
import { TOPIC } from '../topics/catalogue.js';
import { paymentCommandKey } from '../topics/keys.js';
import { seededRandom } from '../processors/test-fixtures.js';
import { LONG_MAX, maxAmountMinor, type SupportedCurrency } from '../processors/validate/currencies.js';
import { DEFAULT_REVIEW_TIMEOUT_MS } from '../processors/ledger/processor.js';
import { defaultPipelineSettings } from './config.js';
import { EmbeddedPipeline } from './embedded.js';

const T0 = 1_700_000_000_000;
const TERMINAL = new Set(['PaymentCompleted', 'PaymentRejected', 'PaymentFailed']);

interface Harness {
  readonly pipeline: EmbeddedPipeline;
  /** Every payments.events record, decoded, in append order. */
  readonly events: PaymentEvent[];
  /** Every dead letter's headers. */
  readonly deadLetters: Record<string, string>[];
}

function harness(options: { readonly dedupeMaxEntries?: number } = {}): Harness {
  const defaults = defaultPipelineSettings();
  const pipeline = new EmbeddedPipeline({
    metricsRegistry: new Registry(),
    now: () => T0,
    pipeline: {
      partitions: defaults.partitions,
      processors: {
        ...defaults.processors,
        dedupe: { ...defaults.processors.dedupe, maxEntries: options.dedupeMaxEntries ?? 1_000_000 },
      },
    },
  });
  const events: PaymentEvent[] = [];
  const deadLetters: Record<string, string>[] = [];
  pipeline.driver.onAppend((record) => {
    if (record.topic === TOPIC.paymentsEvents && record.value !== null)
      events.push(AVRO.PaymentEvent.decode(record.value));
    if (record.topic === TOPIC.deadLetter) deadLetters.push({ ...record.headers });
  });
  return { pipeline, events, deadLetters };
}

function open(
  accountId: string,
  currency: CurrencyCode,
  kycTier: 'TIER_0' | 'TIER_3' = 'TIER_3',
): AccountCommand {
  return {
    type: 'OPEN',
    commandId: `open-${accountId}`,
    accountId,
    ownerId: `owner-${accountId}`,
    currency,
    kycTier,
    iban: null,
    issuedAtMs: T0,
  };
}

const ACCOUNT_HEADERS = { correlationId: 'corr-accounts', principal: 'admin-1', idempotencyKey: null };

const headersOf = (paymentId: string): Record<string, string> => ({
  [HEADER.correlationId]: `corr-${paymentId}`,
  [HEADER.principal]: 'merchant-1',
  [HEADER.paymentId]: paymentId,
});

function deposit(
  paymentId: string,
  recipientAccountId: string,
  amountMinor: bigint,
  currency: SupportedCurrency,
): PaymentCommand {
  return {
    commandId: `cmd-${paymentId}`,
    paymentId,
    kind: 'DEPOSIT',
    principal: 'treasury',
    idempotencyKey: paymentId,
    requestHash: paymentId,
    senderAccountId: `funding:${currency}`,
    recipientAccountId,
    amountMinor,
    currency,
    reference: null,
    device: null,
    submittedAtMs: T0,
    authority: { kind: 'ADMIN', owners: ['*'] },
  };
}

async function submit(h: Harness, command: PaymentCommand): Promise<void> {
  await h.pipeline.driver.pipe(TOPIC.paymentsCommands, paymentCommandKey(command), command, {
    timestampMs: command.submittedAtMs,
    headers: headersOf(command.paymentId),
  });
}

/** Each payment's terminal events (distinct event ids), and whether the terminal one is its last. */
function assertEveryPaymentEndedOnce(h: Harness, paymentIds: readonly string[]): void {
  const byPayment = new Map<string, Map<string, PaymentEvent>>();
  for (const event of h.events) {
    const seen = byPayment.get(event.paymentId) ?? new Map<string, PaymentEvent>();
    seen.set(event.eventId, event);
    byPayment.set(event.paymentId, seen);
  }
  for (const paymentId of paymentIds) {
    const history = [...(byPayment.get(paymentId)?.values() ?? [])].sort((a, b) => a.sequence - b.sequence);
    const terminal = history.filter((event) => TERMINAL.has(event.type));
    const summary = history.map((event) => `${event.sequence}:${event.type}:${event.rejection?.code ?? ''}`);
    assert.equal(
      terminal.length,
      1,
      `payment ${paymentId} has exactly one terminal event: ${summary.join(' ')}`,
    );
    assert.equal(history.at(-1), terminal[0], `payment ${paymentId} ends with it: ${summary.join(' ')}`);
  }
  assert.equal(h.pipeline.driver.ready, true, h.pipeline.driver.notReadyDetail);
}

describe('every payment ends', () => {
  test('a deposit past the currency ceiling is REJECTED AMOUNT_LIMIT_EXCEEDED, nothing is dead-lettered and every balance stays put', async () => {
    const h = harness();
    await h.pipeline.publishAccount(open('acc-kwd-a', 'KWD'), ACCOUNT_HEADERS);
    await h.pipeline.publishAccount(open('acc-kwd-b', 'KWD'), ACCOUNT_HEADERS);
    // KWD's ceiling is a long's maximum: one more thousandth would overflow any balance it reaches.
    await submit(h, deposit('dep-all', 'acc-kwd-a', maxAmountMinor('KWD'), 'KWD'));
    await submit(h, deposit('dep-one-more', 'acc-kwd-a', 1n, 'KWD'));
    await submit(h, deposit('dep-elsewhere', 'acc-kwd-b', 1n, 'KWD'));
    assertEveryPaymentEndedOnce(h, ['dep-all', 'dep-one-more', 'dep-elsewhere']);
    assert.equal((await h.pipeline.payments.getPayment('dep-all'))?.status, 'COMPLETED');
    for (const paymentId of ['dep-one-more', 'dep-elsewhere']) {
      const view = await h.pipeline.payments.getPayment(paymentId);
      assert.equal(view?.status, 'REJECTED');
      assert.equal(view.rejection?.code, 'AMOUNT_LIMIT_EXCEEDED');
    }
    assert.equal((await h.pipeline.accounts.getAccount('acc-kwd-a'))?.balanceMinor, maxAmountMinor('KWD'));
    assert.equal((await h.pipeline.accounts.getAccount('acc-kwd-b'))?.balanceMinor, 0n);
    assert.deepEqual(h.deadLetters, []);
  });

  test('a command dedupe cannot remember (its store is full) ends FAILED RECORD_DEAD_LETTERED with its facts, visible in the read model', async () => {
    const h = harness({ dedupeMaxEntries: 1 });
    await h.pipeline.publishAccount(open('acc-a', 'EUR'), ACCOUNT_HEADERS);
    // Keys of one partition (dedupe's store is per partition): the second finds it full.
    const ids = ['p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6', 'p-7', 'p-8'];
    for (const id of ids) await submit(h, deposit(id, 'acc-a', 100n, 'EUR'));
    assertEveryPaymentEndedOnce(h, ids);
    const failed = await Promise.all(ids.map((id) => h.pipeline.payments.getPayment(id)));
    const full = failed.filter((view) => view?.status === 'FAILED');
    assert.ok(full.length > 0, 'some command found the store full');
    for (const view of full) {
      assert.equal(view?.rejection?.code, 'RECORD_DEAD_LETTERED');
      assert.match(view.rejection.detail ?? '', /dead-lettered STORE_CAPACITY: state store seen is full/);
      assert.equal(view.amountMinor, 100n, 'the view has the command facts');
    }
    assert.equal(
      h.deadLetters.filter((headers) => headers[HEADER.dlqErrorCode] === 'STORE_CAPACITY').length,
      full.length,
    );
  });

  test('bytes on the ingress topic that are no command, and a tombstone, end their payment PaymentFailed at sequence 0, named by the payflow-payment-id header', async () => {
    const h = harness();
    await h.pipeline.driver.pipeRaw(TOPIC.paymentsCommands, 'k', Buffer.from('not avro at all'), {
      timestampMs: T0,
      headers: headersOf('bad-bytes'),
    });
    await h.pipeline.driver.pipeRaw(TOPIC.paymentsCommands, 'k', null, {
      timestampMs: T0,
      headers: headersOf('bad-tombstone'),
    });
    assertEveryPaymentEndedOnce(h, ['bad-bytes', 'bad-tombstone']);
    assert.deepEqual(
      h.events.map((event) => [event.eventId, event.type, event.rejection?.code, event.correlationId]),
      [
        ['bad-bytes:0', 'PaymentFailed', 'RECORD_DEAD_LETTERED', 'corr-bad-bytes'],
        ['bad-tombstone:0', 'PaymentFailed', 'RECORD_DEAD_LETTERED', 'corr-bad-tombstone'],
      ],
    );
    assert.match(h.events[0]?.rejection?.detail ?? '', /payments\.commands .* dead-lettered UNDECODABLE/);
    assert.deepEqual(
      h.deadLetters.map((headers) => headers[HEADER.paymentId]),
      ['bad-bytes', 'bad-tombstone'],
    );
  });

  for (const seed of [1, 2, 3]) {
    test(`random and hostile commands (seed ${seed}): each ends in exactly one terminal event, its last`, async () => {
      const random = seededRandom(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const h = harness();
      const accounts = ['acc-e1', 'acc-e2', 'acc-e3', 'acc-j1', 'acc-k1', 'acc-t0'];
      for (const id of ['acc-e1', 'acc-e2', 'acc-e3'])
        await h.pipeline.publishAccount(open(id, 'EUR'), ACCOUNT_HEADERS);
      await h.pipeline.publishAccount(open('acc-j1', 'JPY'), ACCOUNT_HEADERS);
      await h.pipeline.publishAccount(open('acc-k1', 'KWD'), ACCOUNT_HEADERS);
      await h.pipeline.publishAccount(open('acc-t0', 'EUR', 'TIER_0'), ACCOUNT_HEADERS);
      await h.pipeline.publishAccount(
        {
          type: 'CHANGE_STATUS',
          commandId: 'close-e3',
          accountId: 'acc-e3',
          status: 'CLOSED',
          issuedAtMs: T0,
        },
        ACCOUNT_HEADERS,
      );
      const amounts = (currency: SupportedCurrency): bigint[] => [
        0n,
        -5n,
        1n,
        BigInt(Math.floor(random() * 1_000_000)),
        maxAmountMinor(currency),
        // One past the currency's largest amount, where that still fits the Avro long.
        maxAmountMinor(currency) + (maxAmountMinor(currency) < LONG_MAX ? 1n : 0n),
        LONG_MAX,
      ];
      const submitted: string[] = [];
      let previous: PaymentCommand | undefined;
      for (let i = 0; i < 1_000; i += 1) {
        const paymentId = `s${seed}-p${i}`;
        const roll = random();
        if (roll < 0.05) {
          await h.pipeline.driver.pipeRaw(
            TOPIC.paymentsCommands,
            `k${i}`,
            roll < 0.02
              ? null
              : Buffer.from(
                  Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256)),
                ),
            { timestampMs: T0 + i, headers: headersOf(paymentId) },
          );
          submitted.push(paymentId);
          continue;
        }
        const currency = pick<SupportedCurrency>(['EUR', 'EUR', 'EUR', 'JPY', 'KWD', 'USD']);
        const deposit = random() < 0.35;
        const sender = deposit
          ? pick([`funding:${currency}`, 'funding:EUR', 'acc-e1'])
          : pick([...accounts, 'acc-none']);
        const command: PaymentCommand = {
          commandId: `cmd-${paymentId}`,
          paymentId,
          kind: deposit ? 'DEPOSIT' : 'TRANSFER',
          principal: pick(['merchant-1', 'merchant-2']),
          idempotencyKey: `key-${i}`,
          requestHash: `hash-${i}`,
          senderAccountId: sender,
          recipientAccountId: pick([...accounts, 'acc-none', 'funding:EUR', sender]),
          amountMinor: pick(amounts(currency)),
          currency,
          reference: pick([null, 'ref', 'nul\u0000byte', 'x'.repeat(2_000)]),
          device: random() < 0.5 ? null : { id: `dev-${Math.floor(random() * 3)}`, ip: '203.0.113.9' },
          submittedAtMs: T0 + i,
          authority: { kind: 'ADMIN', owners: ['*'] },
        };
        // A key used again: with the same body (a duplicate) or another (a reused key).
        const reused =
          previous !== undefined && random() < 0.1
            ? {
                idempotencyKey: previous.idempotencyKey,
                principal: previous.principal,
                requestHash: random() < 0.5 ? previous.requestHash : command.requestHash,
              }
            : {};
        const sent = { ...command, ...reused };
        await submit(h, sent);
        submitted.push(paymentId);
        previous = sent;
      }
      // Fraud holds nobody decides end REVIEW_TIMEOUT once the review timeout passes.
      await h.pipeline.driver.advanceWallClock(DEFAULT_REVIEW_TIMEOUT_MS + 60_000);
      assertEveryPaymentEndedOnce(h, submitted);
      const outcomes = new Set<string>(h.events.map((event) => event.rejection?.code ?? event.type));
      for (const outcome of ['PaymentCompleted', 'AMOUNT_LIMIT_EXCEEDED', 'RECORD_DEAD_LETTERED'])
        assert.ok(outcomes.has(outcome), `the run reached ${outcome} (reached: ${[...outcomes].join(' ')})`);
    });
  }
});
