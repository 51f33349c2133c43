import type { Pool, PoolClient, QueryResult } from 'pg';

export interface TransactionStatements {
  /** Opens the transaction (and may set it up in the same round trip). */
  readonly begin: string;
  /** Ends it (and may check it first in the same round trip); its last statement is COMMIT. */
  readonly commit: string;
}

const PLAIN: TransactionStatements = { begin: 'BEGIN', commit: 'COMMIT' };

/**
 * Runs `work` in one transaction on a pooled connection: for the global tables that have no
 * organisation as it stands, and under withOrganisation's statements for tenant tables. Any error
 * rolls it back, and so does a COMMIT that PostgreSQL answered with ROLLBACK (work that caught an
 * SQL error leaves the transaction aborted): that is an error here, never a quiet success. A
 * connection whose rollback failed is destroyed rather than reused.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  statements: TransactionStatements = PLAIN,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(statements.begin);
    const result = await work(client);
    const outcome = (await client.query(statements.commit)) as unknown as
      QueryResult | QueryResult[];
    const last = Array.isArray(outcome) ? outcome.at(-1) : outcome;
    if (last?.command !== 'COMMIT') throw new Error('The transaction was rolled back');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
