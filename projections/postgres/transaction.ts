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
  // A checked-out client whose server goes away emits 'error'; without a listener that would end
  // the process. The statement in flight fails with the same error and the caller handles it.
  const ignore = () => undefined;
  client.on('error', ignore);
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
    client.off('error', ignore);
    client.release();
  }
}
