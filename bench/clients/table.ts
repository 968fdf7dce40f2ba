/** The client comparison's table, aligned for the terminal and as markdown for notes. */
import type { Percentiles } from '../load.js';
import type { RawResult } from './types.js';

export interface ClientRow {
  readonly client: string;
  readonly producers: string;
  readonly raw: RawResult | undefined;
  readonly eos:
    { readonly bulkRate: number; readonly latency: Percentiles; readonly duplicates: number } | undefined;
  readonly killPassed: boolean | undefined;
  readonly readCommittedPassed: boolean | undefined;
}

const HEADINGS = [
  'client',
  'EOS producers',
  'raw bulk records/s',
  'raw paced p50 ms',
  'raw paced p99 ms',
  'EOS bulk records/s',
  'EOS paced p50 ms',
  'EOS paced p99 ms',
  'EOS paced max ms',
  'EOS duplicates',
  'read_committed',
  'kill -9',
] as const;

const integer = (n: number | undefined): string =>
  n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';

const millis = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n)
    ? 'n/a'
    : n < 10
      ? n.toFixed(2)
      : n < 100
        ? n.toFixed(1)
        : integer(n);

const verdict = (passed: boolean | undefined): string =>
  passed === undefined ? 'not run' : passed ? 'pass' : 'FAIL';

function cells(row: ClientRow): string[] {
  return [
    row.client,
    row.producers,
    integer(row.raw?.bulkRate),
    millis(row.raw?.pacedP50),
    millis(row.raw?.pacedP99),
    integer(row.eos?.bulkRate),
    millis(row.eos?.latency.p50),
    millis(row.eos?.latency.p99),
    millis(row.eos?.latency.max),
    integer(row.eos?.duplicates),
    verdict(row.readCommittedPassed),
    verdict(row.killPassed),
  ];
}

export function textTable(rows: readonly ClientRow[]): string {
  const table = [[...HEADINGS], ...rows.map(cells)];
  const widths = HEADINGS.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  const format = (line: string[]) =>
    line.map((cell, c) => (c <= 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [format(table[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(format)].join(
    '\n',
  );
}

export function markdownTable(rows: readonly ClientRow[]): string {
  const line = (values: readonly string[]) => `| ${values.join(' | ')} |`;
  return [
    line(HEADINGS),
    line(HEADINGS.map((_, c) => (c <= 1 ? '---' : '---:'))),
    ...rows.map((row) => line(cells(row))),
  ].join('\n');
}
