/** The result table, aligned for the terminal and as markdown for notes. */

export interface Row {
  readonly path: string;
  readonly bulkRecords: number;
  readonly bulkRate: number;
  readonly bulkP50: number;
  readonly bulkP99: number;
  readonly pacedRate: number;
  readonly pacedSeconds: number;
  readonly pacedP50: number;
  readonly pacedP99: number;
  readonly pacedMax: number;
  readonly duplicates: number;
  /** Sent, accepted, and never seen at the end (the identity paths fail the run instead). */
  readonly stuck: number;
}

/** One row and what to say about it below the table. */
export interface Measured {
  readonly row: Row;
  readonly notes: readonly string[];
}

const HEADINGS = [
  'path',
  'bulk records',
  'bulk records/s',
  'bulk p50 ms (queued)',
  'bulk p99 ms (queued)',
  'paced load',
  'paced p50 ms',
  'paced p99 ms',
  'paced max ms',
  'duplicates',
  'stuck',
] as const;

const integer = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

const millis = (n: number): string =>
  !Number.isFinite(n) ? 'n/a' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : integer(n);

function cells(row: Row): string[] {
  return [
    row.path,
    integer(row.bulkRecords),
    integer(row.bulkRate),
    millis(row.bulkP50),
    millis(row.bulkP99),
    `${integer(row.pacedRate)}/s × ${row.pacedSeconds} s`,
    millis(row.pacedP50),
    millis(row.pacedP99),
    millis(row.pacedMax),
    integer(row.duplicates),
    integer(row.stuck),
  ];
}

export function textTable(rows: readonly Row[]): string {
  return alignedTable(HEADINGS, rows.map(cells));
}

/** Columns padded to their widest cell: the first left-aligned, the rest right-aligned. */
export function alignedTable(headings: readonly string[], body: readonly (readonly string[])[]): string {
  const table = [headings, ...body];
  const widths = headings.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  const format = (line: readonly string[]) =>
    line.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [format(headings), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(format)].join('\n');
}

export function markdownTable(rows: readonly Row[]): string {
  return markdownOf(HEADINGS, rows.map(cells));
}

export function markdownOf(headings: readonly string[], body: readonly (readonly string[])[]): string {
  const line = (values: readonly string[]) => `| ${values.join(' | ')} |`;
  return [line(headings), line(headings.map((_, c) => (c === 0 ? '---' : '---:'))), ...body.map(line)].join(
    '\n',
  );
}
