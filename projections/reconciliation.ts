/**
 * Reconciliation, the pure part: the aggregates every view of `payments.events` must agree on,
 * and the drift between the log's and a view's. No I/O here; the readers (app/reconcile-readers.ts)
 * turn each view into the same `Aggregates` and app/reconciliation.ts compares them.
 *
 * What is counted: each payment once, in the UTC day of its command time (`occurredAtMs`, which
 * every event of a payment carries and the views keep as `created_at` / `createdAt` / `dt`), by
 * its status after its last event: per (currency, day) the count of payments and the sum of their
 * `amount_minor` in each status (`completed_count`, `completed_amount_minor`, `rejected_count`, …).
 * Only payments whose command time is inside the window are compared: older days may be past the
 * log's retention, and the most recent payments are still in flight.
 */
import type { PaymentStatus } from '../schemas/types.js';
import { STATUS_AFTER_EVENT } from './payment-view.js';

/** The views compared with the log, in the order of the report. */
export const RECONCILED_VIEWS = ['ledger', 'postgres', 'elasticsearch', 'archive'] as const;
export type ReconciledView = (typeof RECONCILED_VIEWS)[number];

export const PAYMENT_STATUSES: readonly PaymentStatus[] = [
  'INITIATED',
  'VALIDATED',
  'DEBITED',
  'HELD',
  'COMPLETED',
  'REJECTED',
  'FAILED',
];

/** `<status>_count` or `<status>_amount_minor`, lower case: a closed list (2 × 7 statuses). */
export type Measure = `${Lowercase<PaymentStatus>}_${'count' | 'amount_minor'}`;

export const countMeasure = (status: PaymentStatus): Measure => `${lower(status)}_count`;
export const amountMeasure = (status: PaymentStatus): Measure => `${lower(status)}_amount_minor`;
const lower = (status: PaymentStatus) => status.toLowerCase() as Lowercase<PaymentStatus>;

/** Every measure, for the views that keep every payment's status. */
export const ALL_MEASURES: readonly Measure[] = PAYMENT_STATUSES.flatMap((s) => [
  countMeasure(s),
  amountMeasure(s),
]);

/**
 * The measures each view can answer: the ledger knows money that moved, so only completed
 * payments (their credit postings); the others keep every payment.
 */
export const MEASURES_OF_VIEW: Readonly<Record<ReconciledView, readonly Measure[]>> = {
  ledger: [countMeasure('COMPLETED'), amountMeasure('COMPLETED')],
  postgres: ALL_MEASURES,
  elasticsearch: ALL_MEASURES,
  archive: ALL_MEASURES,
};

/** The payments compared: command time in [fromMs, toMs). */
export interface ReconciliationWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of `ms` in UTC. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The window of a run at `nowMs`: from the start of the UTC day `lookbackDays − 1` days before
 * today (so `lookbackDays` whole or partial days) up to `settleMs` before now, the payments newer
 * than that being still in flight.
 */
export function reconciliationWindow(
  nowMs: number,
  lookbackDays: number,
  settleMs: number,
): ReconciliationWindow {
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  return { fromMs: today - (lookbackDays - 1) * DAY_MS, toMs: nowMs - settleMs };
}

export const inWindow = (window: ReconciliationWindow, ms: number): boolean =>
  ms >= window.fromMs && ms < window.toMs;

/** One cell: (currency, day, measure) → value (a count or a sum of minor units). */
export interface Cell {
  readonly currency: string;
  readonly day: string;
  readonly measure: Measure;
}

const cellKey = (cell: Cell) => `${cell.currency}|${cell.day}|${cell.measure}`;
function cellOf(key: string): Cell {
  const [currency, day, measure] = key.split('|') as [string, string, Measure];
  return { currency, day, measure };
}

/** A view's (or the log's) aggregates; cells never added read as zero. */
export class Aggregates {
  readonly #cells = new Map<string, bigint>();

  /** Counts one payment of `status` with `amountMinor` in (currency, day). */
  addPayment(currency: string, day: string, status: PaymentStatus, amountMinor: bigint, count = 1n): void {
    this.add({ currency, day, measure: countMeasure(status) }, count);
    this.add({ currency, day, measure: amountMeasure(status) }, amountMinor);
  }

  add(cell: Cell, value: bigint): void {
    const key = cellKey(cell);
    this.#cells.set(key, (this.#cells.get(key) ?? 0n) + value);
  }

  get(cell: Cell): bigint {
    return this.#cells.get(cellKey(cell)) ?? 0n;
  }

  cells(): Cell[] {
    return [...this.#cells.keys()].map(cellOf);
  }
}

/** What a payment event contributes to the fold: the facts only PaymentInitiated carries. */
export interface FoldedEvent {
  readonly paymentId: string;
  readonly type: string;
  readonly sequence: number;
  readonly occurredAtMs: number;
  readonly initiated?: { readonly currency: string; readonly amountMinor: bigint };
}

interface FoldedPayment {
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly occurredAtMs: number;
  status: PaymentStatus;
  lastSequence: number;
}

/**
 * Folds payment events (the log's, or the archive's rows) into each payment's status, keeping only
 * the payments of the window. Replays are harmless: an event whose sequence the payment already
 * has is ignored, and events may come in any order across payments. Bounded: more than
 * `maxPayments` payments in the window throws (the run fails loudly rather than exhaust memory).
 */
export class PaymentFold {
  readonly #payments = new Map<string, FoldedPayment>();
  /** Events whose payment has no PaymentInitiated in the fold (out of the window, or missing). */
  #orphans = 0;

  constructor(
    private readonly window: ReconciliationWindow,
    private readonly maxPayments: number,
  ) {}

  apply(event: FoldedEvent): void {
    const known = this.#payments.get(event.paymentId);
    if (known === undefined) {
      if (event.initiated === undefined) {
        if (inWindow(this.window, event.occurredAtMs)) this.#orphans += 1;
        return;
      }
      if (!inWindow(this.window, event.occurredAtMs)) return;
      if (this.#payments.size >= this.maxPayments)
        throw new RangeError(`more than ${this.maxPayments} payments in the reconciliation window`);
      this.#payments.set(event.paymentId, {
        currency: event.initiated.currency,
        amountMinor: event.initiated.amountMinor,
        occurredAtMs: event.occurredAtMs,
        status: STATUS_AFTER_EVENT[event.type] ?? 'INITIATED',
        lastSequence: event.sequence,
      });
      return;
    }
    if (event.sequence <= known.lastSequence) return;
    known.lastSequence = event.sequence;
    known.status = STATUS_AFTER_EVENT[event.type] ?? known.status;
  }

  /** Events in the window whose payment's PaymentInitiated was never folded. */
  get orphans(): number {
    return this.#orphans;
  }

  get size(): number {
    return this.#payments.size;
  }

  aggregates(): Aggregates {
    const aggregates = new Aggregates();
    for (const payment of this.#payments.values())
      aggregates.addPayment(
        payment.currency,
        utcDay(payment.occurredAtMs),
        payment.status,
        payment.amountMinor,
      );
    return aggregates;
  }
}

export interface DriftRow extends Cell {
  readonly view: ReconciledView;
  readonly log: bigint;
  readonly viewValue: bigint;
  /** |view − log|. */
  readonly drift: bigint;
}

/** Every cell either side has, for the measures the view answers, sorted by currency, day, measure. */
export function compareAggregates(
  view: ReconciledView,
  log: Aggregates,
  viewAggregates: Aggregates,
): DriftRow[] {
  const measures = new Set(MEASURES_OF_VIEW[view]);
  const keys = new Map<string, Cell>();
  for (const cell of [...log.cells(), ...viewAggregates.cells()])
    if (measures.has(cell.measure)) keys.set(cellKey(cell), cell);
  const rows = [...keys.values()].map((cell) => {
    const logValue = log.get(cell);
    const viewValue = viewAggregates.get(cell);
    const difference = viewValue - logValue;
    return { view, ...cell, log: logValue, viewValue, drift: difference < 0n ? -difference : difference };
  });
  return rows.sort(
    (a, b) =>
      a.currency.localeCompare(b.currency) ||
      a.day.localeCompare(b.day) ||
      MEASURE_ORDER.get(a.measure)! - MEASURE_ORDER.get(b.measure)!,
  );
}

const MEASURE_ORDER = new Map(ALL_MEASURES.map((measure, index) => [measure, index]));

/**
 * The drift per measure of one view, summed over currencies and days: every measure the view
 * answers is present (0 when it agrees), so a gauge set from it goes back to 0 when drift is
 * repaired. Amount drift sums minor units across currencies: a signal, the table has the detail.
 */
export function driftByMeasure(view: ReconciledView, rows: readonly DriftRow[]): Map<Measure, bigint> {
  const totals = new Map<Measure, bigint>(MEASURES_OF_VIEW[view].map((measure) => [measure, 0n]));
  for (const row of rows)
    if (row.view === view) totals.set(row.measure, totals.get(row.measure)! + row.drift);
  return totals;
}

/** The outcome of one view in a run. */
export type ViewOutcome =
  | { readonly view: ReconciledView; readonly state: 'compared'; readonly rows: readonly DriftRow[] }
  | {
      readonly view: ReconciledView;
      readonly state: 'skipped' | 'lagging' | 'failed';
      readonly detail: string;
    };

/**
 * The report as a table: one line per (view, currency, day, measure) with a non-zero value on
 * either side (`--all`) or only those with drift; a line per view that was not compared.
 */
export function renderReport(outcomes: readonly ViewOutcome[], options: { readonly all: boolean }): string {
  const header = ['view', 'currency', 'day', 'measure', 'log', 'view value', 'drift'];
  const lines: string[][] = [];
  const notes: string[] = [];
  for (const outcome of outcomes) {
    if (outcome.state !== 'compared') {
      notes.push(`${outcome.view}: ${outcome.state} (${outcome.detail})`);
      continue;
    }
    const drifting = outcome.rows.filter((row) => row.drift > 0n).length;
    notes.push(`${outcome.view}: ${drifting === 0 ? 'no drift' : `${drifting} cell(s) with drift`}`);
    for (const row of outcome.rows) {
      if (!options.all && row.drift === 0n) continue;
      lines.push([
        row.view,
        row.currency,
        row.day,
        row.measure,
        String(row.log),
        String(row.viewValue),
        String(row.drift),
      ]);
    }
  }
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (line: readonly string[]) =>
    line
      .map((text, column) => (column >= 4 ? text.padStart(widths[column]!) : text.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format), '', ...notes].join(
    '\n',
  );
}
