/**
 * Reconciliation of the views of `payments.events` with the log (Kafka mode): `npm run reconcile`
 * (app/reconcile.ts) runs it once; the main job runs it every PAYFLOW_RECONCILE_INTERVAL_MS.
 *
 * A run: capture the end offsets of `payments.events` (then of `ledger.postings`), fold the log
 * up to them into per-payment statuses, and for each view (the ledger, PostgreSQL, and
 * Elasticsearch and the archive when PAYFLOW_PROJECTIONS has them) compute the same aggregates
 * and the drift |view − log| per (currency, day, measure) (projections/reconciliation.ts).
 *
 * Lag is not drift: before a projection is read, its consumer group must have committed up to the
 * captured end offsets (waited for up to PAYFLOW_RECONCILE_CATCH_UP_TIMEOUT_MS); a group still
 * behind makes the view `lagging`, not compared. Payments newer than PAYFLOW_RECONCILE_SETTLE_MS
 * are left out (in flight), and so are those older than PAYFLOW_RECONCILE_LOOKBACK_DAYS (the log
 * keeps 30 days). A payment that changes between the capture and the reading of a view (a held
 * payment decided in that second) shows as drift in that run only: alert on drift that lasts
 * two runs (app/prometheus-rules.yml).
 */
import { Client } from '@elastic/elasticsearch';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';

import {
  compareAggregates,
  driftByMeasure,
  reconciliationWindow,
  type Aggregates,
  type ReconciledView,
  type ReconciliationWindow,
  type ViewOutcome,
} from '../projections/reconciliation.js';
import { archivedToOf } from '../projections/s3-parquet/archive.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import type { LedgerPosting, PaymentEvent } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import type { ReadSideSettings, ReconciliationSettings } from './config.js';
import { archiveS3Client } from './read-side.js';
import {
  archiveAggregates,
  elasticsearchAggregates,
  endOffsets,
  ledgerAggregates,
  logAggregates,
  postgresAggregates,
  committedOffset,
  waitForGroup,
  type EndOffsets,
  type HeldPosition,
} from './reconcile-readers.js';

export interface ReconciliationTargets {
  readonly kafka: Kafka;
  readonly registryUrl: string;
  /** Prefix of the read models' consumer groups (PAYFLOW_APPLICATION_ID). */
  readonly applicationId: string;
  readonly pool: pg.Pool;
  readonly readSide: ReadSideSettings;
}

export interface ReconciliationReport {
  readonly window: ReconciliationWindow;
  /** Payments of the window in the log. */
  readonly payments: number;
  /** Events in the window whose PaymentInitiated the log does not have. */
  readonly orphans: number;
  readonly outcomes: readonly ViewOutcome[];
}

/** clean: every view compared, no drift; drift: some; incomplete: a view lagging, failed or not read. */
export type RunOutcome = 'clean' | 'drift' | 'incomplete';

export function outcomeOf(report: ReconciliationReport): RunOutcome {
  const compared = report.outcomes.filter((o) => o.state === 'compared');
  if (compared.some((o) => o.rows.some((row) => row.drift > 0n))) return 'drift';
  return report.outcomes.every((o) => o.state === 'compared' || o.state === 'skipped')
    ? 'clean'
    : 'incomplete';
}

/** The projections' consumer groups (app/read-models.ts, app/read-side.ts). */
const GROUP_OF: Readonly<Record<Exclude<ReconciledView, 'ledger'>, string>> = {
  postgres: 'read-model.payments',
  elasticsearch: 'read-model.elasticsearch',
  archive: 'read-model.archive',
};

/**
 * The archive commits its open files' first offsets (a restart writes them again whole), with
 * what its objects hold as the metadata (projections/s3-parquet/archive.ts).
 */
export const archiveHeld: HeldPosition = (committed) => {
  const offset = BigInt(committed.offset);
  const archived = archivedToOf(committed.metadata);
  return archived !== undefined && archived > offset ? archived : offset;
};

/** One run; rejects only when the log itself can't be read (a view that can't is `failed`). */
export async function runReconciliation(
  targets: ReconciliationTargets,
  settings: ReconciliationSettings,
  options: {
    readonly nowMs?: number;
    /** Compare only payments from this time on (an incident's start, or a test's). */
    readonly sinceMs?: number;
  } = {},
): Promise<ReconciliationReport> {
  const registry = createSchemaRegistry(targets.registryUrl);
  const eventSerde = registryAvroSerde<PaymentEvent>(
    registry,
    valueSubject(TOPIC.paymentsEvents),
    AVRO.PaymentEvent,
  );
  const postingSerde = registryAvroSerde<LedgerPosting>(
    registry,
    valueSubject(TOPIC.ledgerPostings),
    AVRO.LedgerPosting,
  );
  const lookback = reconciliationWindow(
    options.nowMs ?? Date.now(),
    settings.lookbackDays,
    settings.settleMs,
  );
  const window = { ...lookback, fromMs: Math.max(lookback.fromMs, options.sinceMs ?? lookback.fromMs) };
  const admin = targets.kafka.admin();
  await admin.connect();
  try {
    const eventEnds = await endOffsets(admin, TOPIC.paymentsEvents);
    const postingEnds = await endOffsets(admin, TOPIC.ledgerPostings);
    const log = await logAggregates({
      kafka: targets.kafka,
      topic: TOPIC.paymentsEvents,
      serde: eventSerde,
      ends: eventEnds,
      window,
      timeoutMs: settings.catchUpTimeoutMs,
      maxPayments: settings.maxPayments,
    });
    const readers = viewReaders(targets, settings, window, { postingSerde, postingEnds });
    const outcomes: ViewOutcome[] = [];
    for (const [view, read] of readers) {
      outcomes.push(await reconcileView(view, read, log.aggregates, { admin, targets, settings, eventEnds }));
    }
    return { window, payments: log.payments, orphans: log.orphans, outcomes };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

type ViewReader = (() => Promise<Aggregates>) | { readonly skipped: string };

async function reconcileView(
  view: ReconciledView,
  read: ViewReader,
  log: Aggregates,
  context: {
    readonly admin: ReturnType<Kafka['admin']>;
    readonly targets: ReconciliationTargets;
    readonly settings: ReconciliationSettings;
    readonly eventEnds: EndOffsets;
  },
): Promise<ViewOutcome> {
  if (typeof read !== 'function') return { view, state: 'skipped', detail: read.skipped };
  try {
    if (view !== 'ledger') {
      const groupId = `${context.targets.applicationId}.${GROUP_OF[view]}`;
      const behind = await waitForGroup(
        context.admin,
        groupId,
        TOPIC.paymentsEvents,
        context.eventEnds,
        context.settings.catchUpTimeoutMs,
        view === 'archive' ? archiveHeld : committedOffset,
      );
      if (behind.length > 0)
        return {
          view,
          state: 'lagging',
          detail: `${groupId} behind the log's end on partition(s) ${behind.join(', ')} after ${context.settings.catchUpTimeoutMs} ms`,
        };
    }
    return { view, state: 'compared', rows: compareAggregates(view, log, await read()) };
  } catch (error) {
    return { view, state: 'failed', detail: error instanceof Error ? error.message : String(error) };
  }
}

function viewReaders(
  targets: ReconciliationTargets,
  settings: ReconciliationSettings,
  window: ReconciliationWindow,
  ledger: {
    readonly postingSerde: ReturnType<typeof registryAvroSerde<LedgerPosting>>;
    readonly postingEnds: EndOffsets;
  },
): [ReconciledView, ViewReader][] {
  const { elasticsearch, archive } = targets.readSide;
  return [
    [
      'ledger',
      () =>
        ledgerAggregates({
          kafka: targets.kafka,
          topic: TOPIC.ledgerPostings,
          serde: ledger.postingSerde,
          ends: ledger.postingEnds,
          window,
          timeoutMs: settings.catchUpTimeoutMs,
        }),
    ],
    ['postgres', () => postgresAggregates(targets.pool, window)],
    [
      'elasticsearch',
      elasticsearch === undefined
        ? { skipped: 'not in PAYFLOW_PROJECTIONS' }
        : async () => {
            const client = new Client({
              node: elasticsearch.url,
              requestTimeout: elasticsearch.timeoutMs,
              maxRetries: 2,
            });
            try {
              return await elasticsearchAggregates(client, elasticsearch.index, window);
            } finally {
              await client.close();
            }
          },
    ],
    [
      'archive',
      archive === undefined
        ? { skipped: 'not in PAYFLOW_PROJECTIONS' }
        : async () => {
            const s3 = archiveS3Client(archive.s3);
            try {
              return await archiveAggregates({
                s3,
                bucket: archive.bucket,
                prefix: archive.prefix,
                window,
                maxPayments: settings.maxPayments,
              });
            } finally {
              s3.destroy();
            }
          },
    ],
  ];
}

export type ReconciliationMetrics = ReturnType<typeof reconciliationMetrics>;

/**
 * `payflow_reconciliation_drift{view, measure}`: |view − log| summed over the window's currencies
 * and days (bounded labels: 4 views × 14 measures; the day and currency are in the table);
 * `payflow_reconciliation_last_run_timestamp_seconds`; `payflow_reconciliation_runs_total{outcome}`.
 */
export function reconciliationMetrics(registry: Registry) {
  const get = <M>(name: string, make: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? make();
  return {
    drift: get(
      'payflow_reconciliation_drift',
      () =>
        new Gauge({
          name: 'payflow_reconciliation_drift',
          help: 'Drift of a view from the log in the last run that compared it: |view − log| summed over currencies and days (counts, or minor units for *_amount_minor)',
          labelNames: ['view', 'measure'],
          registers: [registry],
        }),
    ),
    lastRun: get(
      'payflow_reconciliation_last_run_timestamp_seconds',
      () =>
        new Gauge({
          name: 'payflow_reconciliation_last_run_timestamp_seconds',
          help: 'When the last reconciliation run ended (Unix seconds)',
          registers: [registry],
        }),
    ),
    runs: get(
      'payflow_reconciliation_runs_total',
      () =>
        new Counter({
          name: 'payflow_reconciliation_runs_total',
          help: 'Reconciliation runs by outcome: clean, drift, incomplete (a view lagging or unreadable), failed (the log unreadable)',
          labelNames: ['outcome'],
          registers: [registry],
        }),
    ),
  };
}

/** Sets the gauges of every compared view (a view not compared keeps its last values). */
export function recordReport(
  metrics: ReconciliationMetrics,
  report: ReconciliationReport,
  endedAtMs: number,
): RunOutcome {
  for (const outcome of report.outcomes) {
    if (outcome.state !== 'compared') continue;
    for (const [measure, drift] of driftByMeasure(outcome.view, outcome.rows))
      metrics.drift.set({ view: outcome.view, measure }, Number(drift));
  }
  metrics.lastRun.set(endedAtMs / 1000);
  const outcome = outcomeOf(report);
  metrics.runs.inc({ outcome });
  return outcome;
}

export interface PeriodicReconciliation {
  stop(): Promise<void>;
}

/**
 * Runs reconciliation every `settings.intervalMs` (the first run one interval after the start),
 * one run at a time; `stop` waits for a run in progress. Each run's outcome goes to `log`.
 */
export function startPeriodicReconciliation(
  targets: ReconciliationTargets,
  settings: ReconciliationSettings,
  options: {
    readonly metricsRegistry: Registry;
    readonly log: (message: string, detail: Record<string, unknown>) => void;
  },
): PeriodicReconciliation {
  const metrics = reconciliationMetrics(options.metricsRegistry);
  let running: Promise<void> | undefined;
  let stopped = false;
  const runOnce = async () => {
    try {
      const report = await runReconciliation(targets, settings);
      const outcome = recordReport(metrics, report, Date.now());
      options.log('reconciliation run ended', {
        outcome,
        payments: report.payments,
        views: report.outcomes.map((o) => ({
          view: o.view,
          state: o.state,
          ...(o.state === 'compared'
            ? { driftingCells: o.rows.filter((row) => row.drift > 0n).length }
            : { detail: o.detail }),
        })),
      });
    } catch (error) {
      metrics.runs.inc({ outcome: 'failed' });
      options.log('reconciliation run failed', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
  const timer = setInterval(() => {
    if (stopped || running !== undefined) return;
    running = runOnce().finally(() => (running = undefined));
  }, settings.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
