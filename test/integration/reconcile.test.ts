/**
 * Reconciliation on the real stack (Kafka, registry, PostgreSQL, Elasticsearch, S3): after
 * payments through the main job, every view agrees with the log — in a run of our own, in the
 * main job's periodic run and in `npm run reconcile`. Then one view at a time is broken on
 * purpose (an amount changed in PostgreSQL, a search document deleted, an archive object deleted)
 * and the drift is reported for exactly that view, in the table, the exit code and the metric.
 *
 * The comparison is limited to this test's payments (`sinceMs`, `--since`): the log holds the
 * payments of every test before it, and this run's index and archive are new.
 * Bounded: 3 accounts, 2 deposits, 4 payments, loopback only.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { Registry } from 'prom-client';

import type { ReconciliationSettings } from '../../app/config.js';
import {
  outcomeOf,
  recordReport,
  reconciliationMetrics,
  runReconciliation,
  type ReconciliationReport,
  type ReconciliationTargets,
} from '../../app/reconciliation.js';
import { TOPIC } from '../../topics/catalogue.js';
import { kill } from '../support/eos-harness.js';
import { bearerTokens, HttpProducer, startMainJobProcess } from '../support/http-producer.js';
import { freePort, waitHttpOk } from '../support/processes.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const SETTLE_MS = 60_000;

const SETTINGS: ReconciliationSettings = {
  intervalMs: 0,
  lookbackDays: 2,
  settleMs: 0,
  catchUpTimeoutMs: 120_000,
  maxPayments: 100_000,
};

/** The views with drift in a run, sorted; throws when a view was not compared. */
function driftingViews(report: ReconciliationReport): string[] {
  const views: string[] = [];
  for (const outcome of report.outcomes) {
    assert.equal(outcome.state, 'compared', `${outcome.view}: ${'detail' in outcome ? outcome.detail : ''}`);
    if (outcome.state === 'compared' && outcome.rows.some((row) => row.drift > 0n)) views.push(outcome.view);
  }
  return views.sort();
}

function driftOf(report: ReconciliationReport, view: string, measure: string): bigint {
  const outcome = report.outcomes.find((o) => o.view === view);
  assert.ok(outcome?.state === 'compared');
  return outcome.rows.filter((row) => row.measure === measure).reduce((sum, row) => sum + row.drift, 0n);
}

/** `npm run reconcile` as an operator runs it: exit code and output. */
function reconcileCommand(
  childEnv: Record<string, string>,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'app/reconcile.ts', ...args], {
    env: { ...process.env, ...childEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('npm run reconcile did not end within 180 s'));
    }, 180_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}

describe('reconciliation', { skip }, () => {
  test(
    'after payments every view agrees with the log; an amount changed in PostgreSQL, a search document deleted and an archive object deleted are each drift of exactly that view, in the table, the exit code and payflow_reconciliation_drift',
    { timeout: 900_000 },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const sinceMs = Date.now();
      const index = uniqueName('reconcile-transactions');
      const bucket = uniqueName('reconcile-archive');
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const { producer, admin } = await bearerTokens();
      const http = new HttpProducer(base, { sendDeadlineMs: SETTLE_MS, settleTimeoutMs: SETTLE_MS });
      const kafka = new Kafka({
        clientId: 'reconcile-test',
        brokers: stack.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });

      // The new index and archive need only this test's events: their groups start at the log's
      // end when the log exists (a fresh stack has no topics yet, and the groups start at 0).
      const groupsAdmin = kafka.admin();
      await groupsAdmin.connect();
      try {
        if ((await groupsAdmin.listTopics()).includes(TOPIC.paymentsEvents)) {
          const ends = await groupsAdmin.fetchTopicOffsets(TOPIC.paymentsEvents);
          const partitions = ends.map((end) => ({ partition: end.partition, offset: end.high }));
          for (const readModel of ['elasticsearch', 'archive'])
            await groupsAdmin.setOffsets({
              groupId: `payflow.read-model.${readModel}`,
              topic: TOPIC.paymentsEvents,
              partitions,
            });
        }
      } finally {
        await groupsAdmin.disconnect();
      }

      const projections = {
        PAYFLOW_PROJECTIONS: 'postgres,elasticsearch,archive',
        PAYFLOW_ELASTICSEARCH_URL: stack.elasticsearchUrl,
        PAYFLOW_ELASTICSEARCH_INDEX: index,
        PAYFLOW_S3_ENDPOINT: stack.s3.endpoint,
        PAYFLOW_S3_REGION: stack.s3.region,
        PAYFLOW_S3_ACCESS_KEY_ID: stack.s3.accessKeyId,
        PAYFLOW_S3_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
        PAYFLOW_ARCHIVE_BUCKET: bucket,
      };
      const job = startMainJobProcess(stack, port, {
        env: {
          ...projections,
          PAYFLOW_RECONCILE_INTERVAL_MS: '2000',
          PAYFLOW_RECONCILE_SETTLE_MS: '0',
        },
      });
      t.after(async () => {
        if (job.exitCode === null) await kill(job, 'SIGKILL');
      });
      await waitHttpOk(job, `${base}/readyz`, 120_000);

      // Payments: two deposits, three transfers that complete, one refused for want of funds.
      const [payer, payee, other] = (await http.openAccounts(admin, uniqueName('rec'), 3)) as [
        string,
        string,
        string,
      ];
      await http.fundAccounts(admin, [payer, other], 10_000);
      const completed: string[] = [];
      for (const [sender, recipient, amount] of [
        [payer, payee, 1_200],
        [payer, other, 345],
        [other, payee, 5_000],
        [payee, payer, 1_000_000],
      ] as const) {
        const body = { senderAccountId: sender, recipientAccountId: recipient, amount, currency: 'EUR' };
        const accepted = await http.untilAccepted('/v1/payments', producer, body, randomUUID());
        const paymentId = accepted.body.paymentId as string;
        const ended = await http.settle(paymentId, admin);
        assert.equal(ended.status, amount === 1_000_000 ? 'REJECTED' : 'COMPLETED');
        if (ended.status === 'COMPLETED') completed.push(paymentId);
      }

      // Each view broken below is repaired even when an assertion fails, so the stack's data stays
      // true; registered before the clients it uses, so it runs before they close.
      const repairs: (() => Promise<unknown>)[] = [];
      t.after(async () => {
        for (const undo of repairs.splice(0).reverse()) await undo();
      });
      const repair = async () => {
        await repairs.pop()?.();
      };
      const pool = new pg.Pool({ connectionString: stack.postgresUrl, max: 2, statement_timeout: 30_000 });
      t.after(() => pool.end());
      const targets: ReconciliationTargets = {
        kafka,
        registryUrl: stack.schemaRegistryUrl,
        applicationId: 'payflow',
        pool,
        readSide: {
          elasticsearch: {
            url: stack.elasticsearchUrl,
            index,
            timeoutMs: 10_000,
            cacheTtlMs: 0,
            cacheMaxEntries: 1,
          },
          archive: {
            bucket,
            prefix: 'payments_events',
            fileOffsets: 10_000,
            flushIntervalMs: 500,
            s3: {
              endpoint: stack.s3.endpoint,
              region: stack.s3.region,
              credentials: { accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey },
              timeoutMs: 10_000,
            },
          },
        },
      };
      const reconcile = () => runReconciliation(targets, SETTINGS, { sinceMs });

      // Every view agrees: each one compared, the log's counts are this test's payments.
      const clean = await reconcile();
      assert.deepEqual(driftingViews(clean), []);
      assert.equal(outcomeOf(clean), 'clean');
      const postgresRows = clean.outcomes.find((o) => o.view === 'postgres');
      assert.ok(postgresRows?.state === 'compared');
      const logCompleted = postgresRows.rows
        .filter((row) => row.measure === 'completed_count')
        .reduce((sum, row) => sum + row.log, 0n);
      assert.ok(logCompleted >= 5n, `the log has the 2 deposits and 3 transfers completed (${logCompleted})`);
      assert.ok(postgresRows.rows.some((row) => row.measure === 'rejected_count' && row.log >= 1n));

      // The main job reconciles on its own and exports the result.
      const deadline = Date.now() + 120_000;
      for (;;) {
        const metrics = await (await fetch(`${base}/metrics`)).text();
        const last = /^payflow_reconciliation_last_run_timestamp_seconds (\S+)$/m.exec(metrics);
        if (last !== null && Number(last[1]) * 1000 > sinceMs) {
          assert.match(
            metrics,
            /^payflow_reconciliation_drift\{view="ledger",measure="completed_count"\} \d+$/m,
          );
          assert.match(metrics, /^payflow_reconciliation_runs_total\{outcome="\w+"\} \d+$/m);
          break;
        }
        assert.ok(Date.now() < deadline, 'the main job ran a reconciliation within 120 s');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      // No projection moves while the views are broken.
      await kill(job, 'SIGTERM');

      const commandEnv = {
        ...projections,
        PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
        PAYFLOW_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
        PAYFLOW_POSTGRES_URL: stack.postgresUrl,
        PAYFLOW_RECONCILE_SETTLE_MS: '0',
        PAYFLOW_RECONCILE_LOOKBACK_DAYS: '2',
      };
      const since = `--since=${new Date(sinceMs).toISOString()}`;
      const cleanCommand = await reconcileCommand(commandEnv, [since]);
      assert.equal(cleanCommand.code, 0, cleanCommand.stdout);
      for (const view of ['ledger', 'postgres', 'elasticsearch', 'archive'])
        assert.match(cleanCommand.stdout, new RegExp(`^${view}: no drift$`, 'm'));

      // 1. PostgreSQL: one completed payment's amount changed.
      const [changed, deleted] = completed as [string, string];
      await pool.query('UPDATE payflow.payments SET amount_minor = amount_minor + 7 WHERE payment_id = $1', [
        changed,
      ]);
      repairs.push(() =>
        pool.query('UPDATE payflow.payments SET amount_minor = amount_minor - 7 WHERE payment_id = $1', [
          changed,
        ]),
      );
      const afterUpdate = await reconcile();
      assert.deepEqual(driftingViews(afterUpdate), ['postgres']);
      assert.equal(driftOf(afterUpdate, 'postgres', 'completed_amount_minor'), 7n);
      assert.equal(driftOf(afterUpdate, 'postgres', 'completed_count'), 0n);
      const registry = new Registry();
      assert.equal(recordReport(reconciliationMetrics(registry), afterUpdate, Date.now()), 'drift');
      const exported = await registry.metrics();
      assert.match(
        exported,
        /^payflow_reconciliation_drift\{view="postgres",measure="completed_amount_minor"\} 7$/m,
      );
      assert.match(
        exported,
        /^payflow_reconciliation_drift\{view="elasticsearch",measure="completed_amount_minor"\} 0$/m,
      );
      const command = await reconcileCommand(commandEnv, [since, '--metrics']);
      assert.equal(command.code, 1, command.stdout);
      assert.match(
        command.stdout,
        /^postgres\s+EUR\s+\d{4}-\d{2}-\d{2}\s+completed_amount_minor\s+\d+\s+\d+\s+7$/m,
      );
      assert.match(command.stdout, /^postgres: 1 cell\(s\) with drift$/m);
      assert.match(command.stdout, /^elasticsearch: no drift$/m);
      assert.match(
        command.stdout,
        /^payflow_reconciliation_drift\{view="postgres",measure="completed_amount_minor"\} 7$/m,
      );
      await repair();

      // 2. Elasticsearch: one completed payment's document deleted.
      const search = new Client({ node: stack.elasticsearchUrl, requestTimeout: 10_000 });
      t.after(() => search.close());
      const document = await search.get<Record<string, unknown>>({ index, id: deleted });
      await search.delete({ index, id: deleted, refresh: true });
      repairs.push(() => search.index({ index, id: deleted, document: document._source!, refresh: true }));
      const afterDelete = await reconcile();
      assert.deepEqual(driftingViews(afterDelete), ['elasticsearch']);
      assert.equal(driftOf(afterDelete, 'elasticsearch', 'completed_count'), 1n);
      await repair();
      assert.deepEqual(driftingViews(await reconcile()), []);

      // 3. The archive: the object with a payment's first events deleted.
      const s3 = stackS3Client(stack);
      t.after(() => s3.destroy());
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'payments_events/' }));
      const keys = (listed.Contents ?? [])
        .map((object) => object.Key!)
        .filter((key) => key.endsWith('.parquet'));
      assert.ok(keys.length > 0, 'the archive has objects');
      const victim = keys[0]!;
      const saved = await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: victim }))
      ).Body!.transformToByteArray();
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: victim }));
      repairs.push(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: saved })));
      const afterArchive = await reconcile();
      assert.deepEqual(driftingViews(afterArchive), ['archive']);
      await repair();
      assert.deepEqual(driftingViews(await reconcile()), []);
    },
  );
});
