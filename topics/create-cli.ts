/**
 * `npm run topics:create`: creates the catalogue's topics on the Kafka cluster named by
 * PAYFLOW_KAFKA_BROKERS (comma-separated host:port) and prints a table of them. Safe to run
 * again: existing topics are checked, not touched. PAYFLOW_TOPIC_PARTITIONS sets the partition
 * count (default 6). Exits 1 with a message naming the problem on a bad setting or a conflict.
 */
import { pathToFileURL } from 'node:url';

import { Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';

import { topicCatalogue, topicCreateSpecs, type TopicContract } from './catalogue.js';
import { createTopics, type TopicCreateResult } from './create.js';

const BROKERS_ENV = 'PAYFLOW_KAFKA_BROKERS';
const HOST_PORT = /^[A-Za-z0-9.[\]:-]+:\d{1,5}$/;

const brokersSchema = z
  .string({ error: 'is not set' })
  .trim()
  .min(1, 'is empty')
  .transform((value) => value.split(',').map((broker) => broker.trim()))
  .pipe(z.array(z.string().regex(HOST_PORT, 'must be a comma-separated list of host:port')));

/** The brokers named by PAYFLOW_KAFKA_BROKERS; throws naming the variable when it is missing or malformed. */
export function brokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const parsed = brokersSchema.safeParse(env[BROKERS_ENV]);
  if (!parsed.success) {
    throw new Error(
      `${BROKERS_ENV} ${parsed.error.issues[0]?.message ?? 'is invalid'} (got ${JSON.stringify(env[BROKERS_ENV] ?? null)})`,
    );
  }
  return parsed.data;
}

const DAY_MS = 86_400_000;

function retentionText(retentionMs: number | null): string {
  if (retentionMs === null) return 'latest per key';
  return retentionMs % DAY_MS === 0 ? `${retentionMs / DAY_MS} days` : `${retentionMs} ms`;
}

/** A plain-text table: one header row, aligned columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

export function resultTable(
  catalogue: readonly TopicContract[],
  results: readonly TopicCreateResult[],
): string {
  const byName = new Map(results.map((result) => [result.name, result]));
  return formatTable(
    ['topic', 'partitions', 'cleanup', 'retention', 'key', 'outcome'],
    catalogue.map((topic) => [
      topic.name,
      String(topic.partitions),
      topic.cleanupPolicy,
      retentionText(topic.retentionMs),
      topic.key,
      byName.get(topic.name)?.outcome ?? '-',
    ]),
  );
}

async function main(): Promise<void> {
  const brokers = brokersFromEnv();
  const catalogue = topicCatalogue();
  const kafka = new Kafka({
    clientId: 'payflow-topics',
    brokers,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 3 },
    logLevel: logLevel.WARN,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const results = await createTopics(admin, topicCreateSpecs(catalogue));
    console.log(resultTable(catalogue, results));
  } finally {
    await admin.disconnect();
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error(`topics:create failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
