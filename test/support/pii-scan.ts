/**
 * Looks for IBANs in clear where a run leaves data behind: logs, a PostgreSQL dump, the Parquet
 * archive, Elasticsearch documents and the bytes of Kafka records. A finding names where it was
 * and the IBAN masked, never the IBAN itself (the report is a log too).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Kafka } from 'kafkajs';
import pg from 'pg';

import { findIbans, maskIban } from '../../schemas/iban.js';

export interface PiiFinding {
  /** Where: a file, a table line, an object key, a topic and offset. */
  readonly source: string;
  /** The IBAN found, masked. */
  readonly iban: string;
}

/** The IBANs in clear in `text`, as findings of `source`. */
export function scanText(source: string, text: string): PiiFinding[] {
  return findIbans(text).map(({ iban }) => ({ source, iban: maskIban(iban) }));
}

/** One line per finding, for an assertion message. */
export function describeFindings(findings: readonly PiiFinding[]): string {
  return findings.map((finding) => `${finding.source}: ${finding.iban}`).join('\n');
}

/** Every `*.log` file directly in `directory` (the stack's server logs), each its own source; none when it is absent. */
export async function scanLogDirectory(directory: string): Promise<PiiFinding[]> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter((name) => name.endsWith('.log'));
  } catch (error) {
    // A stack this project did not start (docker compose) keeps its logs elsewhere.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const findings: PiiFinding[] = [];
  for (const name of names) {
    findings.push(...scanText(join(directory, name), await readFile(join(directory, name), 'latin1')));
  }
  return findings;
}

const run = promisify(execFile);

/**
 * A plain-text dump of the whole database (`pg_dump`, schema and data), taken with the dump
 * program of the server's own major version as the local stack installs it.
 */
export async function postgresDump(postgresUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  let major: number;
  try {
    const { rows } = await client.query<{ v: string }>('SELECT current_setting($$server_version_num$$) AS v');
    major = Math.floor(Number(rows[0]!.v) / 10_000);
  } finally {
    await client.end();
  }
  const { stdout } = await run(`/usr/lib/postgresql/${major}/bin/pg_dump`, ['--no-owner', postgresUrl], {
    maxBuffer: 1024 * 1024 * 1024,
    timeout: 120_000,
  });
  return stdout;
}

/** Every row of every Parquet object under `prefix` (whose key ends with `suffix`), read back by an independent reader (DuckDB), one JSON line each, per object. */
export async function archiveRows(
  s3: S3Client,
  bucket: string,
  prefix: string,
  suffix = '',
): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  const scratch = await mkdtemp(join(tmpdir(), 'pii-scan-'));
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key!.endsWith(suffix)) continue;
        const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        const path = join(scratch, `${rows.size}.parquet`);
        await writeFile(path, await body.Body!.transformToByteArray());
        const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet('${path}')`);
        rows.set(
          object.Key!,
          reader
            .getRowObjectsJson()
            .map((row) => JSON.stringify(row))
            .join('\n'),
        );
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
  } finally {
    connection.closeSync();
    await rm(scratch, { recursive: true, force: true });
  }
  return rows;
}

/** Every document of `index` as Elasticsearch stores it (`_source`), one JSON line each. */
export async function elasticsearchDocuments(url: string, index: string): Promise<string> {
  const response = await fetch(`${url}/${index}/_search?size=10000`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { match_all: {} } }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`searching ${index}: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { hits: { hits: { _source: unknown }[] } };
  return body.hits.hits.map((hit) => JSON.stringify(hit._source)).join('\n');
}

/**
 * The raw bytes (key, value and headers, as Latin-1 so any ASCII run stays whole) of every record
 * of `topics` with a timestamp at or after `sinceMs`, committed or not, one line per record.
 */
export async function topicRecords(
  kafka: Kafka,
  topics: readonly string[],
  sinceMs: number,
): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}/${p.partition}`, BigInt(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  const lines = new Map<string, string[]>(topics.map((topic) => [topic, []]));
  if (ends.size > 0) await readUntil(kafka, topics, ends, sinceMs, lines);
  return new Map([...lines].map(([topic, parts]) => [topic, parts.join('\n')]));
}

async function readUntil(
  kafka: Kafka,
  topics: readonly string[],
  ends: Map<string, bigint>,
  sinceMs: number,
  lines: Map<string, string[]>,
): Promise<void> {
  const consumer = kafka.consumer({ groupId: `pii-scan-${randomUUID()}`, readUncommitted: true });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${[...ends.keys()].join(', ')} timed out`)),
        120_000,
      );
      consumer
        .run({
          eachBatch: ({ batch }) => {
            const where = `${batch.topic}/${batch.partition}`;
            const end = ends.get(where);
            for (const message of batch.messages) {
              if (end === undefined || BigInt(message.offset) >= end) continue;
              if (Number(message.timestamp) < sinceMs) continue;
              const headers = Object.values(message.headers ?? {})
                .map((value) => (Buffer.isBuffer(value) ? value.toString('latin1') : String(value)))
                .join(' ');
              const key = message.key?.toString('latin1') ?? '';
              lines.get(batch.topic)!.push(`${key} ${message.value?.toString('latin1') ?? ''} ${headers}`);
            }
            if (
              end !== undefined &&
              BigInt(batch.highWatermark) >= end &&
              BigInt(batch.lastOffset()) + 1n >= end
            )
              ends.delete(where);
            if (ends.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch((error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    });
  } finally {
    await consumer.disconnect();
  }
}
