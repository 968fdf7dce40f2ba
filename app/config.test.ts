import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ConfigError } from '../gateway/index.js';
import { paymentPipeline } from '../processors/pipeline.js';
import {
  documentedVariables,
  ENV_SCHEMA,
  mainJobConfig,
  parseConfig,
  partnersConfig,
  processorsConfig,
  reconcileConfig,
  STACK_VARIABLES,
  topicsConfig,
} from './config.js';
import { readmeConfigRows } from './config-docs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JWT = { PAYFLOW_JWT_SECRET: 'a-test-secret-of-at-least-32-characters!' };
const KAFKA = {
  PAYFLOW_KAFKA_BROKERS: '127.0.0.1:9092',
  PAYFLOW_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
  PAYFLOW_POSTGRES_URL: 'postgres://payflow:payflow@127.0.0.1:5432/payflow',
  PAYFLOW_PII_KEYS: JSON.stringify({ active: 'k1', keys: { k1: Buffer.alloc(32, 1).toString('base64') } }),
};

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('a bad value is one problem line that names the variable and the value', () => {
    assert.deepEqual(
      problemsOf(() => mainJobConfig({ ...JWT, PAYFLOW_TOPIC_PARTITIONS: 'abc' })),
      ['PAYFLOW_TOPIC_PARTITIONS must be a whole number (got "abc")'],
    );
    assert.deepEqual(
      problemsOf(() => mainJobConfig({ ...JWT, PAYFLOW_TOPIC_PARTITIONS: '0' })),
      ['PAYFLOW_TOPIC_PARTITIONS must be at least 1 (got "0")'],
    );
  });

  test('a velocity limits or fraud rules file that breaks its schema stops the program naming the variable and the field', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'payflow-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const limits = join(dir, 'limits.json');
    const tier = { perMinute: 3, perHour: 10, perDay: 20, amountPerDayMinor: '50000' };
    writeFileSync(
      limits,
      JSON.stringify({
        tiers: { TIER_0: { ...tier, perMinute: 0 }, TIER_1: tier, TIER_2: tier, TIER_3: tier },
      }),
    );
    const [velocity] = problemsOf(() => mainJobConfig({ ...JWT, PAYFLOW_VELOCITY_LIMITS_FILE: limits }));
    assert.match(velocity ?? '', /^PAYFLOW_VELOCITY_LIMITS_FILE .*limits\.json: tiers\.TIER_0\.perMinute: /);
    const rules = join(dir, 'rules.json');
    writeFileSync(
      rules,
      JSON.stringify({ version: 1, rules: [{ id: 'r', code: 'X', kind: 'signal', points: 500 }] }),
    );
    const [fraud] = problemsOf(() => mainJobConfig({ ...JWT, PAYFLOW_FRAUD_RULES_FILE: rules }));
    assert.match(fraud ?? '', /^PAYFLOW_FRAUD_RULES_FILE .*rules\.json: .*rules\[0\]/);
    const [thresholds] = problemsOf(() =>
      mainJobConfig({ ...JWT, PAYFLOW_FRAUD_HOLD_FROM: '95', PAYFLOW_FRAUD_BLOCK_ABOVE: '90' }),
    );
    assert.match(thresholds ?? '', /holdFrom/);
  });

  test('every bad variable is reported at once, secrets and URLs without their value', () => {
    const problems = problemsOf(() =>
      mainJobConfig({
        PAYFLOW_JWT_SECRET: 'too-short-secret',
        PAYFLOW_HTTP_PORT: 'eighty',
        PAYFLOW_POSTGRES_URL: 'mysql://user:hunter2@db/x',
      }),
    );
    assert.equal(problems.length, 3);
    assert.ok(
      problems.some((line) => line.startsWith('PAYFLOW_JWT_SECRET ') && !line.includes('too-short-secret')),
    );
    assert.ok(problems.some((line) => line.startsWith('PAYFLOW_HTTP_PORT ') && line.includes('"eighty"')));
    assert.ok(problems.some((line) => line.startsWith('PAYFLOW_POSTGRES_URL ') && !line.includes('hunter2')));
  });

  test('an empty variable counts as unset and takes its default', () => {
    const config = mainJobConfig({ ...JWT, PAYFLOW_TOPIC_PARTITIONS: ' ', PAYFLOW_KAFKA_BROKERS: '' });
    assert.equal(config.mode, 'embedded');
    assert.equal(config.pipeline.partitions, 6);
  });

  test('the PII key ring: the embedded mode generates an ephemeral key, a bad ring is refused naming the variable and no key', () => {
    const embedded = mainJobConfig(JWT);
    assert.equal(embedded.pii.ephemeral, true);
    assert.equal(mainJobConfig({ ...JWT, ...KAFKA }).pii.keyRing.activeKeyId, 'k1');
    const short = Buffer.alloc(8, 3).toString('base64');
    const [problem] = problemsOf(() =>
      mainJobConfig({
        ...JWT,
        ...KAFKA,
        PAYFLOW_PII_KEYS: JSON.stringify({ active: 'k1', keys: { k1: short } }),
      }),
    );
    assert.match(problem ?? '', /^PAYFLOW_PII_KEYS keys\.k1 must be 32 bytes/);
    assert.ok(!(problem ?? '').includes(short));
    assert.match(
      problemsOf(() =>
        mainJobConfig({
          ...JWT,
          ...KAFKA,
          PAYFLOW_PII_KEYS: undefined,
          PAYFLOW_PII_KEYS_FILE: '/nonexistent/keys.json',
        }),
      )[0] ?? '',
      /^PAYFLOW_PII_KEYS_FILE \/nonexistent\/keys.json: /,
    );
  });

  test('PAYFLOW_PROJECTIONS switches the search index and the archive on, and each refuses to start without what it needs, naming the variable', () => {
    const kafka = { ...JWT, ...KAFKA };
    const only = mainJobConfig(kafka);
    assert.ok(only.mode === 'kafka');
    assert.deepEqual(only.readSide, {});
    const all = mainJobConfig({
      ...kafka,
      PAYFLOW_PROJECTIONS: 'postgres, elasticsearch,archive',
      PAYFLOW_ELASTICSEARCH_URL: 'http://127.0.0.1:9200',
      PAYFLOW_ARCHIVE_BUCKET: 'payflow-archive',
      PAYFLOW_S3_ENDPOINT: 'http://127.0.0.1:9000',
      PAYFLOW_S3_ACCESS_KEY_ID: 'id',
      PAYFLOW_S3_SECRET_ACCESS_KEY: 'secret',
    });
    assert.ok(all.mode === 'kafka');
    assert.deepEqual(all.readSide, {
      elasticsearch: {
        url: 'http://127.0.0.1:9200',
        index: 'payflow-transactions',
        timeoutMs: 10_000,
        cacheTtlMs: 1_000,
        cacheMaxEntries: 500,
      },
      archive: {
        bucket: 'payflow-archive',
        fileOffsets: 10_000,
        flushIntervalMs: 5_000,
        prefix: 'payments_events',
        s3: {
          endpoint: 'http://127.0.0.1:9000',
          region: 'us-east-1',
          credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
          timeoutMs: 30_000,
        },
      },
    });
    assert.deepEqual(
      problemsOf(() => mainJobConfig({ ...kafka, PAYFLOW_PROJECTIONS: 'elasticsearch,archive' })),
      ['PAYFLOW_PROJECTIONS must include postgres (the API reads it) (got "elasticsearch,archive")'],
    );
    assert.match(
      problemsOf(() => mainJobConfig({ ...kafka, PAYFLOW_PROJECTIONS: 'postgres,solr' })).join(),
      /PAYFLOW_PROJECTIONS solr is not one of postgres, elasticsearch, archive/,
    );
    assert.deepEqual(
      problemsOf(() =>
        mainJobConfig({
          ...kafka,
          PAYFLOW_PROJECTIONS: 'postgres,elasticsearch,archive',
          PAYFLOW_S3_ACCESS_KEY_ID: 'id',
        }),
      ),
      [
        'PAYFLOW_ELASTICSEARCH_URL is required when PAYFLOW_PROJECTIONS has elasticsearch',
        'PAYFLOW_S3_ACCESS_KEY_ID and PAYFLOW_S3_SECRET_ACCESS_KEY go together: set both or neither',
        'PAYFLOW_ARCHIVE_BUCKET is required when PAYFLOW_PROJECTIONS has archive',
      ],
    );
  });

  test('PAYFLOW_KAFKA_BROKERS is a comma-separated list of host:port, and a malformed one is refused', () => {
    const config = topicsConfig({ PAYFLOW_KAFKA_BROKERS: '127.0.0.1:9092, kafka-2.internal:19092' });
    assert.deepEqual(config.brokers, ['127.0.0.1:9092', 'kafka-2.internal:19092']);
    for (const bad of ['localhost', 'a:1,,b:2'])
      assert.match(
        problemsOf(() => topicsConfig({ PAYFLOW_KAFKA_BROKERS: bad }))[0] ?? '',
        /^PAYFLOW_KAFKA_BROKERS /,
      );
    assert.match(problemsOf(() => topicsConfig({}))[0] ?? '', /^PAYFLOW_KAFKA_BROKERS is required/);
  });

  test('the Kafka mode needs the registry and PostgreSQL; the processors need the brokers and the registry', () => {
    const kafkaOnly = { ...JWT, PAYFLOW_KAFKA_BROKERS: KAFKA.PAYFLOW_KAFKA_BROKERS };
    assert.match(
      problemsOf(() => mainJobConfig(kafkaOnly)).join('\n'),
      /PAYFLOW_SCHEMA_REGISTRY_URL is required/,
    );
    const noPostgres = { ...kafkaOnly, PAYFLOW_SCHEMA_REGISTRY_URL: KAFKA.PAYFLOW_SCHEMA_REGISTRY_URL };
    assert.match(problemsOf(() => mainJobConfig(noPostgres))[0] ?? '', /^PAYFLOW_POSTGRES_URL is required/);
    assert.equal(mainJobConfig({ ...JWT, ...KAFKA }).mode, 'kafka');
    const noPiiKeys = { ...JWT, ...KAFKA, PAYFLOW_PII_KEYS: undefined };
    assert.match(
      problemsOf(() => mainJobConfig(noPiiKeys))[0] ?? '',
      /^PAYFLOW_PII_KEYS_FILE or PAYFLOW_PII_KEYS is required/,
    );
    assert.match(problemsOf(() => processorsConfig({})).join('\n'), /PAYFLOW_KAFKA_BROKERS is required/);
    // The processors need no JWT key: they serve no API.
    assert.equal(processorsConfig(KAFKA).kafka.applicationId, 'payflow');
  });

  test('reconciliation needs the brokers, the registry and PostgreSQL but no keys, and the main job runs it only when given an interval', () => {
    const problems = problemsOf(() => reconcileConfig({})).join('\n');
    assert.match(problems, /PAYFLOW_KAFKA_BROKERS is required to reconcile/);
    assert.match(problems, /PAYFLOW_SCHEMA_REGISTRY_URL is required to reconcile/);
    const noPostgres = { ...KAFKA, PAYFLOW_POSTGRES_URL: undefined };
    assert.match(
      problemsOf(() => reconcileConfig(noPostgres))[0] ?? '',
      /^PAYFLOW_POSTGRES_URL is required to reconcile/,
    );
    const config = reconcileConfig({
      ...KAFKA,
      PAYFLOW_PII_KEYS: undefined,
      PAYFLOW_RECONCILE_SETTLE_MS: '0',
    });
    assert.deepEqual(config.reconciliation, {
      intervalMs: 0,
      lookbackDays: 7,
      settleMs: 0,
      catchUpTimeoutMs: 120_000,
      maxPayments: 10_000_000,
    });
    assert.deepEqual(config.readSide, {});
    const main = mainJobConfig({ ...JWT, ...KAFKA, PAYFLOW_RECONCILE_INTERVAL_MS: '900000' });
    assert.equal(main.mode === 'kafka' && main.reconciliation.intervalMs, 900_000);
    assert.match(
      problemsOf(() => mainJobConfig({ ...JWT, ...KAFKA, PAYFLOW_RECONCILE_INTERVAL_MS: '10' }))[0] ?? '',
      /^PAYFLOW_RECONCILE_INTERVAL_MS must be 0 \(off\) or at least 1000/,
    );
    assert.match(
      problemsOf(() => reconcileConfig({ ...KAFKA, PAYFLOW_RECONCILE_LOOKBACK_DAYS: '30' }))[0] ?? '',
      /^PAYFLOW_RECONCILE_LOOKBACK_DAYS/,
    );
  });

  test('the main job needs a JWT key, the processors do not', () => {
    assert.match(problemsOf(() => mainJobConfig({}))[0] ?? '', /^PAYFLOW_JWT_SECRET is required/);
  });

  test("the processors' bounds and time-to-lives are settable and reach the topology's stores", () => {
    const config = processorsConfig({
      ...KAFKA,
      PAYFLOW_LEDGER_MAX_APPLIED: '5000',
      PAYFLOW_DEDUPE_MAX_ENTRIES: '7000',
      PAYFLOW_ACCOUNTS_MAX_ENTRIES: '9000',
    });
    const topology = paymentPipeline({
      serdeOf: () => ({ serialize: () => Buffer.alloc(0), deserialize: () => undefined }),
      partitions: config.pipeline.partitions,
      processors: config.pipeline.processors,
    });
    const bound = (processor: string, store: string) =>
      topology.processors.find((p) => p.name === processor)?.stores.find((s) => s.name === store)?.maxEntries;
    assert.equal(bound('ledger', 'applied'), 5000);
    assert.equal(bound('dedupe', 'seen'), 7000);
    assert.equal(bound('accounts', 'accounts'), 9000);
  });

  test('a dedupe window shorter than the 24 h the API promises is refused', () => {
    assert.match(
      problemsOf(() => parseConfig({ PAYFLOW_DEDUPE_TTL_MS: '3600000' }))[0] ?? '',
      /^PAYFLOW_DEDUPE_TTL_MS must be at least 86400000/,
    );
  });

  test('a retry delay cap below the first delay is refused', () => {
    assert.deepEqual(
      problemsOf(() =>
        parseConfig({
          PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS: '500',
          PAYFLOW_RECORD_RETRY_MAX_DELAY_MS: '100',
        }),
      ),
      ['PAYFLOW_RECORD_RETRY_MAX_DELAY_MS must be at least PAYFLOW_RECORD_RETRY_INITIAL_DELAY_MS'],
    );
  });

  test("the partners' breaker defaults are the seed's: 5 failures in 30 s, half-open after 60 s", () => {
    const config = partnersConfig({ PAYFLOW_PARTNER_BANK_A_URL: 'http://127.0.0.1:8181' });
    assert.deepEqual(config.breaker, { failures: 5, windowMs: 30_000, halfOpenAfterMs: 60_000 });
    assert.deepEqual(config.urls, { 'bank-a': 'http://127.0.0.1:8181' });
    assert.deepEqual(
      problemsOf(() => partnersConfig({ PAYFLOW_PARTNER_WALLET_URL: 'ftp://x' })),
      ['PAYFLOW_PARTNER_WALLET_URL must be an http(s) URL'],
    );
  });

  test('a routing file that breaks the schema is refused naming the file and the field', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'payflow-routing-')), 'routing.json');
    writeFileSync(
      file,
      JSON.stringify({
        partners: { 'bank-a': { fees: {} } },
        routes: [{ kind: 'payout', currency: 'EUR', strategy: 'cheapest', partners: ['bank-a'] }],
      }),
    );
    assert.deepEqual(
      problemsOf(() => partnersConfig({ PAYFLOW_PARTNER_ROUTING_FILE: file })),
      [
        `PAYFLOW_PARTNER_ROUTING_FILE ${file}: partners.bank-a.fees: has no fee for EUR (or *), which route 0 (cheapest) needs`,
      ],
    );
  });

  test('PAYFLOW_WORKERS is a whole number from 1 to 64, by default the cores (at most 64)', () => {
    assert.equal(processorsConfig({ ...KAFKA, PAYFLOW_WORKERS: '3' }).workers, 3);
    assert.equal(processorsConfig(KAFKA).workers, Math.min(availableParallelism(), 64));
    const main = mainJobConfig({ ...JWT, ...KAFKA, PAYFLOW_WORKERS: '64' });
    assert.equal(main.mode === 'kafka' && main.workers, 64);
    for (const [value, problem] of [
      ['0', 'PAYFLOW_WORKERS must be at least 1 (got "0")'],
      ['65', 'PAYFLOW_WORKERS must be at most 64 (got "65")'],
      ['two', 'PAYFLOW_WORKERS must be a whole number (got "two")'],
      ['1.5', 'PAYFLOW_WORKERS must be a whole number (got "1.5")'],
    ])
      assert.deepEqual(
        problemsOf(() => processorsConfig({ ...KAFKA, PAYFLOW_WORKERS: value })),
        [problem],
      );
  });

  test('the embedded mode notes a PAYFLOW_WORKERS above 1 that was set, since it runs in one process', () => {
    const ignored = (env: Record<string, string>) => {
      const config = mainJobConfig({ ...JWT, ...env });
      assert.equal(config.mode, 'embedded');
      return config.mode === 'embedded' ? config.ignoredWorkers : 'not embedded';
    };
    assert.equal(ignored({ PAYFLOW_WORKERS: '4' }), 4);
    assert.equal(ignored({ PAYFLOW_WORKERS: '1' }), undefined);
    assert.equal(ignored({ PAYFLOW_WORKERS: ' ' }), undefined);
    assert.equal(ignored({}), undefined, 'the default is no request');
  });

  test("the documented default of PAYFLOW_WORKERS is the rule, not this machine's core count", () => {
    const row = documentedVariables().find((variable) => variable.name === 'PAYFLOW_WORKERS');
    assert.equal(row?.default, 'the core count (at most 64)');
    assert.equal(row?.bounds, '1–64');
  });

  test("the README's configuration table is the schema's, row for row (npm run config:docs writes it)", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const expected = documentedVariables().map((row) => [
      `\`${row.name}\``,
      row.description.replaceAll('|', '\\|'),
      row.default,
      row.bounds,
    ]);
    assert.deepEqual(readmeConfigRows(readme), expected);
  });

  test('every PAYFLOW_* variable the code or the scripts mention is declared in the schema', () => {
    const files = execFileSync('git', ['ls-files', '*.ts', '*.mjs', 'scripts/*', '.ci/*'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((file) => file !== '' && !file.endsWith('.test.ts') && !file.startsWith('test/'));
    const declared = new Set([...Object.keys(ENV_SCHEMA.shape), ...Object.keys(STACK_VARIABLES)]);
    const undeclared = new Set<string>();
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      } catch {
        continue;
      }
      for (const [name] of text.matchAll(/\bPAYFLOW_[A-Z0-9_]*[A-Z0-9]\b/g))
        if (!declared.has(name)) undeclared.add(`${name} (${file})`);
    }
    assert.deepEqual([...undeclared], []);
  });

  test('npm start with a bad value exits 2 with one line naming the variable, before opening anything', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PAYFLOW_TOPIC_PARTITIONS: 'abc', PAYFLOW_HTTP_PORT: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 2, result.stderr);
    assert.equal(
      result.stderr,
      'payflow: invalid configuration: PAYFLOW_TOPIC_PARTITIONS must be a whole number (got "abc")\n',
    );
    assert.equal(result.stdout, '');
  });
});
