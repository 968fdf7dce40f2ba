import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  Aggregates,
  compareAggregates,
  driftByMeasure,
  PaymentFold,
  reconciliationWindow,
  renderReport,
  utcDay,
  type FoldedEvent,
} from './reconciliation.js';

const DAY = '2026-12-01';
const T0 = Date.parse(`${DAY}T10:00:00Z`);
const WINDOW = { fromMs: Date.parse(`${DAY}T00:00:00Z`), toMs: Date.parse('2026-12-02T00:00:00Z') };

function initiated(paymentId: string, amountMinor: bigint, currency = 'EUR', occurredAtMs = T0): FoldedEvent {
  return {
    paymentId,
    type: 'PaymentInitiated',
    sequence: 0,
    occurredAtMs,
    initiated: { currency, amountMinor },
  };
}
const step = (paymentId: string, type: string, sequence: number, occurredAtMs = T0): FoldedEvent => ({
  paymentId,
  type,
  sequence,
  occurredAtMs,
});

function completed(fold: PaymentFold, paymentId: string, amountMinor: bigint, currency = 'EUR') {
  fold.apply(initiated(paymentId, amountMinor, currency));
  fold.apply(step(paymentId, 'PaymentValidated', 1));
  fold.apply(step(paymentId, 'PaymentDebited', 2));
  fold.apply(step(paymentId, 'PaymentCompleted', 3));
}

describe('reconciliation aggregates', () => {
  test('a payment counts once, in the status of its last event, in the UTC day of its command', () => {
    const fold = new PaymentFold(WINDOW, 100);
    completed(fold, 'p1', 1_000n);
    completed(fold, 'p2', 250n);
    fold.apply(initiated('p3', 70n));
    fold.apply(step('p3', 'PaymentRejected', 1));
    fold.apply(initiated('p4', 5n, 'GBP'));
    const aggregates = fold.aggregates();
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'completed_count' }), 2n);
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'completed_amount_minor' }), 1_250n);
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'rejected_count' }), 1n);
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'rejected_amount_minor' }), 70n);
    assert.equal(aggregates.get({ currency: 'GBP', day: DAY, measure: 'initiated_count' }), 1n);
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'initiated_count' }), 0n);
  });

  test('a replayed event changes nothing, and a late older copy never moves a payment back', () => {
    const fold = new PaymentFold(WINDOW, 100);
    completed(fold, 'p1', 1_000n);
    completed(fold, 'p1', 1_000n);
    fold.apply(step('p1', 'PaymentDebited', 2));
    const aggregates = fold.aggregates();
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'completed_count' }), 1n);
    assert.equal(aggregates.get({ currency: 'EUR', day: DAY, measure: 'debited_count' }), 0n);
  });

  test('payments outside the window are not counted, and their later events are not orphans', () => {
    const fold = new PaymentFold(WINDOW, 100);
    const before = WINDOW.fromMs - 1;
    fold.apply(initiated('old', 9n, 'EUR', before));
    fold.apply(step('old', 'PaymentCompleted', 1, before));
    fold.apply(initiated('late', 9n, 'EUR', WINDOW.toMs));
    fold.apply(step('lost', 'PaymentCompleted', 3));
    assert.equal(fold.size, 0);
    assert.equal(fold.orphans, 1);
  });

  test('more payments than the bound fail the run instead of exhausting memory', () => {
    const fold = new PaymentFold(WINDOW, 1);
    fold.apply(initiated('p1', 1n));
    assert.throws(() => fold.apply(initiated('p2', 1n)), RangeError);
  });

  test('the window covers the lookback days up to the settle time before now', () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    const window = reconciliationWindow(now, 3, 60_000);
    assert.equal(new Date(window.fromMs).toISOString(), '2026-12-01T00:00:00.000Z');
    assert.equal(new Date(window.toMs).toISOString(), '2026-12-03T11:59:00.000Z');
    assert.equal(utcDay(Date.parse('2026-12-01T23:59:59.999Z')), '2026-12-01');
  });
});

describe('reconciliation drift', () => {
  const log = new Aggregates();
  log.addPayment('EUR', DAY, 'COMPLETED', 1_250n, 2n);
  log.addPayment('EUR', DAY, 'REJECTED', 70n);

  test('equal aggregates have no drift in any measure', () => {
    const view = new Aggregates();
    view.addPayment('EUR', DAY, 'COMPLETED', 1_250n, 2n);
    view.addPayment('EUR', DAY, 'REJECTED', 70n);
    const rows = compareAggregates('postgres', log, view);
    assert.ok(rows.length > 0);
    assert.ok(rows.every((row) => row.drift === 0n));
    assert.ok([...driftByMeasure('postgres', rows).values()].every((drift) => drift === 0n));
  });

  test('a missing payment and a changed amount are drift of their measures, in both directions', () => {
    const view = new Aggregates();
    view.addPayment('EUR', DAY, 'COMPLETED', 1_000n, 1n);
    view.addPayment('EUR', DAY, 'REJECTED', 75n);
    const rows = compareAggregates('elasticsearch', log, view);
    const drift = driftByMeasure('elasticsearch', rows);
    assert.equal(drift.get('completed_count'), 1n);
    assert.equal(drift.get('completed_amount_minor'), 250n);
    assert.equal(drift.get('rejected_amount_minor'), 5n);
    assert.equal(drift.get('rejected_count'), 0n);
    assert.equal(drift.get('held_count'), 0n);
  });

  test('the ledger is compared on completed payments only', () => {
    const ledger = new Aggregates();
    ledger.addPayment('EUR', DAY, 'COMPLETED', 1_250n, 2n);
    const rows = compareAggregates('ledger', log, ledger);
    assert.deepEqual(
      rows.map((row) => row.measure),
      ['completed_count', 'completed_amount_minor'],
    );
    assert.deepEqual(
      [...driftByMeasure('ledger', rows).keys()],
      ['completed_count', 'completed_amount_minor'],
    );
    assert.ok(rows.every((row) => row.drift === 0n));
  });

  test('the table lists the drifting cells and a line per view, lagging views not compared', () => {
    const view = new Aggregates();
    view.addPayment('EUR', DAY, 'COMPLETED', 1_000n, 1n);
    view.addPayment('EUR', DAY, 'REJECTED', 70n);
    const table = renderReport(
      [
        { view: 'postgres', state: 'compared', rows: compareAggregates('postgres', log, view) },
        { view: 'archive', state: 'lagging', detail: 'group behind on 1 partition' },
      ],
      { all: false },
    );
    const lines = table.split('\n');
    assert.match(lines[0]!, /^view\s+currency\s+day\s+measure\s+log\s+view value\s+drift$/);
    assert.ok(lines.some((line) => /^postgres\s+EUR\s+2026-12-01\s+completed_count\s+2\s+1\s+1$/.test(line)));
    assert.ok(!lines.some((line) => line.includes('rejected_count')));
    assert.ok(lines.includes('postgres: 2 cell(s) with drift'));
    assert.ok(lines.includes('archive: lagging (group behind on 1 partition)'));
  });
});
