/**
 * No IBAN rests in clear anywhere a run of the main job leaves data: its logs, the stack's server
 * logs, a dump of the whole database, the Parquet archive, the search index, and the bytes of
 * every record written to any topic during the run. Accounts are opened with IBANs of three
 * countries, a payment carries an IBAN printed in groups in its free-text reference, and requests
 * with an IBAN are refused along the way; the API shows every IBAN masked.
 *
 * Bounded: 3 accounts, a deposit and a payment, a few refused requests, loopback only.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { Kafka, logLevel } from 'kafkajs';

import { maskIban } from '../../schemas/iban.js';
import { IBAN_TEST_TABLE } from '../../schemas/iban-test-table.js';
import { TOPIC } from '../../topics/catalogue.js';
import { kill } from '../support/eos-harness.js';
import { bearerTokens, HttpProducer, startMainJobProcess } from '../support/http-producer.js';
import {
  archiveRows,
  describeFindings,
  elasticsearchDocuments,
  postgresDump,
  scanLogDirectory,
  scanText,
  topicRecords,
  type PiiFinding,
} from '../support/pii-scan.js';
import { freePort, waitHttpOk } from '../support/processes.js';
import { stackEnv, stackS3Client, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const IBANS = IBAN_TEST_TABLE.filter((entry) => entry.problem === undefined).map((entry) => entry.iban);
const SETTLE_MS = 60_000;

/** An IBAN as people print it: groups of four. */
const grouped = (iban: string) => iban.replace(/(.{4})/g, '$1 ').trim();

describe('PII at rest', { skip }, () => {
  test(
    'after accounts with IBANs, a payment whose reference holds one and refused requests with IBANs, no IBAN is in clear in the job logs, the stack logs, a database dump, the archive, the search index or any record written to a topic; the API shows them masked',
    { timeout: 600_000 },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const since = Date.now();
      const index = uniqueName('pii-transactions');
      const bucket = uniqueName('pii-archive');
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const { producer, admin } = await bearerTokens();
      const http = new HttpProducer(base, { sendDeadlineMs: SETTLE_MS, settleTimeoutMs: SETTLE_MS });
      const output: Buffer[] = [];
      // This run's index and archive are new, while the log holds the events of every test before
      // it: their consumer groups start at the log's end, as projections that caught up would.
      const kafka = new Kafka({
        clientId: 'pii-scan',
        brokers: stack.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      });
      const groupsAdmin = kafka.admin();
      await groupsAdmin.connect();
      try {
        // Explicit offsets: a reset "to latest" of a group without offsets commits -1, which a
        // consumer reads as "none" and starts from the beginning.
        const ends = await groupsAdmin.fetchTopicOffsets(TOPIC.paymentsEvents);
        const partitions = ends.map((end) => ({ partition: end.partition, offset: end.high }));
        for (const readModel of ['elasticsearch', 'archive']) {
          const groupId = `payflow.read-model.${readModel}`;
          await groupsAdmin.setOffsets({ groupId, topic: TOPIC.paymentsEvents, partitions });
          const [committed] = await groupsAdmin.fetchOffsets({ groupId, topics: [TOPIC.paymentsEvents] });
          assert.deepEqual(
            committed?.partitions
              .map(({ partition, offset }) => ({ partition, offset }))
              .sort((x, y) => x.partition - y.partition),
            [...partitions].sort((x, y) => x.partition - y.partition),
            `${groupId} starts at the log's end`,
          );
        }
      } finally {
        await groupsAdmin.disconnect();
      }
      const job: ChildProcess = startMainJobProcess(stack, port, {
        stdout: 'pipe',
        stderr: 'pipe',
        env: {
          // Every line the job can write, debug included.
          PAYFLOW_LOG_LEVEL: 'debug',
          // The whole read side: the search index and the archive are the job's own.
          PAYFLOW_PROJECTIONS: 'postgres,elasticsearch,archive',
          PAYFLOW_ELASTICSEARCH_INDEX: index,
          PAYFLOW_ARCHIVE_BUCKET: bucket,
        },
      });
      job.stdout!.on('data', (chunk: Buffer) => output.push(chunk));
      job.stderr!.on('data', (chunk: Buffer) => output.push(chunk));
      t.after(async () => {
        if (job.exitCode === null) await kill(job, 'SIGKILL');
      });
      await waitHttpOk(job, `${base}/readyz`, 120_000);

      // Three accounts, each with an IBAN; the API answers them masked.
      const prefix = uniqueName('pii');
      const accounts = IBANS.map((_, i) => `${prefix}-${i}`);
      const sent: unknown[] = [];
      for (const [i, accountId] of accounts.entries()) {
        const body = {
          accountId,
          ownerId: `owner-${accountId}`,
          currency: 'EUR',
          kycTier: 'TIER_2',
          iban: IBANS[i],
        };
        sent.push(body);
        await http.untilAccepted('/v1/accounts', admin, body, randomUUID());
      }
      for (const [i, accountId] of accounts.entries()) {
        const deadline = Date.now() + SETTLE_MS;
        for (;;) {
          const answer = await http.call('GET', `/v1/accounts/${accountId}`, admin);
          if (answer.status === 200) {
            assert.equal(answer.body.iban, maskIban(IBANS[i]!));
            break;
          }
          assert.ok(Date.now() < deadline, `account ${accountId} is readable`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }

      // Refused requests that carry an IBAN: a bad field beside it, and a second OPEN that conflicts.
      const refused = [
        { accountId: `${prefix}-bad`, ownerId: 'o', currency: 'EURO', kycTier: 'TIER_2', iban: IBANS[0] },
        { accountId: `${prefix}-bad`, ownerId: 'o', currency: 'EUR', kycTier: 'TIER_9', iban: IBANS[1] },
      ];
      for (const body of refused) {
        sent.push(body);
        const answer = await http.call('POST', '/v1/accounts', admin, body, randomUUID());
        assert.equal(answer.status, 400);
        assert.deepEqual(scanText('problem', JSON.stringify(answer.body)), []);
      }

      // A deposit, then a payment whose reference names the payee's IBAN in groups.
      const [payer, payee] = accounts as [string, string];
      await http.fundAccounts(admin, [payer], 10_000);
      const reference = `rent to ${grouped(IBANS[1]!)} for December`;
      const payment = {
        senderAccountId: payer,
        recipientAccountId: payee,
        amount: 2_500,
        currency: 'EUR',
        reference,
      };
      sent.push(payment);
      const accepted = await http.untilAccepted('/v1/payments', producer, payment, randomUUID());
      const paymentId = accepted.body.paymentId as string;
      const ended = await http.settle(paymentId, admin);
      assert.equal(ended.status, 'COMPLETED');
      assert.equal(ended.reference, `rent to ${maskIban(IBANS[1]!)} for December`);

      // The job's own projections hold the payment: the search index and the archive.
      const s3 = stackS3Client(stack);
      let archived = new Map<string, string>();
      let documents = '';
      const deadline = Date.now() + 180_000;
      for (;;) {
        documents = await elasticsearchDocuments(stack.elasticsearchUrl, index).catch(() => '');
        archived = await archiveRows(s3, bucket, 'payments_events').catch(() => new Map<string, string>());
        const archivedDone = [...archived.values()].some(
          (rows) => rows.includes(paymentId) && rows.includes('PaymentCompleted'),
        );
        if (documents.includes(paymentId) && documents.includes('"COMPLETED"') && archivedDone) break;
        assert.ok(Date.now() < deadline, 'the search index and the archive hold the payment within 180 s');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      const metrics = await (await fetch(`${base}/metrics`)).text();
      for (const readModel of ['elasticsearch', 'archive'])
        assert.match(
          metrics,
          new RegExp(`payflow_read_model_records_applied_total\\{read_model="${readModel}"`),
        );
      await kill(job, 'SIGTERM');

      // The scan, over everything the run left behind.
      const findings: PiiFinding[] = [];
      findings.push(...scanText('job output', Buffer.concat(output).toString('latin1')));
      findings.push(...(await scanLogDirectory(join(process.env.PAYFLOW_HOME ?? '.payflow', 'logs'))));
      const dump = await postgresDump(stack.postgresUrl);
      findings.push(...scanText('pg_dump', dump));
      for (const [key, rows] of archived) findings.push(...scanText(`s3://${bucket}/${key}`, rows));
      findings.push(...scanText(`elasticsearch ${index}`, documents));
      const kafkaAdmin = kafka.admin();
      await kafkaAdmin.connect();
      const topics = (await kafkaAdmin.listTopics()).filter(
        (topic) => !topic.startsWith('__') && topic !== '_schemas',
      );
      await kafkaAdmin.disconnect();
      // The control of the topic scan: a plain IBAN as an Avro string (a length byte before it,
      // another field right after) on a topic of its own is found.
      const control = uniqueName('pii-control');
      const controlAdmin = kafka.admin();
      await controlAdmin.connect();
      await controlAdmin.createTopics({
        topics: [{ topic: control, numPartitions: 1 }],
        waitForLeaders: true,
      });
      await controlAdmin.disconnect();
      const controlProducer = kafka.producer();
      await controlProducer.connect();
      const avroString = Buffer.concat([
        Buffer.from([IBANS[1]!.length * 2]),
        Buffer.from(IBANS[1]!),
        Buffer.from('A7'),
      ]);
      await controlProducer.send({ topic: control, messages: [{ key: 'c', value: avroString }] });
      await controlProducer.disconnect();
      const controlText = (await topicRecords(kafka, [control], since)).get(control) ?? '';
      assert.deepEqual(
        scanText('control', controlText).map((finding) => finding.iban),
        [maskIban(IBANS[1]!)],
      );
      const records = await topicRecords(kafka, topics, since);
      for (const [topic, text] of records) findings.push(...scanText(`topic ${topic}`, text));
      s3.destroy();

      assert.deepEqual(findings, [], `IBANs in clear:\n${describeFindings(findings)}`);
      // Nor a sealed value in the logs: logs hold the masked form only.
      assert.ok(
        !Buffer.concat(output).toString('latin1').includes('pii:v1:'),
        'the job logged a sealed IBAN',
      );
      // The scan sees what it looks for: the requests sent hold every IBAN in clear, and the
      // sources above did hold this run's data (masked).
      assert.equal(scanText('requests', JSON.stringify(sent)).length, IBANS.length + refused.length + 1);
      assert.ok(dump.includes(maskIban(IBANS[0]!)), 'the dump holds the accounts');
      assert.ok(documents.includes(paymentId) && documents.includes(maskIban(IBANS[1]!)));
      assert.ok([...archived.values()].some((rows) => rows.includes(maskIban(IBANS[1]!))));
      assert.ok((records.get(TOPIC.accountsCommands) ?? '').includes(maskIban(IBANS[2]!)));
      assert.ok(Buffer.concat(output).length > 0, 'the job wrote logs');
    },
  );
});
