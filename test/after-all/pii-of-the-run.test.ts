/**
 * Runs after every other test of `npm test` (scripts/test-all), on the stack they all used: no
 * IBAN is in clear in the stack's server logs, in a dump of the whole database, in any Parquet
 * object of any bucket, or in any document of any search index that the full test run left
 * behind. (test/integration/pii-scan.test.ts proves the same for one run of the main job, with
 * its own logs and every topic record it wrote.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { ListBucketsCommand } from '@aws-sdk/client-s3';

import {
  archiveRows,
  describeFindings,
  elasticsearchDocuments,
  postgresDump,
  scanLogDirectory,
  scanText,
  type PiiFinding,
} from '../support/pii-scan.js';
import { stackEnv, stackS3Client } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

describe('PII left by the full test run', { skip }, () => {
  test(
    'the stack logs, a dump of the whole database, every archived Parquet row and every search document hold no IBAN in clear',
    { timeout: 600_000 },
    async () => {
      if ('skip' in env) return;
      const findings: PiiFinding[] = [];
      findings.push(...(await scanLogDirectory(join(process.env.PAYFLOW_HOME ?? '.payflow', 'logs'))));
      findings.push(...scanText('pg_dump', await postgresDump(env.postgresUrl)));

      const s3 = stackS3Client(env);
      let objects = 0;
      for (const bucket of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
        for (const [key, rows] of await archiveRows(s3, bucket.Name!, '', '.parquet')) {
          objects += 1;
          findings.push(...scanText(`s3://${bucket.Name}/${key}`, rows));
        }
      }
      s3.destroy();

      const indices = (await (
        await fetch(`${env.elasticsearchUrl}/_cat/indices?format=json&h=index`, {
          signal: AbortSignal.timeout(10_000),
        })
      ).json()) as { index: string }[];
      for (const { index } of indices.filter((entry) => !entry.index.startsWith('.'))) {
        findings.push(
          ...scanText(`elasticsearch ${index}`, await elasticsearchDocuments(env.elasticsearchUrl, index)),
        );
      }

      assert.deepEqual(findings, [], `IBANs in clear:\n${describeFindings(findings)}`);
      console.log(
        `scanned the stack logs, the database, ${objects} Parquet objects and ${indices.length} indices`,
      );
    },
  );
});
