/**
 * `BENCH_ONLY=history npm run bench`: an account's history, `GET /v1/accounts/{id}/payments?limit=100`,
 * with `BENCH_HISTORY_PAYMENTS` payments (1,000,000 by default) in the Elasticsearch
 * transactions index and in the PostgreSQL payments read model of the local stack.
 *
 * The payments are written straight into a fresh index (`bench-history-<run>`) and into
 * `payflow.payments`/`payflow.payment_events` (accounts `bench-<run>-…`, deleted afterwards) as
 * the projections write them, among `BENCH_HISTORY_ACCOUNTS` accounts over 30 days. Then, one
 * request at a time over loopback HTTP, `BENCH_HISTORY_REQUESTS` history requests to random
 * accounts, half of them the next page of the one before (its cursor), through the real gateway
 * served from each backend. The same queries straight to each backend, and `GET /healthz`
 * through the same HTTP stack, are the floors measured in the same run.
 */
import { randomUUID } from 'node:crypto';

import { Client } from '@elastic/elasticsearch';
import pg from 'pg';
import { SignJWT } from 'jose';

import {
  buildGateway,
  MemoryAccountQueries,
  MemoryIdempotencyStore,
  RecordingPublisher,
  searchWords,
  withSearch,
  type PaymentQueries,
  type PaymentSearch,
} from '../gateway/index.js';
import { loadGatewayConfig } from '../gateway/config.js';
import {
  ElasticsearchTransactionsProjection,
  transactionDocument,
  TRANSACTIONS_MAPPINGS,
} from '../projections/elasticsearch/transactions.js';
import type { PaymentReadModel } from '../projections/payment-view.js';
import { migratePaymentsProjection, PostgresPaymentsProjection } from '../projections/postgres/payments.js';
import { BenchError, nowMs, withTimeout } from './limits.js';
import { percentiles } from './load.js';
import { alignedTable, markdownOf } from './report.js';

export interface HistoryBenchSettings {
  readonly payments: number;
  readonly accounts: number;
  readonly requests: number;
  readonly elasticsearchUrl: string;
  readonly postgresUrl: string;
}

const PAGE = 100;
const WRITE_BATCH = 5_000;
const WRITE_CONCURRENCY = 3;
const DAYS_MS = 30 * 86_400_000;
const SECRET = randomUUID() + randomUUID();
const TARGET_P99_MS = 50;

/** Payment `i` of the run: between two of its accounts, spread over 30 days before `endMs`. */
function payment(runId: string, i: number, accounts: number, endMs: number): PaymentReadModel {
  const sender = (i * 7_919) % accounts;
  const recipient = (sender + 1 + ((i * 104_729) % (accounts - 1))) % accounts;
  const createdAtMs = endMs - (Math.floor((i * DAYS_MS) / 1_000_003) % DAYS_MS);
  const status = i % 11 === 0 ? 'REJECTED' : 'COMPLETED';
  const events = [
    { type: 'PaymentInitiated', occurredAtMs: createdAtMs, recordedAtMs: createdAtMs, sequence: 0 },
    { type: 'PaymentValidated', occurredAtMs: createdAtMs, recordedAtMs: createdAtMs + 3, sequence: 1 },
    status === 'REJECTED'
      ? { type: 'PaymentRejected', occurredAtMs: createdAtMs, recordedAtMs: createdAtMs + 9, sequence: 2 }
      : { type: 'PaymentCompleted', occurredAtMs: createdAtMs, recordedAtMs: createdAtMs + 9, sequence: 2 },
  ];
  return {
    paymentId: `bench-${runId}-${String(i).padStart(8, '0')}`,
    kind: 'TRANSFER',
    principal: 'bench',
    status,
    amountMinor: BigInt(100 + (i % 100_000)),
    currency: 'EUR',
    senderAccountId: accountId(runId, sender),
    recipientAccountId: accountId(runId, recipient),
    reference: `invoice ${i}`,
    rejection: status === 'REJECTED' ? { code: 'INSUFFICIENT_FUNDS', detail: null } : null,
    risk: null,
    events,
    createdAtMs,
    updatedAtMs: createdAtMs + 9,
  };
}

const accountId = (runId: string, n: number) => `bench-${runId}-acc-${n}`;

async function writeElasticsearch(client: Client, index: string, views: readonly PaymentReadModel[]) {
  const operations = views.flatMap((view) => [
    { index: { _index: index, _id: view.paymentId } },
    transactionDocument(view),
  ]);
  const response = await client.bulk({ operations, refresh: false });
  if (response.errors) throw new BenchError(`elasticsearch refused part of a bulk write of ${views.length}`);
}

async function writePostgres(pool: pg.Pool, views: readonly PaymentReadModel[]) {
  await pool.query(
    `INSERT INTO payflow.payments (payment_id, kind, principal, status, amount_minor, currency,
       sender_account_id, recipient_account_id, reference, rejection_code, last_sequence, created_at,
       updated_at, reference_words)
     SELECT p.id, 'TRANSFER', 'bench', p.status, p.amount, 'EUR', p.sender, p.recipient, p.reference,
            p.code, 2, p.created, p.updated, string_to_array(p.words, ' ')
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::timestamptz[], $9::timestamptz[], $10::text[])
         AS p(id, status, amount, sender, recipient, reference, code, created, updated, words)`,
    [
      views.map((v) => v.paymentId),
      views.map((v) => v.status),
      views.map((v) => v.amountMinor.toString()),
      views.map((v) => v.senderAccountId),
      views.map((v) => v.recipientAccountId),
      views.map((v) => v.reference),
      views.map((v) => v.rejection?.code ?? null),
      views.map((v) => new Date(v.createdAtMs)),
      views.map((v) => new Date(v.updatedAtMs)),
      views.map((v) => searchWords(v.reference).join(' ')),
    ],
  );
  const events = views.flatMap((view) => view.events.map((event) => ({ view, event })));
  await pool.query(
    `INSERT INTO payflow.payment_events (event_id, payment_id, sequence, type, occurred_at, recorded_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[])`,
    [
      events.map(({ view, event }) => `${view.paymentId}-${event.sequence}`),
      events.map(({ view }) => view.paymentId),
      events.map(({ event }) => event.sequence),
      events.map(({ event }) => event.type),
      events.map(({ event }) => new Date(event.occurredAtMs)),
      events.map(({ event }) => new Date(event.recordedAtMs)),
    ],
  );
}

/** Writes every payment of the run into both backends, WRITE_CONCURRENCY batches at a time. */
async function load(
  runId: string,
  settings: HistoryBenchSettings,
  client: Client,
  index: string,
  pool: pg.Pool,
  endMs: number,
): Promise<{ esMs: number; pgMs: number }> {
  let next = 0;
  let written = 0;
  let esMs = 0;
  let pgMs = 0;
  const worker = async () => {
    for (;;) {
      const start = next;
      if (start >= settings.payments) return;
      next = Math.min(settings.payments, start + WRITE_BATCH);
      const views = Array.from({ length: next - start }, (_, k) =>
        payment(runId, start + k, settings.accounts, endMs),
      );
      const t0 = nowMs();
      await withTimeout(writeElasticsearch(client, index, views), 120_000, 'an Elasticsearch bulk write');
      const t1 = nowMs();
      await withTimeout(writePostgres(pool, views), 120_000, 'a PostgreSQL bulk write');
      esMs += t1 - t0;
      pgMs += nowMs() - t1;
      written += views.length;
      if (written % 100_000 < views.length)
        process.stderr.write(`bench: history: ${written.toLocaleString('en-US')} payments written\n`);
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  await client.indices.refresh({ index });
  await pool.query('ANALYZE payflow.payments');
  return { esMs: esMs / WRITE_CONCURRENCY, pgMs: pgMs / WRITE_CONCURRENCY };
}

/** The account of request `n` (deterministic, spread over all accounts). */
const accountOf = (runId: string, n: number, accounts: number) =>
  accountId(runId, (n * 2_654_435_761) % accounts);

interface Sample {
  readonly latencies: number[];
  readonly items: number;
}

/** `requests` history pages straight from `backend`: even ones a first page, odd ones the next page. */
async function direct(
  runId: string,
  backend: PaymentSearch,
  settings: HistoryBenchSettings,
): Promise<Sample> {
  const latencies: number[] = [];
  let items = 0;
  let after: { createdAtMs: number; paymentId: string } | undefined;
  for (let n = 0; n < settings.requests; n += 1) {
    const account = accountOf(runId, n >> 1, settings.accounts);
    const t0 = nowMs();
    const page = await backend.accountPayments({
      accountId: account,
      limit: PAGE + 1,
      ...(n % 2 === 1 && after !== undefined ? { after } : {}),
    });
    latencies.push(nowMs() - t0);
    items += Math.min(PAGE, page.length);
    const last = page[Math.min(PAGE, page.length) - 1];
    after = last === undefined ? undefined : { createdAtMs: last.createdAtMs, paymentId: last.paymentId };
  }
  return { latencies, items };
}

/** The same requests through the gateway over loopback HTTP (keep-alive, one at a time). */
async function overHttp(
  runId: string,
  payments: PaymentQueries,
  settings: HistoryBenchSettings,
): Promise<{
  history: Sample;
  healthz: Sample;
}> {
  const accounts = new MemoryAccountQueries();
  for (let n = 0; n < settings.accounts; n += 1)
    accounts.put({
      accountId: accountId(runId, n),
      ownerId: `owner-${n}`,
      currency: 'EUR',
      kycTier: 'TIER_1',
      iban: null,
      status: 'ACTIVE',
      balanceMinor: 0n,
      openedAtMs: 0,
      updatedAtMs: 0,
    });
  const app = await buildGateway({
    config: loadGatewayConfig({
      PAYFLOW_JWT_SECRET: SECRET,
      PAYFLOW_RATE_LIMITS_FILE: new URL('../gateway/load-test-rate-limits.json', import.meta.url).pathname,
    }),
    logging: false,
    ports: {
      publisher: new RecordingPublisher(),
      payments,
      accounts,
      idempotency: new MemoryIdempotencyStore({ ttlMs: 60_000, lockTtlMs: 30_000, maxKeys: 1_000 }),
    },
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new BenchError('the gateway has no port');
    const base = `http://127.0.0.1:${address.port}`;
    const authorization = `Bearer ${await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-operator')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET))}`;
    const get = async (path: string) => {
      const response = await fetch(base + path, {
        headers: { authorization },
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      if (response.status !== 200)
        throw new BenchError(`GET ${path} answered ${response.status}: ${body.slice(0, 200)}`);
      return body;
    };
    const history: Sample = { latencies: [], items: 0 };
    let cursor: string | null = null;
    for (let n = 0; n < settings.requests; n += 1) {
      const account = accountOf(runId, n >> 1, settings.accounts);
      const path: string = `/v1/accounts/${account}/payments?limit=${PAGE}${n % 2 === 1 && cursor !== null ? `&cursor=${cursor}` : ''}`;
      const t0 = nowMs();
      const page = JSON.parse(await get(path)) as { items: unknown[]; nextCursor: string | null };
      history.latencies.push(nowMs() - t0);
      (history as { items: number }).items += page.items.length;
      cursor = page.nextCursor;
    }
    const healthz: Sample = { latencies: [], items: 0 };
    for (let n = 0; n < settings.requests; n += 1) {
      const t0 = nowMs();
      await get('/healthz');
      healthz.latencies.push(nowMs() - t0);
    }
    return { history, healthz };
  } finally {
    await app.close();
  }
}

const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

export async function measureHistory(
  runId: string,
  settings: HistoryBenchSettings,
): Promise<{ text: string; markdown: string; notes: string[] }> {
  const client = new Client({ node: settings.elasticsearchUrl, requestTimeout: 120_000, maxRetries: 0 });
  const pool = new pg.Pool({ connectionString: settings.postgresUrl, max: 6, statement_timeout: 300_000 });
  const index = `bench-history-${runId}`;
  const endMs = Date.now();
  try {
    await migratePaymentsProjection(pool);
    await client.indices.create({
      index,
      mappings: TRANSACTIONS_MAPPINGS,
      settings: { number_of_replicas: 0, refresh_interval: '-1' },
    });
    await client.indices.putSettings({ index, settings: { refresh_interval: '-1' } });
    const loadStart = nowMs();
    const written = await load(runId, settings, client, index, pool, endMs);
    await client.indices.putSettings({ index, settings: { refresh_interval: '1s' } });
    await client.indices.forcemerge({ index, max_num_segments: 1 }).catch(() => undefined);
    const loadMs = nowMs() - loadStart;
    const search = new ElasticsearchTransactionsProjection(client, index);
    const postgres = new PostgresPaymentsProjection(pool);
    // Warm-up: caches, connections and JIT on both paths.
    const warm = { ...settings, requests: Math.min(200, settings.requests) };
    await direct(runId, search, warm);
    await direct(runId, postgres, warm);
    const esDirect = await direct(runId, search, settings);
    const pgDirect = await direct(runId, postgres, settings);
    const esHttp = await overHttp(runId, withSearch(postgres, search), settings);
    const pgHttp = await overHttp(runId, postgres, settings);
    const rows: [string, Sample, string][] = [
      ['GET …/payments?limit=100, gateway on Elasticsearch', esHttp.history, `p99 ≤ ${TARGET_P99_MS} ms`],
      ['GET …/payments?limit=100, gateway on PostgreSQL', pgHttp.history, `p99 ≤ ${TARGET_P99_MS} ms`],
      ['Elasticsearch query alone (floor)', esDirect, ''],
      ['PostgreSQL query alone (floor)', pgDirect, ''],
      ['GET /healthz, same HTTP stack (floor)', esHttp.healthz, ''],
    ];
    const headings = [
      'path',
      'payments stored',
      'requests',
      'items/page',
      'p50 ms',
      'p99 ms',
      'max ms',
      'target',
    ];
    const body = rows.map(([label, sample, target]) => {
      const p = percentiles(sample.latencies);
      return [
        label,
        settings.payments.toLocaleString('en-US'),
        sample.latencies.length.toLocaleString('en-US'),
        sample.items === 0 ? '—' : (sample.items / sample.latencies.length).toFixed(1),
        ms(p.p50),
        ms(p.p99),
        ms(p.max),
        target,
      ];
    });
    const notes = [
      `${settings.payments.toLocaleString('en-US')} payments among ${settings.accounts.toLocaleString('en-US')} accounts ` +
        `(${((2 * settings.payments) / settings.accounts).toFixed(0)} per account on average) written in ${(loadMs / 1_000).toFixed(0)} s ` +
        `(Elasticsearch bulk ${(written.esMs / 1_000).toFixed(0)} s, PostgreSQL ${(written.pgMs / 1_000).toFixed(0)} s per writer)`,
      'one request at a time; odd requests follow the cursor of the page before (the second page of the same account)',
    ];
    return { text: alignedTable(headings, body), markdown: markdownOf(headings, body), notes };
  } finally {
    await client.indices.delete({ index }).catch(() => undefined);
    const prefix = `bench-${runId}-%`;
    await pool
      .query('DELETE FROM payflow.payment_events WHERE payment_id LIKE $1', [prefix])
      .catch(() => undefined);
    await pool
      .query('DELETE FROM payflow.payments WHERE payment_id LIKE $1', [prefix])
      .catch(() => undefined);
    await pool.end();
    await client.close();
  }
}
