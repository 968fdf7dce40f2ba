/**
 * The table `npm run topics:create` prints: one row per catalogue topic with its partitions,
 * cleanup policy, retention, key and what creation did.
 */
import type { TopicContract } from './catalogue.js';
import type { TopicCreateResult } from './create.js';

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
