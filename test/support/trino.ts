/**
 * A minimal client of Trino's HTTP protocol (POST /v1/statement, then GET each nextUri until
 * there is none), for tests that read the archive through Trino. Every request has a timeout,
 * the whole query a deadline, and a busy coordinator (502, 503, 504: the protocol's "try
 * again") a bounded number of retries. BIGINT values keep all 64 bits.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface TrinoSession {
  readonly url: string;
  readonly catalog: string;
  readonly schema: string;
  readonly user?: string;
}

export interface TrinoColumn {
  readonly name: string;
  readonly type: string;
}

export interface TrinoResult {
  readonly columns: readonly TrinoColumn[];
  /** One object per row, keyed by column name; bigint, integer and smallint columns as bigint. */
  readonly rows: readonly Record<string, unknown>[];
}

interface QueryResults {
  readonly id: string;
  readonly nextUri?: string;
  readonly columns?: readonly TrinoColumn[];
  readonly data?: readonly (readonly unknown[])[];
  readonly error?: { readonly message: string; readonly errorName?: string };
}

export interface TrinoLimits {
  /** Bound on the whole query, from the first request to the last page. */
  readonly deadlineMs: number;
  /** Bound on one HTTP request. */
  readonly requestTimeoutMs: number;
  /** Retries of one request the coordinator answered with 502, 503 or 504. */
  readonly maxRetries: number;
}

export const DEFAULT_TRINO_LIMITS: TrinoLimits = {
  deadlineMs: 120_000,
  requestTimeoutMs: 30_000,
  maxRetries: 5,
};

const RETRY_STATUSES = new Set([502, 503, 504]);
const INTEGER_TYPES = new Set(['bigint', 'integer', 'smallint', 'tinyint']);

/** JSON.parse that reads integers beyond 2^53 exactly (as bigint), from their source text. */
function parseExact(text: string): unknown {
  const reviver = (_key: string, value: unknown, context?: { source?: string }): unknown =>
    typeof value === 'number' &&
    Number.isInteger(value) &&
    !Number.isSafeInteger(value) &&
    context?.source !== undefined &&
    /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value;
  return JSON.parse(text, reviver);
}

async function send(
  url: string,
  init: RequestInit,
  session: TrinoSession,
  limits: TrinoLimits,
  deadline: number,
): Promise<QueryResults> {
  for (let attempt = 0; ; attempt += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`trino: query did not finish within ${limits.deadlineMs} ms`);
    const response = await fetch(url, {
      ...init,
      headers: {
        'X-Trino-User': session.user ?? 'payflow',
        'X-Trino-Catalog': session.catalog,
        'X-Trino-Schema': session.schema,
        ...(init.headers as Record<string, string> | undefined),
      },
      signal: AbortSignal.timeout(Math.min(limits.requestTimeoutMs, remaining)),
    });
    const text = await response.text();
    if (RETRY_STATUSES.has(response.status) && attempt < limits.maxRetries) {
      await sleep(Math.min(100 * 2 ** attempt, 2_000));
      continue;
    }
    if (!response.ok) throw new Error(`trino: HTTP ${response.status} from ${url}: ${text.slice(0, 500)}`);
    return parseExact(text) as QueryResults;
  }
}

/** Runs one statement to the end and returns its rows. A failed query throws with Trino's message. */
export async function trinoQuery(
  session: TrinoSession,
  sql: string,
  limits: TrinoLimits = DEFAULT_TRINO_LIMITS,
): Promise<TrinoResult> {
  const deadline = Date.now() + limits.deadlineMs;
  let page = await send(
    `${session.url}/v1/statement`,
    { method: 'POST', body: sql },
    session,
    limits,
    deadline,
  );
  let columns: readonly TrinoColumn[] | undefined;
  const data: (readonly unknown[])[] = [];
  for (;;) {
    if (page.error !== undefined) {
      throw new Error(`trino: ${page.error.errorName ?? 'query failed'}: ${page.error.message}`);
    }
    columns ??= page.columns;
    if (page.data !== undefined) data.push(...page.data);
    if (page.nextUri === undefined) break;
    page = await send(page.nextUri, { method: 'GET' }, session, limits, deadline);
  }
  const named = columns ?? [];
  return {
    columns: named,
    rows: data.map((values) =>
      Object.fromEntries(
        named.map((column, index) => {
          const value = values[index];
          const exact =
            INTEGER_TYPES.has(column.type) && (typeof value === 'number' || typeof value === 'bigint')
              ? BigInt(value)
              : value;
          return [column.name, exact];
        }),
      ),
    ),
  };
}

/** A SQL string literal of `text`. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `sql` with its `?` parameters bound to `parameters` (strings), as one EXECUTE IMMEDIATE statement. */
export function executeImmediate(sql: string, parameters: readonly string[]): string {
  if (parameters.length === 0) return sql;
  return `EXECUTE IMMEDIATE ${sqlString(sql)} USING ${parameters.map(sqlString).join(', ')}`;
}

/**
 * The statements of a SQL file, by the name on the `-- name: <name>` line above each: the text up
 * to the next named statement, without the trailing semicolon (the HTTP API takes one statement
 * without it).
 */
export function namedStatements(text: string): Map<string, string> {
  const statements = new Map<string, string>();
  const parts = text.split(/^-- name: *(\S+) *$/m);
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!;
    const body = parts[i + 1]!.trim().replace(/;\s*$/, '');
    if (statements.has(name)) throw new Error(`statement ${name} is named twice`);
    statements.set(name, body);
  }
  return statements;
}
