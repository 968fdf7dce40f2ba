/**
 * `npm run reconcile [-- --all --metrics --since=<ISO time>]`: compares the views of `payments.events` (the
 * ledger, PostgreSQL, and Elasticsearch and the archive when PAYFLOW_PROJECTIONS has them) with
 * the log once and prints a table of the cells with drift (`--all`: every cell), then a line per
 * view; `--metrics` also prints the run's metrics in the Prometheus text format (for a node
 * exporter's textfile collector); `--since` leaves out the payments before that time. Exit 0: no drift; 1: drift; 2: bad configuration; 3: incomplete
 * (a view lagging or unreadable, or the log unreadable). app/README.md: Reconciliation.
 */
import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';

import { renderReport } from '../projections/reconciliation.js';
import { configOrExit, reconcileConfig } from './config.js';
import { readModelsPool } from './kafka-job.js';
import { recordReport, reconciliationMetrics, runReconciliation } from './reconciliation.js';

const EXIT = { clean: 0, drift: 1, incomplete: 3 } as const;

const config = configOrExit('reconcile', () => reconcileConfig(process.env));
const flags = new Set(process.argv.slice(2));
const since = process.argv
  .slice(2)
  .find((arg) => arg.startsWith('--since='))
  ?.slice('--since='.length);
const sinceMs = since === undefined ? undefined : Date.parse(since);
if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
  console.error(`reconcile: invalid configuration: --since=${since} is not an ISO 8601 time`);
  process.exit(2);
}
const kafka = new Kafka({
  clientId: `${config.kafka.applicationId}-reconcile`,
  brokers: [...config.kafka.brokers],
  connectionTimeout: 10_000,
  requestTimeout: 30_000,
  retry: { retries: 3 },
  logLevel: logLevel.WARN,
});
const pool = readModelsPool(config.postgres, (message, detail) =>
  console.error(`reconcile: ${message} ${JSON.stringify(detail)}`),
);
try {
  const report = await runReconciliation(
    {
      kafka,
      registryUrl: config.kafka.registryUrl,
      applicationId: config.kafka.applicationId,
      pool,
      readSide: config.readSide,
    },
    config.reconciliation,
    sinceMs === undefined ? {} : { sinceMs },
  );
  const registry = new Registry();
  const outcome = recordReport(reconciliationMetrics(registry), report, Date.now());
  console.log(
    `payments ${new Date(report.window.fromMs).toISOString()} to ${new Date(report.window.toMs).toISOString()}: ${report.payments} in the log${report.orphans > 0 ? `, ${report.orphans} event(s) without their PaymentInitiated` : ''}`,
  );
  console.log(renderReport(report.outcomes, { all: flags.has('--all') }));
  if (flags.has('--metrics')) console.log(`\n${await registry.metrics()}`);
  process.exitCode = EXIT[outcome];
} catch (error) {
  console.error(`reconcile failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = EXIT.incomplete;
} finally {
  await pool.end();
}
