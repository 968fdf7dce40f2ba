/** One database transaction on a pooled connection, shared by the PostgreSQL projections. */
import type pg from 'pg';

export interface TransactionOptions {
  /** Bound on every statement of the transaction (SET LOCAL statement_timeout); default: the pool's. */
  readonly statementTimeoutMs?: number;
}

/** Runs `work` between BEGIN and COMMIT; rolls back and rethrows if anything fails. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (options.statementTimeoutMs !== undefined) {
      await client.query(
        `SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(options.statementTimeoutMs))}`,
      );
    }
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Whether PostgreSQL refused the data itself (SQLSTATE class 22, data exception, or 23,
 * integrity constraint violation): the same rows would be refused on every retry. Connection
 * failures, timeouts, serialization failures and the like are transient.
 */
export function isRefusedData(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}
